//! `mbtscope analyze`'s results file (`mbtscope-analysis/1`): per clip and model, each window's
//! top labels by name, cross-modal shares and bottleneck activity keyed by modality, and the maps
//! quantised ([`CompactMap`]). A documented format that scripts read, built from the one result
//! type ([`WindowResult`]) by [`window_out`] and read back into it by [`WindowOut::to_result`]
//! (the app's dataset browser opens clips with their stored results).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{AnalysisSettings, BottleneckLayer, CompactMap, WindowResult};
use crate::explain::maps::{RgbMap, SpectrogramMap};
use crate::model::{MbtConfig, Modality};

/// The results file's format tag.
pub const FORMAT: &str = "mbtscope-analysis/1";

/// The results file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Results {
    pub format: String,
    pub settings: AnalysisSettings,
    pub top_k: usize,
    pub maps: bool,
    pub models: Vec<ModelInfo>,
    /// The shard of the clip list this file holds (`analyze --shard`); absent for a whole run
    /// and for merged shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::Shard>,
    pub clips: Vec<ClipResult>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub dir: PathBuf,
    pub labels: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClipResult {
    pub clip: PathBuf,
    pub duration: f64,
    /// Seconds spent analysing (all models).
    pub seconds: f64,
    /// One entry per model, in the order of `models`.
    pub models: Vec<Vec<WindowOut>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub clip: PathBuf,
    pub error: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WindowOut {
    pub index: usize,
    pub centre: f64,
    pub first_frame: f64,
    pub last_frame: f64,
    pub audio_start: f64,
    pub audio_end: f64,
    pub top: Vec<Label>,
    pub explained_class: Option<usize>,
    /// Per modality, the share of its explanation that comes from the other modality.
    pub cross_modal: BTreeMap<String, f32>,
    pub bottleneck: Vec<BottleneckOut>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maps: Option<Maps>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Label {
    pub label: String,
    pub class: usize,
    pub probability: f32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BottleneckOut {
    pub layer: usize,
    /// Each token's L2 norm after the layer.
    pub norm: Vec<f32>,
    /// Per modality, the mean attention its tokens pay each bottleneck token.
    pub received: BTreeMap<String, Vec<f32>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Maps {
    /// `[slices, rows, cols]`, with the window frames each slice covers.
    pub rgb: Option<CompactMap>,
    pub rgb_frames: Vec<[usize; 2]>,
    /// `[time, mel]` patches.
    pub spectrogram: Option<CompactMap>,
}

impl WindowOut {
    /// The stored window as the one result type, for a model with `config`: the probabilities
    /// of the top k kept (every other class 0), the maps as quantised (each value within half a
    /// step of 1/255 of its range), and the bottleneck tokens' norms and received attention
    /// (their own maps are not stored, and stay `None`).
    pub fn to_result(&self, config: &MbtConfig) -> anyhow::Result<WindowResult> {
        let mut probabilities = vec![0.0; config.num_classes];
        for l in &self.top {
            let slot = probabilities.get_mut(l.class);
            *slot.ok_or_else(|| anyhow::anyhow!("window {}: class {} of {}", self.index, l.class, config.num_classes))? = l.probability;
        }
        let modality = |name: &str| Modality::SCENIC_ORDER.into_iter().find(|m| m.name() == name);
        let pairs =
            |map: &BTreeMap<String, f32>| -> Vec<(Modality, f32)> { map.iter().filter_map(|(k, v)| Some((modality(k)?, *v))).collect() };
        let (rgb, spectrogram) = match &self.maps {
            Some(maps) => (maps.rgb_map()?, maps.spectrogram_map(config)?),
            None => (None, None),
        };
        Ok(WindowResult {
            index: self.index,
            centre: self.centre,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            audio_start: self.audio_start,
            audio_end: self.audio_end,
            probabilities,
            explained_class: self.explained_class,
            rgb,
            spectrogram,
            cross_modal: pairs(&self.cross_modal),
            bottleneck: self
                .bottleneck
                .iter()
                .map(|b| BottleneckLayer {
                    layer: b.layer,
                    norm: b.norm.clone(),
                    received: b.received.iter().filter_map(|(k, v)| Some((modality(k)?, v.clone()))).collect(),
                    rgb_maps: vec![None; b.norm.len()],
                    spectrogram_maps: vec![None; b.norm.len()],
                })
                .collect(),
        })
    }
}

impl Maps {
    fn rgb_map(&self) -> anyhow::Result<Option<RgbMap>> {
        let Some(m) = &self.rgb else { return Ok(None) };
        let &[slices, height, width] = m.shape.as_slice() else { anyhow::bail!("an rgb map of shape {:?}", m.shape) };
        let values = m.decode()?;
        anyhow::ensure!(
            values.len() == slices * height * width && self.rgb_frames.len() == slices,
            "an rgb map of shape {:?} with {} values and {} frame ranges",
            m.shape,
            values.len(),
            self.rgb_frames.len()
        );
        Ok(Some(RgbMap { slices, height, width, values, frames: self.rgb_frames.iter().map(|f| f[0]..f[1]).collect() }))
    }

    fn spectrogram_map(&self, config: &MbtConfig) -> anyhow::Result<Option<SpectrogramMap>> {
        let Some(m) = &self.spectrogram else { return Ok(None) };
        let &[time, mel] = m.shape.as_slice() else { anyhow::bail!("a spectrogram map of shape {:?}", m.shape) };
        let values = m.decode()?;
        anyhow::ensure!(values.len() == time * mel, "a spectrogram map of shape {:?} with {} values", m.shape, values.len());
        // Each patch row covers the patch's height in input time steps, as the model splits it.
        let step = config.patch()[0];
        Ok(Some(SpectrogramMap { time, mel, values, steps: (0..time).map(|i| i * step..(i + 1) * step).collect() }))
    }
}

pub fn window_out(r: &WindowResult, labels: &[String], top_k: usize, maps: bool) -> WindowOut {
    WindowOut {
        index: r.index,
        centre: r.centre,
        first_frame: r.first_frame,
        last_frame: r.last_frame,
        audio_start: r.audio_start,
        audio_end: r.audio_end,
        top: r.top(top_k).into_iter().map(|(c, p)| Label { label: super::label_name(labels, c), class: c, probability: p }).collect(),
        explained_class: r.explained_class,
        cross_modal: r.cross_modal.iter().map(|(m, s)| (m.to_string(), *s)).collect(),
        bottleneck: r
            .bottleneck
            .iter()
            .map(|b| BottleneckOut {
                layer: b.layer,
                norm: b.norm.clone(),
                received: b.received.iter().map(|(m, v)| (m.to_string(), v.clone())).collect(),
            })
            .collect(),
        maps: maps.then(|| Maps {
            rgb: r.rgb.as_ref().map(|m| CompactMap::encode(vec![m.slices, m.height, m.width], &m.values)),
            rgb_frames: r.rgb.as_ref().map_or_else(Vec::new, |m| m.frames.iter().map(|f| [f.start, f.end]).collect()),
            spectrogram: r.spectrogram.as_ref().map(|m| CompactMap::encode(vec![m.time, m.mel], &m.values)),
        }),
    }
}
