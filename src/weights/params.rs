//! Named parameter tensors on the host, the common currency between checkpoint formats and the
//! burn model.
//!
//! Names are Scenic's parameter paths joined with `/` (for example
//! `Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel`), with shapes exactly
//! as Flax stores them. The model is built by taking every parameter it needs from a
//! [`ParamSource`]; a source backed by a checkpoint refuses missing or misshaped leaves and
//! reports any leaf that nobody took, so a model is never loaded partially.

use std::collections::BTreeMap;

/// A float32 array in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("parameter `{0}` is missing")]
    Missing(String),
    #[error("parameter `{name}` has shape {found:?}, the model config needs {expected:?}")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{count} parameter(s) are not used by this model config: {names}")]
    Extra { count: usize, names: String },
    #[error("parameter `{name}` holds a non-finite value")]
    NonFinite { name: String },
}

/// Where the model gets its parameters from.
pub trait ParamSource {
    /// Hands out the parameter `name`, which must have exactly `shape`.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor, ParamError>;
}

/// Parameters read from a file; strict about names and shapes.
#[derive(Debug, Default, Clone)]
pub struct ParamMap {
    pub tensors: BTreeMap<String, HostTensor>,
}

impl ParamMap {
    /// Errors if any parameter was never taken.
    pub fn finish(self) -> Result<(), ParamError> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
        let more = if names.len() > 8 { ", ..." } else { "" };
        Err(ParamError::Extra { count: names.len(), names: format!("{shown}{more}") })
    }

    /// Looks a parameter up without taking it (used to derive config values).
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }
}

impl ParamSource for ParamMap {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor, ParamError> {
        let tensor = self.tensors.remove(name).ok_or_else(|| ParamError::Missing(name.to_owned()))?;
        if tensor.shape != shape {
            return Err(ParamError::Shape { name: name.to_owned(), expected: shape.to_vec(), found: tensor.shape });
        }
        if tensor.data.iter().any(|v| !v.is_finite()) {
            return Err(ParamError::NonFinite { name: name.to_owned() });
        }
        Ok(tensor)
    }
}

/// Fresh parameters following Scenic's initialisers closely enough for training from scratch:
/// LayerNorm scales one, biases zero, kernels Xavier-uniform, embeddings N(0, 0.02), and a zero
/// output projection as Scenic uses.
pub struct RandomInit {
    state: u64,
}

impl RandomInit {
    pub fn new(seed: u64) -> Self {
        Self { state: seed ^ 0x9E37_79B9_7F4A_7C15 }
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64: small, fast and good enough for initialisation.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

impl ParamSource for RandomInit {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor, ParamError> {
        let n: usize = shape.iter().product();
        let leaf = name.rsplit('/').next().unwrap_or(name);
        let data: Vec<f32> = if name.starts_with("output_projection") {
            vec![0.0; n]
        } else if leaf == "scale" {
            vec![1.0; n]
        } else if leaf == "bias" {
            vec![0.0; n]
        } else if leaf == "kernel" {
            // Xavier uniform over (fan_in, fan_out) as Flax computes it for Dense/DenseGeneral
            // and convolutions (receptive field folded into fan_in).
            let fan_out = *shape.last().unwrap_or(&1);
            let fan_in = n / fan_out.max(1);
            let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
            (0..n).map(|_| (self.uniform() * 2.0 - 1.0) * limit).collect()
        } else {
            (0..n).map(|_| self.normal() * 0.02).collect()
        };
        Ok(HostTensor::new(shape.to_vec(), data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_map_names_missing_misshaped_and_extra_leaves() {
        let mut map = ParamMap::default();
        map.tensors.insert("a/kernel".into(), HostTensor::new(vec![2, 3], vec![0.0; 6]));
        map.tensors.insert("b/bias".into(), HostTensor::new(vec![3], vec![0.0; 3]));
        map.tensors.insert("c/bias".into(), HostTensor::new(vec![1], vec![0.0]));
        let err = map.take("a/kernel", &[3, 2]).unwrap_err();
        assert!(err.to_string().contains("a/kernel"), "{err}");
        let err = map.take("zzz", &[1]).unwrap_err();
        assert!(err.to_string().contains("`zzz` is missing"), "{err}");
        map.take("b/bias", &[3]).unwrap();
        let err = map.finish().unwrap_err();
        assert!(err.to_string().contains("c/bias"), "{err}");
    }
}
