//! mbtscope: look inside the Multimodal Bottleneck Transformer (Nagrani et al., NeurIPS 2021).
//!
//! Data flows one way: media → features → model → explain → render / export. This crate holds
//! the media, feature and model halves so far:
//! - [`media`]: FFmpeg decoding with exact seeking; [`features`]: MBT's inputs for clip windows;
//! - [`model`]: MBT in burn, faithful to Scenic's `scenic/projects/mbt`, with attention capture;
//! - [`weights`]: Scenic/Flax checkpoint import and the native model folder;
//! - [`explain`]: attention rollout over the joint token graph and bottleneck activity;
//! - [`npz`]: NumPy archives for the tensor-in, tensor-out interface.

pub mod analysis;
pub mod annotate;
pub mod app;
pub mod console;
pub mod eval;
pub mod explain;
pub mod export;
pub mod features;
pub mod fsutil;
pub mod media;
pub mod model;
pub mod npz;
pub mod render;
pub mod runner;
pub mod synth;
pub mod train;
pub mod weights;
