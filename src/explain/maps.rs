//! From rollout rows to things a person can look at: the row that explains a prediction, split
//! into an RGB patch map (tubelet time slice x height x width, with the input frames each slice
//! covers), a spectrogram patch map (time x mel, with the input time steps each row covers), and
//! the mass that lands on CLS and bottleneck tokens.

use std::ops::Range;

use burn::prelude::*;

use super::joint::modality_of;
use crate::model::config::TemporalMethod;
use crate::model::layout::{TokenKind, TokenLayout};
use crate::model::{Classifier, MbtConfig, Modality};

/// Which row of a joint matrix explains a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// A modality's classification token (token classifier).
    Cls(Modality),
    /// The mean of all non-bottleneck rows (pooling classifiers).
    Pooled,
}

/// The names `infer` writes the rows under: `cls_rgb`, `cls_spectrogram`, `gap`.
impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Row::Cls(m) => write!(f, "cls_{m}"),
            Row::Pooled => f.write_str("gap"),
        }
    }
}

/// The rows that explain a prediction, `[batch, joint]` each: one per CLS token with a token
/// classifier, else the pooled row.
pub fn explained_rows(config: &MbtConfig, layout: &TokenLayout, rollout: &Tensor<3>) -> Vec<(Row, Tensor<2>)> {
    let b = rollout.dims()[0];
    explained_rows_by(config, layout, b, &rollout.device(), |w| w.matmul(rollout.clone()))
}

/// The same rows as [`explained_rows`], taken from a rollout by its rows ([`super::rollout::Explanation::rows`])
/// rather than from the dense matrix.
pub fn explained_rollout_rows(config: &MbtConfig, explanation: &super::rollout::Explanation) -> Vec<(Row, Tensor<2>)> {
    explained_rows_by(config, &explanation.layout, explanation.batch(), &explanation.device(), |w| explanation.rows(w))
}

/// The same rows as [`explained_rows`], taken from relevance by its rows ([`super::relevance::Relevance::rows`]).
pub fn explained_relevance_rows(config: &MbtConfig, relevance: &super::relevance::Relevance) -> Vec<(Row, Tensor<2>)> {
    explained_rows_by(config, &relevance.layout, relevance.batch(), &relevance.device(), |w| relevance.rows(w))
}

/// The explained rows of a matrix (dense, or a product kept by its factors) that `rows`
/// multiplies row weights `[batch, k, joint]` into: one-hot weights for the CLS rows, the mean
/// over the non-bottleneck tokens for `gap`. The one place that says which rows explain.
fn explained_rows_by(
    config: &MbtConfig,
    layout: &TokenLayout,
    b: usize,
    device: &Device,
    rows: impl Fn(Tensor<3>) -> Tensor<3>,
) -> Vec<(Row, Tensor<2>)> {
    let n = layout.len();
    let selectors: Vec<(Row, Vec<f32>)> = if config.classifier == Classifier::Token {
        config
            .modality_fusion
            .iter()
            .filter_map(|&m| {
                let at = layout.find(TokenKind::Cls(m))?.start;
                let mut w = vec![0.0; n];
                w[at] = 1.0;
                Some((Row::Cls(m), w))
            })
            .collect()
    } else {
        let end = layout.find(TokenKind::Bottleneck).map_or(n, |s| s.start);
        let mut w = vec![0.0; n];
        w[..end].fill(1.0 / end.max(1) as f32);
        vec![(Row::Pooled, w)]
    };
    if selectors.is_empty() {
        return Vec::new();
    }
    let k = selectors.len();
    let weights: Vec<f32> = (0..b).flat_map(|_| selectors.iter().flat_map(|(_, w)| w.iter().copied())).collect();
    let rows = rows(Tensor::from_data(TensorData::new(weights, [b, k, n]), device));
    selectors.into_iter().enumerate().map(|(i, (name, _))| (name, rows.clone().slice(s![.., i..i + 1, ..]).reshape([b, n]))).collect()
}

/// The smallest and largest of `values` (infinities for none).
pub fn value_range(values: &[f32]) -> (f32, f32) {
    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// An rgb map with the times (seconds) of the window it explains: its first and last sampled
/// frames and its centre.
#[derive(Debug, Clone, Copy)]
pub struct TimedMap<'a> {
    pub first_frame: f64,
    pub last_frame: f64,
    pub centre: f64,
    pub map: &'a RgbMap,
}

/// A map over RGB patches for one example.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RgbMap {
    /// Time slices (tubelets, or sampled frames), rows, columns.
    pub slices: usize,
    pub height: usize,
    pub width: usize,
    /// `slices * height * width` values, slice-major.
    pub values: Vec<f32>,
    /// Input frames (indices into the window's frames) each slice covers.
    pub frames: Vec<Range<usize>>,
}

impl RgbMap {
    /// The time slices added up: one `height x width` plane for the whole window.
    pub fn summed_slices(&self) -> Vec<f32> {
        let plane = self.height * self.width;
        let mut sum = vec![0.0; plane];
        for slice in self.values.chunks_exact(plane.max(1)) {
            sum.iter_mut().zip(slice).for_each(|(a, b)| *a += b);
        }
        sum
    }
}

/// A map over spectrogram patches for one example.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpectrogramMap {
    pub time: usize,
    pub mel: usize,
    /// `time * mel` values, time-major.
    pub values: Vec<f32>,
    /// Input spectrogram time steps each patch row covers.
    pub steps: Vec<Range<usize>>,
}

/// One explanation row split by token kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SplitRow {
    pub rgb: Option<RgbMap>,
    pub spectrogram: Option<SpectrogramMap>,
    /// Mass on each modality's CLS token.
    pub cls_mass: Vec<(Modality, f32)>,
    pub bottleneck_mass: f32,
    /// Total mass on each modality's tokens (CLS and patches).
    pub modality_mass: Vec<(Modality, f32)>,
}

/// Splits one row (joint order) by the layout.
pub fn split_row(config: &MbtConfig, layout: &TokenLayout, row: &[f32]) -> SplitRow {
    let mut split = SplitRow { rgb: None, spectrogram: None, cls_mass: Vec::new(), bottleneck_mass: 0.0, modality_mass: Vec::new() };
    let [fh, fw, ft] = config.patch();
    let d = &config.dataset_configs;
    for seg in &layout.segments {
        let values = row.get(seg.start..seg.start + seg.len).unwrap_or(&[]).to_vec();
        let mass: f32 = values.iter().sum();
        if let Some(m) = modality_of(seg.kind) {
            match split.modality_mass.iter_mut().find(|(mm, _)| *mm == m) {
                Some((_, total)) => *total += mass,
                None => split.modality_mass.push((m, mass)),
            }
        }
        match seg.kind {
            TokenKind::Cls(m) => split.cls_mass.push((m, mass)),
            TokenKind::Bottleneck => split.bottleneck_mass = mass,
            TokenKind::Patches(Modality::Rgb) => {
                let width = (d.crop_size / fw).max(1);
                let (slices, frames): (usize, Vec<Range<usize>>) = match config.temporal_encoding_config.method {
                    TemporalMethod::Conv3d => {
                        let t = d.num_frames / ft;
                        (t, (0..t).map(|i| i * ft..(i + 1) * ft).collect())
                    }
                    TemporalMethod::TemporalSampling => {
                        let idx = config.temporal_sampling_indices(d.num_frames);
                        (idx.len(), idx.iter().map(|&i| i..i + 1).collect())
                    }
                };
                let height = values.len() / (slices * width).max(1);
                split.rgb = Some(RgbMap { slices, height, width, values, frames });
            }
            TokenKind::Patches(Modality::Spectrogram) => {
                let mel = (d.spectrogram_shape()[1] / fw).max(1);
                let time = values.len() / mel;
                let steps = (0..time).map(|i| i * fh..(i + 1) * fh).collect();
                split.spectrogram = Some(SpectrogramMap { time, mel, values, steps });
            }
        }
    }
    split
}

/// The share of an explanation row that comes from modalities other than `own`.
pub fn cross_modal_share(split: &SplitRow, own: Modality) -> f32 {
    let total: f32 = split.modality_mass.iter().map(|(_, v)| v).sum::<f32>() + split.bottleneck_mass;
    let other: f32 = split.modality_mass.iter().filter(|(m, _)| *m != own).map(|(_, v)| v).sum();
    if total > 0.0 { other / total } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::joint::joint_layout;

    fn config(token: bool, temporal_sampling: bool) -> MbtConfig {
        let json = format!(
            r#"{{"hidden_size": 8, "num_layers": 2, "num_heads": 2, "mlp_dim": 8, "num_classes": 3,
                "patches": {{"size": [8, 8, 2]}}, "classifier": "{}",
                "temporal_encoding_config": {{"method": "{}", "n_sampled_frames": 2}},
                "modality_fusion": ["spectrogram", "rgb"], "use_bottleneck": true, "n_bottlenecks": 2,
                "dataset_configs": {{"num_frames": 4, "crop_size": 16, "spec_shape": [24, 16], "num_spec_frames": 1}}}}"#,
            if token { "token" } else { "gap" },
            if temporal_sampling { "temporal_sampling" } else { "3d_conv" },
        );
        MbtConfig::parse_scenic_json(&json).unwrap().config
    }

    #[test]
    fn splits_a_row_into_patch_maps_and_token_masses() {
        let c = config(true, false);
        let layout = joint_layout(&c);
        // spectrogram: cls + 3x2 patches; rgb: cls + 2x2x2 tubelets; 3 bottleneck tokens.
        assert_eq!(layout.len(), 1 + 6 + 1 + 8 + 3);
        let row: Vec<f32> = (0..layout.len()).map(|i| i as f32).collect();
        let split = split_row(&c, &layout, &row);
        let spec = split.spectrogram.clone().unwrap();
        assert_eq!((spec.time, spec.mel), (3, 2));
        assert_eq!(spec.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(spec.steps, vec![0..8, 8..16, 16..24]);
        let rgb = split.rgb.clone().unwrap();
        assert_eq!((rgb.slices, rgb.height, rgb.width), (2, 2, 2));
        assert_eq!(rgb.values, (8..16).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(rgb.frames, vec![0..2, 2..4]);
        assert_eq!(split.cls_mass, vec![(Modality::Spectrogram, 0.0), (Modality::Rgb, 7.0)]);
        assert_eq!(split.bottleneck_mass, 16.0 + 17.0 + 18.0);
        let total: f32 = row.iter().sum();
        let spec_mass = (0..7).sum::<i32>() as f32;
        let rgb_mass = (7..16).sum::<i32>() as f32;
        assert_eq!(split.modality_mass, vec![(Modality::Spectrogram, spec_mass), (Modality::Rgb, rgb_mass)]);
        assert!((cross_modal_share(&split, Modality::Spectrogram) - rgb_mass / total).abs() < 1e-6);
    }

    #[test]
    fn temporal_sampling_maps_slices_to_sampled_frames() {
        let c = config(false, true);
        let layout = joint_layout(&c);
        let row = vec![1.0; layout.len()];
        let rgb = split_row(&c, &layout, &row).rgb.unwrap();
        // 4 frames, 2 sampled: Scenic's float arange yields 1.33, 2.67 and 4.0 (clamped to 3).
        assert_eq!(rgb.frames, vec![1..2, 3..4, 3..4]);
        assert_eq!((rgb.slices, rgb.height, rgb.width), (3, 2, 2));
    }
}
