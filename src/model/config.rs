//! MBT configuration with Scenic's field names and nesting.
//!
//! A model's `model.json` holds the fields of Scenic's `config.model` (`mlp_dim`, `num_layers`,
//! `patches.size`, `temporal_encoding_config.method`, ...) plus an optional `dataset_configs`
//! object for the input geometry and normalisation. The same schema is used for checkpoint import
//! and for the native model folder, so a researcher can paste their Scenic config.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One input modality, in Scenic's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Rgb,
    Spectrogram,
}

impl Modality {
    /// Scenic's fixed order for building vanilla-fusion contexts (`_MODALITIES`).
    pub const SCENIC_ORDER: [Self; 2] = [Self::Rgb, Self::Spectrogram];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rgb => "rgb",
            Self::Spectrogram => "spectrogram",
        }
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the encoder output becomes one vector per clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classifier {
    /// A CLS token per modality; logits of the CLS tokens are averaged.
    Token,
    /// Mean over all (non-bottleneck) tokens.
    Gap,
    /// Max over all tokens.
    Gmp,
    /// Sum over all tokens.
    Gsp,
}

/// How RGB frames become tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemporalMethod {
    /// Tubelets: a 3-D convolution with kernel = stride = `[ft, fh, fw]`.
    #[serde(rename = "3d_conv")]
    Conv3d,
    /// Pick frames, stack them along the height, and embed 2-D patches.
    #[serde(rename = "temporal_sampling")]
    TemporalSampling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemporalEncodingConfig {
    pub method: TemporalMethod,
    /// Used by `temporal_sampling` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_sampled_frames: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchesConfig {
    /// `[fh, fw, ft]` as in Scenic (ft is only used by `3d_conv`).
    pub size: Vec<usize>,
}

/// Input geometry and normalisation: Scenic's `dataset_configs` fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// Number of RGB frames per window.
    pub num_frames: usize,
    /// Temporal stride between sampled frames, at the clip's frame rate.
    pub stride: usize,
    /// Frames are centre-cropped to `crop_size x crop_size`.
    pub crop_size: usize,
    /// The short side is resized to this before cropping.
    pub min_resize: usize,
    /// `[time, mel]` of one spectrogram frame group.
    pub spec_shape: [usize; 2],
    /// Number of `spec_shape` groups; the model sees `spec_shape[0] * num_spec_frames` time steps.
    pub num_spec_frames: usize,
    pub spec_mean: f32,
    pub spec_stddev: f32,
    /// RGB scaled to [-1, 1] when true, [0, 1] otherwise.
    pub zero_centering: bool,
}

impl Default for DatasetConfig {
    /// Scenic's AudioSet MBT-B settings.
    fn default() -> Self {
        Self {
            num_frames: 32,
            stride: 2,
            crop_size: 224,
            min_resize: 256,
            spec_shape: [100, 128],
            num_spec_frames: 8,
            spec_mean: 1.102,
            spec_stddev: 2.762,
            zero_centering: true,
        }
    }
}

impl DatasetConfig {
    /// Spectrogram input `[time, mel]` seen by the model.
    pub fn spectrogram_shape(&self) -> [usize; 2] {
        [self.spec_shape[0] * self.num_spec_frames, self.spec_shape[1]]
    }
}

/// The whole model configuration (Scenic's `config.model` plus `dataset_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MbtConfig {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub mlp_dim: usize,
    pub num_classes: usize,
    pub patches: PatchesConfig,
    pub temporal_encoding_config: TemporalEncodingConfig,
    #[serde(default)]
    pub representation_size: Option<usize>,
    pub classifier: Classifier,
    pub modality_fusion: Vec<Modality>,
    #[serde(default)]
    pub fusion_layer: usize,
    #[serde(default)]
    pub use_bottleneck: bool,
    #[serde(default = "default_bottlenecks")]
    pub n_bottlenecks: usize,
    #[serde(default)]
    pub share_encoder: bool,
    #[serde(default)]
    pub dataset_configs: DatasetConfig,
}

fn default_bottlenecks() -> usize {
    4
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}`: {message}")]
    Invalid { field: String, message: String },
}

impl MbtConfig {
    /// Writes the config in the same Scenic-style schema.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Object(Map::new()));
        if let Value::Object(map) = &mut value
            && map.get("representation_size") == Some(&Value::Null)
        {
            map.remove("representation_size");
        }
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    /// Checks the invariants Scenic asserts, with messages that say what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid { field: field.into(), message };
        if self.modality_fusion.is_empty() {
            return Err(invalid("modality_fusion", "must name at least one modality".into()));
        }
        let mut seen = self.modality_fusion.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.modality_fusion.len() {
            return Err(invalid("modality_fusion", "names a modality twice".into()));
        }
        if self.fusion_layer > self.num_layers {
            return Err(invalid("fusion_layer", format!("{} exceeds num_layers {}", self.fusion_layer, self.num_layers)));
        }
        if self.hidden_size == 0 || self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(invalid(
                "num_heads",
                format!("hidden_size {} must be a positive multiple of num_heads {}", self.hidden_size, self.num_heads),
            ));
        }
        if self.num_classes == 0 || self.mlp_dim == 0 || self.num_layers == 0 {
            return Err(invalid("num_classes", "num_classes, mlp_dim and num_layers must be positive".into()));
        }
        let need = if self.has(Modality::Rgb) && self.temporal_encoding_config.method == TemporalMethod::Conv3d { 3 } else { 2 };
        if self.patches.size.len() < need || self.patches.size.contains(&0) {
            return Err(invalid("patches.size", format!("expected {need} positive sizes [fh, fw, ft], got {:?}", self.patches.size)));
        }
        if self.temporal_encoding_config.method == TemporalMethod::TemporalSampling
            && self.has(Modality::Rgb)
            && self.temporal_encoding_config.n_sampled_frames.unwrap_or(0) == 0
        {
            return Err(invalid("temporal_encoding_config.n_sampled_frames", "required and positive for temporal_sampling".into()));
        }
        if self.use_bottleneck && self.n_bottlenecks == 0 && self.classifier != Classifier::Token {
            return Err(invalid("n_bottlenecks", "must be positive".into()));
        }
        Ok(())
    }

    pub fn has(&self, modality: Modality) -> bool {
        self.modality_fusion.contains(&modality)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Patch size `[fh, fw, ft]` (ft = 1 where the config gives only two).
    pub fn patch(&self) -> [usize; 3] {
        let s = &self.patches.size;
        [s[0], s[1], s.get(2).copied().unwrap_or(1)]
    }

    /// Tokens in Scenic's bottleneck parameter: one more than `n_bottlenecks` with a token
    /// classifier (a quirk of Scenic's code that released checkpoints carry).
    pub fn bottleneck_tokens(&self) -> usize {
        if !self.use_bottleneck {
            0
        } else if self.classifier == Classifier::Token {
            self.n_bottlenecks + 1
        } else {
            self.n_bottlenecks
        }
    }

    pub fn has_cls(&self) -> bool {
        self.classifier == Classifier::Token
    }

    /// Whether layer `layer` exchanges information across modalities.
    pub fn is_fusion_layer(&self, layer: usize) -> bool {
        layer >= self.fusion_layer && self.modality_fusion.len() > 1
    }

    /// Frame indices Scenic's `temporal_sampling` takes from `num_frames` input frames.
    ///
    /// Scenic evaluates `round(jnp.arange(start, num_frames, step))` with
    /// `start = step = num_frames / (n + 1)` when `n < num_frames`. `jnp.arange` takes its
    /// length as `ceil((stop - start) / step)` in double precision, so rounding can yield more
    /// than `n` frames, and its values as `f32(start) + f32(step) * i` in float32; `jnp.round`
    /// rounds half to even. All of that is reproduced here (checked against JAX in the tests).
    pub fn temporal_sampling_indices(&self, num_frames: usize) -> Vec<usize> {
        let n = self.temporal_encoding_config.n_sampled_frames.unwrap_or(num_frames);
        if n >= num_frames {
            return (0..num_frames).collect();
        }
        let step = num_frames as f64 / (n as f64 + 1.0);
        let len = ((num_frames as f64 - step) / step).ceil().max(0.0) as usize;
        let (start32, step32) = (step as f32, step as f32);
        (0..len)
            .map(|i| {
                let v = start32 + step32 * (i as f32);
                (v.round_ties_even().max(0.0) as usize).min(num_frames - 1)
            })
            .collect()
    }

    /// Number of RGB patch tokens for the dataset geometry.
    pub fn rgb_tokens(&self) -> usize {
        let [fh, fw, ft] = self.patch();
        let d = &self.dataset_configs;
        let (h, w) = (d.crop_size / fh, d.crop_size / fw);
        match self.temporal_encoding_config.method {
            TemporalMethod::Conv3d => (d.num_frames / ft) * h * w,
            TemporalMethod::TemporalSampling => {
                let t = self.temporal_sampling_indices(d.num_frames).len();
                (t * d.crop_size / fh) * w
            }
        }
    }

    /// How many time slices the RGB patch tokens come in: tubelets along time (`3d_conv`) or
    /// sampled frames (`temporal_sampling`). Either way the tokens of a slice are contiguous.
    pub fn rgb_time_slices(&self) -> usize {
        let [_, _, ft] = self.patch();
        match self.temporal_encoding_config.method {
            TemporalMethod::Conv3d => self.dataset_configs.num_frames / ft.max(1),
            TemporalMethod::TemporalSampling => self.temporal_sampling_indices(self.dataset_configs.num_frames).len(),
        }
    }

    /// Number of spectrogram patch tokens for the dataset geometry.
    pub fn spectrogram_tokens(&self) -> usize {
        let [fh, fw, _] = self.patch();
        let [t, m] = self.dataset_configs.spectrogram_shape();
        (t / fh) * (m / fw)
    }

    /// Patch tokens of one modality (without CLS).
    pub fn patch_tokens(&self, modality: Modality) -> usize {
        match modality {
            Modality::Rgb => self.rgb_tokens(),
            Modality::Spectrogram => self.spectrogram_tokens(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_json() -> &'static str {
        r#"{"model_name": "mbt", "hidden_size": 768, "num_layers": 12, "num_heads": 12,
            "mlp_dim": 3072, "num_classes": 527, "patches": {"size": [16, 16, 2]},
            "temporal_encoding_config": {"method": "3d_conv", "kernel_init_method": "central_frame_initializer"},
            "classifier": "gap", "modality_fusion": ["spectrogram", "rgb"], "fusion_layer": 8,
            "use_bottleneck": true, "n_bottlenecks": 4, "frobnicate": 3}"#
    }

    #[test]
    fn parses_scenic_fields_and_reports_unknown_ones() {
        let parsed = MbtConfig::parse_scenic_json(base_json()).unwrap();
        assert_eq!(parsed.config.modality_fusion, vec![Modality::Spectrogram, Modality::Rgb]);
        assert_eq!(parsed.ignored, vec!["frobnicate".to_owned()]);
        assert_eq!(parsed.config.rgb_tokens(), 3136);
        assert_eq!(parsed.config.spectrogram_tokens(), 400);
        assert_eq!(parsed.config.bottleneck_tokens(), 4);
        let again = MbtConfig::parse_scenic_json(&parsed.config.to_json()).unwrap();
        assert_eq!(again.config, parsed.config);
        assert!(again.ignored.is_empty());
    }

    #[test]
    fn missing_required_field_is_named() {
        let err = MbtConfig::parse_scenic_json(r#"{"hidden_size": 8}"#).err().unwrap();
        assert!(err.to_string().contains("num_layers"), "{err}");
    }

    #[test]
    fn temporal_sampling_matches_jax_for_every_small_clip() {
        // tests/fixtures/temporal_sampling.json: jnp.arange-based indices from Scenic's code,
        // generated by tests/reference/make_fixtures.py.
        let text = include_str!("../../tests/fixtures/temporal_sampling.json");
        let table: Vec<(usize, usize, Vec<usize>)> = serde_json::from_str(text).unwrap();
        let mut config = MbtConfig::parse_scenic_json(base_json()).unwrap().config;
        let mut more_than_asked = 0;
        for (num_frames, n, expected) in table {
            config.temporal_encoding_config =
                TemporalEncodingConfig { method: TemporalMethod::TemporalSampling, n_sampled_frames: Some(n) };
            let got = config.temporal_sampling_indices(num_frames);
            assert_eq!(got, expected, "num_frames {num_frames}, n_sampled_frames {n}");
            more_than_asked += usize::from(got.len() > n);
        }
        assert!(more_than_asked > 10, "the table should exercise the extra-frame quirk");
    }
}
