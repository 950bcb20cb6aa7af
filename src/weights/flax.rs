//! Scenic/Flax checkpoints: the MessagePack files written by `flax.training.checkpoints`.
//!
//! Flax stores a nested dict; arrays are MessagePack extension type 1 holding a packed
//! `(shape, dtype name, raw C-order bytes)` triple, arrays over 1 GiB are split into
//! `{"__msgpack_chunked_array__": true, "shape": {...}, "chunks": {"0": ..., ...}}`. Current
//! Scenic keeps the model's parameters under `params/`, the older trainer that wrote the released
//! MBT model zoo under `optimizer/target/`; both are accepted.

use std::collections::BTreeMap;
use std::path::Path;

use super::msgpack::{self, Value};
use super::params::{HostTensor, ParamMap};

const EXT_NDARRAY: i8 = 1;
const EXT_NPSCALAR: i8 = 3;
const CHUNKED_MARKER: &str = "__msgpack_chunked_array__";

#[derive(Debug, thiserror::Error)]
pub enum FlaxError {
    #[error("cannot read {path}: {cause}")]
    Io {
        path: String,
        /// Shown in the message, and so not a `source` (which would print it twice in a chain).
        cause: std::io::Error,
    },
    #[error("not a Flax MessagePack checkpoint ({0})")]
    Decode(#[from] msgpack::DecodeError),
    #[error("{0}")]
    Layout(String),
    #[error("leaf `{leaf}`: {message}")]
    Leaf { leaf: String, message: String },
}

/// Reads a checkpoint file and returns its model parameters, flattened to `a/b/c` names.
pub fn read_checkpoint(path: &Path) -> Result<ParamMap, FlaxError> {
    let display = path.display().to_string();
    if path.is_dir() {
        return Err(FlaxError::Io {
            path: display,
            cause: std::io::Error::other("is a directory; pass the checkpoint file itself (for example checkpoint_500000)"),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| FlaxError::Io { path: display, cause: source })?;
    params_from_bytes(&bytes)
}

/// Decodes checkpoint bytes and extracts the parameter tree.
pub fn params_from_bytes(bytes: &[u8]) -> Result<ParamMap, FlaxError> {
    if bytes.is_empty() {
        return Err(FlaxError::Layout("the file is empty".into()));
    }
    let root = msgpack::decode(bytes)?;
    let params = find_params(&root)?;
    let mut map = ParamMap::default();
    flatten(params, String::new(), &mut map.tensors)?;
    if map.tensors.is_empty() {
        return Err(FlaxError::Layout("the parameter tree holds no arrays".into()));
    }
    Ok(map)
}

/// Locates the parameter dict: `params/`, `optimizer/target/` (optionally with a nested
/// `params/`), or a bare parameter dict at the root.
fn find_params(root: &Value) -> Result<&Value, FlaxError> {
    let Value::Map(top) = root else {
        return Err(FlaxError::Layout("the top level is not a dict".into()));
    };
    let candidates: [&[&str]; 4] = [&["params"], &["optimizer", "target", "params"], &["optimizer", "target"], &[]];
    for path in candidates {
        let mut node = root;
        let mut ok = true;
        for key in path {
            match node {
                Value::Map(m) => match m.get(*key) {
                    Some(v) => node = v,
                    None => {
                        ok = false;
                        break;
                    }
                },
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && looks_like_params(node) {
            return Ok(node);
        }
    }
    let keys: Vec<&str> = top.keys().map(String::as_str).collect();
    Err(FlaxError::Layout(format!(
        "no MBT parameters found under params/, optimizer/target/ or the root (top-level keys: {})",
        keys.join(", ")
    )))
}

fn looks_like_params(node: &Value) -> bool {
    matches!(node, Value::Map(m) if m.contains_key("Transformer") || m.contains_key("output_projection"))
}

fn flatten(node: &Value, prefix: String, out: &mut BTreeMap<String, HostTensor>) -> Result<(), FlaxError> {
    match node {
        Value::Map(m) if m.contains_key(CHUNKED_MARKER) => {
            out.insert(prefix.clone(), chunked_array(m, &prefix)?);
        }
        Value::Map(m) => {
            for (key, child) in m {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}/{key}") };
                flatten(child, name, out)?;
            }
        }
        Value::Ext(EXT_NDARRAY | EXT_NPSCALAR, payload) => {
            out.insert(prefix.clone(), ndarray(payload, &prefix)?);
        }
        other => {
            return Err(FlaxError::Leaf { leaf: prefix, message: format!("expected an array, found {}", kind(other)) });
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Bin(_) => "raw bytes",
        Value::Array(_) => "a list",
        Value::Map(_) => "a dict",
        Value::Ext(_, _) => "an unknown extension type",
    }
}

fn leaf_err(leaf: &str, message: impl Into<String>) -> FlaxError {
    FlaxError::Leaf { leaf: leaf.to_owned(), message: message.into() }
}

/// Decodes the `(shape, dtype, bytes)` triple of one array.
fn ndarray(payload: &[u8], leaf: &str) -> Result<HostTensor, FlaxError> {
    let value = msgpack::decode(payload).map_err(|e| leaf_err(leaf, format!("bad array: {e}")))?;
    let Value::Array(parts) = value else {
        return Err(leaf_err(leaf, "array payload is not a (shape, dtype, data) triple"));
    };
    let [shape, Value::Str(dtype), Value::Bin(data)] = parts.as_slice() else {
        return Err(leaf_err(leaf, "array payload is not a (shape, dtype, data) triple"));
    };
    let shape = dims(shape, leaf)?;
    let data = to_f32(dtype, data, leaf)?;
    let expected = checked_numel(&shape, leaf)?;
    if data.len() != expected {
        return Err(leaf_err(leaf, format!("shape {shape:?} needs {expected} values, the data holds {}", data.len())));
    }
    Ok(HostTensor::new(shape, data))
}

fn checked_numel(shape: &[usize], leaf: &str) -> Result<usize, FlaxError> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| leaf_err(leaf, format!("shape {shape:?} overflows")))
}

fn dims(value: &Value, leaf: &str) -> Result<Vec<usize>, FlaxError> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        // Tuples inside chunked arrays are stored as {"0": .., "1": ..}.
        Value::Map(m) => {
            let mut pairs: Vec<(usize, &Value)> = m
                .iter()
                .map(|(k, v)| k.parse::<usize>().map(|i| (i, v)))
                .collect::<Result<_, _>>()
                .map_err(|_| leaf_err(leaf, "shape dict has a non-numeric key"))?;
            pairs.sort_by_key(|(i, _)| *i);
            pairs.into_iter().map(|(_, v)| v).collect()
        }
        _ => return Err(leaf_err(leaf, "shape is not a list")),
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Int(i) if *i >= 0 && *i <= i128::from(u32::MAX) => Ok(*i as usize),
            _ => Err(leaf_err(leaf, "shape holds a value that is not a dimension")),
        })
        .collect()
}

fn to_f32(dtype: &str, bytes: &[u8], leaf: &str) -> Result<Vec<f32>, FlaxError> {
    let width = match dtype {
        "float32" => 4,
        "float64" => 8,
        "float16" | "bfloat16" => 2,
        other => {
            return Err(leaf_err(leaf, format!("dtype {other} is not a floating-point parameter type")));
        }
    };
    if !bytes.len().is_multiple_of(width) {
        return Err(leaf_err(leaf, format!("{} bytes is not a whole number of {dtype} values", bytes.len())));
    }
    let chunks = bytes.chunks_exact(width);
    Ok(match dtype {
        "float32" => chunks.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        "float64" => chunks.map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32).collect(),
        "float16" => chunks.map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => chunks.map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
    })
}

fn chunked_array(map: &BTreeMap<String, Value>, leaf: &str) -> Result<HostTensor, FlaxError> {
    let shape = dims(map.get("shape").ok_or_else(|| leaf_err(leaf, "chunked array without a shape"))?, leaf)?;
    let Some(Value::Map(chunks)) = map.get("chunks") else {
        return Err(leaf_err(leaf, "chunked array without chunks"));
    };
    let mut ordered: Vec<(usize, &Value)> = chunks
        .iter()
        .map(|(k, v)| k.parse::<usize>().map(|i| (i, v)))
        .collect::<Result<_, _>>()
        .map_err(|_| leaf_err(leaf, "chunk keys are not numbers"))?;
    ordered.sort_by_key(|(i, _)| *i);
    let mut data = Vec::new();
    for (_, chunk) in ordered {
        let Value::Ext(EXT_NDARRAY, payload) = chunk else {
            return Err(leaf_err(leaf, "a chunk is not an array"));
        };
        data.extend(ndarray(payload, leaf)?.data);
    }
    let expected = checked_numel(&shape, leaf)?;
    if data.len() != expected {
        return Err(leaf_err(leaf, format!("chunks hold {} values, shape {shape:?} needs {expected}", data.len())));
    }
    Ok(HostTensor::new(shape, data))
}
