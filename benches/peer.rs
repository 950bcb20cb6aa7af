//! mbtscope against a PyTorch port of MBT (`benches/reference/mbt_torch.py`), side by side in one
//! run on the same weights and inputs: forward pass plus attention rollout per window.
//!
//! `cargo bench --bench peer -- [--configs shipped,mbt-b] [--devices cpu,gpu] [--runs N]`
//!
//! `shipped` is `assets/models/bottleneck`; `mbt-b` is MBT-B on AudioSet geometry (bottleneck
//! fusion) with random weights, saved to a temporary model folder so that both sides load the same
//! file. mbtscope runs on each device asked for (Flex on the CPU; burn-wgpu on the first wgpu
//! adapter, which is lavapipe on a machine without a GPU); PyTorch runs on the CPU with its default
//! threads. Before timing, the peer's logits and rollout row are checked against mbtscope's.
//! Prints a Markdown table for BENCHMARKS.md.

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::prelude::*;
use mbtscope::explain::RolloutOptions;
use mbtscope::model::MbtConfig;
use mbtscope::model::device::{DeviceChoice, select};
use mbtscope::model::mbt::{Mbt, MbtInput};
use mbtscope::npz::{self, NpyArray};
use mbtscope::runner;
use mbtscope::weights::params::RandomInit;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A model folder for `name`.
fn model_dir(name: &str, scratch: &Path) -> PathBuf {
    match name {
        "shipped" => Path::new(ROOT).join("assets/models/bottleneck"),
        "mbt-b" => {
            let dir = scratch.join("mbt-b");
            if !dir.join("model.safetensors").exists() {
                let path = Path::new(ROOT).join("assets/configs/mbt_b_bottleneck_audioset.json");
                let config = MbtConfig::parse_scenic_json(&std::fs::read_to_string(path).unwrap()).unwrap().config;
                let device = select(DeviceChoice::Cpu).device;
                let model = Mbt::load(&config, &mut RandomInit::new(1), &device).unwrap();
                let params = model.export_params().unwrap();
                let labels: Vec<String> = (0..config.num_classes).map(|i| format!("class {i}")).collect();
                mbtscope::weights::native::save_dir(&dir, &config, &params, &labels, true).unwrap();
            }
            dir
        }
        other => panic!("unknown config {other} (shipped, mbt-b)"),
    }
}

/// Deterministic inputs in the model's shapes: frames in [-1, 1], a normal-ish spectrogram.
fn inputs(config: &MbtConfig) -> (Vec<f32>, [usize; 5], Vec<f32>, [usize; 4]) {
    let d = &config.dataset_configs;
    let [t, m] = d.spectrogram_shape();
    let rgb_shape = [1, d.num_frames, d.crop_size, d.crop_size, 3];
    let spec_shape = [1, t, m, 3];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let rgb = (0..rgb_shape.iter().product::<usize>()).map(|_| next() * 2.0 - 1.0).collect();
    let spec: Vec<f32> = (0..t * m).map(|_| (next() + next() + next() - 1.5) * 2.0).collect();
    let spec = spec.iter().flat_map(|&v| [v, v, v]).collect();
    (rgb, rgb_shape, spec, spec_shape)
}

fn model_input(rgb: &[f32], rgb_shape: [usize; 5], spec: &[f32], spec_shape: [usize; 4], device: &Device) -> MbtInput {
    MbtInput {
        rgb: Some(Tensor::<5>::from_data(TensorData::new(rgb.to_vec(), rgb_shape), device)),
        spectrogram: Some(Tensor::<4>::from_data(TensorData::new(spec.to_vec(), spec_shape), device)),
    }
}

/// What mbtscope did on one device: the best time, the device, the inputs and its outputs.
struct Measured {
    seconds: f64,
    device: String,
    arrays: BTreeMap<String, NpyArray>,
}

/// Best time of `runs` forward + rollout passes after one warm-up; the arrays hold the inputs and
/// the last run's logits and rollout row of the first joint token, for the peer.
fn time_mbtscope(dir: &Path, device_name: &str, runs: usize) -> Measured {
    let choice = if device_name == "gpu" { DeviceChoice::Gpu } else { DeviceChoice::Cpu };
    let selected = select(choice);
    let loaded = runner::load_model_dir(dir, &selected.device).unwrap();
    let (rgb, rs, spec, ss) = inputs(loaded.config());
    let mut best = f64::INFINITY;
    let mut last = (Vec::new(), Vec::new());
    for run in 0..=runs {
        let x = model_input(&rgb, rs, &spec, ss, &selected.device);
        let _ = x.rgb.as_ref().unwrap().clone().sum().into_scalar::<f32>();
        let start = Instant::now();
        let (out, explanation) = runner::explain(&loaded.model, x, RolloutOptions::default()).unwrap();
        let logits = mbtscope::analysis::host(out.logits).unwrap();
        // Row 0 of the rollout as the app takes rows: from the top layer down.
        let n = explanation.layout.len();
        let mut e0 = vec![0.0f32; n];
        e0[0] = 1.0;
        let weights = Tensor::<3>::from_data(TensorData::new(e0, [1, 1, n]), &selected.device);
        let row = mbtscope::analysis::host(explanation.rows(weights)).unwrap();
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
        last = (logits, row);
    }
    let (logits, row) = last;
    let mut arrays = BTreeMap::new();
    arrays.insert("rgb".to_owned(), NpyArray::f32(rs.to_vec(), rgb));
    arrays.insert("spectrogram".to_owned(), NpyArray::f32(ss.to_vec(), spec));
    arrays.insert("logits".to_owned(), NpyArray::f32(vec![1, logits.len()], logits));
    arrays.insert("rollout_row0".to_owned(), NpyArray::f32(vec![1, row.len()], row));
    Measured { seconds: best, device: selected.description, arrays }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| -> String {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
    };
    let runs: usize = value("--runs", "3").parse().unwrap();
    let scratch = std::env::temp_dir().join("mbtscope-peer-bench");
    std::fs::create_dir_all(&scratch).unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    println!(
        "| config | mbtscope device | mbtscope (s) | PyTorch CPU (s) | ratio (mbtscope / PyTorch) | max logit diff | max rollout diff |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for name in value("--configs", "shipped,mbt-b").split(',') {
        let dir = model_dir(name, &scratch);
        for device_name in value("--devices", "cpu,gpu").split(',') {
            let Measured { seconds: ours, device: description, arrays } = time_mbtscope(&dir, device_name, runs);
            // The peer gets the same inputs and checks itself against these outputs.
            let io = scratch.join(format!("{name}-{device_name}.npz"));
            npz::write(&io, &arrays, true).unwrap();
            let output = Command::new(&python)
                .arg(Path::new(ROOT).join("benches/reference/mbt_torch.py"))
                .arg("--model")
                .arg(&dir)
                .arg("--io")
                .arg(&io)
                .args(["--runs", &runs.to_string()])
                .output()
                .expect("python3 with torch and numpy (pip install torch numpy)");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let Some(peer) = stdout.lines().find_map(|l| l.strip_prefix("PEER|")) else {
                println!(
                    "| {name} | {description} | {ours:.3} | failed: {} | | | |",
                    String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
                );
                continue;
            };
            let f: Vec<&str> = peer.split('|').collect();
            let theirs: f64 = f[0].parse().unwrap();
            println!("| {name} | {description} | {ours:.3} | {theirs:.3} | {:.2} | {} | {} |", ours / theirs, f[1], f[2]);
        }
    }
}
