//! The Multimodal Bottleneck Transformer, computing what Scenic's `MBT` computes.
//!
//! Per modality: patch embedding, a CLS token (token classifier), learned position embeddings
//! (covering CLS and patches, not the bottleneck). Layers before `fusion_layer` run each modality
//! on its own; from `fusion_layer` on, modalities exchange information through the bottleneck
//! tokens (each modality attends to [itself, bottleneck], the new bottleneck is the mean of both
//! updates), through vanilla cross-attention (each modality attends to [others in Scenic's fixed
//! order, itself]) or through one shared pass over the concatenation.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::attention::{AttentionMap, KeepAttention};
pub use super::attention::{Capture, HeadFusion};
use super::block::{EncoderBlock, load_dense, load_layer_norm};
use super::config::{Classifier, MbtConfig, Modality, TemporalMethod};
use super::layout::{TokenKind, TokenLayout};
use super::names::{DenseName, ScenicNames, TensorName};
use crate::weights::params::{ParamError, ParamSource};

/// Input channels of both embeddings: RGB, and spectrograms tiled to 3 channels as in Scenic.
pub const CHANNELS: usize = 3;

#[derive(Module, Debug)]
pub struct Mbt {
    /// Patch embedding flattened to `[ft*fh*fw*3, hidden]` (or `[fh*fw*3, hidden]`).
    pub rgb_embedding: Option<Linear>,
    pub spectrogram_embedding: Option<Linear>,
    pub cls_rgb: Option<Param<Tensor<3>>>,
    pub cls_spectrogram: Option<Param<Tensor<3>>>,
    pub bottleneck: Option<Param<Tensor<3>>>,
    pub posembed_rgb: Option<Param<Tensor<3>>>,
    pub posembed_spectrogram: Option<Param<Tensor<3>>>,
    /// Scenic's `encoderblock_{l}`: rgb's blocks, and everyone's with `share_encoder`.
    pub blocks: Vec<EncoderBlock>,
    /// Scenic's `encoderblock_{l}_spectrogram`.
    pub blocks_spectrogram: Vec<EncoderBlock>,
    pub encoder_norm: LayerNorm,
    pub pre_logits: Option<Linear>,
    pub output_projection: Linear,
    #[module(skip)]
    pub config: MbtConfig,
}

/// The model's inputs, already normalised as Scenic's pipeline does.
#[derive(Debug, Clone, Default)]
pub struct MbtInput {
    /// `[batch, frames, height, width, 3]`
    pub rgb: Option<Tensor<5>>,
    /// `[batch, time, mel, 3]` (a mono `[batch, time, mel]` is tiled with [`tile_mono`]).
    pub spectrogram: Option<Tensor<4>>,
}

impl MbtInput {
    /// A batch of `batch` examples from host arrays laid out as `config.dataset_configs` says:
    /// frames `[batch, frames, crop, crop, 3]` and mono spectrograms `[batch, time, mel]` (tiled
    /// to 3 channels). Only the modalities the model fuses are kept.
    pub fn from_host(config: &MbtConfig, batch: usize, rgb: Vec<f32>, spectrogram: Vec<f32>, device: &Device) -> Self {
        let d = &config.dataset_configs;
        let [time, mel] = d.spectrogram_shape();
        let fuses = |m| config.modality_fusion.contains(&m);
        Self {
            rgb: fuses(Modality::Rgb)
                .then(|| Tensor::from_data(TensorData::new(rgb, [batch, d.num_frames, d.crop_size, d.crop_size, 3]), device)),
            spectrogram: fuses(Modality::Spectrogram)
                .then(|| tile_mono(Tensor::from_data(TensorData::new(spectrogram, [batch, time, mel]), device))),
        }
    }

    /// The same inputs, tracked by autodiff.
    pub fn autodiff(self) -> Self {
        Self { rgb: self.rgb.map(Tensor::autodiff), spectrogram: self.spectrogram.map(Tensor::autodiff) }
    }
}

/// Which pass of a layer an attention map belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    /// The encoder block of one modality (its own tokens, plus the bottleneck or the other
    /// modalities in a fusion layer).
    Modality(Modality),
    /// The shared-encoder pass over all modalities.
    Combined,
}

impl PassKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Modality(m) => m.name(),
            Self::Combined => "combined",
        }
    }
}

/// One attention map with the description of its sequence.
#[derive(Debug, Clone)]
pub struct AttentionPass {
    pub layer: usize,
    pub pass: PassKind,
    pub layout: TokenLayout,
    /// `[batch, heads, q, k]`, or `[batch, 1, q, k]` when heads were fused, in memory-bounded
    /// blocks.
    pub probs: AttentionMap,
}

/// Receives attention maps while the forward pass runs, so that explanations can be accumulated
/// layer by layer without keeping every map.
pub trait AttentionObserver {
    /// One pass of one layer.
    fn pass(&mut self, pass: AttentionPass);
    /// Called after each layer with the bottleneck tokens as they leave it (bottleneck models).
    fn end_layer(&mut self, _layer: usize, _bottleneck: Option<&Tensor<3>>) {}
}

/// Keeps every pass (what [`Capture::AllHeads`] and [`Capture::Fused`] return).
impl AttentionObserver for Vec<AttentionPass> {
    fn pass(&mut self, pass: AttentionPass) {
        self.push(pass);
    }
}

#[derive(Debug, Clone)]
pub struct MbtOutput {
    /// `[batch, classes]`
    pub logits: Tensor<2>,
    /// Encoder output after the final LayerNorm, `[batch, tokens, hidden]`.
    pub encoded: Tensor<3>,
    /// Layout of `encoded` (modalities in `modality_fusion` order, no bottleneck).
    pub encoded_layout: TokenLayout,
    /// Bottleneck tokens after the last layer, `[batch, n, hidden]`, when the model has them.
    pub bottleneck: Option<Tensor<3>>,
    pub attention: Vec<AttentionPass>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("the model needs a `{0}` input")]
    Missing(Modality),
    #[error("`{modality}` input has shape {found:?}; {expected}")]
    Shape { modality: Modality, found: Vec<usize>, expected: String },
    #[error("rgb and spectrogram batch sizes differ ({0} vs {1})")]
    Batch(usize, usize),
}

/// Tiles a mono spectrogram `[batch, time, mel]` to Scenic's 3 channels.
pub fn tile_mono(spectrogram: Tensor<3>) -> Tensor<4> {
    spectrogram.unsqueeze_dim::<4>(3).repeat_dim(3, CHANNELS)
}

fn param3(src: &mut dyn ParamSource, name: &TensorName, device: &Device) -> Result<Param<Tensor<3>>, ParamError> {
    let t = src.take(&name.name, &name.shape)?;
    Ok(Param::from_tensor(Tensor::from_data(TensorData::new(t.data, name.shape), device)))
}

impl Mbt {
    /// Builds the model from `src`, taking every parameter under its Scenic name
    /// ([`ScenicNames`]).
    pub fn load(config: &MbtConfig, src: &mut dyn ParamSource, device: &Device) -> Result<Self, ParamError> {
        let names = ScenicNames::of(config);
        let dense = |src: &mut dyn ParamSource, name: &Option<DenseName>| name.as_ref().map(|n| load_dense(src, n, device)).transpose();
        let param = |src: &mut dyn ParamSource, name: &Option<TensorName>| name.as_ref().map(|n| param3(src, n, device)).transpose();
        // Taken in the order the old loader took them, so that the first missing name reported
        // stays the same.
        let rgb_embedding = dense(src, &names.rgb_embedding)?;
        let spectrogram_embedding = dense(src, &names.spectrogram_embedding)?;
        let cls_rgb = param(src, &names.cls_rgb)?;
        let cls_spectrogram = param(src, &names.cls_spectrogram)?;
        let bottleneck = param(src, &names.bottleneck)?;
        let posembed_rgb = param(src, &names.posembed_rgb)?;
        let posembed_spectrogram = param(src, &names.posembed_spectrogram)?;
        let (mut model_blocks, mut spec_blocks) = (Vec::new(), Vec::new());
        for layer in 0..config.num_layers {
            if let Some(b) = names.blocks.get(layer) {
                model_blocks.push(EncoderBlock::load(src, b, config.num_heads, device)?);
            }
            if let Some(b) = names.blocks_spectrogram.get(layer) {
                spec_blocks.push(EncoderBlock::load(src, b, config.num_heads, device)?);
            }
        }
        let encoder_norm = load_layer_norm(src, &names.encoder_norm, device)?;
        let pre_logits = dense(src, &names.pre_logits)?;
        let output_projection = load_dense(src, &names.output_projection, device)?;
        Ok(Self {
            rgb_embedding,
            spectrogram_embedding,
            cls_rgb,
            cls_spectrogram,
            bottleneck,
            posembed_rgb,
            posembed_spectrogram,
            blocks: model_blocks,
            blocks_spectrogram: spec_blocks,
            encoder_norm,
            pre_logits,
            output_projection,
            config: config.clone(),
        })
    }

    fn block(&self, modality: Modality, layer: usize) -> &EncoderBlock {
        if modality == Modality::Spectrogram && !self.config.share_encoder { &self.blocks_spectrogram[layer] } else { &self.blocks[layer] }
    }

    /// Checks the input shapes against the model and returns the batch size.
    pub fn check_input(&self, input: &MbtInput) -> Result<usize, InputError> {
        let c = &self.config;
        let mut batch = None;
        for &m in &c.modality_fusion {
            let (dims, tokens): (Vec<usize>, usize) = match m {
                Modality::Rgb => {
                    let t = input.rgb.as_ref().ok_or(InputError::Missing(m))?;
                    let dims = t.dims();
                    if dims[4] != CHANNELS {
                        return Err(InputError::Shape {
                            modality: m,
                            found: dims.to_vec(),
                            expected: "expected [batch, frames, height, width, 3]".into(),
                        });
                    }
                    (dims.to_vec(), self.rgb_token_count(dims[1], dims[2], dims[3]))
                }
                Modality::Spectrogram => {
                    let t = input.spectrogram.as_ref().ok_or(InputError::Missing(m))?;
                    let dims = t.dims();
                    if dims[3] != CHANNELS {
                        return Err(InputError::Shape {
                            modality: m,
                            found: dims.to_vec(),
                            expected: "expected [batch, time, mel, 3] or [batch, time, mel]".into(),
                        });
                    }
                    let [fh, fw, _] = c.patch();
                    (dims.to_vec(), (dims[1] / fh) * (dims[2] / fw))
                }
            };
            let expected_tokens = c.patch_tokens(m);
            if tokens != expected_tokens {
                let geometry = match m {
                    Modality::Rgb => format!(
                        "the model was configured for {} frames of {}x{} ({} patch tokens)",
                        c.dataset_configs.num_frames, c.dataset_configs.crop_size, c.dataset_configs.crop_size, expected_tokens
                    ),
                    Modality::Spectrogram => {
                        let [t, mel] = c.dataset_configs.spectrogram_shape();
                        format!("the model was configured for {t} x {mel} ({expected_tokens} patch tokens)")
                    }
                };
                return Err(InputError::Shape { modality: m, found: dims, expected: geometry });
            }
            if dims[0] == 0 {
                return Err(InputError::Shape { modality: m, found: dims, expected: "the batch is empty".into() });
            }
            match batch {
                None => batch = Some(dims[0]),
                Some(b) if b != dims[0] => return Err(InputError::Batch(b, dims[0])),
                _ => {}
            }
        }
        Ok(batch.unwrap_or(0))
    }

    fn rgb_token_count(&self, frames: usize, height: usize, width: usize) -> usize {
        let [fh, fw, ft] = self.config.patch();
        match self.config.temporal_encoding_config.method {
            TemporalMethod::Conv3d => (frames / ft) * (height / fh) * (width / fw),
            TemporalMethod::TemporalSampling => {
                let t = self.config.temporal_sampling_indices(frames).len();
                ((t * height) / fh) * (width / fw)
            }
        }
    }

    /// Patch tokens of the RGB input, `[batch, tokens, hidden]`, ordered (t, h, w).
    fn embed_rgb(&self, rgb: Tensor<5>, embedding: &Linear) -> Tensor<3> {
        let [fh, fw, ft] = self.config.patch();
        let [b, frames, height, width, c] = rgb.dims();
        match self.config.temporal_encoding_config.method {
            TemporalMethod::Conv3d => {
                let (t, h, w) = (frames / ft, height / fh, width / fw);
                // A VALID convolution with stride = kernel drops the remainder.
                let x = rgb.slice(s![.., 0..t * ft, 0..h * fh, 0..w * fw, ..]);
                let x: Tensor<8> = x.reshape([b, t, ft, h, fh, w, fw, c]);
                let x = x.permute([0, 1, 3, 5, 2, 4, 6, 7]); // [b, t, h, w, ft, fh, fw, c]
                embedding.forward(x.reshape([b, t * h * w, ft * fh * fw * c]))
            }
            TemporalMethod::TemporalSampling => {
                let indices: Vec<i64> = self.config.temporal_sampling_indices(frames).into_iter().map(|i| i as i64).collect();
                let n = indices.len();
                let index = Tensor::<1, Int>::from_data(TensorData::new(indices, [n]), &rgb.device());
                let x = rgb.select(1, index); // [b, n, height, width, c]
                // Frames stacked along the height, then 2-D patches.
                embed_2d(x.reshape([b, n * height, width, c]), embedding, fh, fw)
            }
        }
    }

    /// Runs the model.
    ///
    /// # Shapes
    /// - rgb: `[batch, frames, height, width, 3]`, spectrogram: `[batch, time, mel, 3]`
    /// - logits: `[batch, classes]`
    pub fn forward(&self, input: MbtInput, capture: Capture) -> Result<MbtOutput, InputError> {
        let mut attention = Vec::new();
        let keep = match capture {
            Capture::None => return self.forward_observed(input, KeepAttention::No, None),
            other => KeepAttention::from(other),
        };
        let mut output = self.forward_observed(input, keep, Some(&mut attention as &mut dyn AttentionObserver))?;
        output.attention = attention;
        Ok(output)
    }

    /// Runs the model and hands every attention map (kept as `keep` says) to `observer` as
    /// soon as it is computed; the returned output has no attention of its own.
    pub fn forward_observed(
        &self,
        input: MbtInput,
        keep: KeepAttention,
        mut observer: Option<&mut dyn AttentionObserver>,
    ) -> Result<MbtOutput, InputError> {
        let (mut state, layouts) = self.embed(&input)?;
        let keep = if observer.is_some() { keep } else { KeepAttention::No };
        for layer in 0..self.config.num_layers {
            self.layer_forward(layer, &mut state, &layouts, keep, &mut observer);
            if let Some(observer) = observer.as_deref_mut() {
                observer.end_layer(layer, state.bottleneck.as_ref());
            }
        }
        Ok(self.head(state, &layouts))
    }

    /// The tokens that enter the first encoder layer, and each modality's layout.
    pub fn embed(&self, input: &MbtInput) -> Result<(LayerState, Vec<TokenLayout>), InputError> {
        let batch = self.check_input(input)?;
        let (tokens, layouts) = self.tokenize(input, batch)?;
        let bottleneck = self.bottleneck.as_ref().map(|b| b.val().repeat_dim(0, batch));
        Ok((LayerState { tokens, bottleneck, combined: None }, layouts))
    }

    /// Runs encoder layer `layer` on `state`, handing its attention passes to `observer`.
    pub fn layer_forward(
        &self,
        layer: usize,
        state: &mut LayerState,
        layouts: &[TokenLayout],
        keep: KeepAttention,
        observer: &mut Option<&mut dyn AttentionObserver>,
    ) {
        let c = &self.config;
        if self.layer_is_combined(layer) {
            let x = state.combined.take().unwrap_or_else(|| Tensor::cat(state.tokens.clone(), 1));
            let mut layout = TokenLayout::default();
            layouts.iter().for_each(|l| layout.extend(l));
            let (x, p) = self.blocks[layer].forward(x, keep);
            state.combined = Some(x);
            record(observer, layer, PassKind::Combined, layout, p);
            return;
        }
        // Every pass reads the tokens as they enter the layer.
        let passes: Vec<PassOutput> =
            (0..c.modality_fusion.len()).map(|i| self.pass_forward(layer, i, state, layouts, keep, observer)).collect();
        let mut updates = Vec::new();
        for (i, pass) in passes.into_iter().enumerate() {
            state.tokens[i] = pass.tokens;
            updates.extend(pass.bottleneck);
        }
        if !updates.is_empty() {
            state.bottleneck = Some(Tensor::stack::<4>(updates, 3).mean_dim(3).squeeze_dim(3));
        }
    }

    /// Whether layer `layer` is one pass over all tokens joined (a shared encoder's fusion
    /// layers) rather than one pass per modality.
    pub fn layer_is_combined(&self, layer: usize) -> bool {
        let c = &self.config;
        c.is_fusion_layer(layer) && c.share_encoder && !(c.use_bottleneck && self.bottleneck.is_some())
    }

    /// The pass of modality `fusion[i]` in layer `layer` (not a combined layer): the modality's
    /// tokens as they leave the layer and, in a bottleneck fusion layer, its update of the
    /// bottleneck tokens (the next bottleneck is the mean of the passes' updates).
    /// - Outside fusion: the modality attends to its own tokens.
    /// - Bottleneck fusion: to [its tokens, the shared bottleneck tokens].
    /// - Vanilla fusion: to [the other modalities in Scenic's fixed order, itself], keeping its
    ///   own (last) tokens.
    pub fn pass_forward(
        &self,
        layer: usize,
        i: usize,
        state: &LayerState,
        layouts: &[TokenLayout],
        keep: KeepAttention,
        observer: &mut Option<&mut dyn AttentionObserver>,
    ) -> PassOutput {
        let c = &self.config;
        let fusion = &c.modality_fusion;
        let m = fusion[i];
        let own = state.tokens[i].dims()[1];
        let shared = state.bottleneck.as_ref().filter(|_| c.use_bottleneck);
        if !c.is_fusion_layer(layer) {
            let (x, p) = self.block(m, layer).forward(state.tokens[i].clone(), keep);
            record(observer, layer, PassKind::Modality(m), layouts[i].clone(), p);
            return PassOutput { tokens: x, bottleneck: None };
        }
        if let Some(shared) = shared {
            let joined = Tensor::cat(vec![state.tokens[i].clone(), shared.clone()], 1);
            let (out, p) = self.block(m, layer).forward(joined, keep);
            let mut layout = layouts[i].clone();
            layout.push(TokenKind::Bottleneck, c.bottleneck_tokens());
            record(observer, layer, PassKind::Modality(m), layout, p);
            return PassOutput { tokens: out.clone().slice(s![.., 0..own, ..]), bottleneck: Some(out.slice(s![.., own.., ..])) };
        }
        let mut parts = Vec::new();
        let mut layout = TokenLayout::default();
        for other in Modality::SCENIC_ORDER {
            if other != m
                && let Some(j) = fusion.iter().position(|&f| f == other)
            {
                parts.push(state.tokens[j].clone());
                layout.extend(&layouts[j]);
            }
        }
        parts.push(state.tokens[i].clone());
        layout.extend(&layouts[i]);
        let (out, p) = self.block(m, layer).forward(Tensor::cat(parts, 1), keep);
        let total = out.dims()[1];
        record(observer, layer, PassKind::Modality(m), layout, p);
        PassOutput { tokens: out.slice(s![.., total - own.., ..]), bottleneck: None }
    }

    /// The final LayerNorm and the classifier, on the tokens that leave the last layer.
    pub fn head(&self, state: LayerState, layouts: &[TokenLayout]) -> MbtOutput {
        let mut encoded_layout = TokenLayout::default();
        layouts.iter().for_each(|l| encoded_layout.extend(l));
        let x = state.combined.unwrap_or_else(|| Tensor::cat(state.tokens, 1));
        let batch = x.dims()[0];
        let encoded = self.encoder_norm.forward(x); // [batch, tokens, hidden]
        let logits = self.classify(&encoded, &encoded_layout, batch);
        MbtOutput { logits, encoded, encoded_layout, bottleneck: state.bottleneck, attention: Vec::new() }
    }
}

/// What one modality's pass of a layer gives (see [`Mbt::pass_forward`]).
#[derive(Debug, Clone)]
pub struct PassOutput {
    pub tokens: Tensor<3>,
    pub bottleneck: Option<Tensor<3>>,
}

/// What passes from one encoder layer to the next: each modality's tokens (`[batch, tokens,
/// hidden]`, in `modality_fusion` order), the bottleneck tokens of bottleneck models, and, in a
/// shared encoder from its first fusion layer on, all tokens joined (the per-modality tokens are
/// then no longer read).
#[derive(Debug, Clone)]
pub struct LayerState {
    pub tokens: Vec<Tensor<3>>,
    pub bottleneck: Option<Tensor<3>>,
    pub combined: Option<Tensor<3>>,
}

impl LayerState {
    /// Every tensor of the state, in a fixed order: the tokens, then the bottleneck and the
    /// joined tokens where present.
    pub fn tensors(&self) -> Vec<&Tensor<3>> {
        self.tokens.iter().chain(&self.bottleneck).chain(&self.combined).collect()
    }

    /// The state with `f` applied to each tensor (in [`Self::tensors`]'s order).
    pub fn map(self, mut f: impl FnMut(Tensor<3>) -> Tensor<3>) -> Self {
        Self {
            tokens: self.tokens.into_iter().map(&mut f).collect(),
            bottleneck: self.bottleneck.map(&mut f),
            combined: self.combined.map(&mut f),
        }
    }
}

/// Hands one attention pass to the observer, when there is one and the pass kept its map.
fn record(
    observer: &mut Option<&mut dyn AttentionObserver>,
    layer: usize,
    pass: PassKind,
    layout: TokenLayout,
    probs: Option<AttentionMap>,
) {
    if let (Some(probs), Some(observer)) = (probs, observer.as_deref_mut()) {
        observer.pass(AttentionPass { layer, pass, layout, probs });
    }
}

impl Mbt {
    /// Each modality's tokens (`[batch, tokens, hidden]`: patches embedded, CLS prepended,
    /// position embeddings added) and their layout, in `modality_fusion` order.
    fn tokenize(&self, input: &MbtInput, batch: usize) -> Result<(Vec<Tensor<3>>, Vec<TokenLayout>), InputError> {
        let [fh, fw, _] = self.config.patch();
        let fusion = &self.config.modality_fusion;
        let mut tokens: Vec<Tensor<3>> = Vec::with_capacity(fusion.len());
        let mut layouts: Vec<TokenLayout> = Vec::with_capacity(fusion.len());
        for &m in fusion {
            let (x, cls, pos) = match m {
                Modality::Rgb => {
                    let (Some(rgb), Some(embedding)) = (input.rgb.clone(), self.rgb_embedding.as_ref()) else {
                        return Err(InputError::Missing(m));
                    };
                    (self.embed_rgb(rgb, embedding), &self.cls_rgb, &self.posembed_rgb)
                }
                Modality::Spectrogram => {
                    let (Some(spec), Some(embedding)) = (input.spectrogram.clone(), self.spectrogram_embedding.as_ref()) else {
                        return Err(InputError::Missing(m));
                    };
                    (embed_2d(spec, embedding, fh, fw), &self.cls_spectrogram, &self.posembed_spectrogram)
                }
            };
            let mut layout = TokenLayout::default();
            let patches = x.dims()[1];
            let x = match cls {
                Some(cls) => {
                    layout.push(TokenKind::Cls(m), 1);
                    Tensor::cat(vec![cls.val().repeat_dim(0, batch), x], 1)
                }
                None => x,
            };
            layout.push(TokenKind::Patches(m), patches);
            let x = match pos {
                Some(pos) => x + pos.val(),
                None => x,
            };
            tokens.push(x);
            layouts.push(layout);
        }
        Ok((tokens, layouts))
    }

    /// The logits from the encoded tokens: the mean of the classification tokens' logits
    /// (`token`), or of the pooled tokens (`gap`, `gmp`, `gsp`).
    fn classify(&self, encoded: &Tensor<3>, layout: &TokenLayout, batch: usize) -> Tensor<2> {
        let c = &self.config;
        let d = c.hidden_size;
        match c.classifier {
            Classifier::Token => self
                .modality_logits(encoded, layout, batch)
                .into_iter()
                .map(|(_, logits)| logits)
                .reduce(|sum, logits| sum + logits)
                .map(|s| s.div_scalar(c.modality_fusion.len() as f64))
                .unwrap_or_else(|| Tensor::zeros([batch, c.num_classes], &encoded.device())),
            Classifier::Gap | Classifier::Gmp | Classifier::Gsp => {
                let pooled = match c.classifier {
                    Classifier::Gap => encoded.clone().mean_dim(1),
                    Classifier::Gmp => encoded.clone().max_dim(1),
                    _ => encoded.clone().sum_dim(1),
                };
                let pooled: Tensor<2> = pooled.reshape([batch, d]);
                self.output_projection.forward(self.pre_logits_of(pooled))
            }
        }
    }

    /// With the token classifier, each modality's own logits `[batch, classes]` from its
    /// classification token in `encoded` (the model's prediction is their mean); empty with a
    /// pooling classifier. Training can supervise them one by one (`train --modality-loss`).
    pub fn modality_logits(&self, encoded: &Tensor<3>, layout: &TokenLayout, batch: usize) -> Vec<(Modality, Tensor<2>)> {
        let c = &self.config;
        if c.classifier != Classifier::Token {
            return Vec::new();
        }
        let d = c.hidden_size;
        c.modality_fusion
            .iter()
            .map(|&m| {
                let at = layout.find(TokenKind::Cls(m)).map_or(0, |s| s.start);
                let cls: Tensor<2> = encoded.clone().slice(s![.., at..at + 1, ..]).reshape([batch, d]);
                (m, self.output_projection.forward(self.pre_logits_of(cls)))
            })
            .collect()
    }

    fn pre_logits_of(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.pre_logits {
            Some(dense) => dense.forward(x).tanh(),
            None => x,
        }
    }
}

/// A VALID 2-D convolution with stride = kernel, as a matmul over flattened patches.
///
/// # Shapes
/// - image: `[batch, height, width, channels]`
/// - output: `[batch, (height / fh) * (width / fw), hidden]`, row-major over patches
fn embed_2d(image: Tensor<4>, embedding: &Linear, fh: usize, fw: usize) -> Tensor<3> {
    let [b, height, width, c] = image.dims();
    let (h, w) = (height / fh, width / fw);
    let x = image.slice(s![.., 0..h * fh, 0..w * fw, ..]);
    let x: Tensor<6> = x.reshape([b, h, fh, w, fw, c]);
    let x = x.permute([0, 1, 3, 2, 4, 5]); // [b, h, w, fh, fw, c]
    embedding.forward(x.reshape([b, h * w, fh * fw * c]))
}
