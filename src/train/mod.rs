//! Training MBT with burn's autodiff and Adam: softmax cross-entropy, linear warm-up then cosine
//! decay, horizontal-flip augmentation, fixed seeds.

pub mod data;

use burn::module::Module as _;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::model::MbtConfig;
use crate::model::mbt::{Capture, Mbt, MbtInput};
use crate::synth::Rng;
use crate::weights::params::ParamSource;
pub use data::{Example, load_examples, load_examples_with};

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
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { steps: 1000, batch_size: 16, learning_rate: 3e-4, warmup_steps: 50, seed: 0, flip: true, checkpoint_every: 0, start_step: 0 }
    }
}

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    pub step: usize,
    pub loss: f32,
    pub accuracy: f32,
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

/// Builds a batch on `device` (autodiff-enabled).
fn batch(config: &MbtConfig, examples: &[&Example], flips: &[bool], device: &Device) -> (MbtInput, Tensor<1, Int>) {
    let (rgb, spectrogram) = data::batch_arrays(config, examples, flips);
    let labels: Vec<i64> = examples.iter().map(|e| e.label as i64).collect();
    let input = MbtInput::from_host(config, examples.len(), rgb, spectrogram, device).autodiff();
    (input, Tensor::from_data(TensorData::new(labels, [examples.len()]), device))
}

/// Trains from `init` for steps `options.start_step..options.steps`, calling `report` after
/// every step and `checkpoint` every `options.checkpoint_every` steps. The data order
/// and flips depend only on the seed and the step, so a resumed run sees the same batches as an
/// uninterrupted one; Adam's moments start afresh on resume.
pub fn train(
    config: &MbtConfig,
    init: &mut dyn ParamSource,
    examples: &[Example],
    options: &TrainOptions,
    device: &Device,
    mut report: impl FnMut(StepReport),
    mut checkpoint: impl FnMut(&Mbt, usize) -> anyhow::Result<()>,
) -> anyhow::Result<Mbt> {
    anyhow::ensure!(!examples.is_empty(), "no training examples");
    let mut model = Mbt::load(config, init, device)?.train();
    let mut optim = AdamConfig::new().init();
    let mut rng = Rng::new(options.seed);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut cursor = order.len();
    for step in 0..options.steps {
        let resuming = step < options.start_step;
        let mut picked = Vec::with_capacity(options.batch_size);
        while picked.len() < options.batch_size.min(examples.len()) {
            if cursor >= order.len() {
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i + 1));
                }
                cursor = 0;
            }
            picked.push(&examples[order[cursor]]);
            cursor += 1;
        }
        let flips: Vec<bool> = picked.iter().map(|_| options.flip && rng.unit() < 0.5).collect();
        if resuming {
            continue;
        }
        let (input, labels) = batch(config, &picked, &flips, device);
        let b = picked.len();
        let logits = model.forward(input, Capture::None)?.logits; // [b, classes]
        let log_probs = log_softmax(logits.clone(), 1);
        let picked_log_probs: Tensor<2> = log_probs.gather(1, labels.clone().reshape([b, 1]));
        let loss = picked_log_probs.mean().neg();
        let predicted = logits.clone().argmax(1).reshape([b]);
        let correct = predicted.equal(labels).int().sum().into_scalar::<i64>();
        let loss_value = loss.clone().into_scalar::<f32>();
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &model);
        let lr = learning_rate(options, step);
        model = optim.step(lr, model, grads);
        report(StepReport { step, loss: loss_value, accuracy: correct as f32 / b as f32, learning_rate: lr });
        if options.checkpoint_every > 0 && (step + 1) % options.checkpoint_every == 0 && step + 1 < options.steps {
            checkpoint(&model.valid(), step + 1)?;
        }
    }
    Ok(model.valid())
}
