//! Model weights: Scenic/Flax checkpoint import, the native model folder, labels.

pub mod flax;
pub mod msgpack;
pub mod native;
pub mod params;
pub mod scenic_config;

use std::path::Path;

use crate::model::config::{MbtConfig, Modality, TemporalMethod};
use params::ParamMap;

/// The AudioSet ontology's 527 class names in the order of Scenic's AudioSet label indices.
pub const AUDIOSET_LABELS: &str = include_str!("../../assets/labels/audioset_527.txt");

/// Fills in the input geometry the config did not state from the checkpoint's position
/// embeddings, and returns a note for every value that was derived.
///
/// A spectrogram keeps its mel count (128 unless given) and takes its length from the token
/// count; RGB keeps its crop size (224 unless given) and takes its frame count from it.
pub fn derive_geometry(config: &mut MbtConfig, params: &ParamMap, given: &[String]) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let cls = usize::from(config.has_cls());
    let [fh, fw, ft] = config.patch();
    for &m in &config.modality_fusion.clone() {
        let name = match m {
            Modality::Rgb => "Transformer/posembed_input/pos_embedding",
            Modality::Spectrogram => "Transformer/posembed_input_spectrogram/pos_embedding",
        };
        let Some(shape) = params.shape_of(name) else {
            return Err(format!("the checkpoint has no `{name}`"));
        };
        let Some(&len) = shape.get(1) else {
            return Err(format!("`{name}` has shape {shape:?}, expected [1, tokens, hidden]"));
        };
        let tokens = len.checked_sub(cls).ok_or_else(|| format!("`{name}` is empty"))?;
        if tokens == config.patch_tokens(m) {
            continue;
        }
        let current_tokens = config.patch_tokens(m);
        let ds = &mut config.dataset_configs;
        match m {
            Modality::Spectrogram => {
                if given.iter().any(|g| g == "spec_shape" || g == "num_spec_frames") {
                    return Err(format!(
                        "dataset_configs gives a spectrogram of {:?} ({} tokens) but `{name}` holds {tokens}",
                        ds.spectrogram_shape(),
                        current_tokens
                    ));
                }
                let per_row = ds.spec_shape[1] / fw;
                if per_row == 0 || tokens % per_row != 0 {
                    return Err(format!("{tokens} spectrogram tokens do not fit {} mel bins", ds.spec_shape[1]));
                }
                let time = tokens / per_row * fh;
                ds.spec_shape = [time, ds.spec_shape[1]];
                ds.num_spec_frames = 1;
                notes.push(format!("spectrogram input {time} x {} derived from {tokens} position embeddings", ds.spec_shape[1]));
            }
            Modality::Rgb => {
                if given.iter().any(|g| g == "num_frames" || g == "crop_size") {
                    return Err(format!(
                        "dataset_configs gives {} frames of {}px ({} tokens) but `{name}` holds {tokens}",
                        ds.num_frames, ds.crop_size, current_tokens
                    ));
                }
                let per_frame = (ds.crop_size / fh) * (ds.crop_size / fw);
                if per_frame == 0 || tokens % per_frame != 0 {
                    return Err(format!("{tokens} rgb tokens do not fit {}px frames", ds.crop_size));
                }
                let steps = tokens / per_frame;
                ds.num_frames = match config.temporal_encoding_config.method {
                    TemporalMethod::Conv3d => steps * ft,
                    TemporalMethod::TemporalSampling => config.temporal_encoding_config.n_sampled_frames.unwrap_or(steps).max(steps),
                };
                notes.push(format!(
                    "rgb input {} frames of {}x{} derived from {tokens} position embeddings",
                    ds.num_frames, ds.crop_size, ds.crop_size
                ));
            }
        }
        if config.patch_tokens(m) != tokens {
            return Err(format!("could not derive an input size for {m} from {tokens} tokens"));
        }
    }
    Ok(notes)
}

/// Reads the labels file if given, else AudioSet's names for 527 classes, else numbered names.
pub fn labels_for(num_classes: usize, labels: Option<&Path>) -> Result<Vec<String>, String> {
    if let Some(path) = labels {
        let labels = native::read_labels(path).map_err(|e| e.to_string())?;
        if labels.len() != num_classes {
            return Err(format!("{} labels for {num_classes} classes: {}", labels.len(), path.display()));
        }
        return Ok(labels);
    }
    let audioset: Vec<String> = AUDIOSET_LABELS.lines().map(str::to_owned).collect();
    if audioset.len() == num_classes {
        return Ok(audioset);
    }
    Ok((0..num_classes).map(|i| format!("class {i}")).collect())
}

/// What [`import_scenic`] did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Config fields Scenic has that this model ignores.
    pub ignored_fields: Vec<String>,
    /// Input geometry taken from the checkpoint, and defaults that were assumed.
    pub notes: Vec<String>,
    pub tensors: usize,
    pub parameters: usize,
}

/// Imports a Scenic MBT checkpoint (flax MessagePack) with its model config (JSON) into the
/// native model folder `out`: the geometry the config leaves open comes from the checkpoint,
/// every leaf is checked by building the model on the CPU, and the folder is written through
/// temporary names (replacing files only when `overwrite`).
pub fn import_scenic(checkpoint: &Path, config: &Path, labels: Option<&Path>, out: &Path, overwrite: bool) -> anyhow::Result<ImportReport> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let parsed = MbtConfig::parse_scenic_json(&text).with_context(|| format!("bad model config: {}", config.display()))?;
    let mut model_config = parsed.config;
    let params = flax::read_checkpoint(checkpoint).with_context(|| format!("cannot import checkpoint {}", checkpoint.display()))?;
    let mut notes = derive_geometry(&mut model_config, &params, &parsed.dataset_fields)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("checkpoint does not fit the config: {}", checkpoint.display()))?;
    if !parsed.has_dataset_configs {
        notes.insert(
            0,
            "no dataset_configs given; using Scenic's AudioSet input settings where the checkpoint does not say otherwise".into(),
        );
    }
    // Building the model on the CPU checks every leaf's name and shape, and that none is left.
    crate::runner::build(&model_config, params.clone(), &burn::prelude::Device::flex())
        .with_context(|| format!("checkpoint does not match the config: {}", checkpoint.display()))?;
    let labels = labels_for(model_config.num_classes, labels).map_err(anyhow::Error::msg)?;
    native::save_dir(out, &model_config, &params, &labels, overwrite)?;
    Ok(ImportReport {
        ignored_fields: parsed.ignored,
        notes,
        tensors: params.tensors.len(),
        parameters: params.tensors.values().map(params::HostTensor::numel).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::params::HostTensor;

    fn posembed(tokens: usize, hidden: usize) -> HostTensor {
        HostTensor::new(vec![1, tokens, hidden], vec![0.0; tokens * hidden])
    }

    #[test]
    fn geometry_is_derived_from_position_embeddings_when_not_given() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/mbt_b_bottleneck_audioset.json");
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("dataset_configs");
        let parsed = MbtConfig::parse_scenic_json(&json.to_string()).unwrap();
        assert!(!parsed.has_dataset_configs);
        let mut config = parsed.config;
        let mut params = ParamMap::default();
        // 16 frames (8 tubelets of 14x14) and a 6 s spectrogram (600 x 128: 37 x 8 patches).
        params.tensors.insert("Transformer/posembed_input/pos_embedding".into(), posembed(8 * 196, 768));
        params.tensors.insert("Transformer/posembed_input_spectrogram/pos_embedding".into(), posembed(37 * 8, 768));
        let notes = derive_geometry(&mut config, &params, &parsed.dataset_fields).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(config.dataset_configs.num_frames, 16);
        assert_eq!(config.dataset_configs.spectrogram_shape(), [592, 128]);
        assert_eq!(config.rgb_tokens(), 8 * 196);
        assert_eq!(config.spectrogram_tokens(), 37 * 8);

        // When the config states the geometry, a disagreeing checkpoint is an error.
        let given = vec!["num_frames".to_owned()];
        let mut stated = MbtConfig::parse_scenic_json(&json.to_string()).unwrap().config;
        let err = derive_geometry(&mut stated, &params, &given).unwrap_err();
        assert!(err.contains("posembed_input/pos_embedding"), "{err}");
    }
}
