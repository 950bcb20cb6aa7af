//! From a burn model back to Scenic-named parameters (for saving trained models in the native
//! format, which stores Scenic's names and Flax's shapes).

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use burn::module::Param;

use super::block::EncoderBlock;
use super::mbt::Mbt;
use super::names::{BlockNames, DenseName, NormName, ScenicNames, TensorName};
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

    fn param(&mut self, name: &TensorName, p: &Param<Tensor<3>>) -> Result<(), String> {
        self.put(&name.name, p.val(), &name.shape)
    }

    fn dense(&mut self, name: &DenseName, d: &Linear) -> Result<(), String> {
        self.put(&format!("{}/kernel", name.prefix), d.weight.val(), &name.kernel)?;
        if let Some(b) = &d.bias {
            self.put(&format!("{}/bias", name.prefix), b.val(), &name.bias)?;
        }
        Ok(())
    }

    fn norm(&mut self, name: &NormName, n: &LayerNorm) -> Result<(), String> {
        self.put(&format!("{}/scale", name.prefix), n.gamma.val(), &[name.dim])?;
        if let Some(b) = &n.beta {
            self.put(&format!("{}/bias", name.prefix), b.val(), &[name.dim])?;
        }
        Ok(())
    }

    fn block(&mut self, names: &BlockNames, b: &EncoderBlock) -> Result<(), String> {
        self.norm(&names.norm_attention, &b.norm_attention)?;
        self.dense(&names.query, &b.attention.query)?;
        self.dense(&names.key, &b.attention.key)?;
        self.dense(&names.value, &b.attention.value)?;
        self.dense(&names.out, &b.attention.out)?;
        self.norm(&names.norm_mlp, &b.norm_mlp)?;
        self.dense(&names.mlp_in, &b.mlp_in)?;
        self.dense(&names.mlp_out, &b.mlp_out)
    }
}

/// A parameter the model has and the config names, or an error when they disagree (a model
/// built for another config).
fn both<'a, A, B>(what: &str, model: Option<&'a A>, name: Option<&'a B>) -> Result<Option<(&'a A, &'a B)>, String> {
    match (model, name) {
        (Some(m), Some(n)) => Ok(Some((m, n))),
        (None, None) => Ok(None),
        _ => Err(format!("the model's {what} does not match its config")),
    }
}

impl Mbt {
    /// Every parameter under its Scenic name with Flax's shape ([`ScenicNames`]): the inverse of
    /// [`Mbt::load`].
    pub fn export_params(&self) -> Result<ParamMap, String> {
        let names = ScenicNames::of(&self.config);
        let mut out = Out(ParamMap::default());
        for (what, model, name) in [
            ("rgb embedding", &self.rgb_embedding, &names.rgb_embedding),
            ("spectrogram embedding", &self.spectrogram_embedding, &names.spectrogram_embedding),
        ] {
            if let Some((m, n)) = both(what, model.as_ref(), name.as_ref())? {
                out.dense(n, m)?;
            }
        }
        for (what, model, name) in [
            ("rgb class token", &self.cls_rgb, &names.cls_rgb),
            ("spectrogram class token", &self.cls_spectrogram, &names.cls_spectrogram),
            ("bottleneck tokens", &self.bottleneck, &names.bottleneck),
            ("rgb position embedding", &self.posembed_rgb, &names.posembed_rgb),
            ("spectrogram position embedding", &self.posembed_spectrogram, &names.posembed_spectrogram),
        ] {
            if let Some((m, n)) = both(what, model.as_ref(), name.as_ref())? {
                out.param(n, m)?;
            }
        }
        for (model, names) in [(&self.blocks, &names.blocks), (&self.blocks_spectrogram, &names.blocks_spectrogram)] {
            if model.len() != names.len() {
                return Err(format!("the model has {} encoder blocks where its config names {}", model.len(), names.len()));
            }
            for (b, n) in model.iter().zip(names) {
                out.block(n, b)?;
            }
        }
        out.norm(&names.encoder_norm, &self.encoder_norm)?;
        if let Some((m, n)) = both("pre-logits layer", self.pre_logits.as_ref(), names.pre_logits.as_ref())? {
            out.dense(n, m)?;
        }
        out.dense(&names.output_projection, &self.output_projection)?;
        Ok(out.0)
    }
}
