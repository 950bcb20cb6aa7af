//! A starting point for learning time alignment: one attention head per fusion layer set up so
//! that, in a bottleneck model, audio of time slice `k` reaches bottleneck token `k` and
//! bottleneck token `k` reaches the video tokens of slice `k`; in a vanilla model, the video and
//! audio tokens of a slice reach each other directly.
//!
//! MBT's bottleneck tokens carry no position, so a model trained from Scenic's initialisation
//! has to discover such a route through tokens that all look alike at first; on CPU budgets it
//! does not (README: "The sync task"). This writes the route into the weights instead, with the
//! architecture unchanged (a Scenic checkpoint of the same shape): three small sets of
//! orthogonal codes in the residual stream and one head's query and key projections that match
//! them. Training then adjusts or discards it like any other weight.
//!
//! - Codes: `Q_t`, `K_t` and `B_t` for slices `t < T`, each a basis direction of the hidden
//!   space (the last `3 T` dimensions). Video patch tokens of slice `t` get `Q_t` in their
//!   position embedding, audio patch tokens of slice `t` get `K_t`, bottleneck token `k` gets
//!   `Q_k` and `B_k`.
//! - In every fusion layer the last head's query reads the `Q` codes; its key reads the `K`
//!   codes in the audio blocks and the `B` codes in the video blocks. So in the audio pass
//!   bottleneck token `k` attends to the audio of slice `k` (no audio token carries `Q`, and
//!   no bottleneck token carries `K`), and in the video pass a video token of slice `t` attends
//!   to bottleneck token `t` (no video token carries `B`).
//! - Vanilla fusion (each modality attends to all tokens) needs no `B`: the video block's last
//!   head matches its queries' `Q` codes to the keys' `K` codes, so a video token of slice `t`
//!   attends to the audio of slice `t`, and the audio block's last head matches `K` to `Q`, so an
//!   audio token of slice `t` attends to the video of slice `t`.

use burn::module::Param;
use burn::prelude::*;

use crate::model::{Mbt, Modality};

/// How strongly the codes are written: the value added to a code's dimension (patch tokens,
/// and twice this for the bottleneck tokens, whose attention must win over the patches'), and
/// the query and key weight on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteStrength {
    pub code: f32,
    pub weight: f32,
}

impl Default for RouteStrength {
    fn default() -> Self {
        Self { code: 10.0, weight: 3.0 }
    }
}

/// Why the route cannot be written into a model.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "--time-route needs mid fusion of rgb and spectrogram (bottleneck or vanilla, one encoder per modality) with position embeddings"
    )]
    NotMidFusion,
    #[error("--time-route needs at least {needed} bottleneck tokens (one per video time slice); the model has {found}")]
    TooFewBottlenecks { needed: usize, found: usize },
    #[error(
        "--time-route needs {needed} hidden dimensions for its codes and {head} per head for its query; the model has {hidden} and {head_dim}"
    )]
    TooSmall { needed: usize, hidden: usize, head: usize, head_dim: usize },
    #[error("--time-route needs the spectrogram's patch tokens in whole time slices ({tokens} tokens over {slices} slices)")]
    Misaligned { tokens: usize, slices: usize },
}

/// The code sets (see the module's documentation).
const Q: usize = 0;
const K: usize = 1;
const B: usize = 2;

/// The hidden dimension of code `set` (`Q`, `K` or `B`) for slice `t`.
fn code_dim(hidden: usize, slices: usize, set: usize, t: usize) -> usize {
    hidden - 3 * slices + set * slices + t
}

/// `mbt` with the route written in (see the module's documentation).
pub fn with_time_route(mut mbt: Mbt, strength: RouteStrength) -> Result<Mbt, RouteError> {
    let config = mbt.config.clone();
    let slices = config.rgb_time_slices();
    let hidden = config.hidden_size;
    let head_dim = hidden / config.num_heads.max(1);
    let both = config.modality_fusion.contains(&Modality::Rgb) && config.modality_fusion.contains(&Modality::Spectrogram);
    if !both
        || config.fusion_layer >= config.num_layers
        || (config.use_bottleneck && mbt.bottleneck.is_none())
        || mbt.posembed_rgb.is_none()
        || mbt.posembed_spectrogram.is_none()
        || config.share_encoder
        || slices == 0
    {
        return Err(RouteError::NotMidFusion);
    }
    // From here on a bottleneck model has its bottleneck tokens.
    let bottleneck = config.use_bottleneck;
    if bottleneck && config.n_bottlenecks < slices {
        return Err(RouteError::TooFewBottlenecks { needed: slices, found: config.n_bottlenecks });
    }
    if 3 * slices > hidden || slices > head_dim {
        return Err(RouteError::TooSmall { needed: 3 * slices, hidden, head: slices, head_dim });
    }
    let audio_tokens = config.patch_tokens(Modality::Spectrogram);
    if !audio_tokens.is_multiple_of(slices) {
        return Err(RouteError::Misaligned { tokens: audio_tokens, slices });
    }
    let has_cls = config.has_cls();
    let code = |set: usize, t: usize| code_dim(hidden, slices, set, t);
    // In vanilla fusion the patch tokens' codes must carry the route through every fusion layer
    // on their own (no bottleneck token renews them), so they are written three times as strong:
    // at the bottleneck's strength the route head's share of the matching slice fell to the
    // uniform level by layer 4 (2026-12-05).
    let patch_code = if bottleneck { strength.code } else { 3.0 * strength.code };
    // Position embeddings: `[1, (cls +) patches, hidden]`, patches time-major.
    let add_codes = |param: &mut Option<Param<Tensor<3>>>, set: usize, patches: usize| {
        let Some(p) = param.take() else { return };
        let tensor = p.val();
        let (device, dims) = (tensor.device(), tensor.dims());
        let mut values = host(tensor);
        let first = usize::from(has_cls);
        let per_slice = patches / slices;
        for i in 0..patches {
            values[(first + i) * hidden + code(set, i / per_slice)] += patch_code;
        }
        *param = Some(Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), &device)));
    };
    add_codes(&mut mbt.posembed_rgb, Q, config.patch_tokens(Modality::Rgb));
    add_codes(&mut mbt.posembed_spectrogram, K, audio_tokens);
    if bottleneck && let Some(p) = mbt.bottleneck.take() {
        let tensor = p.val();
        let (device, dims) = (tensor.device(), tensor.dims());
        let mut values = host(tensor);
        for k in 0..slices {
            values[k * hidden + code(Q, k)] += 2.0 * strength.code;
            values[k * hidden + code(B, k)] += 2.0 * strength.code;
        }
        mbt.bottleneck = Some(Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), &device)));
    }
    // The last head of every fusion layer, as (query codes, key codes): bottleneck fusion reads
    // Q against B in the video blocks and Q against K in the audio blocks; vanilla fusion Q
    // against K in the video blocks and K against Q in the audio blocks.
    let head = (config.num_heads - 1) * head_dim;
    let (video, audio) = if bottleneck { ((Q, B), (Q, K)) } else { ((Q, K), (K, Q)) };
    for layer in (0..config.num_layers).filter(|&l| config.is_fusion_layer(l)) {
        for (block, (query_set, key_set)) in [(&mut mbt.blocks[layer], video), (&mut mbt.blocks_spectrogram[layer], audio)] {
            let attention = &mut block.attention;
            set_head(&mut attention.query, head, head_dim, slices, |t| code(query_set, t), strength.weight);
            set_head(&mut attention.key, head, head_dim, slices, |t| code(key_set, t), strength.weight);
        }
    }
    Ok(mbt)
}

/// Rewrites output columns `head..head + head_dim` of a `[hidden, out]` projection: column
/// `head + t` reads input dimension `input(t)` with `weight` for `t < slices`; the rest of the
/// head's columns and biases are zero.
fn set_head(linear: &mut nn::Linear, head: usize, head_dim: usize, slices: usize, input: impl Fn(usize) -> usize, weight: f32) {
    let w = linear.weight.val();
    let (device, [rows, cols]) = (w.device(), w.dims());
    let mut values = host(w);
    for r in 0..rows {
        for c in head..head + head_dim {
            values[r * cols + c] = 0.0;
        }
    }
    for t in 0..slices {
        values[input(t) * cols + head + t] = weight;
    }
    linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(values, [rows, cols]), &device));
    if let Some(b) = linear.bias.take() {
        let b = b.val();
        let (device, [n]) = (b.device(), b.dims());
        let mut values = host(b);
        values[head..head + head_dim].fill(0.0);
        linear.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), &device)));
    }
}

/// A parameter's values on the host (the model's parameters are f32).
fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}
