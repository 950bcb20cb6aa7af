//! What a forward pass keeps of its attention probabilities, and the maps it returns. The
//! encoder block computes them ([`super::block`]); the model hands them to observers
//! ([`super::mbt`]); rollout and relevance read them ([`crate::explain`]).

use burn::prelude::*;

/// How captured attention is reduced over heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HeadFusion {
    #[default]
    Mean,
    Max,
    Min,
}

/// What the forward pass keeps of the attention probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capture {
    #[default]
    None,
    /// Every head: `[batch, heads, q, k]` per pass.
    AllHeads,
    /// Heads fused on the device: `[batch, 1, q, k]` per pass, a fraction of the memory.
    Fused(HeadFusion),
}

impl From<Capture> for KeepAttention {
    fn from(capture: Capture) -> Self {
        match capture {
            Capture::None => KeepAttention::No,
            Capture::AllHeads => KeepAttention::AllHeads,
            Capture::Fused(f) => KeepAttention::Fused(f),
        }
    }
}

/// Largest attention block (`[batch, heads, queries, keys]` f32) computed at once. wgpu
/// adapters cap a single buffer (lavapipe refuses 473 MB, one MBT-B layer), so long sequences
/// are processed in groups of heads and, if one head is still too large, in blocks of queries.
pub const MAX_ATTENTION_BLOCK_BYTES: usize = 128 << 20;

/// The attention probabilities of one pass, as blocks of heads x query rows.
#[derive(Debug, Clone)]
pub struct AttentionMap {
    /// Logical shape `[batch, heads, queries, keys]` (`heads` is 1 once fused).
    pub shape: [usize; 4],
    pub blocks: Vec<AttentionBlock>,
}

#[derive(Debug, Clone)]
pub struct AttentionBlock {
    pub head_start: usize,
    pub query_start: usize,
    /// `[batch, heads in block, queries in block, keys]`
    pub probs: Tensor<4>,
    /// See [`KeepAttention::Probed`].
    pub probe: Option<Tensor<4>>,
}

impl AttentionMap {
    /// The whole map as one tensor (one buffer: only for maps that fit the device's limits).
    pub fn to_tensor(&self) -> Tensor<4> {
        if self.blocks.len() == 1 {
            return self.blocks[0].probs.clone();
        }
        // Blocks come query-block-major, heads inside; rebuild rows then stack them.
        let mut rows: Vec<Tensor<4>> = Vec::new();
        let mut current: Vec<Tensor<4>> = Vec::new();
        let mut query = self.blocks[0].query_start;
        for block in &self.blocks {
            if block.query_start != query {
                rows.push(Tensor::cat(std::mem::take(&mut current), 1));
                query = block.query_start;
            }
            current.push(block.probs.clone());
        }
        rows.push(Tensor::cat(current, 1));
        Tensor::cat(rows, 2)
    }

    /// Copies the map to the host in `[batch, heads, queries, keys]` row-major order.
    pub fn to_host(&self) -> Result<Vec<f32>, String> {
        let [b, h, q, k] = self.shape;
        let mut out = vec![0.0f32; b * h * q * k];
        for block in &self.blocks {
            let [bb, bh, bq, bk] = block.probs.dims();
            let data = block.probs.to_data().try_into_vec_as::<f32>().map_err(|e| format!("reading attention from the device: {e:?}"))?;
            for bi in 0..bb {
                for hi in 0..bh {
                    for qi in 0..bq {
                        let src = ((bi * bh + hi) * bq + qi) * bk;
                        let dst = ((bi * h + block.head_start + hi) * q + block.query_start + qi) * k;
                        out[dst..dst + bk].copy_from_slice(&data[src..src + bk]);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// What a pass keeps of its attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAttention {
    No,
    AllHeads,
    /// Heads reduced on the device while the blocks are computed.
    Fused(HeadFusion),
    /// Every head, and each block multiplied by a ones tensor that requires a gradient (the
    /// block's `probe`): on an autodiff device, the probe's gradient is `A ⊙ ∂y/∂A`.
    Probed,
}
