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

/// The rows that explain a prediction, `[batch, joint]` each: one per CLS token (`cls_rgb`,
/// `cls_spectrogram`) with a token classifier, else `gap`, the mean of all non-bottleneck rows.
pub fn explained_rows(config: &MbtConfig, layout: &TokenLayout, rollout: &Tensor<3>) -> Vec<(String, Tensor<2>)> {
    let [b, _, n] = rollout.dims();
    if config.classifier == Classifier::Token {
        config
            .modality_fusion
            .iter()
            .filter_map(|&m| {
                let at = layout.find(TokenKind::Cls(m))?.start;
                let row: Tensor<2> = rollout.clone().slice(s![.., at..at + 1, ..]).reshape([b, n]);
                Some((format!("cls_{m}"), row))
            })
            .collect()
    } else {
        let end = layout.find(TokenKind::Bottleneck).map_or(n, |s| s.start);
        let rows: Tensor<3> = rollout.clone().slice(s![.., 0..end, ..]).mean_dim(1);
        vec![("gap".to_owned(), rows.reshape([b, n]))]
    }
}

/// A map over RGB patches for one example.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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

/// A map over spectrogram patches for one example.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    let mut split = SplitRow {
        rgb: None,
        spectrogram: None,
        cls_mass: Vec::new(),
        bottleneck_mass: 0.0,
        modality_mass: Vec::new(),
    };
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
