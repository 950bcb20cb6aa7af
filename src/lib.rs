//! mbtscope: look inside the Multimodal Bottleneck Transformer (Nagrani et al., NeurIPS 2021).
//!
//! Data flows one way: media → features → model → explain → render / export. This crate holds
//! the model half so far:
//! - [`model`]: MBT in burn, faithful to Scenic's `scenic/projects/mbt`, with attention capture;
//! - [`weights`]: Scenic/Flax checkpoint import and the native model folder;
//! - [`explain`]: attention rollout over the joint token graph and bottleneck activity;
//! - [`npz`]: NumPy archives for the tensor-in, tensor-out interface.

pub mod explain;
pub mod fsutil;
pub mod model;
pub mod npz;
pub mod runner;
pub mod weights;
