//! Attention rollout over MBT's joint token graph, streamed layer by layer.
//!
//! For each layer the head-fused attention of every pass is placed into one joint matrix A_l
//! (rows: receiving token, columns: source token, in the order of [`super::joint`]):
//! - a modality's rows hold that modality's pass attention, its columns mapped back to the joint
//!   order (its own tokens; plus the bottleneck in a bottleneck layer; plus the other modality in
//!   a vanilla fusion layer; everything in a shared-encoder pass);
//! - bottleneck rows are the identity where the bottleneck is not updated, and the mean of the
//!   passes' bottleneck rows where it is, because Scenic averages the updated bottlenecks.
//!
//! Optionally the lowest `discard_ratio` of each A_l's entries is dropped (never a row's own
//! CLS column). Then A'_l = 0.5 A_l + 0.5 I with rows renormalised, and rollout is
//! R = A'_L ... A'_s for start layer s. The A'_l are kept (one joint matrix per layer; the
//! attention maps themselves are not), and what is asked for is made from them:
//! - [`Explanation::rows`]: a few rows of R, as vector-matrix products from the top layer down
//!   (u R = ((u A'_L) A'_{L-1}) ... A'_s), which is all the app, `analyze`, `export` and `eval`
//!   read: about N^2 multiply-adds a layer instead of N^3;
//! - [`Explanation::rollout`]: the dense R (for `infer --rollout`'s `rollout/joint`).

use burn::prelude::*;

use super::joint::{joint_layout, modality_of, start_of};
use crate::model::block::AttentionMap;
use crate::model::layout::{TokenKind, TokenLayout};
use crate::model::mbt::{AttentionObserver, AttentionPass, HeadFusion, PassKind};
use crate::model::{MbtConfig, Modality};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutOptions {
    pub head_fusion: HeadFusion,
    /// Fraction of each layer's (non-zero) fused attention entries to drop, in [0, 1).
    pub discard_ratio: f32,
    /// Layers before this one are treated as identity.
    pub start_layer: usize,
    /// Also keep the joint matrix A_l of this layer (no residual, no discard) for inspection.
    pub raw_layer: Option<usize>,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self { head_fusion: HeadFusion::Mean, discard_ratio: 0.0, start_layer: 0, raw_layer: None }
    }
}

/// What the bottleneck tokens did in one fusion layer.
#[derive(Debug, Clone)]
pub struct LayerActivity {
    pub layer: usize,
    /// L2 norm of each bottleneck token after the layer, `[batch, n]`.
    pub norm: Tensor<2>,
    /// Mean attention a token of each modality pays to each bottleneck token, `[batch, n]`, in
    /// `modality_fusion` order.
    pub received: Vec<(Modality, Tensor<2>)>,
    /// The bottleneck tokens' own (averaged) attention rows in joint order, `[batch, n, joint]`:
    /// split by columns this gives their maps over rgb and spectrogram patches and the share of
    /// their attention going to each modality.
    pub rows: Tensor<3>,
}

/// Everything the explainer accumulated over one forward pass.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub layout: TokenLayout,
    /// A'_l `[batch, joint, joint]` of each layer from the start layer up, bottom first.
    layers: Vec<Tensor<3>>,
    batch: usize,
    device: Device,
    /// A_l of the requested raw layer, `[batch, joint, joint]`.
    pub raw: Option<Tensor<3>>,
    pub raw_layer: Option<usize>,
    pub activity: Vec<LayerActivity>,
}

/// Observes a forward pass (heads fused with the options' head fusion) and accumulates the
/// rollout and the bottleneck activity.
pub struct Explainer {
    options: RolloutOptions,
    layout: TokenLayout,
    config: MbtConfig,
    batch: usize,
    device: Device,
    passes: Vec<AttentionPass>,
    /// A'_l of the layers included so far.
    layers: Vec<Tensor<3>>,
    raw: Option<Tensor<3>>,
    activity: Vec<LayerActivity>,
    /// `[joint, joint]` true where a column is the row's own CLS (never discarded).
    protected: Tensor<2, Bool>,
}

impl Explanation {
    /// The dense rollout R = A'_L ... A'_s, `[batch, joint, joint]` (identity when no layer is
    /// included). Costs N^3 multiply-adds a layer: use [`Self::rows`] for a few rows.
    pub fn rollout(&self) -> Tensor<3> {
        let n = self.layout.len();
        self.layers.iter().fold(identity(self.batch, n, &self.device), |r, a| a.clone().matmul(r))
    }

    /// `weights R` for row weights `[batch, k, joint]` (a one-hot row picks a row of R, a mean
    /// over tokens the mean of their rows): `[batch, k, joint]`, made from the top layer down.
    pub fn rows(&self, weights: Tensor<3>) -> Tensor<3> {
        self.layers.iter().rev().fold(weights, |v, a| v.matmul(a.clone()))
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn device(&self) -> Device {
        self.device.clone()
    }
}

impl Explainer {
    pub fn new(config: &MbtConfig, options: RolloutOptions, batch: usize, device: &Device) -> Self {
        let layout = joint_layout(config);
        let n = layout.len();
        let mut protected = vec![false; n * n];
        for row_seg in &layout.segments {
            let Some(m) = modality_of(row_seg.kind) else { continue };
            if let Some(cls) = start_of(&layout, TokenKind::Cls(m)) {
                for r in row_seg.start..row_seg.start + row_seg.len {
                    protected[r * n + cls] = true;
                }
            }
        }
        Self {
            options,
            config: config.clone(),
            batch,
            device: device.clone(),
            passes: Vec::new(),
            layers: Vec::new(),
            raw: None,
            activity: Vec::new(),
            protected: Tensor::from_data(TensorData::new(protected, [n, n]), device),
            layout,
        }
    }

    pub fn layout(&self) -> &TokenLayout {
        &self.layout
    }

    pub fn finish(self) -> Explanation {
        Explanation {
            layout: self.layout,
            layers: self.layers,
            batch: self.batch,
            device: self.device,
            raw: self.raw,
            raw_layer: self.options.raw_layer,
            activity: self.activity,
        }
    }

    /// Places this layer's passes into the joint matrix A_l `[batch, joint, joint]`.
    pub fn joint_matrix(&self, passes: &[AttentionPass]) -> Tensor<3> {
        joint_matrix(&self.layout, self.batch, &self.device, passes, IdleBottleneck::Identity)
    }

    /// Drops the lowest `discard_ratio` of each batch element's non-zero entries, except each
    /// row's own CLS column.
    fn discard(&self, a: Tensor<3>) -> Tensor<3> {
        let ratio = self.options.discard_ratio;
        if ratio <= 0.0 {
            return a;
        }
        let [b, n, _] = a.dims();
        let flat: Tensor<2> = a.clone().reshape([b, n * n]);
        let positive = flat.clone().greater_elem(0.0).int().sum_dim(1); // [b, 1]
        let sorted = flat.sort(1);
        let counts = positive.into_data().try_into_vec_as::<i64>().unwrap_or_default();
        let mut index = Vec::with_capacity(b);
        for &k in &counts {
            let k = k.max(0) as usize;
            let skip = n * n - k;
            let drop = ((ratio.clamp(0.0, 1.0) * k as f32).floor() as usize).min(k.saturating_sub(1));
            index.push((skip + drop) as i64);
        }
        let index = Tensor::<2, Int>::from_data(TensorData::new(index, [b, 1]), &self.device);
        let threshold: Tensor<3> = sorted.gather(1, index).reshape([b, 1, 1]);
        let below = a.clone().lower(threshold.expand([b, n, n]));
        let protected = self.protected.clone().unsqueeze_dim::<3>(0).expand([b, n, n]);
        let drop = below.bool_and(protected.bool_not());
        a.mask_fill(drop, 0.0)
    }

    fn finish_layer(&mut self, layer: usize, bottleneck: Option<&Tensor<3>>) {
        let passes = std::mem::take(&mut self.passes);
        if passes.is_empty() {
            return;
        }
        let n = self.layout.len();
        let bottleneck_layer = self.config.use_bottleneck && self.config.is_fusion_layer(layer);
        // On the CPU (and without a discard, which sorts) the joint matrix is built, and A'
        // made, in one host buffer instead of a zeroed N x N and a slice assignment per block.
        let host = (self.options.discard_ratio <= 0.0 && crate::model::cpu_block::host_device(&self.device))
            .then(|| joint_matrix_host(&self.layout, self.batch, &passes, IdleBottleneck::Identity))
            .flatten();
        if let Some(mut host) = host {
            let b = self.batch;
            if self.options.raw_layer == Some(layer) {
                self.raw = Some(Tensor::from_data(TensorData::new(host.clone(), [b, n, n]), &self.device));
            }
            if bottleneck_layer && let Some(jb) = start_of(&self.layout, TokenKind::Bottleneck) {
                let mut rows = Vec::with_capacity(b * (n - jb) * n);
                for bi in 0..b {
                    rows.extend_from_slice(&host[(bi * n + jb) * n..(bi + 1) * n * n]);
                }
                let rows = Tensor::from_data(TensorData::new(rows, [b, n - jb, n]), &self.device);
                self.record_activity(layer, &passes, rows, bottleneck);
            }
            if layer < self.options.start_layer {
                return;
            }
            with_residual_host(&mut host, n);
            self.layers.push(Tensor::from_data(TensorData::new(host, [b, n, n]), &self.device));
            return;
        }
        let a = self.joint_matrix(&passes);
        if self.options.raw_layer == Some(layer) {
            self.raw = Some(a.clone());
        }
        if bottleneck_layer && let Some(jb) = start_of(&self.layout, TokenKind::Bottleneck) {
            self.record_activity(layer, &passes, a.clone().slice(s![.., jb..n, ..]), bottleneck);
        }
        if layer < self.options.start_layer {
            return;
        }
        let a = self.discard(a);
        let a = a.mul_scalar(0.5) + identity(self.batch, n, &self.device).mul_scalar(0.5);
        let a = a.clone() / a.sum_dim(2);
        self.layers.push(a);
    }

    /// `rows`: the joint matrix's bottleneck rows `[batch, n, joint]`.
    fn record_activity(&mut self, layer: usize, passes: &[AttentionPass], rows: Tensor<3>, bottleneck: Option<&Tensor<3>>) {
        let Some(jb) = start_of(&self.layout, TokenKind::Bottleneck) else { return };
        let n = self.layout.len();
        let nb = n - jb;
        let b = self.batch;
        let norm = match bottleneck {
            Some(t) => t.clone().powi_scalar(2).sum_dim(2).sqrt().reshape([b, nb]),
            None => Tensor::zeros([b, nb], &self.device),
        };
        let mut received = Vec::new();
        for pass in passes {
            let PassKind::Modality(m) = pass.pass else { continue };
            let Some(bseg) = pass.layout.find(TokenKind::Bottleneck) else { continue };
            let probs = fused_rows(&pass.probs);
            let mut rows = Vec::new();
            for seg in pass.layout.segments.iter().filter(|s| modality_of(s.kind) == Some(m)) {
                rows.push(probs.clone().slice(s![.., seg.start..seg.start + seg.len, bseg.start..bseg.start + bseg.len]));
            }
            if rows.is_empty() {
                continue;
            }
            let mean: Tensor<3> = Tensor::cat(rows, 1).mean_dim(1);
            received.push((m, mean.reshape([b, nb])));
        }
        self.activity.push(LayerActivity { layer, norm, received, rows });
    }
}

impl AttentionObserver for Explainer {
    fn pass(&mut self, pass: AttentionPass) {
        self.passes.push(pass);
    }

    fn end_layer(&mut self, layer: usize, bottleneck: Option<&Tensor<3>>) {
        self.finish_layer(layer, bottleneck);
    }
}

fn identity(batch: usize, n: usize, device: &Device) -> Tensor<3> {
    let eye: Tensor<2> = Tensor::eye(n, device);
    eye.unsqueeze_dim::<3>(0).repeat_dim(0, batch)
}

/// A head-fused map `[batch, 1, q, k]` as `[batch, q, k]`.
fn fused_rows(map: &AttentionMap) -> Tensor<3> {
    let [b, h, q, k] = map.shape;
    let t = map.to_tensor();
    if h == 1 {
        t.reshape([b, q, k])
    } else {
        // Not fused by the forward pass: fuse by mean here.
        t.mean_dim(1).reshape([b, q, k])
    }
}

/// What the bottleneck rows hold in a layer that does not update the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleBottleneck {
    /// Rollout: the tokens pass through unchanged.
    Identity,
    /// Relevance updates (`R += Ā R`): no contribution.
    Zero,
}

/// Whether a pass's rows of `kind` go into the joint matrix: all of a shared-encoder pass, a
/// modality pass's own tokens, and the bottleneck rows of every pass that updates them.
fn writes_rows(pass: PassKind, kind: TokenKind) -> bool {
    match (pass, kind) {
        (PassKind::Combined, _) | (_, TokenKind::Bottleneck) => true,
        (PassKind::Modality(m), kind) => modality_of(kind) == Some(m),
    }
}

/// Places one layer's (head-fused) passes into the joint matrix `[batch, joint, joint]`: each
/// modality's rows from its own pass, bottleneck rows averaged over the passes that update them.
pub fn joint_matrix(layout: &TokenLayout, b: usize, device: &Device, passes: &[AttentionPass], idle: IdleBottleneck) -> Tensor<3> {
    let n = layout.len();
    let mut a = Tensor::<3>::zeros([b, n, n], device);
    let mut bottleneck_rows: Vec<Tensor<3>> = Vec::new();
    for pass in passes {
        let probs = fused_rows(&pass.probs); // [batch, q, k]
        for row_seg in &pass.layout.segments {
            if !writes_rows(pass.pass, row_seg.kind) {
                continue;
            }
            let rows = probs.clone().slice(s![.., row_seg.start..row_seg.start + row_seg.len, ..]);
            let mut target = if row_seg.kind == TokenKind::Bottleneck {
                Tensor::<3>::zeros([b, row_seg.len, n], device)
            } else {
                Tensor::<3>::zeros([b, 0, n], device)
            };
            for col_seg in &pass.layout.segments {
                let Some(jc) = start_of(layout, col_seg.kind) else { continue };
                let block = rows.clone().slice(s![.., .., col_seg.start..col_seg.start + col_seg.len]);
                if row_seg.kind == TokenKind::Bottleneck {
                    target = target.slice_assign(s![.., .., jc..jc + col_seg.len], block);
                } else if let Some(jr) = start_of(layout, row_seg.kind) {
                    a = a.slice_assign(s![.., jr..jr + row_seg.len, jc..jc + col_seg.len], block);
                }
            }
            if row_seg.kind == TokenKind::Bottleneck {
                bottleneck_rows.push(target);
            }
        }
    }
    if let Some(jb) = start_of(layout, TokenKind::Bottleneck) {
        let nb = n - jb;
        let rows = if bottleneck_rows.is_empty() {
            match idle {
                IdleBottleneck::Identity => identity(b, n, device).slice(s![.., jb..n, ..]),
                IdleBottleneck::Zero => Tensor::zeros([b, nb, n], device),
            }
        } else {
            let count = bottleneck_rows.len() as f64;
            let sum = bottleneck_rows.into_iter().reduce(|x, y| x + y).unwrap_or_else(|| Tensor::zeros([b, nb, n], device));
            sum.div_scalar(count)
        };
        a = a.slice_assign(s![.., jb..n, ..], rows);
    }
    a
}

/// [`joint_matrix`] on the host, `[batch, joint, joint]` row-major; None where a map cannot be
/// read back.
pub fn joint_matrix_host(layout: &TokenLayout, b: usize, passes: &[AttentionPass], idle: IdleBottleneck) -> Option<Vec<f32>> {
    let n = layout.len();
    let jb = start_of(layout, TokenKind::Bottleneck);
    let nb = jb.map_or(0, |jb| n - jb);
    let mut a = vec![0.0f32; b * n * n];
    let mut bottleneck = vec![0.0f32; b * nb * n];
    let mut updates = 0usize;
    for pass in passes {
        let [_, heads, q, k] = pass.probs.shape;
        let probs = head_mean(pass.probs.to_host().ok()?, b, heads, q * k);
        for row_seg in &pass.layout.segments {
            if !writes_rows(pass.pass, row_seg.kind) {
                continue;
            }
            let into_bottleneck = row_seg.kind == TokenKind::Bottleneck;
            if into_bottleneck {
                if row_seg.len != nb {
                    return None;
                }
                updates += 1;
            }
            let Some(jr) = (if into_bottleneck { Some(0) } else { start_of(layout, row_seg.kind) }) else { continue };
            for col_seg in &pass.layout.segments {
                let Some(jc) = start_of(layout, col_seg.kind) else { continue };
                for bi in 0..b {
                    for r in 0..row_seg.len {
                        let src = &probs[(bi * q + row_seg.start + r) * k + col_seg.start..][..col_seg.len];
                        if into_bottleneck {
                            let dst = &mut bottleneck[(bi * nb + r) * n + jc..][..col_seg.len];
                            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                        } else {
                            a[(bi * n + jr + r) * n + jc..][..col_seg.len].copy_from_slice(src);
                        }
                    }
                }
            }
        }
    }
    if let Some(jb) = jb {
        let scale = if updates == 0 { 0.0 } else { 1.0 / updates as f32 };
        for bi in 0..b {
            for r in 0..nb {
                let row = &mut a[(bi * n + jb + r) * n..][..n];
                if updates == 0 {
                    row.fill(0.0);
                    if idle == IdleBottleneck::Identity {
                        row[jb + r] = 1.0;
                    }
                } else {
                    let src = &bottleneck[(bi * nb + r) * n..][..n];
                    row.iter_mut().zip(src).for_each(|(d, s)| *d = s * scale);
                }
            }
        }
    }
    Some(a)
}

/// `[batch, heads, rows]` values averaged over heads into `[batch, rows]` (unchanged for one
/// head).
fn head_mean(values: Vec<f32>, b: usize, heads: usize, len: usize) -> Vec<f32> {
    if heads <= 1 {
        return values;
    }
    let mut out = vec![0.0f32; b * len];
    for bi in 0..b {
        for h in 0..heads {
            let src = &values[(bi * heads + h) * len..][..len];
            out[bi * len..][..len].iter_mut().zip(src).for_each(|(d, s)| *d += s);
        }
    }
    let inv = 1.0 / heads as f32;
    out.iter_mut().for_each(|v| *v *= inv);
    out
}

/// A' = (0.5 A + 0.5 I) with each row normalised, in place over `[batch, n, n]`.
fn with_residual_host(a: &mut [f32], n: usize) {
    for (i, row) in a.chunks_exact_mut(n).enumerate() {
        let r = i % n;
        row.iter_mut().for_each(|v| *v *= 0.5);
        row[r] += 0.5;
        let sum: f32 = row.iter().sum();
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}
