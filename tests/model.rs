//! The model's integration tests: MBT's numbers against the NumPy and JAX references on Flex and
//! burn-wgpu, attention rollout and relevance against naive loops, and Scenic checkpoint import.
//! A binary of its own that links no FFmpeg (nothing here decodes media), so that it runs on a
//! machine without it: scripts/gpu-check.sh runs it on a lent GPU's real adapter.

mod explain_relevance;
mod explain_rollout;
mod model_reference;
mod weights_import;

#[path = "support.rs"]
mod support;
pub use support::{fixtures, scratch};
