//! Training MBT with burn's autodiff and Adam: softmax cross-entropy, linear warm-up then cosine
//! decay, horizontal-flip augmentation, fixed seeds.

pub mod command;
pub mod data;
pub mod fresh;
pub mod route;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::model::layout::TokenKind;
use crate::model::mbt::{Capture, Mbt, MbtInput};
use crate::model::{MbtConfig, Modality};
use crate::synth::Rng;
use crate::weights::params::ParamSource;
pub use data::{Example, load_examples, load_examples_with};
pub use fresh::FreshClips;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub seed: u64,
    /// Flip frames left-right with probability 0.5.
    pub flip: bool,
    /// Call the checkpoint function every this many steps (0: never).
    pub checkpoint_every: usize,
    /// The first step to run (a resumed run continues its schedule and its data order).
    pub start_step: usize,
    /// Keep each clip and its counterfactual twin (`NAME` and `NAME_twin`) in the same batch,
    /// flipped alike: the two show the same pictures with different labels, so the part of
    /// the gradient that the pictures alone explain cancels within the pair and what is left
    /// is the part that depends on the sound.
    #[serde(default)]
    pub pair_twins: bool,
    /// Weight of each modality's own cross-entropy (its classification token's logits, see
    /// [`Mbt::modality_logits`]), averaged over the modalities and added to the loss of the
    /// model's prediction (the mean of those logits). 0: the prediction's loss alone, as Scenic
    /// trains MBT. Above 0 each stream must reach the label itself, so what one modality knows
    /// has to cross into the other (through the bottleneck tokens, in a bottleneck model).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modality_loss: f64,
    /// Weight of the self-supervised loss that aligns the streams in time ([`sync_targets`]):
    /// the video and audio patch tokens predict the audio's loudness in their own time slice
    /// through linear heads that only training has. 0: off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sync_loss: f64,
    /// Write a route for time alignment into a mid-fusion model before the first step
    /// ([`route::with_time_route`]); not again when a run resumes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_route: bool,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch_size: 16,
            learning_rate: 3e-4,
            warmup_steps: 50,
            seed: 0,
            flip: true,
            checkpoint_every: 0,
            start_step: 0,
            pair_twins: false,
            modality_loss: 0.0,
            sync_loss: 0.0,
            time_route: false,
        }
    }
}

/// What is trained: the model, and the heads of the time-alignment loss (training only; they
/// are not saved, and a resumed run starts them afresh).
#[derive(Module, Debug)]
struct Trainee {
    mbt: Mbt,
    sync_heads: Option<SyncHeads>,
}

/// The time-alignment loss's linear heads, one per modality: each patch token predicts the
/// audio's loudness ([`sync_targets`]) in its own time slice. In a bottleneck model with at
/// least as many bottleneck tokens as time slices, bottleneck token `k` (after the last layer)
/// predicts slice `k`'s loudness too, through a third head: a route for the alignment (audio
/// slice -> its bottleneck token -> the video tokens of that slice) that is supervised at every
/// hop instead of having to be discovered through tokens that carry no position.
///
/// Only the video tokens' prediction needs the other modality; the audio tokens' is easy, and it
/// is there to make the audio tokens carry their slice's loudness plainly in their values, where
/// the video tokens' attention can pick it up. On `sync` clips the targets mark the sounding
/// slots cleanly (`train::sync_targets_mark_the_sounding_slots`), yet on CPU budgets (3000 steps
/// from the shipped models) the video tokens' error stayed at the constant guess unless the
/// route is written in first ([`route::with_time_route`]; README: "The sync task").
#[derive(Module, Debug)]
struct SyncHeads {
    rgb: Linear,
    spectrogram: Linear,
    bottleneck: Linear,
}

impl SyncHeads {
    fn new(config: &MbtConfig, device: &Device) -> Self {
        let head = || LinearConfig::new(config.hidden_size, 1).init(device);
        Self { rgb: head(), spectrogram: head(), bottleneck: head() }
    }

    /// The loss (mean squared error over the modalities' patch tokens whose slices line up with
    /// the video's time slices, and over the first bottleneck tokens, one per slice, averaged
    /// over the terms) and each kind of token's part of it.
    fn loss(&self, config: &MbtConfig, out: &crate::model::MbtOutput, picked: &[&Example], device: &Device) -> SyncLoss {
        let (encoded, layout) = (&out.encoded, &out.encoded_layout);
        let slices = config.rgb_time_slices();
        let b = picked.len();
        let mut result = SyncLoss { total: None, video: None, audio: None, bottleneck: None };
        if slices == 0 {
            return result;
        }
        let mel = config.dataset_configs.spec_shape[1];
        let targets = sync_targets(picked, mel, slices);
        let targets: Tensor<3> = Tensor::<2>::from_data(TensorData::new(targets, [b, slices]), device).reshape([b, slices, 1]);
        let (mut total, mut terms) = (None::<Tensor<1>>, 0usize);
        let mut add = |mse: Tensor<1>| {
            total = Some(match total.take() {
                Some(t) => t + mse,
                None => mse,
            });
            terms += 1;
        };
        for (modality, head) in [(Modality::Rgb, &self.rgb), (Modality::Spectrogram, &self.spectrogram)] {
            let Some(patches) = layout.find(TokenKind::Patches(modality)) else { continue };
            // Both modalities' patch tokens are time-major, so a slice's tokens are contiguous.
            let per_slice = patches.len / slices;
            if per_slice == 0 || per_slice * slices != patches.len {
                continue;
            }
            let tokens = encoded.clone().slice(s![.., patches.start..patches.start + patches.len, ..]);
            let error = head.forward(tokens).reshape([b, slices, per_slice]) - targets.clone();
            let mse = (error.clone() * error).mean();
            let value = Some(mse.clone().into_scalar::<f32>());
            match modality {
                Modality::Rgb => result.video = value,
                Modality::Spectrogram => result.audio = value,
            }
            add(mse);
        }
        if let Some(bottleneck) = out.bottleneck.as_ref().filter(|t| t.dims()[1] >= slices) {
            let tokens = bottleneck.clone().slice(s![.., 0..slices, ..]);
            let error = self.bottleneck.forward(tokens) - targets;
            let mse = (error.clone() * error).mean();
            result.bottleneck = Some(mse.clone().into_scalar::<f32>());
            add(mse);
        }
        result.total = total.map(|t| t.div_scalar(terms as f64));
        result
    }
}

/// What [`SyncHeads::loss`] gives.
struct SyncLoss {
    /// The loss to add, when any term applies.
    total: Option<Tensor<1>>,
    /// The video tokens' error.
    video: Option<f32>,
    /// The audio tokens' error.
    audio: Option<f32>,
    /// The bottleneck tokens' error.
    bottleneck: Option<f32>,
}

/// The targets of the time-alignment loss, `[batch, slices]`: for each example, how loud the
/// audio is in each of the video's `slices` time slices (the mean of the normalised spectrogram
/// over the slice's rows), standardised over the slices (a near-constant track gives zeros).
/// They come from the input alone, so the loss needs no labels.
pub fn sync_targets(examples: &[&Example], mel: usize, slices: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(examples.len() * slices);
    for e in examples {
        let rows = e.spectrogram.len() / mel.max(1);
        let loudness: Vec<f32> = (0..slices)
            .map(|t| {
                let (a, b) = (t * rows / slices, ((t + 1) * rows / slices).max(t * rows / slices + 1));
                let part = &e.spectrogram[(a * mel).min(e.spectrogram.len())..(b * mel).min(e.spectrogram.len())];
                if part.is_empty() { 0.0 } else { part.iter().sum::<f32>() / part.len() as f32 }
            })
            .collect();
        let mean = loudness.iter().sum::<f32>() / slices.max(1) as f32;
        let std = (loudness.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / slices.max(1) as f32).sqrt();
        // Below this spread (in normalised spectrogram units) the track counts as constant.
        const FLAT: f32 = 0.02;
        out.extend(loudness.iter().map(|v| if std < FLAT { 0.0 } else { (v - mean) / std }));
    }
    out
}

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    pub step: usize,
    pub loss: f32,
    pub accuracy: f32,
    /// The video tokens' time-alignment error (mean squared error against standardised targets:
    /// 1 for a constant guess), when the loss is on.
    pub sync_loss: Option<f32>,
    /// The audio tokens' time-alignment error, when the loss is on.
    pub sync_audio: Option<f32>,
    /// The bottleneck tokens' time-alignment error, when the loss is on and the model has a
    /// bottleneck token per time slice.
    pub sync_bottleneck: Option<f32>,
    pub learning_rate: f64,
}

/// Learning rate at `step`: linear warm-up, then cosine decay to 5% of the peak.
pub fn learning_rate(options: &TrainOptions, step: usize) -> f64 {
    let peak = options.learning_rate;
    if step < options.warmup_steps {
        return peak * (step + 1) as f64 / options.warmup_steps as f64;
    }
    let span = options.steps.saturating_sub(options.warmup_steps).max(1) as f64;
    let progress = (step - options.warmup_steps) as f64 / span;
    peak * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos()))
}

/// The units batches are drawn in: single examples, or with `pair_twins` each clip together
/// with its twin (`NAME_twin`) where both are in `examples`.
fn batch_groups(examples: &[Example], pair_twins: bool) -> Vec<Vec<usize>> {
    if !pair_twins {
        return (0..examples.len()).map(|i| vec![i]).collect();
    }
    let index: std::collections::HashMap<&str, usize> = examples.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
    let mut grouped = vec![false; examples.len()];
    let mut groups = Vec::with_capacity(examples.len());
    for (i, e) in examples.iter().enumerate() {
        if grouped[i] {
            continue;
        }
        let twin = index.get(crate::synth::twin_name(&e.name).as_str()).copied().filter(|&j| j != i && !grouped[j]);
        let group: Vec<usize> = std::iter::once(i).chain(twin).collect();
        group.iter().for_each(|&g| grouped[g] = true);
        groups.push(group);
    }
    groups
}

/// Builds a batch on `device` (autodiff-enabled).
fn batch(config: &MbtConfig, examples: &[&Example], flips: &[bool], device: &Device) -> (MbtInput, Tensor<1, Int>) {
    let (rgb, spectrogram) = data::batch_arrays(config, examples, flips);
    let labels: Vec<i64> = examples.iter().map(|e| e.label as i64).collect();
    let input = MbtInput::from_host(config, examples.len(), rgb, spectrogram, device).autodiff();
    (input, Tensor::from_data(TensorData::new(labels, [examples.len()]), device))
}

/// Where training batches come from.
#[derive(Clone, Copy)]
pub enum TrainData<'a> {
    /// Clips loaded once (from `synth` folders), reshuffled at every pass over them.
    Clips(&'a [Example]),
    /// New clips from the generator at every step, never seen twice.
    Fresh(&'a FreshClips),
}

/// Draws the batches of a clip set: the order and flips depend only on the seed and the step.
struct ClipBatches<'a> {
    examples: &'a [Example],
    groups: Vec<Vec<usize>>,
    order: Vec<usize>,
    cursor: usize,
    batch_size: usize,
    rng: Rng,
    flip: bool,
}

impl<'a> ClipBatches<'a> {
    fn new(examples: &'a [Example], options: &TrainOptions) -> Self {
        let groups = batch_groups(examples, options.pair_twins);
        let order: Vec<usize> = (0..groups.len()).collect();
        let cursor = order.len();
        let batch_size = options.batch_size.min(examples.len()).max(1);
        Self { examples, groups, order, cursor, batch_size, rng: Rng::new(options.seed), flip: options.flip }
    }

    fn next(&mut self) -> (Vec<&'a Example>, Vec<bool>) {
        let mut picked_groups = Vec::new();
        let mut picked_len = 0;
        while picked_len < self.batch_size {
            if self.cursor >= self.order.len() {
                for i in (1..self.order.len()).rev() {
                    self.order.swap(i, self.rng.below(i + 1));
                }
                self.cursor = 0;
            }
            let group = self.order[self.cursor];
            self.cursor += 1;
            picked_len += self.groups[group].len();
            picked_groups.push(group);
        }
        // One flip per group, drawn after the picks (for single examples, the order of draws
        // that runs before pairing had).
        let mut picked = Vec::with_capacity(picked_len);
        let mut flips = Vec::with_capacity(picked_len);
        for group in picked_groups {
            let flip = self.flip && self.rng.unit() < 0.5;
            for &i in &self.groups[group] {
                picked.push(&self.examples[i]);
                flips.push(flip);
            }
        }
        (picked, flips)
    }
}

/// The fresh batch of `step`: `batch_size` new clips (with `pair_twins`, half as many clips,
/// each with its twin, flipped alike), made on all cores. It depends only on the seed and the
/// step, so a resumed run sees the batches an uninterrupted one would have.
fn fresh_batch(clips: &FreshClips, options: &TrainOptions, step: usize) -> (Vec<Example>, Vec<bool>) {
    use rayon::prelude::*;
    let per_group = if options.pair_twins { 2 } else { 1 };
    let groups = options.batch_size.div_ceil(per_group).max(1);
    let first = (step * groups) as u64;
    let mut rng = Rng::new(options.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let group_flips: Vec<bool> = (0..groups).map(|_| options.flip && rng.unit() < 0.5).collect();
    let made: Vec<Vec<Example>> = (0..groups as u64)
        .into_par_iter()
        .map(|k| if options.pair_twins { clips.pair(first + k).into() } else { vec![clips.example(first + k)] })
        .collect();
    let flips = made.iter().zip(&group_flips).flat_map(|(group, &flip)| std::iter::repeat_n(flip, group.len())).collect();
    (made.into_iter().flatten().collect(), flips)
}

/// Trains from `init` for steps `options.start_step..options.steps`, calling `report` after
/// every step and `checkpoint` every `options.checkpoint_every` steps. The data order
/// and flips depend only on the seed and the step, so a resumed run sees the same batches as an
/// uninterrupted one; Adam's moments start afresh on resume. Fresh clips are made on the other
/// cores while a step runs.
pub fn train(
    config: &MbtConfig,
    init: &mut dyn ParamSource,
    data: TrainData<'_>,
    options: &TrainOptions,
    device: &Device,
    mut report: impl FnMut(StepReport),
    mut checkpoint: impl FnMut(&Mbt, usize) -> anyhow::Result<()>,
) -> anyhow::Result<Mbt> {
    if let TrainData::Clips(examples) = data {
        anyhow::ensure!(!examples.is_empty(), "no training examples");
    }
    let mut mbt = Mbt::load(config, init, device)?;
    if options.time_route && options.start_step == 0 {
        mbt = route::with_time_route(mbt, route::RouteStrength::default())?;
    }
    let sync_heads = (options.sync_loss > 0.0).then(|| SyncHeads::new(config, device));
    let mut model = Trainee { mbt, sync_heads }.train();
    let mut optim = AdamConfig::new().init();
    let mut run_step = |model: Trainee, picked: &[&Example], flips: &[bool], step: usize| -> anyhow::Result<Trainee> {
        let (input, labels) = batch(config, picked, flips, device);
        let b = picked.len();
        let out = model.mbt.forward(input, Capture::None)?;
        let cross_entropy = |logits: Tensor<2>| -> Tensor<1> {
            let picked_log_probs: Tensor<2> = log_softmax(logits, 1).gather(1, labels.clone().reshape([b, 1]));
            picked_log_probs.mean().neg()
        };
        let predicted = out.logits.clone().argmax(1).reshape([b]);
        let mut loss = cross_entropy(out.logits.clone());
        // What is reported is the prediction's loss, comparable between runs with and
        // without the modality losses.
        let loss_value = loss.clone().into_scalar::<f32>();
        if options.modality_loss > 0.0 {
            let each = model.mbt.modality_logits(&out.encoded, &out.encoded_layout, b);
            let n = each.len().max(1) as f64;
            if let Some(sum) = each.into_iter().map(|(_, logits)| cross_entropy(logits)).reduce(|a, b| a + b) {
                loss = loss + sum.mul_scalar(options.modality_loss / n);
            }
        }
        let (mut sync_value, mut sync_audio, mut sync_bottleneck) = (None, None, None);
        if let Some(heads) = &model.sync_heads {
            let sync = heads.loss(config, &out, picked, device);
            (sync_value, sync_audio, sync_bottleneck) = (sync.video, sync.audio, sync.bottleneck);
            if let Some(total) = sync.total {
                loss = loss + total.mul_scalar(options.sync_loss);
            }
        }
        let correct = predicted.equal(labels).int().sum().into_scalar::<i64>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = learning_rate(options, step);
        let model = optim.step(lr, model, grads);
        report(StepReport {
            step,
            loss: loss_value,
            accuracy: correct as f32 / b as f32,
            sync_loss: sync_value,
            sync_audio,
            sync_bottleneck,
            learning_rate: lr,
        });
        if options.checkpoint_every > 0 && (step + 1).is_multiple_of(options.checkpoint_every) && step + 1 < options.steps {
            checkpoint(&model.mbt.valid(), step + 1)?;
        }
        Ok(model)
    };
    match data {
        TrainData::Clips(examples) => {
            let mut batches = ClipBatches::new(examples, options);
            for step in 0..options.steps {
                let (picked, flips) = batches.next();
                if step >= options.start_step {
                    model = run_step(model, &picked, &flips, step)?;
                }
            }
        }
        TrainData::Fresh(clips) => {
            let start = model;
            model = std::thread::scope(|scope| -> anyhow::Result<Trainee> {
                let mut model = start;
                // Two batches ahead; the maker stops when the receiver goes (an error here).
                let (sender, receiver) = std::sync::mpsc::sync_channel(2);
                scope.spawn(move || {
                    for step in options.start_step..options.steps {
                        if sender.send(fresh_batch(clips, options, step)).is_err() {
                            break;
                        }
                    }
                });
                for step in options.start_step..options.steps {
                    let (examples, flips) = receiver.recv().map_err(|_| anyhow::anyhow!("the clip generator stopped"))?;
                    let picked: Vec<&Example> = examples.iter().collect();
                    model = run_step(model, &picked, &flips, step)?;
                }
                Ok(model)
            })?;
        }
    }
    Ok(model.mbt.valid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Example {
        Example {
            rgb: Vec::new(),
            spectrogram: Vec::new(),
            label: 0,
            name: name.to_owned(),
            centre: crate::media::Timestamp::ZERO,
            crop: crate::features::input::CropMapping { scale: [1.0; 2], offset: [0.0; 2], crop: 1 },
        }
    }

    /// With pairing, each clip goes with its twin when both are there, every example is in
    /// exactly one group, and a twin without its clip (or a clip without its twin) stands alone.
    #[test]
    fn twins_are_grouped_with_their_clips() {
        let names = ["a", "a_twin", "b", "c_twin", "d", "d_twin"];
        let examples: Vec<Example> = names.iter().map(|n| example(n)).collect();
        let groups = batch_groups(&examples, true);
        assert_eq!(groups, vec![vec![0, 1], vec![2], vec![3], vec![4, 5]]);
        let single = batch_groups(&examples, false);
        assert_eq!(single, (0..names.len()).map(|i| vec![i]).collect::<Vec<_>>());
    }
}
