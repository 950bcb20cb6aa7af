//! The one analysis result: a window's probabilities, maps, cross-modal shares and bottleneck
//! activity ([`WindowResult`]), and a model's results over a clip ([`ModelRun`]). The cache and
//! the app's JSON export serialise it as it is; `analyze`'s results file is built from it
//! ([`super::report`]).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::explain::maps::{RgbMap, SpectrogramMap};
use crate::features::input::CropMapping;
use crate::model::Modality;
use crate::render::{Heat, heat_at, rgb_slices};

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

/// A model folder's display name (its last path component).
pub fn model_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Class `c`'s name, or `class c` when the model has no name for it.
pub fn label_name(labels: &[String], c: usize) -> String {
    labels.get(c).cloned().unwrap_or_else(|| format!("class {c}"))
}

/// The index of the window whose centre (seconds) is nearest to `t`.
pub fn nearest_window(centres: impl IntoIterator<Item = f64>, t: f64) -> Option<usize> {
    centres.into_iter().enumerate().min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs())).map(|(i, _)| i)
}

/// One model's analysis of a clip: every window's result, in window order.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub name: String,
    pub dir: PathBuf,
    pub labels: Vec<String>,
    pub num_frames: usize,
    pub crop: CropMapping,
    pub results: Vec<WindowResult>,
}

impl ModelRun {
    /// The rgb map to draw at `t` seconds, over the span and normalised as `style` says, with
    /// the raw values its 0 and 1 stand for.
    pub fn heat(&self, t: f64, style: &crate::render::OverlayStyle) -> Option<(Heat, Option<(f32, f32)>)> {
        let slices = rgb_slices(self.results.iter().filter_map(|r| Some(r.timed(r.rgb.as_ref()?))), self.num_frames, style.span);
        Some((heat_at(&slices, t, style.normalisation)?, crate::render::raw_range_at(&slices, t, style.normalisation)))
    }

    /// The window whose centre is nearest to `t`.
    pub fn window_at(&self, t: f64) -> Option<&WindowResult> {
        self.results.get(nearest_window(self.results.iter().map(|r| r.centre), t)?)
    }

    /// The top `k` labels (name, probability) of the window nearest to `t`.
    pub fn top_at(&self, t: f64, k: usize) -> Vec<(String, f32)> {
        self.window_at(t).map_or_else(Vec::new, |r| r.top(k).into_iter().map(|(c, p)| (label_name(&self.labels, c), p)).collect())
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
