//! From a burn model back to Scenic-named parameters (for saving trained models in the native
//! format, which stores Scenic's names and Flax's shapes).

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use super::block::EncoderBlock;
use super::config::{Modality, TemporalMethod};
use super::mbt::{CHANNELS, Mbt};
use crate::weights::params::{HostTensor, ParamMap};

fn host<const D: usize>(t: Tensor<D>, shape: &[usize]) -> Result<HostTensor, String> {
    let data = t.into_data().try_into_vec_as::<f32>().map_err(|e| format!("{e:?}"))?;
    Ok(HostTensor::new(shape.to_vec(), data))
}

struct Out(ParamMap);

impl Out {
    fn put<const D: usize>(&mut self, name: &str, t: Tensor<D>, shape: &[usize]) -> Result<(), String> {
        self.0.tensors.insert(name.to_owned(), host(t, shape)?);
        Ok(())
    }

    fn dense(&mut self, prefix: &str, d: &Linear, kernel: &[usize], bias: &[usize]) -> Result<(), String> {
        self.put(&format!("{prefix}/kernel"), d.weight.val(), kernel)?;
        if let Some(b) = &d.bias {
            self.put(&format!("{prefix}/bias"), b.val(), bias)?;
        }
        Ok(())
    }

    fn norm(&mut self, prefix: &str, n: &LayerNorm, dim: usize) -> Result<(), String> {
        self.put(&format!("{prefix}/scale"), n.gamma.val(), &[dim])?;
        if let Some(b) = &n.beta {
            self.put(&format!("{prefix}/bias"), b.val(), &[dim])?;
        }
        Ok(())
    }

    fn block(&mut self, prefix: &str, b: &EncoderBlock, d: usize, heads: usize, mlp: usize) -> Result<(), String> {
        let hd = d / heads;
        let att = format!("{prefix}/MultiHeadDotProductAttention_0");
        self.norm(&format!("{prefix}/LayerNorm_0"), &b.norm_attention, d)?;
        for (name, dense) in [("query", &b.attention.query), ("key", &b.attention.key), ("value", &b.attention.value)] {
            self.dense(&format!("{att}/{name}"), dense, &[d, heads, hd], &[heads, hd])?;
        }
        self.dense(&format!("{att}/out"), &b.attention.out, &[heads, hd, d], &[d])?;
        self.norm(&format!("{prefix}/LayerNorm_1"), &b.norm_mlp, d)?;
        self.dense(&format!("{prefix}/MlpBlock_0/Dense_0"), &b.mlp_in, &[d, mlp], &[mlp])?;
        self.dense(&format!("{prefix}/MlpBlock_0/Dense_1"), &b.mlp_out, &[mlp, d], &[d])
    }
}

impl Mbt {
    /// Every parameter under its Scenic name with Flax's shape: the inverse of [`Mbt::load`].
    pub fn export_params(&self) -> Result<ParamMap, String> {
        let c = &self.config;
        let d = c.hidden_size;
        let [fh, fw, ft] = c.patch();
        let mut out = Out(ParamMap::default());
        if let Some(e) = &self.rgb_embedding {
            let kernel: Vec<usize> = match c.temporal_encoding_config.method {
                TemporalMethod::Conv3d => vec![ft, fh, fw, CHANNELS, d],
                TemporalMethod::TemporalSampling => vec![fh, fw, CHANNELS, d],
            };
            out.dense("embedding", e, &kernel, &[d])?;
        }
        if let Some(e) = &self.spectrogram_embedding {
            out.dense("embedding_spectrogram", e, &[fh, fw, CHANNELS, d], &[d])?;
        }
        let single = c.modality_fusion.len() == 1;
        if let Some(p) = &self.cls_rgb {
            out.put("cls", p.val(), &[1, 1, d])?;
        }
        if let Some(p) = &self.cls_spectrogram {
            out.put(if single { "cls" } else { "clsspectrogram" }, p.val(), &[1, 1, d])?;
        }
        if let Some(p) = &self.bottleneck {
            out.put("bottleneck", p.val(), &[1, c.bottleneck_tokens(), d])?;
        }
        let cls = usize::from(c.has_cls());
        if let Some(p) = &self.posembed_rgb {
            out.put("Transformer/posembed_input/pos_embedding", p.val(), &[1, c.patch_tokens(Modality::Rgb) + cls, d])?;
        }
        if let Some(p) = &self.posembed_spectrogram {
            out.put("Transformer/posembed_input_spectrogram/pos_embedding", p.val(), &[1, c.patch_tokens(Modality::Spectrogram) + cls, d])?;
        }
        for (layer, b) in self.blocks.iter().enumerate() {
            out.block(&format!("Transformer/encoderblock_{layer}"), b, d, c.num_heads, c.mlp_dim)?;
        }
        for (layer, b) in self.blocks_spectrogram.iter().enumerate() {
            out.block(&format!("Transformer/encoderblock_{layer}_spectrogram"), b, d, c.num_heads, c.mlp_dim)?;
        }
        out.norm("Transformer/encoder_norm", &self.encoder_norm, d)?;
        let head_in = match (&self.pre_logits, c.representation_size) {
            (Some(p), Some(r)) => {
                out.dense("pre_logits", p, &[d, r], &[r])?;
                r
            }
            _ => d,
        };
        out.dense("output_projection", &self.output_projection, &[head_in, c.num_classes], &[c.num_classes])?;
        Ok(out.0)
    }
}
