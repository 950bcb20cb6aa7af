//! Scenic's `EncoderBlock`: pre-LayerNorm multi-head self-attention and a GELU MLP, each with a
//! residual connection. Inference only (dropout and stochastic depth are identity at test time).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu_approximate, softmax};

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
pub(crate) fn load_dense(
    src: &mut dyn ParamSource,
    prefix: &str,
    kernel_shape: &[usize],
    bias_shape: &[usize],
    in_dims: usize,
    device: &Device,
) -> Result<Linear, ParamError> {
    let kernel = src.take(&format!("{prefix}/kernel"), kernel_shape)?;
    let bias = src.take(&format!("{prefix}/bias"), bias_shape)?;
    let rows: usize = kernel_shape[..in_dims].iter().product();
    let cols: usize = kernel_shape[in_dims..].iter().product();
    let weight = Tensor::<2>::from_data(TensorData::new(kernel.data, [rows, cols]), device);
    let bias = Tensor::<1>::from_data(TensorData::new(bias.data, [cols]), device);
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
    })
}

pub(crate) fn load_layer_norm(
    src: &mut dyn ParamSource,
    prefix: &str,
    dim: usize,
    device: &Device,
) -> Result<LayerNorm, ParamError> {
    let scale = src.take(&format!("{prefix}/scale"), &[dim])?;
    let bias = src.take(&format!("{prefix}/bias"), &[dim])?;
    let mut norm = LayerNormConfig::new(dim)
        .with_epsilon(LAYER_NORM_EPS)
        .init(device);
    norm.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(scale.data, [dim]), device));
    norm.beta = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias.data, [dim]),
        device,
    )));
    Ok(norm)
}

impl EncoderBlock {
    /// Takes the parameters of Scenic's `encoderblock_*` module under `prefix`.
    pub fn load(
        src: &mut dyn ParamSource,
        prefix: &str,
        hidden: usize,
        heads: usize,
        mlp_dim: usize,
        device: &Device,
    ) -> Result<Self, ParamError> {
        let head_dim = hidden / heads;
        let att = format!("{prefix}/MultiHeadDotProductAttention_0");
        let qkv = |src: &mut dyn ParamSource, name: &str| {
            load_dense(
                src,
                &format!("{att}/{name}"),
                &[hidden, heads, head_dim],
                &[heads, head_dim],
                1,
                device,
            )
        };
        Ok(Self {
            norm_attention: load_layer_norm(src, &format!("{prefix}/LayerNorm_0"), hidden, device)?,
            attention: Attention {
                query: qkv(src, "query")?,
                key: qkv(src, "key")?,
                value: qkv(src, "value")?,
                out: load_dense(
                    src,
                    &format!("{att}/out"),
                    &[heads, head_dim, hidden],
                    &[hidden],
                    2,
                    device,
                )?,
                num_heads: heads,
            },
            norm_mlp: load_layer_norm(src, &format!("{prefix}/LayerNorm_1"), hidden, device)?,
            mlp_in: load_dense(
                src,
                &format!("{prefix}/MlpBlock_0/Dense_0"),
                &[hidden, mlp_dim],
                &[mlp_dim],
                1,
                device,
            )?,
            mlp_out: load_dense(
                src,
                &format!("{prefix}/MlpBlock_0/Dense_1"),
                &[mlp_dim, hidden],
                &[hidden],
                1,
                device,
            )?,
        })
    }

    /// # Shapes
    /// - input: `[batch, tokens, hidden]`
    /// - output: `[batch, tokens, hidden]` and, when `keep_attention`, the attention
    ///   probabilities `[batch, heads, tokens, tokens]`.
    pub fn forward(&self, input: Tensor<3>, keep_attention: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let (attended, probs) = self
            .attention
            .forward(self.norm_attention.forward(input.clone()), keep_attention);
        let x = attended + input;
        let y = self.mlp_in.forward(self.norm_mlp.forward(x.clone()));
        let y = self.mlp_out.forward(gelu_approximate(y));
        (y + x, probs)
    }
}

impl Attention {
    /// # Shapes
    /// - input: `[batch, tokens, hidden]`
    /// - output: `[batch, tokens, hidden]`, probabilities `[batch, heads, tokens, tokens]`
    pub fn forward(&self, x: Tensor<3>, keep_attention: bool) -> (Tensor<3>, Option<Tensor<4>>) {
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
        let probs = softmax(q.matmul(k.swap_dims(2, 3)), 3); // [batch, heads, q, k]
        let context = probs.clone().matmul(v); // [batch, heads, tokens, head_dim]
        let context = context.swap_dims(1, 2).reshape([batch, tokens, heads * head_dim]);
        (self.out.forward(context), keep_attention.then_some(probs))
    }
}
