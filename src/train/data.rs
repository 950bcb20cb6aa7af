//! Training examples from a folder of generated clips: one window per clip, centred on the clip,
//! prepared exactly as the app prepares inputs (ClipFeatures). Frames are kept as bytes (a
//! quarter of the memory of floats) and scaled when a batch is built.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;

use crate::features::input::rgb_unit;
use crate::features::{ClipFeatures, FbankConfig};
use crate::model::MbtConfig;

/// One clip's model input and label, on the host.
#[derive(Debug, Clone)]
pub struct Example {
    /// `[frames, crop, crop, 3]` bytes, as decoded and cropped.
    pub rgb: Vec<u8>,
    /// `[time, mel]`, normalised.
    pub spectrogram: Vec<f32>,
    pub label: usize,
    pub name: String,
    /// The window's centre in the clip (its middle sampled frame).
    pub centre: crate::media::Timestamp,
    pub crop: crate::features::input::CropMapping,
}

impl Example {
    /// The frames as the model takes them: `[0, 1]`, or `[-1, 1]` with zero-centring.
    pub fn rgb_f32(&self, zero_centering: bool) -> Vec<f32> {
        self.rgb.iter().map(|&v| rgb_unit(v, zero_centering)).collect()
    }
}

/// The host arrays of a batch: frames `[b, frames, crop, crop, 3]` (each example flipped
/// left-right where `flips` says so) and spectrograms `[b, time, mel]`.
pub fn batch_arrays(config: &MbtConfig, examples: &[&Example], flips: &[bool]) -> (Vec<f32>, Vec<f32>) {
    let d = &config.dataset_configs;
    let (crop, zero_centering) = (d.crop_size, d.zero_centering);
    let mut rgb = Vec::with_capacity(examples.iter().map(|e| e.rgb.len()).sum());
    for (i, e) in examples.iter().enumerate() {
        if flips.get(i).copied().unwrap_or(false) {
            for row in e.rgb.chunks(crop * 3) {
                for x in (0..crop).rev() {
                    rgb.extend(row[x * 3..x * 3 + 3].iter().map(|&v| rgb_unit(v, zero_centering)));
                }
            }
        } else {
            rgb.extend(e.rgb.iter().map(|&v| rgb_unit(v, zero_centering)));
        }
    }
    let spectrogram = examples.iter().flat_map(|e| e.spectrogram.iter().copied()).collect();
    (rgb, spectrogram)
}

/// A batch as model input on `device` (only the modalities the model fuses).
pub fn input_for(config: &MbtConfig, examples: &[&Example], device: &burn::prelude::Device) -> crate::model::MbtInput {
    let (rgb, spectrogram) = batch_arrays(config, examples, &[]);
    crate::model::MbtInput::from_host(config, examples.len(), rgb, spectrogram, device)
}

/// Names of the clips in `dir` (sorted) whose stem starts with `prefix` and that have both a
/// `.mp4` and a `.json` sidecar.
pub fn clip_names(dir: &Path, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the data folder {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
        .map(|n| n.trim_end_matches(".json").to_owned())
        .filter(|n| dir.join(format!("{n}.mp4")).exists())
        .collect();
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no clips named {prefix}*.mp4 with a .json sidecar in {}", dir.display());
    Ok(names)
}

pub use crate::synth::read_truth as read_sidecar;

/// Reads every `<name>.json` + `<name>.mp4` pair in `dir` (sorted by name) whose name starts
/// with `prefix` (for example `train_`), on all cores.
pub fn load_examples(dir: &Path, config: &MbtConfig, prefix: &str) -> anyhow::Result<Vec<Example>> {
    load_examples_with(dir, config, prefix, None)
}

/// [`load_examples`] with the audio altered as `counterfactual` says (for `eval --counterfactual`).
pub fn load_examples_with(
    dir: &Path,
    config: &MbtConfig,
    prefix: &str,
    counterfactual: Option<&crate::features::Counterfactual>,
) -> anyhow::Result<Vec<Example>> {
    let names = clip_names(dir, prefix)?;
    let slots: Vec<Mutex<Option<anyhow::Result<Example>>>> = names.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(names.len());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let result = load_example(dir, name, config, counterfactual);
                    let failed = result.is_err();
                    *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                    if failed {
                        next.store(names.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    slots.into_iter().filter_map(|slot| slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)).collect()
}

fn load_example(
    dir: &Path,
    name: &str,
    config: &MbtConfig,
    counterfactual: Option<&crate::features::Counterfactual>,
) -> anyhow::Result<Example> {
    let sidecar = dir.join(format!("{name}.json"));
    let truth = read_sidecar(&sidecar)?;
    let label = truth.label;
    anyhow::ensure!(label < config.num_classes, "label {label} in {} but the model has {} classes", sidecar.display(), config.num_classes);
    let clip = dir.join(format!("{name}.mp4"));
    let mut features = ClipFeatures::open(&clip, config, FbankConfig::default())?;
    features.set_counterfactual(counterfactual.cloned());
    let duration = features.info().duration;
    let windows = features.windows(None);
    let window = windows
        .iter()
        .min_by_key(|w| (w.centre.micros() - duration.micros() / 2).abs())
        .with_context(|| format!("no window in {}", clip.display()))?;
    let (rgb, spectrogram) = features.window_bytes(window)?;
    Ok(Example { rgb, spectrogram, label, name: name.to_owned(), centre: window.centre, crop: features.crop_mapping() })
}
