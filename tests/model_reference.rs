//! MBT against the independent NumPy reference (tests/reference/mbt_reference.py, itself checked
//! against Flax's modules), for every fusion mode, classifier and tokenisation, on Flex and on
//! burn-wgpu (lavapipe in CI). Tolerance: 1e-4 absolute on logits, encoded tokens, bottleneck
//! tokens and every attention probability.

use std::collections::BTreeMap;

use burn::prelude::*;
use mbtscope::model::MbtConfig;
use mbtscope::model::mbt::{Capture, HeadFusion};
use mbtscope::npz::{self, NpyArray, NpyData};
use mbtscope::runner;
use mbtscope::weights::flax;

const TOLERANCE: f32 = 1e-4;

fn cases() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(crate::fixtures().join("mbt")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert!(names.len() >= 12, "fixtures missing: {names:?}");
    names
}

fn load_case(name: &str, device: &Device) -> (mbtscope::model::Mbt, BTreeMap<String, NpyArray>) {
    let dir = crate::fixtures().join("mbt").join(name);
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config = MbtConfig::parse_scenic_json(&text).unwrap().config;
    let params = flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap();
    let model = runner::build(&config, params, device).unwrap();
    let io = npz::read(&dir.join("io.npz")).unwrap();
    (model, io)
}

fn max_abs_diff(a: &NpyArray, b: &NpyArray) -> f32 {
    assert_eq!(a.shape, b.shape);
    a.to_f32().iter().zip(b.to_f32()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_all_cases(device: &Device) {
    for name in cases() {
        let (model, expected) = load_case(&name, device);
        let input = runner::input_from_arrays(&model.config, &expected, device).unwrap();
        let got = runner::infer_arrays(&model, input, Capture::AllHeads).unwrap().unwrap();
        let mut compared = 0;
        let mut worst = 0.0f32;
        for (key, want) in &expected {
            if key == "rgb" || key == "spectrogram" {
                continue;
            }
            let have = got.get(key).unwrap_or_else(|| panic!("{name}: output lacks `{key}`"));
            if key.starts_with("attn_layout/") {
                assert_eq!(have.data, want.data, "{name}: token layout of {key}");
                assert!(matches!(have.data, NpyData::I32(_)));
            } else {
                let diff = max_abs_diff(have, want);
                assert!(diff <= TOLERANCE, "{name}: `{key}` differs by {diff:e}");
                worst = worst.max(diff);
            }
            compared += 1;
        }
        let expected_attention = expected.keys().filter(|k| k.starts_with("attn/")).count();
        let got_attention = got.keys().filter(|k| k.starts_with("attn/")).count();
        assert_eq!(got_attention, expected_attention, "{name}: number of attention maps");
        assert!(compared >= 3, "{name}: compared only {compared} arrays");
        eprintln!("{name}: {compared} arrays within {worst:.1e} of the reference");

        // Without attention kept, Flex runs the fused CPU block (model::cpu_block) instead of
        // burn's ops: the same outputs, to the same tolerance.
        let input = runner::input_from_arrays(&model.config, &expected, device).unwrap();
        let plain = runner::infer_arrays(&model, input, Capture::None).unwrap().unwrap();
        let mut compared = 0;
        for (key, want) in expected.iter().filter(|(k, _)| !k.starts_with("attn") && *k != "rgb" && *k != "spectrogram") {
            let have = plain.get(key).unwrap_or_else(|| panic!("{name}: output without attention lacks `{key}`"));
            let diff = max_abs_diff(have, want);
            assert!(diff <= TOLERANCE, "{name}, no attention kept: `{key}` differs by {diff:e}");
            compared += 1;
        }
        assert!(compared >= 2, "{name}: compared only {compared} arrays without attention");
    }
}

#[test]
fn matches_reference_on_flex() {
    check_all_cases(&Device::flex());
}

#[test]
fn matches_reference_on_wgpu() {
    // The software Vulkan adapter in CI; a real GPU elsewhere.
    check_all_cases(&Device::wgpu(DeviceKind::DefaultDevice));
}

#[test]
fn fused_heads_equal_the_reduction_of_all_heads() {
    let device = Device::flex();
    let (model, io) = load_case("bottleneck_mid_token", &device);
    let all =
        runner::infer_arrays(&model, runner::input_from_arrays(&model.config, &io, &device).unwrap(), Capture::AllHeads).unwrap().unwrap();
    for (fusion, reduce) in [
        (HeadFusion::Mean, (|v: &[f32]| v.iter().sum::<f32>() / v.len() as f32) as fn(&[f32]) -> f32),
        (HeadFusion::Max, |v: &[f32]| v.iter().copied().fold(f32::MIN, f32::max)),
        (HeadFusion::Min, |v: &[f32]| v.iter().copied().fold(f32::MAX, f32::min)),
    ] {
        let input = runner::input_from_arrays(&model.config, &io, &device).unwrap();
        let fused = runner::infer_arrays(&model, input, Capture::Fused(fusion)).unwrap().unwrap();
        for (key, full) in all.iter().filter(|(k, _)| k.starts_with("attn/")) {
            let f = &fused[key];
            let [b, h, q, k] = full.shape[..] else { panic!() };
            assert_eq!(f.shape, vec![b, 1, q, k]);
            let (fv, av) = (f.to_f32(), full.to_f32());
            for bi in 0..b {
                for i in 0..q * k {
                    let heads: Vec<f32> = (0..h).map(|hi| av[(bi * h + hi) * q * k + i]).collect();
                    assert!((fv[bi * q * k + i] - reduce(&heads)).abs() < 1e-6, "{fusion:?} {key}");
                }
            }
        }
    }
}

#[test]
fn attention_rows_are_distributions() {
    let device = Device::flex();
    let (model, io) = load_case("vanilla_early_token_repr", &device);
    let input = runner::input_from_arrays(&model.config, &io, &device).unwrap();
    let out = runner::infer_arrays(&model, input, Capture::AllHeads).unwrap().unwrap();
    for (key, a) in out.iter().filter(|(k, _)| k.starts_with("attn/")) {
        let k = *a.shape.last().unwrap();
        for row in a.to_f32().chunks(k) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{key}: row sums to {sum}");
        }
    }
}

#[test]
fn wrong_input_geometry_is_a_clear_error() {
    let device = Device::flex();
    let (model, mut io) = load_case("bottleneck_mid_gap_old_layout", &device);
    io.insert("rgb".into(), NpyArray::f32(vec![2, 8, 32, 32, 3], vec![0.0; 2 * 8 * 32 * 32 * 3]));
    let input = runner::input_from_arrays(&model.config, &io, &device).unwrap();
    let err = model.forward(input, Capture::None).unwrap_err().to_string();
    assert!(err.contains("rgb") && err.contains("patch tokens"), "{err}");
    io.remove("spectrogram");
    let err = runner::input_from_arrays(&model.config, &io, &device).err().unwrap().to_string();
    assert!(err.contains("spectrogram"), "{err}");
}
