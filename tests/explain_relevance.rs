//! Gradient-weighted relevance against JAX's autodiff on the fixture models
//! (tests/reference/make_relevance_fixtures.py). Tolerance: 1e-4 absolute (gradients through 3
//! layers in f32).

use burn::prelude::*;
use mbtscope::explain::relevance::relevance;
use mbtscope::model::MbtConfig;
use mbtscope::npz;
use mbtscope::runner;
use mbtscope::weights::flax;

fn check(name: &str, device: &Device) {
    let dir = crate::fixtures().join("mbt").join(name);
    let config = MbtConfig::parse_scenic_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap().config;
    let model = runner::build(&config, flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap(), device).unwrap();
    let io = npz::read(&dir.join("io.npz")).unwrap();
    let expected = npz::read(&dir.join("relevance.npz")).unwrap();
    let input = runner::input_from_arrays(&config, &io, device).unwrap();
    let result = relevance(&model, input, None).unwrap();
    let classes: Vec<usize> = expected["classes"].to_f32().iter().map(|&c| c as usize).collect();
    assert_eq!(result.classes, classes, "{name}: explained classes");
    let got = runner::to_array(result.joint()).unwrap();
    // The explained rows as the app takes them (from the top layer down, never the dense R):
    // within 1e-6 of the dense rows, relative to the row's largest value (relevance is at least 1
    // on the diagonal, so float rounding scales with it).
    let dense = mbtscope::explain::maps::explained_rows(&config, &result.layout, &result.joint());
    let by_rows = mbtscope::explain::maps::explained_relevance_rows(&config, &result);
    assert_eq!(dense.len(), by_rows.len(), "{name}");
    for ((row_name, d), (other, r)) in dense.into_iter().zip(by_rows) {
        assert_eq!(row_name, other);
        let (d, r) = (d.into_data().try_into_vec_as::<f32>().unwrap(), r.into_data().try_into_vec_as::<f32>().unwrap());
        let scale = d.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = d.iter().zip(&r).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / scale;
        assert!(worst < 1e-6, "{name}: {row_name} by rows differs from the dense row by {worst:e} (relative)");
    }
    let want = &expected["relevance"];
    assert_eq!(got.shape, want.shape, "{name}");
    let worst = got.to_f32().iter().zip(want.to_f32()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{name}: relevance differs from JAX by {worst:e}");
    // Relevance is non-negative and at least the identity on the diagonal.
    let r = got.to_f32();
    let n = got.shape[2];
    for (i, v) in r.iter().enumerate() {
        assert!(*v >= 0.0, "{name}: negative relevance");
        if (i / n) % n == i % n {
            assert!(*v >= 1.0 - 1e-6, "{name}: diagonal below 1");
        }
    }
}

#[test]
fn relevance_matches_jax_autodiff_on_flex() {
    for name in ["bottleneck_mid_token", "vanilla_mid_gap_rgb_first", "shared_mid_gmp", "late_token", "bottleneck_early_gap_chunked"] {
        check(name, &Device::flex());
    }
}

#[test]
fn relevance_matches_jax_autodiff_on_wgpu() {
    check("bottleneck_mid_token", &Device::wgpu(DeviceKind::DefaultDevice));
}

#[test]
fn explaining_another_class_changes_the_map_and_bad_classes_are_refused() {
    let device = Device::flex();
    let dir = crate::fixtures().join("mbt/bottleneck_mid_token");
    let config = MbtConfig::parse_scenic_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap().config;
    let model = runner::build(&config, flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap(), &device).unwrap();
    let io = npz::read(&dir.join("io.npz")).unwrap();
    let input = || runner::input_from_arrays(&config, &io, &device).unwrap();
    let a = runner::to_array(relevance(&model, input(), Some(0)).unwrap().joint()).unwrap();
    let b = runner::to_array(relevance(&model, input(), Some(1)).unwrap().joint()).unwrap();
    assert_ne!(a.to_f32(), b.to_f32());
    let err = relevance(&model, input(), Some(99)).unwrap_err().to_string();
    assert!(err.contains("99") && err.contains("5 classes"), "{err}");
}
