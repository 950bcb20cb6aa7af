//! Rollout and bottleneck activity against a naive CPU implementation (plain loops, f64) built
//! from the captured per-head attention maps, plus the properties the definition implies.
//! Tolerance: 1e-5 absolute.

use std::collections::BTreeMap;

use burn::prelude::*;
use mbtscope::explain::RolloutOptions;
use mbtscope::model::mbt::{Capture, HeadFusion};
use mbtscope::model::{Classifier, MbtConfig};
use mbtscope::npz::{self, NpyArray};
use mbtscope::runner;
use mbtscope::weights::flax;

const TOLERANCE: f64 = 1e-5;

struct Case {
    config: MbtConfig,
    model: mbtscope::model::Mbt,
    io: BTreeMap<String, NpyArray>,
}

fn case(name: &str, device: &Device) -> Case {
    let dir = crate::fixtures().join("mbt").join(name);
    let config = MbtConfig::parse_scenic_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap().config;
    let params = flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap();
    let model = runner::build(&config, params, device).unwrap();
    let io = npz::read(&dir.join("io.npz")).unwrap();
    Case { config, model, io }
}

/// (kind, modality) codes as in `attn_layout` rows: kind 0 CLS, 1 patches, 2 bottleneck;
/// modality 0 rgb, 1 spectrogram, -1 none.
fn joint_segments(config: &MbtConfig) -> Vec<(i32, i32, usize)> {
    let mut segs = Vec::new();
    for &m in &config.modality_fusion {
        let code = if m.name() == "rgb" { 0 } else { 1 };
        if config.classifier == Classifier::Token {
            segs.push((0, code, 1));
        }
        segs.push((1, code, config.patch_tokens(m)));
    }
    if config.bottleneck_tokens() > 0 {
        segs.push((2, -1, config.bottleneck_tokens()));
    }
    segs
}

fn joint_start(segs: &[(i32, i32, usize)], kind: i32, modality: i32) -> Option<usize> {
    let mut at = 0;
    for &(k, m, len) in segs {
        if k == kind && m == modality {
            return Some(at);
        }
        at += len;
    }
    None
}

/// The naive rollout for batch element `bi`: returns (rollout, raw A per layer).
fn naive(case: &Case, all: &BTreeMap<String, NpyArray>, bi: usize, options: RolloutOptions) -> (Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>) {
    let config = &case.config;
    let segs = joint_segments(config);
    let n: usize = segs.iter().map(|s| s.2).sum();
    let eye = |n: usize| -> Vec<Vec<f64>> { (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect() };
    let mut rollout = eye(n);
    let mut raws = Vec::new();
    for layer in 0..config.num_layers {
        let mut a = vec![vec![0.0f64; n]; n];
        let mut bottleneck_sum = vec![vec![0.0f64; n]; config.bottleneck_tokens()];
        let mut bottleneck_passes = 0;
        for pass in ["rgb", "spectrogram", "combined"] {
            let Some(probs) = all.get(&format!("attn/layer{layer}/{pass}")) else { continue };
            let rows = all[&format!("attn_layout/layer{layer}/{pass}")].to_f32();
            let pass_segs: Vec<(i32, i32, usize, usize)> =
                rows.chunks(4).map(|r| (r[0] as i32, r[1] as i32, r[2] as usize, r[3] as usize)).collect();
            let [_, heads, q, k] = probs.shape[..] else { panic!() };
            let values = probs.to_f32();
            let fused = |i: usize, j: usize| -> f64 {
                let hs = (0..heads).map(|h| f64::from(values[((bi * heads + h) * q + i) * k + j]));
                match options.head_fusion {
                    HeadFusion::Mean => hs.sum::<f64>() / heads as f64,
                    HeadFusion::Max => hs.fold(f64::MIN, f64::max),
                    HeadFusion::Min => hs.fold(f64::MAX, f64::min),
                }
            };
            let own = match pass {
                "rgb" => 0,
                "spectrogram" => 1,
                _ => -1,
            };
            let mut has_bottleneck = false;
            for &(rk, rm, rs, rl) in &pass_segs {
                if rk == 2 {
                    has_bottleneck = true;
                }
                let kept = pass == "combined" || rk == 2 || rm == own;
                if !kept {
                    continue;
                }
                for r in 0..rl {
                    for &(ck, cm, cs, cl) in &pass_segs {
                        let jc = joint_start(&segs, ck, cm).unwrap();
                        for c in 0..cl {
                            let v = fused(rs + r, cs + c);
                            if rk == 2 {
                                bottleneck_sum[r][jc + c] += v;
                            } else {
                                let jr = joint_start(&segs, rk, rm).unwrap();
                                a[jr + r][jc + c] = v;
                            }
                        }
                    }
                }
            }
            bottleneck_passes += usize::from(has_bottleneck);
        }
        if let Some(jb) = joint_start(&segs, 2, -1) {
            for r in 0..config.bottleneck_tokens() {
                for c in 0..n {
                    a[jb + r][c] = if bottleneck_passes > 0 {
                        bottleneck_sum[r][c] / bottleneck_passes as f64
                    } else {
                        f64::from(u8::from(jb + r == c))
                    };
                }
            }
        }
        raws.push(a.clone());
        if layer < options.start_layer {
            continue;
        }
        if options.discard_ratio > 0.0 {
            let mut positive: Vec<f64> = a.iter().flatten().copied().filter(|&v| v > 0.0).collect();
            positive.sort_by(f64::total_cmp);
            let drop = ((f64::from(options.discard_ratio) * positive.len() as f64).floor() as usize).min(positive.len() - 1);
            let threshold = positive[drop];
            for (r, row) in a.iter_mut().enumerate() {
                // The row's own CLS column is protected.
                let own_cls = segs
                    .iter()
                    .scan(0, |at, s| {
                        let start = *at;
                        *at += s.2;
                        Some((start, s))
                    })
                    .find(|(start, s)| r >= *start && r < start + s.2)
                    .and_then(|(_, s)| if s.0 == 2 { None } else { joint_start(&segs, 0, s.1) });
                for (c, v) in row.iter_mut().enumerate() {
                    if *v < threshold && *v > 0.0 && Some(c) != own_cls {
                        *v = 0.0;
                    }
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = 0.5 * *v + 0.5 * f64::from(u8::from(i == j));
            }
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= sum);
        }
        let mut next = vec![vec![0.0f64; n]; n];
        for i in 0..n {
            for kk in 0..n {
                if a[i][kk] != 0.0 {
                    for j in 0..n {
                        next[i][j] += a[i][kk] * rollout[kk][j];
                    }
                }
            }
        }
        rollout = next;
    }
    (rollout, raws)
}

fn compare(name: &str, device: &Device, options: RolloutOptions) {
    let case = case(name, device);
    let input = || runner::input_from_arrays(&case.config, &case.io, device).unwrap();
    let all = runner::infer_arrays(&case.model, input(), Capture::AllHeads).unwrap().unwrap();
    let (_, explanation) = runner::explain(&case.model, input(), options).unwrap();
    let arrays = runner::explanation_arrays(&case.config, &explanation).unwrap();
    let joint = &arrays["rollout/joint"];
    let [b, n, _] = joint.shape[..] else { panic!() };
    let values = joint.to_f32();
    // The rows the app, analyze, export and eval read, made by vector-matrix products from the
    // top layer down instead of from the dense product: within 1e-6 of the dense rows.
    let by_rows = mbtscope::explain::maps::explained_rollout_rows(&case.config, &explanation);
    assert!(!by_rows.is_empty(), "{name}: no explained rows");
    for (row_name, row) in by_rows {
        let got = row.into_data().try_into_vec_as::<f32>().unwrap();
        let dense = arrays[&format!("rollout/{row_name}")].to_f32();
        assert_eq!(got.len(), dense.len(), "{name}: {row_name}");
        let worst = got.iter().zip(&dense).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "{name} {options:?}: {row_name} by rows differs from the dense row by {worst:e}");
    }
    for bi in 0..b {
        let (expected, raws) = naive(&case, &all, bi, options);
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                worst = worst.max((f64::from(values[(bi * n + i) * n + j]) - expected[i][j]).abs());
            }
        }
        assert!(worst < TOLERANCE, "{name} {options:?}: rollout differs by {worst:e}");
        if let Some(layer) = options.raw_layer {
            let raw = arrays[&format!("rollout/raw_layer{layer}")].to_f32();
            for i in 0..n {
                for j in 0..n {
                    let d = (f64::from(raw[(bi * n + i) * n + j]) - raws[layer][i][j]).abs();
                    assert!(d < TOLERANCE, "{name}: raw layer {layer} [{i},{j}] differs by {d:e}");
                }
            }
        }
    }
}

const ALL_CASES: [&str; 12] = [
    "bottleneck_early_gap_chunked",
    "bottleneck_mid_gap_old_layout",
    "bottleneck_mid_token",
    "late_token",
    "rgb_only_token_temporal_sampling",
    "shared_bottleneck_gsp",
    "shared_mid_gmp",
    "spectrogram_only_gap_mono",
    "spectrogram_only_token_shared",
    "temporal_sampling_bottleneck_token_repr",
    "vanilla_early_token_repr",
    "vanilla_mid_gap_rgb_first",
];

#[test]
fn rollout_matches_naive_loops_for_every_fusion_mode() {
    let device = Device::flex();
    for name in ALL_CASES {
        compare(name, &device, RolloutOptions { raw_layer: Some(1), ..Default::default() });
    }
}

#[test]
fn head_fusion_discard_and_start_layer_match_naive_loops() {
    let device = Device::flex();
    for name in ["bottleneck_mid_token", "vanilla_early_token_repr", "shared_mid_gmp"] {
        for head_fusion in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min] {
            for (discard_ratio, start_layer) in [(0.0, 0), (0.4, 0), (0.9, 1)] {
                compare(name, &device, RolloutOptions { head_fusion, discard_ratio, start_layer, raw_layer: Some(2) });
            }
        }
    }
}

#[test]
fn rollout_on_wgpu_matches_naive_loops() {
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    for name in ["bottleneck_mid_token", "vanilla_mid_gap_rgb_first", "shared_bottleneck_gsp"] {
        compare(name, &device, RolloutOptions { discard_ratio: 0.3, raw_layer: Some(1), ..Default::default() });
    }
}

fn explain_arrays(name: &str, options: RolloutOptions) -> (Case, BTreeMap<String, NpyArray>) {
    let device = Device::flex();
    let case = case(name, &device);
    let input = runner::input_from_arrays(&case.config, &case.io, &device).unwrap();
    let (_, explanation) = runner::explain(&case.model, input, options).unwrap();
    let arrays = runner::explanation_arrays(&case.config, &explanation).unwrap();
    (case, arrays)
}

#[test]
fn rollout_rows_are_stochastic() {
    for name in ALL_CASES {
        let (_, arrays) = explain_arrays(name, RolloutOptions { discard_ratio: 0.5, ..Default::default() });
        let joint = &arrays["rollout/joint"];
        let n = joint.shape[2];
        for row in joint.to_f32().chunks(n) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5 && row.iter().all(|&v| v >= 0.0), "{name}: row sums to {sum}");
        }
    }
}

/// Indices of the joint columns/rows of a modality (CLS and patches).
fn modality_range(config: &MbtConfig, code: i32) -> std::ops::Range<usize> {
    let segs = joint_segments(config);
    let start = segs.iter().position(|s| s.1 == code).unwrap();
    let from: usize = segs[..start].iter().map(|s| s.2).sum();
    let len: usize = segs.iter().filter(|s| s.1 == code).map(|s| s.2).sum();
    from..from + len
}

#[test]
fn late_fusion_has_exactly_zero_cross_modal_mass() {
    let (case, arrays) = explain_arrays("late_token", RolloutOptions::default());
    let joint = &arrays["rollout/joint"];
    let n = joint.shape[2];
    assert!(arrays["rollout/cross_modal_share"].to_f32().iter().all(|&v| v == 0.0));
    let (rgb, spec) = (modality_range(&case.config, 0), modality_range(&case.config, 1));
    for (bi, matrix) in joint.to_f32().chunks(n * n).enumerate() {
        for r in rgb.clone() {
            for c in spec.clone() {
                assert_eq!(matrix[r * n + c], 0.0, "batch {bi}: rgb row {r} has mass on spectrogram {c}");
                assert_eq!(matrix[c * n + r], 0.0, "batch {bi}: spectrogram row {c} has mass on rgb {r}");
            }
        }
    }
}

#[test]
fn bottleneck_fusion_moves_cross_modal_mass_only_through_bottleneck_columns() {
    for name in ["bottleneck_mid_token", "bottleneck_early_gap_chunked", "shared_bottleneck_gsp"] {
        for layer in 0..3 {
            let (case, arrays) = explain_arrays(name, RolloutOptions { raw_layer: Some(layer), ..Default::default() });
            let raw = &arrays[&format!("rollout/raw_layer{layer}")];
            let n = raw.shape[2];
            let (rgb, spec) = (modality_range(&case.config, 0), modality_range(&case.config, 1));
            for matrix in raw.to_f32().chunks(n * n) {
                for r in rgb.clone() {
                    for c in spec.clone() {
                        assert_eq!(matrix[r * n + c], 0.0, "{name} layer {layer}");
                        assert_eq!(matrix[c * n + r], 0.0, "{name} layer {layer}");
                    }
                }
            }
        }
        // Yet the rollout does carry information across, through the bottleneck.
        let (case, arrays) = explain_arrays(name, RolloutOptions::default());
        let joint = &arrays["rollout/joint"];
        let n = joint.shape[2];
        let (rgb, spec) = (modality_range(&case.config, 0), modality_range(&case.config, 1));
        let matrix = &joint.to_f32()[..n * n];
        let cross: f32 = rgb.clone().flat_map(|r| spec.clone().map(move |c| (r, c))).map(|(r, c)| matrix[r * n + c]).sum();
        assert!(cross > 1e-4, "{name}: no cross-modal mass at all ({cross})");
    }
}

#[test]
fn bottleneck_activity_is_reported_for_fusion_layers() {
    let (case, arrays) = explain_arrays("bottleneck_mid_token", RolloutOptions::default());
    let nb = case.config.bottleneck_tokens();
    for layer in 0..3 {
        let fusion = layer >= case.config.fusion_layer;
        let shares = &arrays["rollout/cross_modal_share"];
        assert_eq!(shares.shape, vec![2, 2]);
        assert!(shares.to_f32().iter().all(|&v| v > 0.0 && v < 1.0), "{:?}", shares.to_f32());
        assert_eq!(arrays.contains_key(&format!("bottleneck_activity/layer{layer}/norm")), fusion, "layer {layer}");
        if fusion {
            let norm = &arrays[&format!("bottleneck_activity/layer{layer}/norm")];
            assert_eq!(norm.shape, vec![2, nb]);
            assert!(norm.to_f32().iter().all(|&v| v > 0.0));
            for m in ["rgb", "spectrogram"] {
                let received = &arrays[&format!("bottleneck_activity/layer{layer}/received_{m}")];
                assert!(received.to_f32().iter().all(|&v| (0.0..=1.0).contains(&v)));
            }
            let share = &arrays[&format!("bottleneck_activity/layer{layer}/share")];
            assert_eq!(share.shape, vec![2, nb, 3]);
            for s in share.to_f32().chunks(3) {
                // Each bottleneck token attends to both modalities and itself; shares sum to 1.
                assert!(s.iter().all(|&v| v > 0.0) && (s.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{s:?}");
            }
            let rows = &arrays[&format!("bottleneck_activity/layer{layer}/rows")];
            let n = rows.shape[2];
            for row in rows.to_f32().chunks(n) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn identity_attention_gives_identity_rollout() {
    use mbtscope::explain::Explainer;
    use mbtscope::model::AttentionObserver;
    use mbtscope::model::block::{AttentionBlock, AttentionMap};
    use mbtscope::model::mbt::{AttentionPass, PassKind};
    let device = Device::flex();
    let case = case("bottleneck_mid_token", &device);
    let input = runner::input_from_arrays(&case.config, &case.io, &device).unwrap();
    // Take the real passes' layouts, replace every map by the identity.
    let out = case.model.forward(input, Capture::Fused(HeadFusion::Mean)).unwrap();
    let mut explainer = Explainer::new(&case.config, RolloutOptions::default(), 2, &device);
    let mut last = 0;
    for pass in out.attention {
        if pass.layer != last {
            explainer.end_layer(last, None);
            last = pass.layer;
        }
        let q = pass.layout.len();
        let eye: Tensor<2> = Tensor::eye(q, &device);
        let probs: Tensor<4> = eye.unsqueeze_dim::<3>(0).repeat_dim(0, 2).unsqueeze_dim(1);
        let map = AttentionMap { shape: [2, 1, q, q], blocks: vec![AttentionBlock { head_start: 0, query_start: 0, probs, probe: None }] };
        explainer.pass(AttentionPass { layer: pass.layer, pass: pass.pass, layout: pass.layout, probs: map });
    }
    explainer.end_layer(last, None);
    let _ = PassKind::Combined;
    let rollout = explainer.finish().rollout();
    let n = rollout.dims()[1];
    let eye: Tensor<3> = Tensor::<2>::eye(n, &device).unsqueeze_dim::<3>(0).repeat_dim(0, 2);
    let diff = (rollout - eye).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-6, "identity attention gave a rollout {diff} away from the identity");
}
