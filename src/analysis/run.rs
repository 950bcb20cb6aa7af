//! Running a model over a clip's windows: one window ([`analyze_window`]), a clip prepared for
//! one model ([`ClipAnalysis`]), and every window through the cache ([`analyze_cached`]).

use std::path::Path;

use anyhow::Context as _;
use burn::prelude::*;

use super::{AnalysisSettings, BottleneckLayer, CacheEntry, Method, ModelRun, WindowResult, model_name};
use crate::explain::maps::{RgbMap, Row, SpectrogramMap, cross_modal_share, explained_relevance_rows, explained_rollout_rows, split_row};
use crate::features::{ClipFeatures, FbankConfig, Window, WindowInput};
use crate::model::layout::TokenLayout;
use crate::model::{Mbt, MbtConfig, MbtInput, Modality};
use crate::runner::LoadedModel;

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
    /// Opens `path` for a model of `config`, its input altered as `counterfactual` says (None:
    /// the clip's own).
    pub fn open(path: &Path, config: &MbtConfig, counterfactual: Option<crate::features::Counterfactual>) -> anyhow::Result<Self> {
        let mut features = ClipFeatures::open(path, config, FbankConfig::default())?;
        features.set_counterfactual(counterfactual);
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
    /// with the same dataset settings and counterfactual).
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

/// Analyses every window of `clip` with `model`, reading and filling the analysis cache in
/// `cache` (shared with the app) when given. `progress(done, total)` is called per window.
pub fn analyze_cached(
    clip: &Path,
    model_dir: &Path,
    model: &LoadedModel,
    settings: &AnalysisSettings,
    cache: Option<&Path>,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ModelRun> {
    let mut analysis = ClipAnalysis::open(clip, model.config(), settings.counterfactual.clone())?;
    let total = analysis.windows.len();
    let entry = cache.map(|dir| CacheEntry { dir, clip, model_dir, settings });
    let results = match entry.and_then(|e| e.read(total, model.config().num_classes)) {
        Some(results) => {
            progress(total, total);
            results
        }
        None => {
            let mut results = Vec::with_capacity(total);
            for i in 0..total {
                results.push(analysis.analyze(&model.model, i, settings).with_context(|| format!("{}: window {i}", clip.display()))?);
                progress(i + 1, total);
            }
            if let Some(e) = entry {
                e.write(&results);
            }
            results
        }
    };
    Ok(ModelRun {
        name: model_name(model_dir),
        dir: model_dir.to_owned(),
        labels: model.labels.clone(),
        num_frames: model.config().dataset_configs.num_frames,
        crop: analysis.features.crop_mapping(),
        results,
    })
}
