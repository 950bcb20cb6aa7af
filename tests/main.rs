//! Integration tests: one binary, one module per area. The model's own tests (numbers against
//! the NumPy and JAX references, rollout, relevance, checkpoint import) are the `model` binary
//! (tests/model.rs), which links no FFmpeg, so that scripts/gpu-check.sh can run it on a lent GPU.

mod app;
mod browser;
mod cli;
mod dataset;
mod export;
mod features;
mod gui;
mod media;
mod player;
mod reliability;
mod render;
mod slurm;
mod synth;
mod train;

use std::path::Path;

#[path = "support.rs"]
mod support;
pub use support::{fixtures, scratch};

/// The clips of an `analyze` results file (JSON or Parquet) as JSON values, with the time spent
/// taken out (it differs between runs), for comparing runs clip for clip.
pub fn result_clips(path: &Path) -> Vec<serde_json::Value> {
    let results = serde_json::to_value(mbtscope::dataset::read_results(path).unwrap()).unwrap();
    results["clips"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(|mut c| {
            c.as_object_mut().unwrap().remove("seconds");
            c
        })
        .collect()
}

/// Tests that play through the sound server take turns: several streams at once into
/// PulseAudio's null sink made ALSA's `pulse` plugin fail with I/O errors on a loaded 2-core
/// machine (which the player then handles by giving the device up, but which these tests are
/// not about).
pub fn sound_device_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
