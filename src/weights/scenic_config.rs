//! Reading Scenic's model configs: a `config.model` dump (top-level or wrapped as
//! `{"model": ..., "dataset_configs": ...}`) into an [`MbtConfig`], with Scenic's defaults for
//! what it leaves out and a list of what was not understood. The schema itself lives in
//! [`crate::model::config`]; this is the import side of it.

use serde_json::{Map, Value};

use crate::model::config::{ConfigError, DatasetConfig, MbtConfig};

/// Fields of Scenic's `config.model` that we read; everything else is reported as ignored.
const KNOWN_MODEL_FIELDS: &[&str] = &[
    "hidden_size",
    "num_layers",
    "num_heads",
    "mlp_dim",
    "num_classes",
    "patches",
    "temporal_encoding_config",
    "representation_size",
    "classifier",
    "modality_fusion",
    "fusion_layer",
    "use_bottleneck",
    "n_bottlenecks",
    "share_encoder",
    "dataset_configs",
];

/// Training-only or irrelevant fields of Scenic's config that are dropped without a warning.
const SILENT_MODEL_FIELDS: &[&str] = &[
    "model_name",
    "dropout_rate",
    "attention_dropout_rate",
    "stochastic_droplayer_rate",
    "attention_config",
    "test_with_bottlenecks",
    "return_prelogits",
    "return_preclassifier",
    "model_dtype_str",
];

const KNOWN_DATASET_FIELDS: &[&str] =
    &["num_frames", "stride", "crop_size", "min_resize", "spec_shape", "num_spec_frames", "spec_mean", "spec_stddev", "zero_centering"];

/// A parsed config together with the fields that were not understood.
pub struct ParsedConfig {
    pub config: MbtConfig,
    /// Fields present in the JSON but unknown to mbtscope (the caller warns about them).
    pub ignored: Vec<String>,
    /// Whether the JSON carried `dataset_configs`; if not, the caller may derive it.
    pub has_dataset_configs: bool,
    /// The `dataset_configs` fields that were given explicitly.
    pub dataset_fields: Vec<String>,
}

impl MbtConfig {
    /// Parses Scenic-style JSON. Accepts either the model fields at the top level or wrapped in
    /// `{"model": {...}, "dataset_configs": {...}}` as in a dumped Scenic config.
    pub fn parse_scenic_json(text: &str) -> Result<ParsedConfig, ConfigError> {
        let root: Value = serde_json::from_str(text)?;
        let Value::Object(root) = root else {
            return Err(ConfigError::Invalid { field: "<root>".into(), message: "expected a JSON object".into() });
        };
        let mut ignored = Vec::new();
        let (mut model, dataset) = split_root(root, &mut ignored)?;
        normalise_model_fields(&mut model, &mut ignored)?;
        let has_dataset_configs = dataset.is_some();
        let (dataset, dataset_fields) = dataset_with_defaults(dataset, &mut ignored)?;
        model.insert("dataset_configs".into(), Value::Object(dataset));
        let config: MbtConfig = serde_json::from_value(Value::Object(model))?;
        config.validate()?;
        Ok(ParsedConfig { config, ignored, has_dataset_configs, dataset_fields })
    }
}

/// The model fields and the `dataset_configs` object, from either layout; other top-level keys
/// of a wrapped config go to `ignored`.
fn split_root(mut root: Map<String, Value>, ignored: &mut Vec<String>) -> Result<(Map<String, Value>, Option<Value>), ConfigError> {
    let mut model = match root.remove("model") {
        Some(Value::Object(model)) => {
            ignored.extend(root.keys().filter(|k| *k != "dataset_configs").cloned());
            model
        }
        Some(_) => return Err(ConfigError::Invalid { field: "model".into(), message: "expected an object".into() }),
        None => std::mem::take(&mut root),
    };
    let dataset = model.remove("dataset_configs").or_else(|| root.remove("dataset_configs"));
    Ok((model, dataset))
}

/// Checks the required model fields, fills in Scenic's defaults for those a config may leave
/// out, and drops (listing them in `ignored`, except the silent ones) the fields mbtscope does
/// not read.
fn normalise_model_fields(model: &mut Map<String, Value>, ignored: &mut Vec<String>) -> Result<(), ConfigError> {
    for key in model.keys() {
        if !KNOWN_MODEL_FIELDS.contains(&key.as_str()) && !SILENT_MODEL_FIELDS.contains(&key.as_str()) {
            ignored.push(key.clone());
        }
    }
    for required in ["hidden_size", "num_layers", "num_heads", "mlp_dim", "num_classes", "patches", "classifier"] {
        if !model.contains_key(required) {
            return Err(ConfigError::Missing(required));
        }
    }
    model.entry("modality_fusion").or_insert_with(|| Value::from(vec!["spectrogram"]));
    if !model.contains_key("temporal_encoding_config") {
        model.insert("temporal_encoding_config".into(), serde_json::json!({"method": "3d_conv"}));
    }
    if let Some(Value::Object(tec)) = model.get_mut("temporal_encoding_config") {
        tec.retain(|k, _| {
            let keep = k == "method" || k == "n_sampled_frames";
            if !keep && k != "kernel_init_method" {
                ignored.push(format!("temporal_encoding_config.{k}"));
            }
            keep
        });
    }
    if let Some(Value::Object(p)) = model.get_mut("patches") {
        p.retain(|k, _| {
            let keep = k == "size";
            if !keep {
                ignored.push(format!("patches.{k}"));
            }
            keep
        });
    }
    if model.get("classifier") == Some(&Value::from("0")) {
        return Err(ConfigError::Invalid {
            field: "classifier".into(),
            message: "'0' is not supported (Scenic itself fails on it); use 'token'".into(),
        });
    }
    model.retain(|k, _| KNOWN_MODEL_FIELDS.contains(&k.as_str()));
    Ok(())
}

/// mbtscope's dataset defaults overridden by the given `dataset_configs` fields; returns the
/// merged object and the fields that were given.
fn dataset_with_defaults(dataset: Option<Value>, ignored: &mut Vec<String>) -> Result<(Map<String, Value>, Vec<String>), ConfigError> {
    let mut merged = match serde_json::to_value(DatasetConfig::default())? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut given_fields = Vec::new();
    if let Some(Value::Object(given)) = dataset {
        for (k, v) in given {
            if KNOWN_DATASET_FIELDS.contains(&k.as_str()) {
                given_fields.push(k.clone());
                merged.insert(k, v);
            } else {
                ignored.push(format!("dataset_configs.{k}"));
            }
        }
    }
    Ok((merged, given_fields))
}
