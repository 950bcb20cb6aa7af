//! Every MBT parameter's Scenic name and Flax shape, spelled once: loading a checkpoint
//! ([`super::Mbt::load`]) and saving a model ([`super::Mbt::export_params`]) both take them from
//! [`ScenicNames::of`].

use super::config::{MbtConfig, Modality, TemporalMethod};
use super::mbt::CHANNELS;

/// A Flax `Dense` (or patch-embedding `Conv`) under `prefix`: `prefix/kernel` of shape `kernel`,
/// whose first `in_dims` axes are the inputs, and `prefix/bias` of shape `bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseName {
    pub prefix: String,
    pub kernel: Vec<usize>,
    pub bias: Vec<usize>,
    pub in_dims: usize,
}

/// A Flax `LayerNorm` under `prefix`: `prefix/scale` and `prefix/bias`, both `[dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NormName {
    pub prefix: String,
    pub dim: usize,
}

/// A bare parameter (class token, bottleneck tokens, position embedding).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorName {
    pub name: String,
    pub shape: [usize; 3],
}

/// One `encoderblock_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockNames {
    pub norm_attention: NormName,
    pub query: DenseName,
    pub key: DenseName,
    pub value: DenseName,
    pub out: DenseName,
    pub norm_mlp: NormName,
    pub mlp_in: DenseName,
    pub mlp_out: DenseName,
}

impl BlockNames {
    pub fn new(prefix: &str, hidden: usize, heads: usize, mlp_dim: usize) -> Self {
        let head_dim = hidden / heads;
        let att = format!("{prefix}/MultiHeadDotProductAttention_0");
        let qkv = |name: &str| dense(&format!("{att}/{name}"), &[hidden, heads, head_dim], &[heads, head_dim], 1);
        Self {
            norm_attention: NormName { prefix: format!("{prefix}/LayerNorm_0"), dim: hidden },
            query: qkv("query"),
            key: qkv("key"),
            value: qkv("value"),
            out: dense(&format!("{att}/out"), &[heads, head_dim, hidden], &[hidden], 2),
            norm_mlp: NormName { prefix: format!("{prefix}/LayerNorm_1"), dim: hidden },
            mlp_in: dense(&format!("{prefix}/MlpBlock_0/Dense_0"), &[hidden, mlp_dim], &[mlp_dim], 1),
            mlp_out: dense(&format!("{prefix}/MlpBlock_0/Dense_1"), &[mlp_dim, hidden], &[hidden], 1),
        }
    }
}

fn dense(prefix: &str, kernel: &[usize], bias: &[usize], in_dims: usize) -> DenseName {
    DenseName { prefix: prefix.to_owned(), kernel: kernel.to_vec(), bias: bias.to_vec(), in_dims }
}

/// The parameters a model of a given config has (`None`: it has no such parameter), as
/// Scenic's `MBT` module names them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenicNames {
    pub rgb_embedding: Option<DenseName>,
    pub spectrogram_embedding: Option<DenseName>,
    pub cls_rgb: Option<TensorName>,
    pub cls_spectrogram: Option<TensorName>,
    pub bottleneck: Option<TensorName>,
    pub posembed_rgb: Option<TensorName>,
    pub posembed_spectrogram: Option<TensorName>,
    /// The rgb encoder's blocks (also the spectrogram's with `share_encoder`).
    pub blocks: Vec<BlockNames>,
    /// The spectrogram encoder's own blocks.
    pub blocks_spectrogram: Vec<BlockNames>,
    pub encoder_norm: NormName,
    pub pre_logits: Option<DenseName>,
    pub output_projection: DenseName,
}

impl ScenicNames {
    pub fn of(config: &MbtConfig) -> Self {
        let d = config.hidden_size;
        let [fh, fw, ft] = config.patch();
        let cls = usize::from(config.has_cls());
        let rgb = config.has(Modality::Rgb);
        let spectrogram = config.has(Modality::Spectrogram);
        let single = config.modality_fusion.len() == 1;
        let blocks = |suffix: &str| -> Vec<BlockNames> {
            (0..config.num_layers)
                .map(|layer| BlockNames::new(&format!("Transformer/encoderblock_{layer}{suffix}"), d, config.num_heads, config.mlp_dim))
                .collect()
        };
        let head_in = config.representation_size.unwrap_or(d);
        Self {
            rgb_embedding: rgb.then(|| match config.temporal_encoding_config.method {
                TemporalMethod::Conv3d => dense("embedding", &[ft, fh, fw, CHANNELS, d], &[d], 4),
                TemporalMethod::TemporalSampling => dense("embedding", &[fh, fw, CHANNELS, d], &[d], 3),
            }),
            spectrogram_embedding: spectrogram.then(|| dense("embedding_spectrogram", &[fh, fw, CHANNELS, d], &[d], 3)),
            cls_rgb: (config.has_cls() && rgb).then(|| TensorName { name: "cls".into(), shape: [1, 1, d] }),
            cls_spectrogram: (config.has_cls() && spectrogram)
                .then(|| TensorName { name: if single { "cls" } else { "clsspectrogram" }.into(), shape: [1, 1, d] }),
            bottleneck: config.use_bottleneck.then(|| TensorName { name: "bottleneck".into(), shape: [1, config.bottleneck_tokens(), d] }),
            posembed_rgb: rgb
                .then(|| TensorName { name: "Transformer/posembed_input/pos_embedding".into(), shape: [1, config.rgb_tokens() + cls, d] }),
            posembed_spectrogram: spectrogram.then(|| TensorName {
                name: "Transformer/posembed_input_spectrogram/pos_embedding".into(),
                shape: [1, config.spectrogram_tokens() + cls, d],
            }),
            blocks: if rgb || config.share_encoder { blocks("") } else { Vec::new() },
            blocks_spectrogram: if spectrogram && !config.share_encoder { blocks("_spectrogram") } else { Vec::new() },
            encoder_norm: NormName { prefix: "Transformer/encoder_norm".into(), dim: d },
            pre_logits: config.representation_size.map(|r| dense("pre_logits", &[d, r], &[r], 1)),
            output_projection: dense("output_projection", &[head_in, config.num_classes], &[config.num_classes], 1),
        }
    }
}
