//! Explanations of MBT's predictions, accumulated on the device while the model runs: attention
//! rollout through the real token graph (Abnar & Zuidema 2020, following MBT's per-modality
//! passes and averaged bottlenecks), and the activity of the bottleneck tokens.

pub mod joint;
pub mod maps;
pub mod relevance;
pub mod rollout;

pub use rollout::{Explainer, Explanation, LayerActivity, RolloutOptions};
