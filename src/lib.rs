//! mbtscope: look inside the Multimodal Bottleneck Transformer (Nagrani et al., NeurIPS 2021).
//!
//! Data flows one way, media → features → model → explain → analysis → render / export, with
//! the app and the command line on top:
//! - [`media`]: FFmpeg decoding with exact seeking, audio output, encoding, the player;
//! - [`features`]: MBT's inputs for a clip's windows (frames, Kaldi fbank) and counterfactual audio;
//! - [`model`]: MBT in burn, faithful to Scenic's `scenic/projects/mbt`, with attention capture
//!   and FLOPs; [`weights`]: Scenic/Flax checkpoint import and the native model folder;
//!   [`runner`]: a model folder loaded onto a device;
//! - [`explain`]: attention rollout, gradient-weighted relevance and bottleneck activity, as maps;
//! - [`analysis`]: one model over one clip, window by window, cached on disk;
//!   [`dataset`]: results of many clips (shards merged, ground truth, metrics);
//! - [`render`]: heatmap overlays (the CPU twin of `shaders/heatmap.wgsl`) and the GPU renderer;
//!   [`export`]: annotated frames ([`export::annotate`]) and videos;
//! - [`synth`], [`train`], [`eval`]: the generated benchmark, training, and evaluation against
//!   its ground truth;
//! - [`app`]: the desktop app; the command line is in `main.rs` and its `cli` modules;
//! - [`npz`], [`fsutil`], [`console`]: NumPy archives, files written atomically, output that
//!   survives a closed pipe.

pub mod analysis;
pub mod app;
pub mod console;
pub mod dataset;
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

/// An argument that does not fit the model or the input (exit status 2, like clap's own errors).
#[derive(Debug)]
pub struct BadArgument(pub String);

impl std::fmt::Display for BadArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadArgument {}
