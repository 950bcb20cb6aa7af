//! Scenic's `EncoderBlock`: pre-LayerNorm multi-head self-attention and a GELU MLP, each with a
//! residual connection. Inference only (dropout and stochastic depth are identity at test time).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

use super::attention::HeadFusion;
pub use super::attention::{AttentionBlock, AttentionMap, KeepAttention, MAX_ATTENTION_BLOCK_BYTES};
use super::names::{BlockNames, DenseName, NormName};
use crate::weights::params::{ParamError, ParamSource};

/// Flax's LayerNorm epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-6;

/// Multi-head dot-product attention with Flax's parameter layout.
#[derive(Module, Debug)]
pub struct Attention {
    /// `[hidden, heads * head_dim]`, from Flax's `[hidden, heads, head_dim]`.
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    /// `[heads * head_dim, hidden]`, from Flax's `[heads, head_dim, hidden]`.
    pub out: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

#[derive(Module, Debug)]
pub struct EncoderBlock {
    pub norm_attention: LayerNorm,
    pub attention: Attention,
    pub norm_mlp: LayerNorm,
    pub mlp_in: Linear,
    pub mlp_out: Linear,
}

/// Loads a `[..., out]` kernel flattened to 2-D and its bias, as a burn `Linear`.
pub(crate) fn load_dense(src: &mut dyn ParamSource, name: &DenseName, device: &Device) -> Result<Linear, ParamError> {
    let kernel = src.take(&format!("{}/kernel", name.prefix), &name.kernel)?;
    let bias = src.take(&format!("{}/bias", name.prefix), &name.bias)?;
    let rows: usize = name.kernel[..name.in_dims].iter().product();
    let cols: usize = name.kernel[name.in_dims..].iter().product();
    let weight = Tensor::<2>::from_data(TensorData::new(kernel.data, [rows, cols]), device);
    let bias = Tensor::<1>::from_data(TensorData::new(bias.data, [cols]), device);
    Ok(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) })
}

pub(crate) fn load_layer_norm(src: &mut dyn ParamSource, name: &NormName, device: &Device) -> Result<LayerNorm, ParamError> {
    let dim = name.dim;
    let scale = src.take(&format!("{}/scale", name.prefix), &[dim])?;
    let bias = src.take(&format!("{}/bias", name.prefix), &[dim])?;
    let mut norm = LayerNormConfig::new(dim).with_epsilon(LAYER_NORM_EPS).init(device);
    norm.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(scale.data, [dim]), device));
    norm.beta = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias.data, [dim]), device)));
    Ok(norm)
}

impl EncoderBlock {
    /// Takes the parameters of one of Scenic's `encoderblock_*` modules.
    pub fn load(src: &mut dyn ParamSource, names: &BlockNames, heads: usize, device: &Device) -> Result<Self, ParamError> {
        Ok(Self {
            norm_attention: load_layer_norm(src, &names.norm_attention, device)?,
            attention: Attention {
                query: load_dense(src, &names.query, device)?,
                key: load_dense(src, &names.key, device)?,
                value: load_dense(src, &names.value, device)?,
                out: load_dense(src, &names.out, device)?,
                num_heads: heads,
            },
            norm_mlp: load_layer_norm(src, &names.norm_mlp, device)?,
            mlp_in: load_dense(src, &names.mlp_in, device)?,
            mlp_out: load_dense(src, &names.mlp_out, device)?,
        })
    }

    /// # Shapes
    /// - input: `[batch, tokens, hidden]`
    /// - output: `[batch, tokens, hidden]` and, when `keep`, the attention probabilities
    ///   `[batch, heads, tokens, tokens]` (heads reduced to 1 by `reduce`).
    ///
    /// On the Flex device without autodiff this runs fused on host buffers
    /// ([`super::cpu_block`]); elsewhere, and where that path cannot read a tensor, it runs as
    /// burn ops ([`Self::forward_burn`]).
    pub fn forward(&self, input: Tensor<3>, keep: KeepAttention) -> (Tensor<3>, Option<AttentionMap>) {
        if super::cpu_block::applies(&input, keep)
            && let Some(out) = super::cpu_block::forward(self, input.clone(), keep)
        {
            return out;
        }
        self.forward_burn(input, keep)
    }

    /// [`Self::forward`] as burn ops, on any device.
    pub fn forward_burn(&self, input: Tensor<3>, keep: KeepAttention) -> (Tensor<3>, Option<AttentionMap>) {
        let (attended, probs) = self.attention.forward(self.norm_attention.forward(input.clone()), keep);
        let x = attended + input;
        let y = self.mlp_in.forward(self.norm_mlp.forward(x.clone()));
        let y = self.mlp_out.forward(gelu_tanh(y));
        (y + x, probs)
    }
}

/// Flax's default `nn.gelu` (the tanh approximation), `0.5 x (1 + tanh(z))` with
/// `z = sqrt(2/pi) (x + 0.044715 x^3)`, written as the identical `x sigmoid(2z)`. On the CPU backend
/// this is about twice as fast as burn's `gelu_approximate` (its `powf` and `tanh` run through
/// libm's scalar functions), and under autodiff it records fewer intermediates.
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const TWO_SQRT_2_OVER_PI: f64 = 2.0 * core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2;
    let cubic = (x.clone() * x.clone() * 0.044715 + 1.0) * x.clone();
    sigmoid(cubic * TWO_SQRT_2_OVER_PI) * x
}

impl Attention {
    /// # Shapes
    /// - input: `[batch, tokens, hidden]`
    /// - output: `[batch, tokens, hidden]` and, when `keep` is set, the probabilities
    ///   `[batch, heads, tokens, tokens]` (heads reduced to 1 by `reduce`)
    pub fn forward(&self, x: Tensor<3>, keep: KeepAttention) -> (Tensor<3>, Option<AttentionMap>) {
        self.forward_blocked(x, keep, MAX_ATTENTION_BLOCK_BYTES)
    }

    /// [`Self::forward`] with an explicit block size limit (tests use tiny ones).
    pub fn forward_blocked(&self, x: Tensor<3>, keep: KeepAttention, max_block_bytes: usize) -> (Tensor<3>, Option<AttentionMap>) {
        let reduce = match keep {
            KeepAttention::Fused(f) => Some(f),
            _ => None,
        };
        let [batch, tokens, _] = x.dims();
        let heads = self.num_heads;
        let split = |t: Tensor<3>| -> Tensor<4> {
            let inner = t.dims()[2];
            // [batch, tokens, heads, head_dim] -> [batch, heads, tokens, head_dim]
            t.reshape([batch, tokens, heads, inner / heads]).swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let head_dim = q.dims()[3];
        // Flax scales the query, not the logits; the order matters at the last bit only.
        let q = q.mul_scalar(1.0 / (head_dim as f64).sqrt());
        let kt = k.swap_dims(2, 3);

        let per_head = batch * tokens * tokens * 4;
        let (group, query_block) = if per_head * heads <= max_block_bytes {
            (heads, tokens)
        } else if per_head <= max_block_bytes {
            (max_block_bytes / per_head, tokens)
        } else {
            (1, (max_block_bytes / (batch * tokens * 4)).max(1))
        };

        let mut context_rows = Vec::new();
        let mut blocks = Vec::new();
        for q0 in (0..tokens).step_by(query_block) {
            let q1 = (q0 + query_block).min(tokens);
            let mut context_heads = Vec::new();
            let mut fused: Option<Tensor<4>> = None;
            for h0 in (0..heads).step_by(group) {
                let h1 = (h0 + group).min(heads);
                let qb = q.clone().slice(s![.., h0..h1, q0..q1, ..]);
                let kb = kt.clone().slice(s![.., h0..h1, .., ..]);
                let vb = v.clone().slice(s![.., h0..h1, .., ..]);
                let mut probs = softmax(qb.matmul(kb), 3); // [batch, h, q, k]
                let probe =
                    (keep == KeepAttention::Probed).then(|| Tensor::<4>::ones(probs.dims(), &probs.device()).autodiff().require_grad());
                if let Some(p) = &probe {
                    probs = probs * p.clone();
                }
                context_heads.push(probs.clone().matmul(vb)); // [batch, h, q, head_dim]
                if keep == KeepAttention::No {
                    continue;
                }
                match reduce {
                    None => blocks.push(AttentionBlock { head_start: h0, query_start: q0, probs, probe }),
                    Some(HeadFusion::Mean) => {
                        let part = probs.sum_dim(1);
                        fused = Some(fused.map_or(part.clone(), |f| f + part));
                    }
                    Some(HeadFusion::Max) => {
                        let part = probs.max_dim(1);
                        fused = Some(fused.map_or(part.clone(), |f| f.max_pair(part)));
                    }
                    Some(HeadFusion::Min) => {
                        let part = probs.min_dim(1);
                        fused = Some(fused.map_or(part.clone(), |f| f.min_pair(part)));
                    }
                }
            }
            if let Some(mut f) = fused {
                if reduce == Some(HeadFusion::Mean) {
                    f = f.div_scalar(heads as f64);
                }
                blocks.push(AttentionBlock { head_start: 0, query_start: q0, probs: f, probe: None });
            }
            context_rows.push(Tensor::cat(context_heads, 1));
        }
        let context = Tensor::cat(context_rows, 2); // [batch, heads, tokens, head_dim]
        let context = context.swap_dims(1, 2).reshape([batch, tokens, heads * head_dim]);
        let map = (keep != KeepAttention::No)
            .then(|| AttentionMap { shape: [batch, if reduce.is_some() { 1 } else { heads }, tokens, tokens], blocks });
        (self.out.forward(context), map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attention::HeadFusion;
    use crate::weights::params::RandomInit;

    /// Blocked attention (groups of heads, blocks of queries) gives the same output and the same
    /// maps as one block, for every reduction.
    #[test]
    fn blocked_attention_matches_one_block() {
        let device = Device::flex();
        let block = EncoderBlock::load(&mut RandomInit::new(3), &BlockNames::new("b", 16, 4, 32), 4, &device).unwrap();
        let x = Tensor::<3>::random([2, 11, 16], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let per_head = 2 * 11 * 11 * 4;
        for keep in [
            KeepAttention::AllHeads,
            KeepAttention::Fused(HeadFusion::Mean),
            KeepAttention::Fused(HeadFusion::Max),
            KeepAttention::Fused(HeadFusion::Min),
        ] {
            let reduce = keep;
            let (y, map) = block.attention.forward_blocked(x.clone(), keep, usize::MAX);
            let whole = map.unwrap().to_host().unwrap();
            // Two heads per group; then one head and 3 query rows per block.
            for limit in [2 * per_head, 3 * 2 * 11 * 4] {
                let (yb, mapb) = block.attention.forward_blocked(x.clone(), keep, limit);
                let mapb = mapb.unwrap();
                // Fused maps are merged over head groups; query blocks stay separate.
                if keep == KeepAttention::AllHeads || limit < per_head {
                    assert!(mapb.blocks.len() > 1, "limit {limit} should split");
                }
                let diff = (y.clone() - yb).abs().max().into_scalar::<f32>();
                assert!(diff < 1e-5, "{reduce:?} limit {limit}: output differs by {diff}");
                let blocked = mapb.to_host().unwrap();
                let worst = whole.iter().zip(&blocked).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-6, "{reduce:?} limit {limit}: maps differ by {worst}");
                let rebuilt = mapb.to_tensor().to_data().try_into_vec_as::<f32>().unwrap();
                assert_eq!(rebuilt, blocked);
            }
        }
    }
}

#[cfg(test)]
mod gelu_tests {
    use super::*;

    /// `gelu_tanh` is Flax's tanh-approximate GELU, checked against the textbook formula in f64
    /// over [-10, 10]; the tolerance (1e-6 absolute plus 1e-6 relative) is f32 rounding.
    #[test]
    fn gelu_tanh_matches_the_tanh_formula() {
        let device = Device::flex();
        let xs: Vec<f32> = (0..=2000).map(|i| -10.0 + i as f32 * 0.01).collect();
        let y = gelu_tanh(Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device));
        let y = y.to_data().try_to_vec::<f32>().unwrap();
        for (x, got) in xs.iter().zip(y) {
            let x = *x as f64;
            let z = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            let want = 0.5 * x * (1.0 + z.tanh());
            assert!((got as f64 - want).abs() <= 1e-6 + 1e-6 * want.abs(), "gelu({x}) = {got}, want {want}");
        }
    }
}
