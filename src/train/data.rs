//! Training examples from a folder of generated clips: one window per clip, centred on the clip,
//! prepared exactly as the app prepares inputs (ClipFeatures).

use std::path::Path;

use anyhow::Context as _;

use crate::features::{ClipFeatures, FbankConfig};
use crate::model::MbtConfig;

/// One clip's model input and label, on the host.
#[derive(Debug, Clone)]
pub struct Example {
    /// `[frames, crop, crop, 3]`
    pub rgb: Vec<f32>,
    /// `[time, mel]`
    pub spectrogram: Vec<f32>,
    pub label: usize,
    pub name: String,
}

/// Reads every `<name>.json` + `<name>.mp4` pair in `dir` (sorted by name) whose name starts
/// with `prefix` (for example `train_`).
pub fn load_examples(dir: &Path, config: &MbtConfig, prefix: &str) -> anyhow::Result<Vec<Example>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the data folder {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
        .map(|n| n.trim_end_matches(".json").to_owned())
        .filter(|n| dir.join(format!("{n}.mp4")).exists())
        .collect();
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no clips named {prefix}*.mp4 with a .json sidecar in {}", dir.display());
    let mut examples = Vec::with_capacity(names.len());
    for name in names {
        let sidecar = dir.join(format!("{name}.json"));
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&sidecar).with_context(|| format!("cannot read {}", sidecar.display()))?,
        )
        .with_context(|| format!("bad sidecar {}", sidecar.display()))?;
        let label = truth["label"].as_u64().with_context(|| format!("no label in {}", sidecar.display()))? as usize;
        anyhow::ensure!(label < config.num_classes, "label {label} in {} but the model has {} classes", sidecar.display(), config.num_classes);
        let clip = dir.join(format!("{name}.mp4"));
        let mut features = ClipFeatures::open(&clip, config, FbankConfig::default())?;
        let duration = features.info().duration;
        let windows = features.windows(None);
        let window = windows
            .iter()
            .min_by_key(|w| (w.centre.micros() - duration.micros() / 2).abs())
            .with_context(|| format!("no window in {}", clip.display()))?;
        let input = features.window_input(window)?;
        examples.push(Example { rgb: input.rgb, spectrogram: input.spectrogram, label, name });
    }
    Ok(examples)
}
