//! Evaluating a model on generated clips with ground truth: accuracy, per-class confusion, cost
//! per window, and how well its explanations find the sounding object (pointing game and AUC
//! against its box at the window's centre frame, for attention rollout and for gradient-weighted
//! relevance, from either classification token).
//!
//! Each map is scored twice: its time slice that holds the centre frame, and the sum of its time
//! slices (the whole window as one picture). The objects move little within a window (a patch
//! at most), while the model's evidence sits in the slice where the sound and the sounding
//! object's pulse coincide, which is not always the centre one.

pub mod metrics;
pub mod plot;

use std::path::Path;

use anyhow::Context as _;
use burn::prelude::*;
use serde::Serialize;

use crate::analysis::{host, softmax};
use crate::explain::RolloutOptions;
use crate::explain::maps::{Row, explained_relevance_rows, explained_rollout_rows, split_row};
use crate::model::layout::TokenLayout;
use crate::model::{Mbt, MbtConfig, Modality};
use crate::train::data::{Example, input_for, read_sidecar};
use metrics::{Pointing, baseline_cious, box_auc, ciou, pointing, pointing_chance, success_curve};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    pub batch_size: usize,
    pub rollout: RolloutOptions,
    /// Also score gradient-weighted relevance (one autodiff pass per batch).
    pub relevance: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { batch_size: 16, rollout: RolloutOptions::default(), relevance: true }
    }
}

/// One explanation method's localisation on one clip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Localisation {
    pub hit: bool,
    /// `None` when the box covers all of the crop or none of it.
    pub auc: Option<f64>,
    /// The map's maximum, in frame pixels.
    pub point: [f32; 2],
    /// The chance of a hit for a map maximal on a random patch.
    pub chance: f64,
    /// The map's maximum falls on some object, sounding or not.
    pub on_object: bool,
    /// Consensus IoU with the sounding object's box ([`metrics::ciou`]).
    pub ciou: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipScore {
    pub name: String,
    pub label: usize,
    pub predicted: usize,
    pub probability: f32,
    /// The sounding object's box at the centre frame, frame pixels.
    pub sounding_box: [f32; 4],
    pub rollout: Option<Localisation>,
    /// Rollout from the spectrogram's CLS token onto the rgb patches: where the audio stream
    /// draws its video information from (through the bottleneck, or directly in vanilla fusion).
    pub audio_rollout: Option<Localisation>,
    pub relevance: Option<Localisation>,
    /// Relevance from the spectrogram's CLS token onto the rgb patches.
    pub audio_relevance: Option<Localisation>,
    /// The same four maps summed over the window's time slices.
    pub rollout_window: Option<Localisation>,
    pub audio_rollout_window: Option<Localisation>,
    pub relevance_window: Option<Localisation>,
    pub audio_relevance_window: Option<Localisation>,
    /// The baselines' cIoU for this clip's box: the whole frame, and the centre prior.
    pub whole_frame_ciou: f64,
    pub centre_prior_ciou: f64,
    /// The counterfactual twin's name (`synth --twins`): the same scene with another object
    /// sounding.
    pub twin: Option<String>,
}

/// A predicted region's cIoU over the clips, read as sound-source localisation papers do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CiouSummary {
    /// Fraction of clips with cIoU >= 0.5.
    pub ciou_at_05: f64,
    /// Area under the success curve (fraction of clips with cIoU >= t, t from 0 to 1).
    pub ciou_auc: f64,
}

/// The baselines beside the maps: a map that marks the whole frame, and the centre prior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Baselines {
    pub whole_frame: CiouSummary,
    pub centre_prior: CiouSummary,
}

/// Means over clips of one method's localisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LocalisationSummary {
    /// Fraction of clips whose map maximum falls on the sounding object.
    pub pointing_game: f64,
    /// Mean AUC over the clips that have one.
    pub auc: f64,
    /// The pointing game's chance level (random patch), averaged over the clips.
    pub pointing_chance: f64,
    /// Fraction of clips whose map maximum falls on any object (sounding or not): a map that
    /// finds objects but not the sounding one scores high here and low in the pointing game.
    pub on_any_object: f64,
    /// Fraction of clips with cIoU >= 0.5 (Senocak et al. 2018).
    pub ciou_at_05: f64,
    /// Area under the cIoU success curve.
    pub ciou_auc: f64,
    pub clips: usize,
    /// Of the twin pairs scored (both clips evaluated), the share in which the map follows the
    /// sound: its maximum is on the sounding object in the clip and on the other, newly sounding
    /// object in the twin. A map that ignores the audio can be right in at most one of the two
    /// (the video is the same), so it scores 0. `None` without twins.
    pub follows_sound: Option<f64>,
    pub twin_pairs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub labels: Vec<String>,
    pub clips: usize,
    pub accuracy: f64,
    pub per_class_accuracy: Vec<Option<f64>>,
    /// `confusion[truth][predicted]`
    pub confusion: Vec<Vec<usize>>,
    pub gflops_per_window: f64,
    /// The rollout settings the rollout maps were made with.
    pub rollout_options: RolloutOptions,
    pub rollout: Option<LocalisationSummary>,
    pub audio_rollout: Option<LocalisationSummary>,
    pub relevance: Option<LocalisationSummary>,
    pub audio_relevance: Option<LocalisationSummary>,
    /// The maps summed over the window's time slices.
    pub rollout_window: Option<LocalisationSummary>,
    pub audio_rollout_window: Option<LocalisationSummary>,
    pub relevance_window: Option<LocalisationSummary>,
    pub audio_relevance_window: Option<LocalisationSummary>,
    /// The whole-frame and centre-prior baselines on the same boxes.
    pub baselines: Baselines,
    pub seconds: f64,
    /// The audio the models heard, if not the clips' own (`mute`, `noise`, `shift=S`).
    pub counterfactual: Option<String>,
    pub per_clip: Vec<ClipScore>,
}

/// Which time slices of an rgb map are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slices {
    /// The slice that holds the window's centre frame.
    Centre,
    /// All of them, summed.
    Window,
}

/// Scores the rgb part of an explanation row against the boxes at the window's centre frame.
fn localise(
    config: &MbtConfig,
    layout: &TokenLayout,
    row: &[f32],
    example: &Example,
    bx: [f32; 4],
    objects: &[[f32; 4]],
    slices: Slices,
) -> Option<Localisation> {
    let map = split_row(config, layout, row).rgb?;
    let plane = map.height * map.width;
    let values: Vec<f32> = match slices {
        Slices::Centre => {
            let centre_frame = config.dataset_configs.num_frames / 2;
            let slice = map.frames.iter().position(|r| r.contains(&centre_frame))?;
            map.values[slice * plane..(slice + 1) * plane].to_vec()
        }
        Slices::Window => map.summed_slices(),
    };
    let values = &values[..];
    let crop = example.crop.crop as f32;
    let cell = [crop / map.width as f32, crop / map.height as f32];
    let crop_box = example.crop.map_box(bx);
    let Pointing { hit, point } = pointing(values, map.height, map.width, cell, crop_box, crop);
    let on_object = hit || objects.iter().any(|&b| pointing(values, map.height, map.width, cell, example.crop.map_box(b), crop).hit);
    Some(Localisation {
        hit,
        auc: box_auc(values, map.height, map.width, cell, crop_box, crop),
        point: example.crop.unmap_point(point),
        chance: pointing_chance(map.height, map.width, cell, crop_box, crop),
        on_object,
        ciou: ciou(values, map.height, map.width, cell, crop_box, crop),
    })
}

/// The row that explains the rgb side: the rgb CLS row, or the mean row without CLS tokens.
fn rgb_rows(rows: &[(Row, Tensor<2>)]) -> anyhow::Result<Option<Vec<f32>>> {
    named_rows(rows, |row| matches!(row, Row::Cls(Modality::Rgb) | Row::Pooled))
}

/// The spectrogram CLS row (token classifier with both modalities fused in the encoder only:
/// with late fusion no attention path leads from the audio CLS to the video).
fn audio_rows(config: &MbtConfig, rows: &[(Row, Tensor<2>)]) -> anyhow::Result<Option<Vec<f32>>> {
    if config.modality_fusion.len() < 2 || config.fusion_layer >= config.num_layers {
        return Ok(None);
    }
    named_rows(rows, |row| row == Row::Cls(Modality::Spectrogram))
}

/// The first of the explained `rows` (from [`explained_rows`] or [`explained_rollout_rows`])
/// whose name is `wanted`, on the host.
fn named_rows(rows: &[(Row, Tensor<2>)], wanted: impl Fn(Row) -> bool) -> anyhow::Result<Option<Vec<f32>>> {
    let Some((_, row)) = rows.iter().find(|(which, _)| wanted(*which)) else {
        return Ok(None);
    };
    Ok(Some(host(row.clone())?))
}

/// Evaluates `model` on `examples` (from `data_dir`, whose sidecars give the boxes).
pub fn evaluate(
    model: &Mbt,
    model_name: &str,
    labels: &[String],
    data_dir: &Path,
    examples: &[Example],
    options: &EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<EvalReport> {
    let started = std::time::Instant::now();
    let config = &model.config;
    let device = model.output_projection.weight.val().device();
    let classes = config.num_classes;
    let has_rgb = config.modality_fusion.contains(&Modality::Rgb);
    let mut per_clip = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(options.batch_size.max(1)) {
        let batch: Vec<&Example> = chunk.iter().collect();
        let input = input_for(config, &batch, &device);
        let (output, explanation) = crate::runner::explain(model, input.clone(), options.rollout)?;
        let logits = host(output.logits)?;
        let n = explanation.layout.len();
        let explained = explained_rollout_rows(config, &explanation);
        let rollout_rows = if has_rgb { rgb_rows(&explained)? } else { None };
        let audio_rollout_rows = if has_rgb { audio_rows(config, &explained)? } else { None };
        let (relevance_rows, audio_relevance_rows) = if has_rgb && options.relevance {
            let result = crate::explain::relevance::relevance(model, input, None)?;
            let explained = explained_relevance_rows(config, &result);
            (rgb_rows(&explained)?, audio_rows(config, &explained)?)
        } else {
            (None, None)
        };
        for (i, example) in batch.iter().enumerate() {
            let sidecar_path = data_dir.join(format!("{}.json", example.name));
            let sidecar = read_sidecar(&sidecar_path)?;
            let bx = sidecar
                .sounding_box(example.centre.secs())
                .with_context(|| format!("no sounding-object box in {}", sidecar_path.display()))?;
            let objects = sidecar.object_boxes(example.centre.secs());
            let probabilities = softmax(&logits[i * classes..(i + 1) * classes]);
            let (predicted, probability) = probabilities
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (c, p)| if p > best.1 { (c, p) } else { best });
            let baselines = baseline_cious(example.crop.map_box(bx), example.crop.crop as f32);
            let score = |rows: &Option<Vec<f32>>, slices: Slices| {
                rows.as_ref().and_then(|r| localise(config, &explanation.layout, &r[i * n..(i + 1) * n], example, bx, &objects, slices))
            };
            per_clip.push(ClipScore {
                name: example.name.clone(),
                label: example.label,
                predicted,
                probability,
                sounding_box: bx,
                rollout: score(&rollout_rows, Slices::Centre),
                audio_rollout: score(&audio_rollout_rows, Slices::Centre),
                relevance: score(&relevance_rows, Slices::Centre),
                audio_relevance: score(&audio_relevance_rows, Slices::Centre),
                rollout_window: score(&rollout_rows, Slices::Window),
                audio_rollout_window: score(&audio_rollout_rows, Slices::Window),
                relevance_window: score(&relevance_rows, Slices::Window),
                audio_relevance_window: score(&audio_relevance_rows, Slices::Window),
                whole_frame_ciou: baselines.0,
                centre_prior_ciou: baselines.1,
                twin: sidecar.twin.map(|t| t.clip),
            });
        }
        progress(per_clip.len(), examples.len());
    }
    let mut report = summarise(config, model_name, labels, per_clip, started.elapsed().as_secs_f64());
    report.rollout_options = options.rollout;
    Ok(report)
}

fn summarise(config: &MbtConfig, model_name: &str, labels: &[String], per_clip: Vec<ClipScore>, seconds: f64) -> EvalReport {
    let classes = config.num_classes;
    let mut confusion = vec![vec![0usize; classes]; classes];
    for c in &per_clip {
        confusion[c.label][c.predicted] += 1;
    }
    let correct: usize = (0..classes).map(|k| confusion[k][k]).sum();
    let per_class_accuracy = confusion
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let total: usize = row.iter().sum();
            (total > 0).then(|| row[k] as f64 / total as f64)
        })
        .collect();
    let by_name: std::collections::HashMap<&str, &ClipScore> = per_clip.iter().map(|c| (c.name.as_str(), c)).collect();
    let summary = |pick: fn(&ClipScore) -> Option<Localisation>| {
        let scored: Vec<Localisation> = per_clip.iter().filter_map(pick).collect();
        if scored.is_empty() {
            return None;
        }
        // Each pair once: from the clip whose name sorts first.
        let pairs: Vec<bool> = per_clip
            .iter()
            .filter_map(|c| {
                let twin = by_name.get(c.twin.as_deref()?)?;
                (c.name < twin.name).then_some(())?;
                Some(pick(c)?.hit && pick(twin)?.hit)
            })
            .collect();
        let aucs: Vec<f64> = scored.iter().filter_map(|l| l.auc).collect();
        let (ciou_at_05, ciou_auc) = success_curve(&scored.iter().map(|l| l.ciou).collect::<Vec<_>>());
        Some(LocalisationSummary {
            ciou_at_05,
            ciou_auc,
            pointing_game: scored.iter().filter(|l| l.hit).count() as f64 / scored.len() as f64,
            auc: aucs.iter().sum::<f64>() / aucs.len().max(1) as f64,
            pointing_chance: scored.iter().map(|l| l.chance).sum::<f64>() / scored.len() as f64,
            on_any_object: scored.iter().filter(|l| l.on_object).count() as f64 / scored.len() as f64,
            clips: scored.len(),
            follows_sound: (!pairs.is_empty()).then(|| pairs.iter().filter(|&&f| f).count() as f64 / pairs.len() as f64),
            twin_pairs: pairs.len(),
        })
    };
    EvalReport {
        model: model_name.to_owned(),
        labels: labels.to_vec(),
        clips: per_clip.len(),
        accuracy: correct as f64 / per_clip.len().max(1) as f64,
        per_class_accuracy,
        confusion,
        gflops_per_window: crate::model::flops::count(config).total() / 1e9,
        rollout_options: RolloutOptions::default(),
        rollout: summary(|c| c.rollout),
        audio_rollout: summary(|c| c.audio_rollout),
        relevance: summary(|c| c.relevance),
        audio_relevance: summary(|c| c.audio_relevance),
        rollout_window: summary(|c| c.rollout_window),
        audio_rollout_window: summary(|c| c.audio_rollout_window),
        relevance_window: summary(|c| c.relevance_window),
        audio_relevance_window: summary(|c| c.audio_relevance_window),
        baselines: {
            let curve = |pick: fn(&ClipScore) -> f64| {
                let (ciou_at_05, ciou_auc) = success_curve(&per_clip.iter().map(pick).collect::<Vec<_>>());
                CiouSummary { ciou_at_05, ciou_auc }
            };
            Baselines { whole_frame: curve(|c| c.whole_frame_ciou), centre_prior: curve(|c| c.centre_prior_ciou) }
        },
        seconds,
        counterfactual: None,
        per_clip,
    }
}
