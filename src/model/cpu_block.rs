//! The encoder block fused on the CPU, for inference on the Flex device.
//!
//! burn's ops run one at a time: each writes a fresh tensor (the attention probabilities of an
//! MBT-B pass are 12 x 3141 x 3141 floats, 473 MB), the softmax calls libm's scalar `exp`, and
//! bias, query scaling and the seven-op GELU are separate passes. Here the whole block runs on
//! host buffers instead:
//! - layer norms, biases, the query scale, GELU and the residuals are fused into the passes that
//!   need them, in parallel over rows, with a polynomial `exp` the compiler vectorises (AVX2
//!   and FMA where the CPU has them, picked at run time);
//! - the three projections write one `[tokens, 3 hidden]` buffer;
//! - attention runs in tiles of query rows across all heads: a tile's scores (a few hundred KB)
//!   stay in cache, the head-fused map is built inside the tile when it is asked for, and the
//!   context is written in place into the output projection's input;
//! - every matrix product goes through the `gemm` crate (which Flex uses itself).
//!
//! It serves `KeepAttention::No`, `Fused` and `AllHeads`; every other case (autodiff and the
//! probed maps relevance differentiates, other devices, other dtypes) takes burn's ops in
//! [`super::block`]. The module tests
//! compare the two paths; the reference tests (Scenic's outputs) run through this one on Flex.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::attention::{AttentionBlock, AttentionMap, HeadFusion, KeepAttention};
use super::block::{EncoderBlock, LAYER_NORM_EPS};
use super::cpu_kernels::{bias_gelu, softmax};

/// Query rows per attention tile: a tile's scores are `TILE x tokens` floats (400 KB for an
/// MBT-B pass), small enough to stay in a core's L2 while its heads are processed.
const TILE: usize = 32;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fused CPU block on or off for the whole process (on by default). The benchmarks
/// switch it off to measure burn's ops side by side; results agree within the module tests'
/// tolerances either way.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether [`forward`] serves this input: f32 on the Flex device without autodiff, keeping no
/// attention, head-fused attention or every head's.
pub fn applies(x: &Tensor<3>, keep: KeepAttention) -> bool {
    matches!(keep, KeepAttention::No | KeepAttention::Fused(_) | KeepAttention::AllHeads)
        && x.dtype() == DType::F32
        && host_device(&x.device())
}

/// Whether explanation code should build its matrices on the host for tensors on `device`: the
/// Flex device without autodiff, while the fused CPU path is on.
pub fn host_device(device: &Device) -> bool {
    enabled() && !device.is_autodiff() && *device == Device::flex()
}

/// One linear layer's parameters on the host: `weight` `[in, out]` row-major, `bias` `[out]`.
struct HostLinear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    input: usize,
    output: usize,
}

/// A tensor's values on the host (None where they cannot be read as f32).
fn host<const D: usize>(t: Tensor<D>) -> Option<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().ok()
}

impl HostLinear {
    fn of(linear: &Linear) -> Option<Self> {
        let weight = linear.weight.val();
        let [input, output] = weight.dims();
        let bias = match &linear.bias {
            Some(b) => host(b.val())?,
            None => vec![0.0; output],
        };
        Some(Self { weight: host(weight)?, bias, input, output })
    }
}

struct HostNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl HostNorm {
    fn of(norm: &LayerNorm) -> Option<Self> {
        let gamma = host(norm.gamma.val())?;
        let beta = match &norm.beta {
            Some(b) => host(b.val())?,
            None => vec![0.0; gamma.len()],
        };
        Some(Self { gamma, beta })
    }
}

/// Buffers reused from block to block on the calling thread, so that a forward pass does not
/// pay page faults for fresh multi-megabyte allocations in every op.
#[derive(Default)]
struct Scratch {
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    hidden: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn resize(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The block's forward pass (see [`EncoderBlock::forward`]) on host buffers, for inputs
/// [`applies`] accepts; None where a tensor cannot be read back as f32 (the caller then takes
/// burn's ops).
pub fn forward(block: &EncoderBlock, input: Tensor<3>, keep: KeepAttention) -> Option<(Tensor<3>, Option<AttentionMap>)> {
    let device = input.device();
    let [batch, tokens, width] = input.dims();
    let rows = batch * tokens;
    let x = host(input)?;
    let heads = block.attention.num_heads;
    let query = HostLinear::of(&block.attention.query)?;
    let key = HostLinear::of(&block.attention.key)?;
    let value = HostLinear::of(&block.attention.value)?;
    let out = HostLinear::of(&block.attention.out)?;
    let mlp_in = HostLinear::of(&block.mlp_in)?;
    let mlp_out = HostLinear::of(&block.mlp_out)?;
    let norm_attention = HostNorm::of(&block.norm_attention)?;
    let norm_mlp = HostNorm::of(&block.norm_mlp)?;
    let inner = query.output;
    let shapes_agree = x.len() == rows * width
        && [&query, &key, &value].iter().all(|l| l.input == width && l.output == inner)
        && out.input == inner
        && out.output == width
        && mlp_in.input == width
        && mlp_out.input == mlp_in.output
        && mlp_out.output == width
        && [&norm_attention, &norm_mlp].iter().all(|n| n.gamma.len() == width && n.beta.len() == width)
        && heads > 0
        && inner % heads == 0;
    if !shapes_agree {
        return None;
    }
    let maps = match keep {
        KeepAttention::Fused(f) => Maps::Fused(f),
        KeepAttention::AllHeads => Maps::AllHeads,
        _ => Maps::None,
    };
    let map_heads = match maps {
        Maps::None => 0,
        Maps::Fused(_) => 1,
        Maps::AllHeads => heads,
    };

    let mut y = vec![0.0f32; rows * width];
    let mut map = (map_heads > 0).then(|| vec![0.0f32; batch * map_heads * tokens * tokens]);
    SCRATCH.with_borrow_mut(|s| {
        // Attention: x1 = x + out(attention(norm(x))).
        let normed = resize(&mut s.normed, rows * width);
        layer_norm(&x, width, &norm_attention, normed);
        let qkv = resize(&mut s.qkv, rows * 3 * inner);
        for (i, linear) in [&query, &key, &value].into_iter().enumerate() {
            matmul(rows, inner, width, normed, width, &linear.weight, inner, &mut qkv[i * inner..], 3 * inner, false);
        }
        // Flax scales the query, not the logits.
        let scale = 1.0 / ((inner / heads) as f32).sqrt();
        for_rows(qkv, 3 * inner, |_, row| {
            let (q, kv) = row.split_at_mut(inner);
            for (q, b) in q.iter_mut().zip(&query.bias) {
                *q = (*q + b) * scale;
            }
            let (k, v) = kv.split_at_mut(inner);
            add(k, &key.bias);
            add(v, &value.bias);
        });
        let context = resize(&mut s.context, rows * inner);
        for b in 0..batch {
            let qkv = &qkv[b * tokens * 3 * inner..(b + 1) * tokens * 3 * inner];
            let context = &mut context[b * tokens * inner..(b + 1) * tokens * inner];
            let per_batch = map_heads * tokens * tokens;
            let map = map.as_mut().map(|m| &mut m[b * per_batch..(b + 1) * per_batch]);
            attention(qkv, tokens, heads, inner, maps, context, map);
        }
        // y = x + bias, then y += context W_out.
        for_rows(&mut y, width, |i, y| {
            for ((y, x), b) in y.iter_mut().zip(&x[i * width..]).zip(&out.bias) {
                *y = x + b;
            }
        });
        matmul(rows, width, inner, context, inner, &out.weight, width, &mut y, width, true);

        // MLP: y = x1 + mlp_out(gelu(mlp_in(norm(x1)))).
        layer_norm(&y, width, &norm_mlp, normed);
        let hidden = resize(&mut s.hidden, rows * mlp_in.output);
        matmul(rows, mlp_in.output, width, normed, width, &mlp_in.weight, mlp_in.output, hidden, mlp_in.output, false);
        for_rows(hidden, mlp_in.output, |_, row| bias_gelu(row, &mlp_in.bias));
        for_rows(&mut y, width, |_, row| add(row, &mlp_out.bias));
        matmul(rows, width, mlp_out.input, hidden, mlp_out.input, &mlp_out.weight, width, &mut y, width, true);
    });

    let y = Tensor::from_data(TensorData::new(y, [batch, tokens, width]), &device);
    let map = map.map(|m| {
        let probs = Tensor::from_data(TensorData::new(m, [batch, map_heads, tokens, tokens]), &device);
        AttentionMap {
            shape: [batch, map_heads, tokens, tokens],
            blocks: vec![AttentionBlock { head_start: 0, query_start: 0, probs, probe: None }],
        }
    });
    Some((y, map))
}

/// Least work (elements touched, or multiply-adds) for which a pass is split over the thread
/// pool: below it, the hand-off and the wait cost more than the pass (the shipped models' blocks
/// are all below it).
const PARALLEL_WORK: usize = 1 << 21;

/// `f(row index, row)` for each `width`-long row of `data`, over the thread pool when there is
/// enough of it.
fn for_rows(data: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if data.len() >= PARALLEL_WORK {
        data.par_chunks_mut(width).enumerate().for_each(|(i, row)| f(i, row));
    } else {
        data.chunks_mut(width).enumerate().for_each(|(i, row)| f(i, row));
    }
}

fn add(x: &mut [f32], b: &[f32]) {
    for (x, b) in x.iter_mut().zip(b) {
        *x += b;
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` when `accumulate`), row-major with the given row
/// strides: `lhs` `[m, k]`, `rhs` `[k, n]`, `dst` `[m, n]`.
#[expect(clippy::too_many_arguments, reason = "a GEMM's shape and strides")]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lhs.len() >= (m - 1) * lhs_rs + k && rhs.len() >= k.saturating_sub(1) * rhs_rs + n && dst.len() >= (m - 1) * dst_rs + n);
    // Flex's own threshold for a parallel GEMM (about 192^3 multiply-adds).
    let parallelism = if m * n * k >= 192 * 192 * 192 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: the assert above keeps every row the strides reach inside the slices.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            lhs.as_ptr(),
            lhs_rs as isize,
            1,
            rhs.as_ptr(),
            rhs_rs as isize,
            1,
            dst.as_mut_ptr(),
            dst_rs as isize,
            accumulate,
            parallelism,
        );
    }
}

/// `gemm::gemm` with row and column strides: `dst (+)= lhs · rhs`.
///
/// # Safety
/// Every element the shapes and strides address must lie inside the pointed-to buffers.
#[expect(clippy::too_many_arguments, reason = "a GEMM's shape and strides")]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
    dst: *mut f32,
    dst_rs: isize,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // gemm computes dst = alpha dst + beta lhs rhs, reading dst only when asked.
    // SAFETY: the caller keeps every addressed element inside its buffer.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Layer norm of each `width`-long row of `x` into `out` (two-pass mean and variance, as burn's
/// LayerNorm computes them).
fn layer_norm(x: &[f32], width: usize, norm: &HostNorm, out: &mut [f32]) {
    let eps = LAYER_NORM_EPS as f32;
    for_rows(out, width, |i, out| {
        let x = &x[i * width..(i + 1) * width];
        let mean = x.iter().sum::<f32>() / width as f32;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (((o, v), g), b) in out.iter_mut().zip(x).zip(&norm.gamma).zip(&norm.beta) {
            *o = (v - mean) * inv * g + b;
        }
    });
}

/// What the attention keeps of its probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maps {
    None,
    /// `[tokens, tokens]`, heads fused.
    Fused(HeadFusion),
    /// `[heads, tokens, tokens]`.
    AllHeads,
}

/// Self-attention of one batch element over `qkv` `[tokens, 3 inner]` (query already scaled),
/// writing the context `[tokens, inner]` and, where asked, the probabilities (see [`Maps`]).
fn attention(qkv: &[f32], tokens: usize, heads: usize, inner: usize, maps: Maps, context: &mut [f32], map: Option<&mut [f32]>) {
    let head_dim = inner / heads;
    let stride = 3 * inner;
    let fusion = match maps {
        Maps::Fused(f) => Some(f),
        _ => None,
    };
    // Every head's map is written tile-major (`[tile][head][row][key]`, so that each tile owns
    // one contiguous chunk) and reordered afterwards.
    let map_heads = if maps == Maps::AllHeads { heads } else { 1 };
    let mut tiled = (maps == Maps::AllHeads).then(|| vec![0.0f32; heads * tokens * tokens]);
    let run = |tile: usize, context: &mut [f32], mut map: Option<&mut [f32]>, scores: &mut Vec<f32>| {
        let q0 = tile * TILE;
        let rows = context.len() / inner;
        let scores = resize(scores, rows * tokens);
        for h in 0..heads {
            let (qc, kc, vc) = (h * head_dim, inner + h * head_dim, 2 * inner + h * head_dim);
            // scores = Q_tile,h · K_h^T: K's rows read as columns.
            // SAFETY: rows q0..q0+rows and columns qc..qc+head_dim of Q, and every row of K's
            // and V's head columns, lie inside qkv; scores and context hold `rows` rows.
            unsafe {
                gemm_raw(
                    rows,
                    tokens,
                    head_dim,
                    qkv.as_ptr().add(q0 * stride + qc),
                    stride as isize,
                    1,
                    qkv.as_ptr().add(kc),
                    1,
                    stride as isize,
                    scores.as_mut_ptr(),
                    tokens as isize,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for row in scores.chunks_exact_mut(tokens) {
                softmax(row);
            }
            match (map.as_deref_mut(), fusion) {
                (Some(map), Some(fusion)) => fuse(map, scores, fusion, h == 0),
                (Some(map), None) => map[h * rows * tokens..(h + 1) * rows * tokens].copy_from_slice(scores),
                (None, _) => {}
            }
            // context_tile,h = P · V_h, written into the head's columns.
            // SAFETY: scores holds `rows` rows of `tokens`; V's head columns are inside qkv for
            // every token; the context tile holds `rows` rows of `inner` with the head's
            // columns inside.
            unsafe {
                gemm_raw(
                    rows,
                    head_dim,
                    tokens,
                    scores.as_ptr(),
                    tokens as isize,
                    1,
                    qkv.as_ptr().add(vc),
                    stride as isize,
                    1,
                    context.as_mut_ptr().add(qc),
                    inner as isize,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        if let (Some(map), Some(HeadFusion::Mean)) = (map, fusion) {
            let inv = 1.0 / heads as f32;
            map.iter_mut().for_each(|v| *v *= inv);
        }
    };
    // Small passes run on the calling thread: handing them to the thread pool and waiting costs
    // more than they do.
    let parallel = tokens * tokens * inner >= PARALLEL_WORK;
    let target = match (tiled.as_deref_mut(), map) {
        (Some(tiled), Some(map)) => Some((tiled, Some(map))),
        (None, map) => map.map(|m| (m, None)),
        (Some(_), None) => None,
    };
    match target {
        Some((chunks, reorder)) => {
            let tiles = context.chunks_mut(TILE * inner).zip(chunks.chunks_mut(TILE * map_heads * tokens));
            if parallel {
                let tiles: Vec<_> = tiles.enumerate().collect();
                tiles.into_par_iter().for_each_init(Vec::new, |scores, (tile, (context, map))| run(tile, context, Some(map), scores));
            } else {
                let mut scores = Vec::new();
                tiles.enumerate().for_each(|(tile, (context, map))| run(tile, context, Some(map), &mut scores));
            }
            if let Some(map) = reorder {
                for (tile, chunk) in chunks.chunks(TILE * heads * tokens).enumerate() {
                    let rows = chunk.len() / (heads * tokens);
                    for h in 0..heads {
                        let dst = (h * tokens + tile * TILE) * tokens;
                        map[dst..dst + rows * tokens].copy_from_slice(&chunk[h * rows * tokens..(h + 1) * rows * tokens]);
                    }
                }
            }
        }
        None if parallel => context
            .par_chunks_mut(TILE * inner)
            .enumerate()
            .for_each_init(Vec::new, |scores, (tile, context)| run(tile, context, None, scores)),
        None => {
            let mut scores = Vec::new();
            context.chunks_mut(TILE * inner).enumerate().for_each(|(tile, context)| run(tile, context, None, &mut scores));
        }
    }
}

/// Folds one head's probabilities into the fused map.
fn fuse(map: &mut [f32], probs: &[f32], fusion: HeadFusion, first: bool) {
    if first {
        map.copy_from_slice(probs);
        return;
    }
    match fusion {
        HeadFusion::Mean => map.iter_mut().zip(probs).for_each(|(m, p)| *m += p),
        HeadFusion::Max => map.iter_mut().zip(probs).for_each(|(m, p)| *m = if *p > *m { *p } else { *m }),
        HeadFusion::Min => map.iter_mut().zip(probs).for_each(|(m, p)| *m = if *p < *m { *p } else { *m }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::BlockNames;
    use crate::weights::params::RandomInit;

    /// The fused block against burn's ops (the same block, switched to burn's path) on random
    /// weights, for token counts on and off the tile size, two batch elements, and every
    /// capture it serves. Tolerances: 2e-5 absolute on outputs of unit scale, 1e-6 on
    /// probabilities (f32 rounding in a different summation order).
    #[test]
    fn fused_block_matches_burns_ops() {
        let device = Device::flex();
        let block = EncoderBlock::load(&mut RandomInit::new(5), &BlockNames::new("b", 48, 4, 96), 4, &device).unwrap();
        for tokens in [1, 7, TILE, 2 * TILE + 5] {
            let x = Tensor::<3>::random([2, tokens, 48], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
            for keep in [
                KeepAttention::No,
                KeepAttention::AllHeads,
                KeepAttention::Fused(HeadFusion::Mean),
                KeepAttention::Fused(HeadFusion::Max),
                KeepAttention::Fused(HeadFusion::Min),
            ] {
                assert!(applies(&x, keep));
                let (want, want_map) = block.forward_burn(x.clone(), keep);
                let (got, got_map) = forward(&block, x.clone(), keep).unwrap();
                let diff = (want - got).abs().max().into_scalar::<f32>();
                assert!(diff < 2e-5, "{tokens} tokens, {keep:?}: outputs differ by {diff}");
                assert_eq!(want_map.is_some(), got_map.is_some());
                if let (Some(a), Some(b)) = (want_map, got_map) {
                    assert_eq!(a.shape, b.shape);
                    let (a, b) = (a.to_host().unwrap(), b.to_host().unwrap());
                    let worst = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                    assert!(worst < 1e-6, "{tokens} tokens, {keep:?}: maps differ by {worst}");
                }
            }
        }
    }

    #[test]
    fn other_cases_take_burns_ops() {
        let device = Device::flex();
        let x = Tensor::<3>::zeros([1, 3, 8], &device);
        assert!(!applies(&x, KeepAttention::Probed));
        assert!(!applies(&x.clone().autodiff(), KeepAttention::No));
    }
}
