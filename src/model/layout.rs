//! Which tokens make up a sequence: the description that travels with every captured attention
//! map, so that later stages (rollout, heatmaps) can tell CLS, patch and bottleneck tokens apart.

use serde::Serialize;

use super::config::Modality;

/// What a contiguous run of tokens is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "modality", rename_all = "snake_case")]
pub enum TokenKind {
    Cls(Modality),
    Patches(Modality),
    Bottleneck,
}

/// `len` tokens of one kind starting at `start` within a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    #[serde(flatten)]
    pub kind: TokenKind,
    pub start: usize,
    pub len: usize,
}

/// An ordered list of segments covering a whole sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TokenLayout {
    pub segments: Vec<Segment>,
}

impl TokenLayout {
    pub fn push(&mut self, kind: TokenKind, len: usize) {
        if len == 0 {
            return;
        }
        let start = self.len();
        self.segments.push(Segment { kind, start, len });
    }

    /// Appends all segments of `other`, shifted to follow this layout.
    pub fn extend(&mut self, other: &TokenLayout) {
        for s in &other.segments {
            self.push(s.kind, s.len);
        }
    }

    pub fn len(&self) -> usize {
        self.segments.last().map_or(0, |s| s.start + s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn find(&self, kind: TokenKind) -> Option<&Segment> {
        self.segments.iter().find(|s| s.kind == kind)
    }

    /// Compact description, for example `cls(rgb):1 patches(rgb):8 bottleneck:4`.
    pub fn describe(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s.kind {
                TokenKind::Cls(m) => format!("cls({m}):{}", s.len),
                TokenKind::Patches(m) => format!("patches({m}):{}", s.len),
                TokenKind::Bottleneck => format!("bottleneck:{}", s.len),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}
