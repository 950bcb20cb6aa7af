//! One model over one clip, window by window: what the app shows and `analyze` writes. For each
//! window: the class probabilities, the explanation maps over the frames and the spectrogram
//! (attention rollout or gradient-weighted relevance), the cross-modal shares, and the activity
//! and maps of each bottleneck token per fusion layer.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::explain::RolloutOptions;
use crate::explain::maps::{RgbMap, Row, SpectrogramMap, cross_modal_share, explained_relevance_rows, explained_rollout_rows, split_row};
use crate::features::{ClipFeatures, FbankConfig, Window, WindowInput};
use crate::model::layout::TokenLayout;
use crate::model::{Mbt, MbtConfig, MbtInput, Modality};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Attention rollout from the classification tokens.
    #[default]
    Rollout,
    /// Gradient-weighted attention relevance (Chefer et al. 2021) for one class.
    Relevance,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalysisSettings {
    pub method: Method,
    /// The class relevance explains (the top prediction when `None`).
    pub class: Option<usize>,
    pub rollout: RolloutOptions,
}

impl AnalysisSettings {
    /// What in these settings does not fit `config`, one sentence each, in terms of the
    /// settings' names (`start_layer`, `class`); empty when everything fits.
    pub fn misfits(&self, config: &MbtConfig) -> Vec<String> {
        let mut misfits = Vec::new();
        if self.rollout.start_layer >= config.num_layers {
            misfits.push(format!(
                "start_layer {}: the model has {} layers (0 to {})",
                self.rollout.start_layer,
                config.num_layers,
                config.num_layers.saturating_sub(1)
            ));
        }
        if let Some(layer) = self.rollout.raw_layer.filter(|&l| l >= config.num_layers) {
            misfits.push(format!("raw_layer {layer}: the model has {} layers", config.num_layers));
        }
        if let Some(class) = self.class.filter(|&c| c >= config.num_classes) {
            misfits.push(format!(
                "class {class}: the model has {} classes (0 to {})",
                config.num_classes,
                config.num_classes.saturating_sub(1)
            ));
        }
        misfits
    }

    /// These settings made to fit `config`, for one model of several: a start layer past the
    /// model's last layer becomes its last, a class it does not have becomes the top prediction.
    /// Also says what was changed ([`Self::misfits`]), so that the UI can tell.
    pub fn fitted_to(&self, config: &MbtConfig) -> (Self, Vec<String>) {
        let misfits = self.misfits(config);
        let mut fitted = *self;
        fitted.rollout.start_layer = fitted.rollout.start_layer.min(config.num_layers.saturating_sub(1));
        fitted.rollout.raw_layer = fitted.rollout.raw_layer.filter(|&l| l < config.num_layers);
        fitted.class = fitted.class.filter(|&c| c < config.num_classes);
        (fitted, misfits)
    }

    /// A short stable key for caches.
    pub fn key(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a(json.as_bytes()))
    }
}

/// 64-bit FNV-1a, for cache keys.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// A file's identity for caches: path, size and modification time.
fn file_identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}|{}|{}", path.display(), meta.map_or(0, |m| m.len()), modified)
}

/// Where the analysis of `clip` by the model in `model_dir` with `settings` is cached in `dir`.
pub fn cache_path(dir: &Path, clip: &Path, model_dir: &Path, settings: &AnalysisSettings) -> std::path::PathBuf {
    let clip_key = fnv1a(file_identity(clip).as_bytes());
    let model_key = fnv1a(file_identity(&model_dir.join(crate::weights::native::WEIGHTS_FILE)).as_bytes());
    dir.join(format!("{clip_key:016x}-{model_key:016x}-{}.json", settings.key()))
}

/// The layout of a cache entry: a header line, then the results as JSON.
const CACHE_FORMAT: &str = "mbtscope-cache/2";

/// The first line of a cache entry: what the entry holds and the SHA-256 of the rest, so that
/// an entry that was cut short, edited or damaged is recomputed instead of trusted.
#[derive(Debug, Serialize, Deserialize)]
struct CacheHeader {
    format: String,
    windows: usize,
    classes: usize,
    sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a cache entry cannot be used, if it cannot: its header, its hash, or the shapes of what it
/// holds do not match what the model gives.
fn check_cache_entry(bytes: &[u8], windows: usize, classes: usize) -> Result<Vec<WindowResult>, String> {
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or("no header line")?;
    let (header, payload) = (&bytes[..newline], &bytes[newline + 1..]);
    let header: CacheHeader = serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    if header.format != CACHE_FORMAT {
        return Err(format!("format {} (expected {CACHE_FORMAT})", header.format));
    }
    if header.windows != windows || header.classes != classes {
        return Err(format!("{} windows of {} classes (expected {windows} of {classes})", header.windows, header.classes));
    }
    if sha256_hex(payload) != header.sha256 {
        return Err("the content does not match its hash".into());
    }
    let results: Vec<WindowResult> = serde_json::from_slice(payload).map_err(|e| format!("bad content: {e}"))?;
    if results.len() != windows {
        return Err(format!("{} windows (expected {windows})", results.len()));
    }
    for (i, r) in results.iter().enumerate() {
        if r.index != i {
            return Err(format!("window {i} is numbered {}", r.index));
        }
        r.check(classes).map_err(|e| format!("window {i}: {e}"))?;
    }
    Ok(results)
}

/// The cached results of every window, if a complete and intact set of `windows` windows of a
/// `classes`-class model is cached. An entry that fails its checks is removed (with a warning)
/// and the analysis is computed again.
pub fn read_cache(
    dir: &Path,
    clip: &Path,
    model_dir: &Path,
    settings: &AnalysisSettings,
    windows: usize,
    classes: usize,
) -> Option<Vec<WindowResult>> {
    let path = cache_path(dir, clip, model_dir, settings);
    let bytes = std::fs::read(&path).ok()?;
    match check_cache_entry(&bytes, windows, classes) {
        Ok(results) => Some(results),
        Err(why) => {
            log::warn!("ignoring the cached analysis {}: {why}; analysing again", path.display());
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Caches a complete analysis (best effort: a cache that cannot be written is skipped).
pub fn write_cache(dir: &Path, clip: &Path, model_dir: &Path, settings: &AnalysisSettings, results: &[WindowResult]) {
    let _ = std::fs::create_dir_all(dir);
    let Ok(payload) = serde_json::to_vec(results) else { return };
    let classes = results.first().map_or(0, |r| r.probabilities.len());
    let header = CacheHeader { format: CACHE_FORMAT.into(), windows: results.len(), classes, sha256: sha256_hex(&payload) };
    let Ok(mut bytes) = serde_json::to_vec(&header) else { return };
    bytes.push(b'\n');
    bytes.extend_from_slice(&payload);
    // A unique temporary per writer and an atomic rename: two writers of the same entry leave
    // one whole entry.
    let _ = crate::fsutil::write_atomic(&cache_path(dir, clip, model_dir, settings), &bytes, true);
}

/// A map quantised to bytes: `value = min + byte / 255 * (max - min)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactMap {
    pub shape: Vec<usize>,
    pub min: f32,
    pub max: f32,
    pub base64: String,
}

impl CompactMap {
    /// Quantises `values` (any shape, given for readers) to bytes.
    pub fn encode(shape: Vec<usize>, values: &[f32]) -> Self {
        let (min, max) = crate::explain::maps::value_range(values);
        let (min, max) = if values.is_empty() { (0.0, 0.0) } else { (min, max) };
        let span = max - min;
        let bytes: Vec<u8> =
            values.iter().map(|&v| if span > 0.0 { ((v - min) / span * 255.0).round().clamp(0.0, 255.0) as u8 } else { 0 }).collect();
        Self { shape, min, max, base64: BASE64.encode(bytes) }
    }

    /// The values back, each within half a quantisation step.
    pub fn decode(&self) -> anyhow::Result<Vec<f32>> {
        let bytes = BASE64.decode(&self.base64)?;
        Ok(bytes.iter().map(|&b| self.min + f32::from(b) / 255.0 * (self.max - self.min)).collect())
    }
}

/// One fusion layer's bottleneck tokens in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BottleneckLayer {
    pub layer: usize,
    /// L2 norm of each token after the layer.
    pub norm: Vec<f32>,
    /// Mean attention each modality's tokens pay to each bottleneck token.
    pub received: Vec<(Modality, Vec<f32>)>,
    /// Each token's own attention over rgb patches and spectrogram patches.
    pub rgb_maps: Vec<Option<RgbMap>>,
    pub spectrogram_maps: Vec<Option<SpectrogramMap>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    pub index: usize,
    /// Centre, first and last sampled frame times, seconds.
    pub centre: f64,
    pub first_frame: f64,
    pub last_frame: f64,
    /// Audio span, seconds.
    pub audio_start: f64,
    pub audio_end: f64,
    pub probabilities: Vec<f32>,
    /// The class the maps explain (relevance), or `None` for rollout (class-agnostic).
    pub explained_class: Option<usize>,
    /// From the rgb CLS row (or the mean row without CLS tokens).
    pub rgb: Option<RgbMap>,
    /// From the spectrogram CLS row (or the mean row).
    pub spectrogram: Option<SpectrogramMap>,
    /// For each modality, the share of its explanation coming from the other one.
    pub cross_modal: Vec<(Modality, f32)>,
    pub bottleneck: Vec<BottleneckLayer>,
}

impl WindowResult {
    /// `map` (one of this window's rgb maps) with the window's times, for [`crate::render::rgb_slices`].
    pub fn timed<'a>(&self, map: &'a RgbMap) -> crate::explain::maps::TimedMap<'a> {
        crate::explain::maps::TimedMap { first_frame: self.first_frame, last_frame: self.last_frame, centre: self.centre, map }
    }

    /// Checks that the result is whole: `classes` finite probabilities, and every map holds as
    /// many values (and frame or step ranges) as its shape says.
    pub fn check(&self, classes: usize) -> Result<(), String> {
        if self.probabilities.len() != classes || self.probabilities.iter().any(|p| !p.is_finite()) {
            return Err(format!("{} probabilities (expected {classes} finite ones)", self.probabilities.len()));
        }
        let rgb = |m: &RgbMap, what: &str| {
            if m.values.len() != m.slices * m.height * m.width || m.frames.len() != m.slices {
                return Err(format!(
                    "{what}: {} values and {} frame ranges for a {}x{}x{} map",
                    m.values.len(),
                    m.frames.len(),
                    m.slices,
                    m.height,
                    m.width
                ));
            }
            Ok(())
        };
        let spectrogram = |m: &SpectrogramMap, what: &str| {
            if m.values.len() != m.time * m.mel || m.steps.len() != m.time {
                return Err(format!("{what}: {} values and {} step ranges for a {}x{} map", m.values.len(), m.steps.len(), m.time, m.mel));
            }
            Ok(())
        };
        if let Some(m) = &self.rgb {
            rgb(m, "rgb map")?;
        }
        if let Some(m) = &self.spectrogram {
            spectrogram(m, "spectrogram map")?;
        }
        for b in &self.bottleneck {
            let n = b.norm.len();
            if b.rgb_maps.len() != n || b.spectrogram_maps.len() != n || b.received.iter().any(|(_, v)| v.len() != n) {
                return Err(format!("bottleneck layer {}: token counts disagree", b.layer));
            }
            for m in b.rgb_maps.iter().flatten() {
                rgb(m, "bottleneck rgb map")?;
            }
            for m in b.spectrogram_maps.iter().flatten() {
                spectrogram(m, "bottleneck spectrogram map")?;
            }
        }
        Ok(())
    }

    /// The `k` most probable classes, best first.
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut order: Vec<(usize, f32)> = self.probabilities.iter().copied().enumerate().collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        order.truncate(k);
        order
    }
}

/// A tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading from the device: {e:?}"))
}

/// Probabilities from one row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|v| v / sum).collect()
}

/// One explanation's maps over the frames and the spectrogram, and each modality's cross-modal
/// share.
type ExplainedMaps = (Option<RgbMap>, Option<SpectrogramMap>, Vec<(Modality, f32)>);

/// The maps of one explanation, from its explained rows (`[1, N]` each, named as
/// [`explained_rows`] names them).
fn maps(config: &MbtConfig, layout: &TokenLayout, rows: Vec<(Row, Tensor<2>)>) -> anyhow::Result<ExplainedMaps> {
    let mut rgb = None;
    let mut spectrogram = None;
    let mut cross = Vec::new();
    for (which, row) in rows {
        let values = host(row)?;
        let split = split_row(config, layout, &values);
        match which {
            Row::Cls(Modality::Rgb) => {
                cross.push((Modality::Rgb, cross_modal_share(&split, Modality::Rgb)));
                rgb = split.rgb;
            }
            Row::Cls(Modality::Spectrogram) => {
                cross.push((Modality::Spectrogram, cross_modal_share(&split, Modality::Spectrogram)));
                spectrogram = split.spectrogram;
            }
            Row::Pooled => {
                for &m in &config.modality_fusion {
                    cross.push((m, cross_modal_share(&split, m)));
                }
                rgb = split.rgb;
                spectrogram = split.spectrogram;
            }
        }
    }
    Ok((rgb, spectrogram, cross))
}

/// Runs `model` on one window and explains it.
pub fn analyze_window(model: &Mbt, window: &Window, input: &WindowInput, settings: &AnalysisSettings) -> anyhow::Result<WindowResult> {
    let config = &model.config;
    let device = model.output_projection.weight.val().device();
    let tensors = MbtInput::from_host(config, 1, input.rgb.clone(), input.spectrogram.clone(), &device);
    let (output, explanation) = crate::runner::explain(model, tensors.clone(), settings.rollout)?;
    let probabilities = softmax(&host(output.logits)?);
    // Rollout: only the explained rows, never the dense product.
    let (rows, explained_class) = match settings.method {
        Method::Rollout => (explained_rollout_rows(config, &explanation), None),
        Method::Relevance => {
            let result = crate::explain::relevance::relevance(model, tensors, settings.class)?;
            let class = result.classes.first().copied();
            (explained_relevance_rows(config, &result), class)
        }
    };
    let (rgb, spectrogram, cross_modal) = maps(config, &explanation.layout, rows)?;
    let mut bottleneck = Vec::new();
    for activity in &explanation.activity {
        let [_, n, joint_len] = activity.rows.dims();
        let rows = host(activity.rows.clone())?;
        let (mut rgb_maps, mut spectrogram_maps) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for row in rows.chunks(joint_len) {
            let split = split_row(config, &explanation.layout, row);
            rgb_maps.push(split.rgb);
            spectrogram_maps.push(split.spectrogram);
        }
        let mut received = Vec::new();
        for (m, t) in &activity.received {
            received.push((*m, host(t.clone())?));
        }
        bottleneck.push(BottleneckLayer {
            layer: activity.layer,
            norm: host(activity.norm.clone())?,
            received,
            rgb_maps,
            spectrogram_maps,
        });
    }
    let secs = |t: crate::media::Timestamp| t.secs();
    Ok(WindowResult {
        index: window.index,
        centre: secs(window.centre),
        first_frame: window.frame_times.first().map_or(0.0, |&t| secs(t)),
        last_frame: window.frame_times.last().map_or(0.0, |&t| secs(t)),
        audio_start: secs(window.audio_start),
        audio_end: secs(window.audio_end),
        probabilities,
        explained_class,
        rgb,
        spectrogram,
        cross_modal,
        bottleneck,
    })
}

/// A clip prepared for one model: its windows and a feature extractor.
pub struct ClipAnalysis {
    pub features: ClipFeatures,
    pub windows: Vec<Window>,
}

impl ClipAnalysis {
    pub fn open(path: &Path, config: &MbtConfig) -> anyhow::Result<Self> {
        let features = ClipFeatures::open(path, config, FbankConfig::default())?;
        let windows = features.windows(None);
        anyhow::ensure!(!windows.is_empty(), "{} is too short for a model window", path.display());
        Ok(Self { features, windows })
    }

    pub fn analyze(&mut self, model: &Mbt, index: usize, settings: &AnalysisSettings) -> anyhow::Result<WindowResult> {
        let input = self.input(index)?;
        self.analyze_input(model, index, &input, settings)
    }

    /// Window `index`'s model input, decoded from the clip.
    pub fn input(&mut self, index: usize) -> anyhow::Result<WindowInput> {
        let window = self.windows.get(index).ok_or_else(|| anyhow::anyhow!("no window {index}"))?.clone();
        Ok(self.features.window_input(&window)?)
    }

    /// Runs `model` on window `index` given its input (from [`Self::input`] of a clip opened
    /// with the same dataset settings).
    pub fn analyze_input(
        &self,
        model: &Mbt,
        index: usize,
        input: &WindowInput,
        settings: &AnalysisSettings,
    ) -> anyhow::Result<WindowResult> {
        let window = self.windows.get(index).ok_or_else(|| anyhow::anyhow!("no window {index}"))?;
        analyze_window(model, window, input, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_maps_round_trip_within_half_a_step() {
        let values: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 3.0 + 1.0).collect();
        let map = CompactMap::encode(vec![10, 10], &values);
        let back = map.decode().unwrap();
        let step = (map.max - map.min) / 255.0;
        for (a, b) in values.iter().zip(&back) {
            assert!((a - b).abs() <= step / 2.0 + 1e-6, "{a} vs {b}");
        }
        let flat = CompactMap::encode(vec![3], &[2.0, 2.0, 2.0]);
        assert_eq!(flat.decode().unwrap(), vec![2.0, 2.0, 2.0]);
    }
}
