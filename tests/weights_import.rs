//! Scenic checkpoint import: both layouts, chunked arrays, and clear errors for corrupt,
//! truncated, random-byte and mismatched checkpoints.

use burn::prelude::*;
use mbtscope::model::MbtConfig;
use mbtscope::runner;
use mbtscope::weights::{flax, native};

fn case_dir(name: &str) -> std::path::PathBuf {
    crate::fixtures().join("mbt").join(name)
}

fn config(name: &str) -> MbtConfig {
    let text = std::fs::read_to_string(case_dir(name).join("config.json")).unwrap();
    MbtConfig::parse_scenic_json(&text).unwrap().config
}

#[test]
fn reads_current_old_and_chunked_layouts() {
    for name in ["bottleneck_mid_token", "bottleneck_mid_gap_old_layout", "bottleneck_early_gap_chunked"] {
        let params = flax::read_checkpoint(&case_dir(name).join("checkpoint.msgpack")).unwrap();
        assert!(params.tensors.contains_key("Transformer/encoder_norm/scale"), "{name}");
        assert!(!params.tensors.keys().any(|k| k.contains("opt_state") || k.contains("global_step")));
        runner::build(&config(name), params, &Device::flex()).unwrap();
    }
}

#[test]
fn corrupt_checkpoints_give_clear_errors() {
    let bytes = std::fs::read(case_dir("bottleneck_mid_token").join("checkpoint.msgpack")).unwrap();
    let empty = flax::params_from_bytes(&[]).unwrap_err().to_string();
    assert!(empty.contains("empty"), "{empty}");
    for cut in [1, 17, bytes.len() / 2, bytes.len() - 1] {
        let err = flax::params_from_bytes(&bytes[..cut]).unwrap_err().to_string();
        assert!(err.contains("truncated") || err.contains("not a Flax"), "cut {cut}: {err}");
    }
    let mut state = 0x1234_5678u32;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    assert!(flax::params_from_bytes(&random).is_err());
    let not_params = [0x81, 0xa1, b'x', 0x01]; // {"x": 1}
    let err = flax::params_from_bytes(&not_params).unwrap_err().to_string();
    assert!(err.contains("no MBT parameters") && err.contains('x'), "{err}");
    // A file path in the error for unreadable files.
    let err = flax::read_checkpoint(std::path::Path::new("/nonexistent/ckpt")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/ckpt"), "{err}");
}

#[test]
fn mismatched_checkpoints_name_the_leaf() {
    let dir = case_dir("bottleneck_mid_token");
    let params = flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap();
    let device = Device::flex();

    let mut missing = params.clone();
    missing.tensors.remove("Transformer/encoderblock_2/MlpBlock_0/Dense_1/bias");
    let err = format!("{:#}", runner::build(&config("bottleneck_mid_token"), missing, &device).unwrap_err());
    assert!(err.contains("encoderblock_2/MlpBlock_0/Dense_1/bias") && err.contains("missing"), "{err}");

    let mut extra = params.clone();
    extra.tensors.insert("Transformer/encoderblock_9/LayerNorm_0/scale".into(), extra.tensors["Transformer/encoder_norm/scale"].clone());
    let err = format!("{:#}", runner::build(&config("bottleneck_mid_token"), extra, &device).unwrap_err());
    assert!(err.contains("encoderblock_9"), "{err}");

    // The same checkpoint against a config with another bottleneck count.
    let mut other = config("bottleneck_mid_token");
    other.n_bottlenecks = 4;
    let err = format!("{:#}", runner::build(&other, params.clone(), &device).unwrap_err());
    assert!(err.contains("`bottleneck`") && err.contains("[1, 3, 16]"), "{err}");

    // Token classifier with gap weights: the CLS parameters are extra.
    let gap_params = flax::read_checkpoint(&case_dir("bottleneck_mid_gap_old_layout").join("checkpoint.msgpack")).unwrap();
    let err = format!("{:#}", runner::build(&config("bottleneck_mid_token"), gap_params, &device).unwrap_err());
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn native_folder_round_trips() {
    let dir = case_dir("vanilla_early_token_repr");
    let params = flax::read_checkpoint(&dir.join("checkpoint.msgpack")).unwrap();
    let out = crate::scratch("native");
    let labels: Vec<String> = (0..5).map(|i| format!("label {i}")).collect();
    let cfg = config("vanilla_early_token_repr");
    native::save_dir(&out, &cfg, &params, &labels, false).unwrap();
    // Never overwritten silently.
    let err = native::save_dir(&out, &cfg, &params, &labels, false).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    let files = native::load_dir(&out).unwrap();
    assert_eq!(files.config, cfg);
    assert_eq!(files.labels, labels);
    assert_eq!(files.params.tensors, params.tensors);
    runner::load_model_dir(&out, &Device::flex()).unwrap();
    // A truncated weights file is an error naming the file.
    let weights = out.join(native::WEIGHTS_FILE);
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 3]).unwrap();
    let err = format!("{:#}", runner::load_model_dir(&out, &Device::flex()).err().unwrap());
    assert!(err.contains("model.safetensors"), "{err}");
}

/// A deterministic stand-in for the cargo-fuzz target (fuzz/) that runs in CI: thousands of
/// mutated checkpoints (bit flips, overwritten length bytes, truncations, splices) must each
/// yield parameters or an error, never a panic.
#[test]
fn mutated_checkpoints_never_panic() {
    let bytes = std::fs::read(case_dir("bottleneck_early_gap_chunked").join("checkpoint.msgpack")).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for round in 0..3000 {
        let mut m = bytes.clone();
        match round % 4 {
            0 => {
                for _ in 0..1 + next() % 8 {
                    let i = (next() as usize) % m.len();
                    m[i] ^= 1 << (next() % 8);
                }
            }
            1 => {
                let i = (next() as usize) % m.len();
                m[i] = [0xff, 0x00, 0x7f, 0xdf, 0xc6, 0xdd][(next() % 6) as usize];
            }
            2 => m.truncate((next() as usize) % m.len()),
            _ => {
                let (a, b) = ((next() as usize) % m.len(), (next() as usize) % m.len());
                let piece = m[a.min(b)..a.max(b)].to_vec();
                let at = (next() as usize) % m.len();
                m.splice(at..at, piece);
            }
        }
        if let Ok(params) = std::panic::catch_unwind(|| flax::params_from_bytes(&m)).expect("reader panicked") {
            // Whatever decodes must still be checked strictly when building a model.
            let _ = runner::build(&config("bottleneck_early_gap_chunked"), params, &Device::flex());
        } else {
            errors += 1;
        }
    }
    assert!(errors > 1000, "mutations should mostly be rejected ({errors})");
}

#[test]
fn exported_parameters_are_the_imported_ones() {
    for name in ["temporal_sampling_bottleneck_token_repr", "shared_mid_gmp", "spectrogram_only_token_shared", "bottleneck_mid_token"] {
        let params = flax::read_checkpoint(&case_dir(name).join("checkpoint.msgpack")).unwrap();
        let model = runner::build(&config(name), params.clone(), &Device::flex()).unwrap();
        let exported = model.export_params().unwrap();
        assert_eq!(exported.tensors, params.tensors, "{name}");
    }
}
