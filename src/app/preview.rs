//! What the model sees: the exact input of model A's window at the playhead, after sampling,
//! resizing, cropping and normalisation (the frames, and the log-mel spectrogram), with their
//! statistics. Made on a task from the same code the analysis runs ([`ClipFeatures`]), so it is
//! what the model received, not a re-creation.

use std::path::{Path, PathBuf};

use super::task::Task;
use crate::features::{ClipFeatures, FbankConfig};
use crate::model::MbtConfig;

/// Which input a preview shows: the clip, model A's folder and the window (model A always
/// hears the clip's own audio, a what-if being its second run).
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewKey {
    pub clip: PathBuf,
    pub model: PathBuf,
    pub window: usize,
}

/// A window's model input, ready to show.
#[derive(Debug, Clone)]
pub struct InputPreview {
    pub window: usize,
    pub windows: usize,
    /// Each sampled frame's time (s) and its number in the clip.
    pub frames: Vec<(f64, i64)>,
    /// The crop's side in pixels; each frame is `crop x crop` RGB bytes as the model read them
    /// (before scaling to floats).
    pub crop: usize,
    pub pixels: Vec<Vec<u8>>,
    /// The clip's frame size, the size it is resized to before the crop, and where the crop
    /// lies in the resized frame (pixels).
    pub clip_size: (u32, u32),
    pub resized: (u32, u32),
    pub crop_offset: (u32, u32),
    /// The normalised log-mel input `[time, mel]`.
    pub spectrogram: Vec<f32>,
    pub time: usize,
    pub mel: usize,
    /// The audio span `[start, end)` (s) the spectrogram covers.
    pub audio: (f64, f64),
    /// `[0, 1]`, or `[-1, 1]` with zero-centring.
    pub zero_centering: bool,
    /// The spectrogram's normalisation: `(log-mel - mean) / std`.
    pub spec_norm: (f32, f32),
    pub rgb_stats: Stats,
    pub spec_stats: Stats,
}

/// Summary statistics of a tensor's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f32,
    pub max: f32,
    pub mean: f32,
    pub std: f32,
}

impl Stats {
    pub fn of(values: impl Iterator<Item = f32> + Clone) -> Self {
        let (mut n, mut sum, mut min, mut max) = (0usize, 0f64, f32::INFINITY, f32::NEG_INFINITY);
        for v in values.clone() {
            n += 1;
            sum += f64::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        let mean = sum / n.max(1) as f64;
        let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
        Self { min, max, mean: mean as f32, std: var.sqrt() as f32 }
    }
}

/// Computes the input of window `index` of `clip` for a model of `config`.
pub fn preview(clip: &Path, config: &MbtConfig, index: usize) -> anyhow::Result<InputPreview> {
    let mut features = ClipFeatures::open(clip, config, FbankConfig::default())?;
    let windows = features.windows(None);
    let window = windows.get(index).ok_or_else(|| anyhow::anyhow!("{}: no window {index}", clip.display()))?.clone();
    let (bytes, spectrogram) = features.window_bytes(&window)?;
    let d = &config.dataset_configs;
    let crop = d.crop_size;
    let plane = crop * crop * 3;
    let pixels: Vec<Vec<u8>> = bytes.chunks(plane.max(1)).map(<[u8]>::to_vec).collect();
    let info = features.info().clone();
    let fps = info.frame_rate;
    let mapping = features.crop_mapping();
    let frames = window.frame_times.iter().map(|t| (t.secs(), (t.secs() * fps).round() as i64)).collect();
    let zero_centering = d.zero_centering;
    let mel = d.spec_shape[1];
    Ok(InputPreview {
        window: index,
        windows: windows.len(),
        frames,
        crop,
        pixels,
        clip_size: (info.width, info.height),
        resized: ((info.width as f32 * mapping.scale[0]).round() as u32, (info.height as f32 * mapping.scale[1]).round() as u32),
        crop_offset: (mapping.offset[0] as u32, mapping.offset[1] as u32),
        time: spectrogram.len() / mel.max(1),
        mel,
        audio: (window.audio_start.secs(), window.audio_end.secs()),
        zero_centering,
        spec_norm: (d.spec_mean, d.spec_stddev),
        rgb_stats: Stats::of(bytes.iter().map(|&v| crate::features::input::rgb_unit(v, zero_centering))),
        spec_stats: Stats::of(spectrogram.iter().copied()),
        spectrogram,
    })
}

/// The preview window's state: what it shows, and the task making the next one.
#[derive(Default)]
pub struct PreviewState {
    pub shown: bool,
    pub key: Option<PreviewKey>,
    pub result: Option<Result<InputPreview, String>>,
    pub task: Option<(PreviewKey, Task<Result<InputPreview, String>>)>,
}
