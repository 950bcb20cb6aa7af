//! One model over one clip, window by window: what the app shows, `analyze` writes and `export`
//! draws. For each window: the class probabilities, the explanation maps over the frames and the
//! spectrogram (attention rollout or gradient-weighted relevance), the cross-modal shares, and
//! the activity and maps of each bottleneck token per fusion layer.
//!
//! - [`settings`]: what is computed ([`AnalysisSettings`], [`Method`]);
//! - [`result`]: the one result type ([`WindowResult`], per clip [`ModelRun`]);
//! - [`cache`]: the on-disk cache every caller shares ([`CacheEntry`]);
//! - [`run`]: computing it ([`analyze_window`], [`ClipAnalysis`], [`analyze_cached`]);
//! - [`report`]: `mbtscope analyze`'s results file, built from the results;
//! - [`shard`]: deterministic shards of a clip list ([`Shard`]).

pub mod cache;
pub mod report;
pub mod result;
pub mod run;
pub mod settings;
pub mod shard;

pub use cache::CacheEntry;
pub use result::{BottleneckLayer, CompactMap, ModelRun, WindowResult, label_name, model_name, nearest_window};
pub use run::{ClipAnalysis, analyze_cached, analyze_window, host, softmax};
pub use settings::{AnalysisSettings, Method, fnv1a};
pub use shard::Shard;
