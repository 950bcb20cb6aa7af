//! mbtscope's own model folder: `model.json` (Scenic-style config), `model.safetensors`
//! (parameters under their Scenic names, float32) and `labels.txt` (one class name per line).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::params::{HostTensor, ParamMap};
use crate::fsutil::write_atomic;
use crate::model::config::MbtConfig;

pub const CONFIG_FILE: &str = "model.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const LABELS_FILE: &str = "labels.txt";

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("cannot read {path}: {cause}")]
    Read {
        path: PathBuf,
        /// Shown in the message, and so not a `source` (which would print it twice in a chain).
        cause: std::io::Error,
    },
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        /// Shown in the message, and so not a `source` (which would print it twice in a chain).
        cause: std::io::Error,
    },
    #[error("bad model config: {message}: {path}")]
    Config { path: PathBuf, message: String },
    #[error("bad weights ({message}): {path}")]
    Weights { path: PathBuf, message: String },
    #[error("{count} labels for {classes} classes: {path}")]
    Labels { path: PathBuf, count: usize, classes: usize },
}

/// A model folder read into memory.
pub struct ModelFiles {
    pub config: MbtConfig,
    pub params: ParamMap,
    pub labels: Vec<String>,
}

/// Reads `dir/model.json` alone (what the app needs to show stored results without running the
/// model).
pub fn load_config(dir: &Path) -> Result<MbtConfig, NativeError> {
    let config_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|source| NativeError::Read { path: config_path.clone(), cause: source })?;
    let parsed =
        MbtConfig::parse_scenic_json(&text).map_err(|e| NativeError::Config { path: config_path.clone(), message: e.to_string() })?;
    for field in &parsed.ignored {
        log::warn!("ignoring unknown config field `{field}` in {}", config_path.display());
    }
    Ok(parsed.config)
}

/// Reads `dir/model.json`, `dir/model.safetensors` and (optionally) `dir/labels.txt`.
pub fn load_dir(dir: &Path) -> Result<ModelFiles, NativeError> {
    let config = load_config(dir)?;
    let params = read_safetensors(&dir.join(WEIGHTS_FILE))?;
    let labels_path = dir.join(LABELS_FILE);
    let labels = if labels_path.exists() {
        let labels = read_labels(&labels_path)?;
        if labels.len() != config.num_classes {
            return Err(NativeError::Labels { path: labels_path, count: labels.len(), classes: config.num_classes });
        }
        labels
    } else {
        (0..config.num_classes).map(|i| format!("class {i}")).collect()
    };
    Ok(ModelFiles { config, params, labels })
}

pub fn read_labels(path: &Path) -> Result<Vec<String>, NativeError> {
    let text = std::fs::read_to_string(path).map_err(|source| NativeError::Read { path: path.to_owned(), cause: source })?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

pub fn read_safetensors(path: &Path) -> Result<ParamMap, NativeError> {
    let bytes = std::fs::read(path).map_err(|source| NativeError::Read { path: path.to_owned(), cause: source })?;
    let bad = |message: String| NativeError::Weights { path: path.to_owned(), message };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut map = ParamMap::default();
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor `{name}` is {:?}, expected F32", view.dtype())));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        map.tensors.insert(name.to_owned(), HostTensor::new(view.shape().to_vec(), data));
    }
    Ok(map)
}

/// Writes a model folder; refuses to replace existing files unless `overwrite`.
pub fn save_dir(dir: &Path, config: &MbtConfig, params: &ParamMap, labels: &[String], overwrite: bool) -> Result<(), NativeError> {
    std::fs::create_dir_all(dir).map_err(|source| NativeError::Write { path: dir.to_owned(), cause: source })?;
    let files = [CONFIG_FILE, WEIGHTS_FILE, LABELS_FILE].map(|f| dir.join(f));
    if !overwrite && let Some(existing) = files.iter().find(|p| p.exists()) {
        return Err(NativeError::Write {
            path: existing.clone(),
            cause: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists (use --force to replace it)"),
        });
    }
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = params
        .tensors
        .iter()
        .map(|(name, t)| {
            let raw = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), raw, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, raw, shape)| TensorView::new(Dtype::F32, shape.clone(), raw).map(|v| (name.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| NativeError::Weights { path: files[1].clone(), message: e.to_string() })?;
    let metadata = HashMap::from([("format".to_owned(), "mbtscope-scenic-names".to_owned())]);
    let weights = safetensors::serialize(views, Some(metadata))
        .map_err(|e| NativeError::Weights { path: files[1].clone(), message: e.to_string() })?;
    let write = |path: &Path, data: &[u8]| {
        write_atomic(path, data, overwrite).map_err(|source| NativeError::Write { path: path.to_owned(), cause: source })
    };
    write(&files[1], &weights)?;
    write(&files[2], (labels.join("\n") + "\n").as_bytes())?;
    // The config goes last: a folder without model.json is visibly incomplete.
    write(&files[0], config.to_json().as_bytes())?;
    Ok(())
}
