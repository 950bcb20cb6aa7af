//! Gradient-weighted relevance (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability
//! for Interpreting Bi-Modal and Encoder-Decoder Transformers"), over the same joint token graph
//! as rollout.
//!
//! Per layer and pass: Ā = mean over heads of max(0, A ⊙ ∂y_c/∂A), for the logit y_c of the
//! class being explained. The passes are placed into the joint matrix exactly as for rollout
//! (bottleneck rows averaged where the bottleneck is updated, zero where it is not), and the
//! relevance is R = (I + Ā_L) ... (I + Ā_1), the accumulation R ← R + Ā_l R from R = I. The Ā_l
//! are kept: [`Relevance::rows`] takes a few rows from the top layer down (v ← v + v Ā_l), which
//! is what the app, `analyze` and `eval` read; [`Relevance::joint`] makes the dense R (for
//! `infer --relevance`'s `relevance/joint`).
//!
//! The gradient comes from burn's autodiff: each attention block is multiplied by a ones tensor
//! that requires a gradient, whose gradient is then exactly A ⊙ ∂y_c/∂A. The backward pass is
//! checkpointed by layer (see [`relevance`]), so memory peaks at one layer's graph.

use burn::module::Module as _;
use burn::prelude::*;

use super::joint::joint_layout;
use super::rollout::{IdleBottleneck, joint_matrix, joint_matrix_host};
use crate::model::block::{AttentionBlock, AttentionMap, KeepAttention};
use crate::model::layout::TokenLayout;
use crate::model::mbt::{AttentionObserver, AttentionPass, InputError, Mbt, MbtInput};
use burn::tensor::Gradients;

#[derive(Debug, Clone)]
pub struct Relevance {
    pub layout: TokenLayout,
    /// Ā_l `[batch, joint, joint]` of each layer, bottom first.
    layers: Vec<Tensor<3>>,
    batch: usize,
    device: Device,
    /// The class explained for each example.
    pub classes: Vec<usize>,
    /// Logits of the (autodiff) forward pass, `[batch, classes]`.
    pub logits: Tensor<2>,
}

#[derive(Debug, thiserror::Error)]
pub enum RelevanceError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("class {class} is out of range for a model with {classes} classes")]
    Class { class: usize, classes: usize },
    #[error("reading from the device: {0}")]
    Device(String),
}

/// Explains `class` (per example; the top prediction where `None`).
///
/// The backward pass is checkpointed by layer, so that the peak memory is one layer's autodiff
/// graph instead of the whole model's (MBT-B's twelve layers of 3540 x 3540 attention do not fit
/// in 24 GiB at once): a forward pass without autodiff keeps what enters each layer (a few
/// megabytes), the gradient of y_c is taken through the head, and then, from the top layer
/// down, each layer is run again under autodiff and the incoming gradient is carried through it
/// by the chain rule (the gradient of `Σ out ⊙ ∂y_c/∂out`), which gives the layer's A ⊙ ∂y_c/∂A
/// and the gradient for the layer below.
pub fn relevance(model: &Mbt, input: MbtInput, class: Option<usize>) -> Result<Relevance, RelevanceError> {
    let config = &model.config;
    if let Some(c) = class.filter(|&c| c >= config.num_classes) {
        return Err(RelevanceError::Class { class: c, classes: config.num_classes });
    }
    let batch = model.check_input(&input)?;
    let device = model.output_projection.weight.val().device();

    // What enters each layer, from a pass without autodiff (the fused block where it applies).
    let (mut state, layouts) = model.embed(&input)?;
    let mut entering = Vec::with_capacity(config.num_layers);
    for layer in 0..config.num_layers {
        entering.push(state.clone());
        model.layer_forward(layer, &mut state, &layouts, KeepAttention::No, &mut None);
    }

    // The head under autodiff: the logits, the classes explained, and ∂y_c/∂(last state).
    let tracked = model.clone().train();
    let last = state.map(|t| t.autodiff().require_grad());
    let logits = tracked.head(last.clone(), &layouts).logits;
    let top: Vec<usize> = match class {
        Some(c) => vec![c; batch],
        None => logits
            .clone()
            .argmax(1)
            .into_data()
            .try_into_vec_as::<i64>()
            .map_err(|e| RelevanceError::Device(format!("{e:?}")))?
            .into_iter()
            .map(|c| c as usize)
            .collect(),
    };
    let mut onehot = vec![0.0f32; batch * config.num_classes];
    for (b, &c) in top.iter().enumerate() {
        onehot[b * config.num_classes + c] = 1.0;
    }
    let mask = Tensor::<2>::from_data(TensorData::new(onehot, [batch, config.num_classes]), &device);
    let grads = (logits.clone() * mask).sum().backward();
    let mut upstream: Vec<Option<Tensor<3>>> = last.tensors().into_iter().map(|t| t.grad(&grads)).collect();

    let layout = joint_layout(config);
    let fusion = config.modality_fusion.len();
    let mut layers: Vec<Tensor<3>> = Vec::with_capacity(config.num_layers); // top first
    for layer in (0..config.num_layers).rev() {
        let Some(input) = entering.pop() else { break };
        let input = input.map(|t| t.autodiff().require_grad());
        let mut carried: Vec<Option<Tensor<3>>> = vec![None; input.tensors().len()];
        let mut cams: Vec<AttentionPass> = Vec::new();
        let mut backward = |terms: Vec<(Tensor<3>, Option<Tensor<3>>)>, passes: Vec<AttentionPass>| {
            let target = terms.into_iter().filter_map(|(o, g)| Some((o * g?.autodiff()).sum())).reduce(|a, b| a + b);
            let grads = target.map(|t| t.backward());
            for (j, t) in input.tensors().into_iter().enumerate() {
                accumulate(&mut carried[j], grads.as_ref().and_then(|grads| t.grad(grads)));
            }
            cams.extend(passes.into_iter().map(|p| pass_relevance(p, grads.as_ref(), &device)));
        };
        if tracked.layer_is_combined(layer) {
            let mut out = input.clone();
            let mut passes: Vec<AttentionPass> = Vec::new();
            tracked.layer_forward(layer, &mut out, &layouts, KeepAttention::Probed, &mut Some(&mut passes as &mut dyn AttentionObserver));
            backward(out.tensors().into_iter().cloned().zip(upstream.iter().cloned()).collect(), passes);
        } else {
            // One pass at a time, so that only one pass's graph is alive (vanilla MBT-B's two
            // passes each attend over all 3540 tokens). Every pass reads the tokens as they
            // enter the layer; a bottleneck update counts 1/M towards the next bottleneck.
            let bottleneck_grad = input.bottleneck.as_ref().and_then(|_| upstream.get(fusion).cloned().flatten());
            let mut updated = false;
            for i in 0..fusion {
                let mut passes: Vec<AttentionPass> = Vec::new();
                let out = tracked.pass_forward(
                    layer,
                    i,
                    &input,
                    &layouts,
                    KeepAttention::Probed,
                    &mut Some(&mut passes as &mut dyn AttentionObserver),
                );
                let mut terms = vec![(out.tokens, upstream.get(i).cloned().flatten())];
                if let Some(update) = out.bottleneck {
                    updated = true;
                    terms.push((update, bottleneck_grad.clone().map(|g| g.div_scalar(fusion as f64))));
                }
                backward(terms, passes);
            }
            if !updated && let Some(g) = bottleneck_grad {
                // Outside bottleneck fusion the bottleneck tokens pass through unchanged.
                accumulate(&mut carried[fusion], Some(g));
            }
        }
        upstream = carried;
        if !cams.is_empty() {
            layers.push(joint_relevance(&layout, batch, &device, &cams));
        }
    }
    layers.reverse();
    Ok(Relevance { layout, layers, batch, device: device.clone(), classes: top, logits: logits.without_autodiff() })
}

/// Adds `grad` (when there is one) to the gradient gathered so far in `sum`.
fn accumulate(sum: &mut Option<Tensor<3>>, grad: Option<Tensor<3>>) {
    if let Some(g) = grad {
        *sum = Some(match sum.take() {
            Some(s) => s + g,
            None => g,
        });
    }
}

/// One pass's relevance, `[batch, 1, q, k]` in blocks: the mean over heads of
/// max(0, A ⊙ ∂y_c/∂A), from the gradients of the probes (zero without gradients).
fn pass_relevance(pass: AttentionPass, grads: Option<&Gradients>, device: &Device) -> AttentionPass {
    let [b, heads, q, k] = pass.probs.shape;
    let mut fused: Option<Tensor<4>> = None;
    let mut blocks = Vec::new();
    let mut query = usize::MAX;
    for block in &pass.probs.blocks {
        let Some(probe) = &block.probe else { continue };
        let cam = grads.and_then(|g| probe.grad(g)).unwrap_or_else(|| Tensor::zeros(block.probs.dims(), device)).clamp_min(0.0).sum_dim(1); // [batch, 1, q block, k]
        if block.query_start != query {
            if let Some(f) = fused.take() {
                blocks.push(AttentionBlock { head_start: 0, query_start: query, probs: f.div_scalar(heads as f64), probe: None });
            }
            query = block.query_start;
        }
        fused = Some(match fused {
            Some(f) => f + cam,
            None => cam,
        });
    }
    if let Some(f) = fused.take() {
        blocks.push(AttentionBlock { head_start: 0, query_start: query, probs: f.div_scalar(heads as f64), probe: None });
    }
    AttentionPass { layer: pass.layer, pass: pass.pass, layout: pass.layout, probs: AttentionMap { shape: [b, 1, q, k], blocks } }
}

/// One layer's Ā `[batch, joint, joint]`: its passes' relevance placed into the joint matrix as
/// rollout places attention (bottleneck rows averaged where it is updated, zero elsewhere).
fn joint_relevance(layout: &TokenLayout, batch: usize, device: &Device, passes: &[AttentionPass]) -> Tensor<3> {
    let host =
        crate::model::cpu_block::host_device(device).then(|| joint_matrix_host(layout, batch, passes, IdleBottleneck::Zero)).flatten();
    match host {
        Some(host) => Tensor::from_data(TensorData::new(host, [batch, layout.len(), layout.len()]), device),
        None => joint_matrix(layout, batch, device, passes, IdleBottleneck::Zero).without_autodiff(),
    }
}

impl Relevance {
    /// The dense relevance R = (I + Ā_L) ... (I + Ā_1), `[batch, joint, joint]`: N^3
    /// multiply-adds a layer, so use [`Self::rows`] for a few rows.
    pub fn joint(&self) -> Tensor<3> {
        let n = self.layout.len();
        self.layers.iter().fold(Tensor::<3>::eye_batch(self.batch, n, &self.device), |r, a| r.clone() + a.clone().matmul(r))
    }

    /// `weights R` for row weights `[batch, k, joint]`, from the top layer down.
    pub fn rows(&self, weights: Tensor<3>) -> Tensor<3> {
        self.layers.iter().rev().fold(weights, |v, a| v.clone() + v.matmul(a.clone()))
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn device(&self) -> Device {
        self.device.clone()
    }
}

trait EyeBatch {
    fn eye_batch(batch: usize, n: usize, device: &Device) -> Self;
}

impl EyeBatch for Tensor<3> {
    fn eye_batch(batch: usize, n: usize, device: &Device) -> Self {
        let eye: Tensor<2> = Tensor::eye(n, device);
        eye.unsqueeze_dim::<3>(0).repeat_dim(0, batch)
    }
}
