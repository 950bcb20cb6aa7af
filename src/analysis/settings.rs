//! What an analysis computes: the explanation method and its options, and a stable key for them.

use serde::{Deserialize, Serialize};

use crate::explain::RolloutOptions;
use crate::model::MbtConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Attention rollout from the classification tokens.
    #[default]
    Rollout,
    /// Gradient-weighted attention relevance (Chefer et al. 2021) for one class.
    Relevance,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalysisSettings {
    pub method: Method,
    /// The class relevance explains (the top prediction when `None`).
    pub class: Option<usize>,
    pub rollout: RolloutOptions,
    /// What the models hear instead of the clip's audio (None: the clip's own). Absent from the
    /// key when None, so results cached before this field existed stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterfactual: Option<crate::features::Counterfactual>,
}

impl AnalysisSettings {
    /// What in these settings does not fit `config`, one sentence each, in terms of the
    /// settings' names (`start_layer`, `class`); empty when everything fits.
    pub fn misfits(&self, config: &MbtConfig) -> Vec<String> {
        let mut misfits = Vec::new();
        if self.rollout.start_layer >= config.num_layers {
            misfits.push(format!(
                "start_layer {}: the model has {} layers (0 to {})",
                self.rollout.start_layer,
                config.num_layers,
                config.num_layers.saturating_sub(1)
            ));
        }
        if let Some(layer) = self.rollout.raw_layer.filter(|&l| l >= config.num_layers) {
            misfits.push(format!("raw_layer {layer}: the model has {} layers", config.num_layers));
        }
        if let Some(class) = self.class.filter(|&c| c >= config.num_classes) {
            misfits.push(format!(
                "class {class}: the model has {} classes (0 to {})",
                config.num_classes,
                config.num_classes.saturating_sub(1)
            ));
        }
        misfits
    }

    /// These settings made to fit `config`, for one model of several: a start layer past the
    /// model's last layer becomes its last, a class it does not have becomes the top prediction.
    /// Also says what was changed ([`Self::misfits`]), so that the UI can tell.
    pub fn fitted_to(&self, config: &MbtConfig) -> (Self, Vec<String>) {
        let misfits = self.misfits(config);
        let mut fitted = self.clone();
        fitted.rollout.start_layer = fitted.rollout.start_layer.min(config.num_layers.saturating_sub(1));
        fitted.rollout.raw_layer = fitted.rollout.raw_layer.filter(|&l| l < config.num_layers);
        fitted.class = fitted.class.filter(|&c| c < config.num_classes);
        (fitted, misfits)
    }

    /// A short stable key for caches.
    pub fn key(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a(json.as_bytes()))
    }
}

/// 64-bit FNV-1a, for cache keys.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
