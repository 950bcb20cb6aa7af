//! The joint token order over which explanations are accumulated: the modalities in
//! `modality_fusion` order, each with its CLS first (token classifier), then the bottleneck tokens.

use crate::model::MbtConfig;
use crate::model::layout::{TokenKind, TokenLayout};

pub fn joint_layout(config: &MbtConfig) -> TokenLayout {
    let mut layout = TokenLayout::default();
    for &m in &config.modality_fusion {
        if config.has_cls() {
            layout.push(TokenKind::Cls(m), 1);
        }
        layout.push(TokenKind::Patches(m), config.patch_tokens(m));
    }
    layout.push(TokenKind::Bottleneck, config.bottleneck_tokens());
    layout
}

/// Joint position of the first token of `kind`.
pub fn start_of(joint: &TokenLayout, kind: TokenKind) -> Option<usize> {
    joint.find(kind).map(|s| s.start)
}

/// Which modality a token kind belongs to (None for the bottleneck).
pub fn modality_of(kind: TokenKind) -> Option<crate::model::Modality> {
    match kind {
        TokenKind::Cls(m) | TokenKind::Patches(m) => Some(m),
        TokenKind::Bottleneck => None,
    }
}
