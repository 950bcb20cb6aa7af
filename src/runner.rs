//! Loading a model folder onto a device and running it on host arrays: the glue that the CLI,
//! the tests and the benchmarks share.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use burn::prelude::*;

use crate::explain::{Explainer, Explanation, RolloutOptions};
use crate::model::mbt::{Capture, InputError, Mbt, MbtInput, tile_mono};
use crate::model::{MbtConfig, Modality};
use crate::npz::{NpyArray, NpyData};
use crate::weights::native;
use crate::weights::params::ParamSource;

/// Keeps freed memory in the process instead of handing it back to the kernel at once.
///
/// Burn allocates a fresh buffer for most tensor ops, and glibc serves blocks over its mmap
/// threshold (128 KiB, rising only as such blocks are freed) with their own mappings, which are
/// unmapped on free. The next op then page-faults its buffer in again: in a training step of the
/// shipped model, page faults and their TLB flushes took about a fifth of the time (perf). With
/// blocks up to 32 MiB (glibc's maximum) served from the heap and the heap trimmed only past
/// 1 GiB of free memory, a training step takes about 17% less time (BENCHMARKS.md). Call it
/// first thing in `main`, before other threads start. A no-op outside glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// A model ready to run, with its labels.
pub struct LoadedModel {
    pub model: Mbt,
    pub labels: Vec<String>,
    pub device: Device,
}

impl LoadedModel {
    pub fn config(&self) -> &MbtConfig {
        &self.model.config
    }
}

/// Builds the model from a strict parameter source and refuses leftovers.
pub fn build(config: &MbtConfig, mut params: crate::weights::params::ParamMap, device: &Device) -> anyhow::Result<Mbt> {
    let model = Mbt::load(config, &mut params as &mut dyn ParamSource, device)?;
    params.finish()?;
    Ok(model)
}

/// Loads `dir` (model.json, model.safetensors, labels.txt) onto `device`.
pub fn load_model_dir(dir: &Path, device: &Device) -> anyhow::Result<LoadedModel> {
    let files = native::load_dir(dir)?;
    let model =
        build(&files.config, files.params, device).with_context(|| format!("model weights do not match model.json: {}", dir.display()))?;
    Ok(LoadedModel { model, labels: files.labels, device: device.clone() })
}

/// Turns `rgb` / `spectrogram` host arrays into model inputs on `device`.
pub fn input_from_arrays(config: &MbtConfig, arrays: &BTreeMap<String, NpyArray>, device: &Device) -> anyhow::Result<MbtInput> {
    let mut input = MbtInput::default();
    for &m in &config.modality_fusion {
        let Some(array) = arrays.get(m.name()) else {
            bail!("the inputs hold no `{m}` array, which this model needs (found: {})", names(arrays));
        };
        let values = array.to_f32();
        match (m, array.shape.as_slice()) {
            (Modality::Rgb, &[b, t, h, w, c]) => {
                input.rgb = Some(Tensor::from_data(TensorData::new(values, [b, t, h, w, c]), device));
            }
            (Modality::Spectrogram, &[b, t, f, c]) => {
                input.spectrogram = Some(Tensor::from_data(TensorData::new(values, [b, t, f, c]), device));
            }
            (Modality::Spectrogram, &[b, t, f]) => {
                input.spectrogram = Some(tile_mono(Tensor::from_data(TensorData::new(values, [b, t, f]), device)));
            }
            (_, shape) => bail!(
                "`{m}` has shape {shape:?}; expected {}",
                match m {
                    Modality::Rgb => "[batch, frames, height, width, 3]",
                    Modality::Spectrogram => "[batch, time, mel, 3] or [batch, time, mel]",
                }
            ),
        }
    }
    Ok(input)
}

fn names(arrays: &BTreeMap<String, NpyArray>) -> String {
    let names: Vec<&str> = arrays.keys().map(String::as_str).collect();
    if names.is_empty() { "nothing".into() } else { names.join(", ") }
}

/// Copies a tensor to the host as an f32 array.
pub fn to_array<const D: usize>(tensor: Tensor<D>) -> anyhow::Result<NpyArray> {
    let shape = tensor.dims().to_vec();
    let data = tensor.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading a tensor back from the device: {e:?}"))?;
    Ok(NpyArray { shape, data: NpyData::F32(data) })
}

/// Runs the model and collects `logits`, `encoded` and every attention map (plus its token
/// layout) into named arrays, as `mbtscope infer` writes them.
pub fn infer_arrays(model: &Mbt, input: MbtInput, capture: Capture) -> Result<anyhow::Result<BTreeMap<String, NpyArray>>, InputError> {
    let output = model.forward(input, capture)?;
    Ok((|| {
        let mut out = BTreeMap::new();
        out.insert("logits".to_owned(), to_array(output.logits)?);
        out.insert("encoded".to_owned(), to_array(output.encoded)?);
        out.insert("encoded_layout".to_owned(), layout_array(&output.encoded_layout));
        if let Some(b) = output.bottleneck {
            out.insert("bottleneck".to_owned(), to_array(b)?);
        }
        for pass in output.attention {
            let key = format!("layer{}/{}", pass.layer, pass.pass.name());
            out.insert(format!("attn_layout/{key}"), layout_array(&pass.layout));
            let data = pass.probs.to_host().map_err(anyhow::Error::msg)?;
            out.insert(format!("attn/{key}"), NpyArray::f32(pass.probs.shape.to_vec(), data));
        }
        Ok(out)
    })())
}

/// A token layout as rows of (kind, modality, start, len): kind 0 = CLS, 1 = patches,
/// 2 = bottleneck; modality 0 = rgb, 1 = spectrogram, -1 = none.
pub fn layout_array(layout: &crate::model::layout::TokenLayout) -> NpyArray {
    use crate::model::layout::TokenKind;
    let code = |m: Modality| match m {
        Modality::Rgb => 0,
        Modality::Spectrogram => 1,
    };
    let mut rows = Vec::new();
    for s in &layout.segments {
        let (kind, modality) = match s.kind {
            TokenKind::Cls(m) => (0, code(m)),
            TokenKind::Patches(m) => (1, code(m)),
            TokenKind::Bottleneck => (2, -1),
        };
        rows.extend([kind, modality, s.start as i32, s.len as i32]);
    }
    NpyArray::i32(vec![layout.segments.len(), 4], rows)
}

/// Runs the model once with an [`Explainer`] observing it.
pub fn explain(model: &Mbt, input: MbtInput, options: RolloutOptions) -> Result<(crate::model::MbtOutput, Explanation), InputError> {
    let batch = model.check_input(&input)?;
    let device = model.output_projection.weight.val().device();
    let mut explainer = Explainer::new(&model.config, options, batch, &device);
    let output = model.forward_observed(input, crate::model::block::KeepAttention::Fused(options.head_fusion), Some(&mut explainer))?;
    Ok((output, explainer.finish()))
}

/// The explanation as named arrays, as `mbtscope infer --rollout` writes them: `rollout/joint`
/// `[B,N,N]`, `rollout/cls_<modality>` or `rollout/gap` `[B,N]`, `rollout/layout`,
/// `rollout/raw_layer{l}`, `rollout/cross_modal_share` `[B, modalities]` (for each modality, the
/// share of its explanation row, CLS or mean of its tokens, that comes from the other modality),
/// and per bottleneck layer `bottleneck_activity/layer{l}/norm` `[B,n]`,
/// `.../received_<modality>` `[B,n]`, `.../rows` `[B,n,N]` and `.../share` `[B,n,3]` (the part
/// of each bottleneck token's own attention on rgb tokens, spectrogram tokens, bottleneck tokens).
pub fn explanation_arrays(config: &MbtConfig, explanation: &Explanation) -> anyhow::Result<BTreeMap<String, NpyArray>> {
    let mut out = BTreeMap::new();
    out.insert("rollout/layout".to_owned(), layout_array(&explanation.layout));
    // The one place the dense rollout is made.
    let rollout = explanation.rollout();
    out.insert("rollout/joint".to_owned(), to_array(rollout.clone())?);
    for (name, row) in crate::explain::maps::explained_rows(config, &explanation.layout, &rollout) {
        out.insert(format!("rollout/{name}"), to_array(row)?);
    }
    out.insert("rollout/cross_modal_share".to_owned(), cross_modal_shares(config, &explanation.layout, &rollout)?);
    if let (Some(raw), Some(layer)) = (&explanation.raw, explanation.raw_layer) {
        out.insert(format!("rollout/raw_layer{layer}"), to_array(raw.clone())?);
    }
    for activity in &explanation.activity {
        let prefix = format!("bottleneck_activity/layer{}", activity.layer);
        out.insert(format!("{prefix}/norm"), to_array(activity.norm.clone())?);
        out.insert(format!("{prefix}/rows"), to_array(activity.rows.clone())?);
        out.insert(format!("{prefix}/share"), attention_shares(config, &explanation.layout, &activity.rows)?);
        for (m, received) in &activity.received {
            out.insert(format!("{prefix}/received_{m}"), to_array(received.clone())?);
        }
    }
    Ok(out)
}

/// Relevance as named arrays: `relevance/joint`, `relevance/cls_<modality>` or `relevance/gap`,
/// `relevance/classes`.
pub fn relevance_arrays(config: &MbtConfig, result: &crate::explain::relevance::Relevance) -> anyhow::Result<BTreeMap<String, NpyArray>> {
    let mut out = BTreeMap::new();
    let joint = result.joint();
    out.insert("relevance/joint".to_owned(), to_array(joint.clone())?);
    for (name, row) in crate::explain::maps::explained_rows(config, &result.layout, &joint) {
        out.insert(format!("relevance/{name}"), to_array(row)?);
    }
    let classes = result.classes.iter().map(|&c| c as i32).collect::<Vec<_>>();
    out.insert("relevance/classes".to_owned(), NpyArray::i32(vec![classes.len()], classes));
    Ok(out)
}

/// For each example and modality: the share of that modality's explanation row (its CLS row, or
/// the mean row of its tokens without a CLS) that lands on the other modality's tokens.
fn cross_modal_shares(config: &MbtConfig, layout: &crate::model::layout::TokenLayout, rollout: &Tensor<3>) -> anyhow::Result<NpyArray> {
    use crate::explain::maps::{cross_modal_share, split_row};
    use crate::model::layout::TokenKind;
    let [b, n, _] = rollout.dims();
    let mut rows = Vec::new();
    for &m in &config.modality_fusion {
        let (start, len) = match layout.find(TokenKind::Cls(m)) {
            Some(seg) => (seg.start, 1),
            None => {
                let seg = layout.find(TokenKind::Patches(m)).ok_or_else(|| anyhow::anyhow!("no {m} tokens in the layout"))?;
                (seg.start, seg.len)
            }
        };
        let row: Tensor<3> = rollout.clone().slice(s![.., start..start + len, ..]).mean_dim(1);
        rows.push(to_array(row.reshape([b, n]))?.to_f32());
    }
    let mut shares = Vec::with_capacity(b * rows.len());
    for bi in 0..b {
        for (row, &m) in rows.iter().zip(&config.modality_fusion) {
            let split = split_row(config, layout, &row[bi * n..(bi + 1) * n]);
            shares.push(cross_modal_share(&split, m));
        }
    }
    Ok(NpyArray::f32(vec![b, rows.len()], shares))
}

/// For each row of `rows` `[B, n, N]` (joint order): the attention mass on rgb tokens, on
/// spectrogram tokens and on bottleneck tokens, `[B, n, 3]`.
fn attention_shares(config: &MbtConfig, layout: &crate::model::layout::TokenLayout, rows: &Tensor<3>) -> anyhow::Result<NpyArray> {
    use crate::explain::maps::split_row;
    let [b, nb, n] = rows.dims();
    let values = to_array(rows.clone())?.to_f32();
    let mut out = Vec::with_capacity(b * nb * 3);
    for row in values.chunks(n) {
        let split = split_row(config, layout, row);
        let mass = |m: Modality| split.modality_mass.iter().find(|(mm, _)| *mm == m).map_or(0.0, |(_, v)| *v);
        out.extend([mass(Modality::Rgb), mass(Modality::Spectrogram), split.bottleneck_mass]);
    }
    Ok(NpyArray::f32(vec![b, nb, 3], out))
}
