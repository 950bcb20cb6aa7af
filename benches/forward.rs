//! Time per window and peak memory, for a small config and MBT-B, on Flex and burn-wgpu: the
//! forward pass alone, with head-fused attention kept, with attention rollout and bottleneck
//! activity, and with gradient-weighted relevance.
//!
//! `cargo bench --bench forward -- [--configs small,mbt-b-bottleneck,mbt-b-vanilla]
//! [--devices cpu,gpu] [--modes forward,fused,rollout,rollout-joint,relevance,train-step] [--runs N]
//! [--cpu-blocks fused,burn] [--freed-memory kept,returned]` (configs also `shipped-bottleneck`,
//! `shipped-vanilla`: assets/configs/synth_*.json; `rollout`: the explained rows, as the app takes
//! them; `rollout-joint`: the dense matrix; `train-step`: one step of `mbtscope train`, a batch of
//! 24 forward and backward and an Adam update; `--cpu-blocks`: on the CPU, the encoder block fused
//! on host buffers, as the app runs it, and/or as burn's ops, for a side-by-side ratio;
//! `--freed-memory`: with [`mbtscope::runner::keep_freed_memory`], as `mbtscope` runs, and/or
//! without). Each
//! (config, device, mode) runs in its own child process so that its peak resident memory (VmHWM;
//! on lavapipe GPU buffers live in host memory too) is its own. Results go to stdout as a
//! Markdown table for BENCHMARKS.md.

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::process::Command;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use mbtscope::explain::RolloutOptions;
use mbtscope::explain::relevance::relevance;
use mbtscope::model::device::{DeviceChoice, select};
use mbtscope::model::mbt::{Capture, HeadFusion, Mbt, MbtInput};
use mbtscope::model::{MbtConfig, flops};
use mbtscope::runner;
use mbtscope::weights::params::RandomInit;

fn config(name: &str) -> MbtConfig {
    if let Some(kind) = name.strip_prefix("shipped-") {
        let path = format!("{}/assets/configs/synth_{kind}.json", env!("CARGO_MANIFEST_DIR"));
        return MbtConfig::parse_scenic_json(&std::fs::read_to_string(path).unwrap()).unwrap().config;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/mbt_b_bottleneck_audioset.json");
    let mut c = MbtConfig::parse_scenic_json(&std::fs::read_to_string(path).unwrap()).unwrap().config;
    match name {
        "mbt-b-bottleneck" => {}
        "mbt-b-vanilla" => c.use_bottleneck = false,
        "small" => {
            // A ViT-Tiny-sized MBT on 8 frames of 112 px and a 4 s spectrogram.
            c.hidden_size = 192;
            c.num_heads = 3;
            c.mlp_dim = 768;
            c.num_layers = 6;
            c.fusion_layer = 3;
            c.num_classes = 10;
            c.dataset_configs.num_frames = 8;
            c.dataset_configs.crop_size = 112;
            c.dataset_configs.num_spec_frames = 4;
        }
        other => panic!("unknown config {other}"),
    }
    c
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn input(c: &MbtConfig, device: &Device) -> MbtInput {
    batch_input(c, 1, device)
}

fn batch_input(c: &MbtConfig, b: usize, device: &Device) -> MbtInput {
    let d = &c.dataset_configs;
    let [t, m] = d.spectrogram_shape();
    MbtInput {
        rgb: Some(Tensor::random([b, d.num_frames, d.crop_size, d.crop_size, 3], burn::tensor::Distribution::Uniform(-1.0, 1.0), device)),
        spectrogram: Some(Tensor::random([b, t, m, 3], burn::tensor::Distribution::Normal(0.0, 1.0), device)),
    }
}

const TRAIN_BATCH: usize = 24;

/// One training step as `mbtscope train` takes it: a batch of 24 windows forward and backward
/// under autodiff, and an Adam update. Returns the loss.
fn train_step(model: Mbt, optim: &mut ModuleOptimizer, c: &MbtConfig, x: MbtInput, device: &Device) -> (Mbt, Tensor<1>) {
    let b = TRAIN_BATCH;
    let x = x.autodiff();
    let labels = Tensor::<1, Int>::from_data(TensorData::new((0..b as i64).map(|i| i % c.num_classes as i64).collect(), [b]), device);
    let logits = model.forward(x, Capture::None).unwrap().logits;
    let picked: Tensor<2> = burn::tensor::activation::log_softmax(logits, 1).gather(1, labels.reshape([b, 1]));
    let loss = picked.mean().neg();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optim.step(1e-4, model, grads), loss.without_autodiff())
}

/// Runs one measurement in this process and prints one result line.
fn child(name: &str, device_name: &str, mode: &str, blocks: &str, memory: &str, runs: usize) {
    if memory == "kept" {
        runner::keep_freed_memory();
    }
    mbtscope::model::cpu_block::set_enabled(blocks == "fused");
    let c = config(name);
    let choice = if device_name == "gpu" { DeviceChoice::Gpu } else { DeviceChoice::Cpu };
    let selected = select(choice);
    let device = selected.device;
    let mut model = Mbt::load(&c, &mut RandomInit::new(1), &device).unwrap();
    let mut optim = AdamConfig::new().init();
    if mode == "train-step" {
        model = model.train();
    }
    // One warm-up (kernel compilation, autotune), then the best of the timed runs.
    let mut best = f64::INFINITY;
    for run in 0..=runs {
        let x = if mode == "train-step" { batch_input(&c, TRAIN_BATCH, &device) } else { input(&c, &device) };
        let _ = x.rgb.as_ref().unwrap().clone().sum().into_scalar::<f32>();
        let start = Instant::now();
        let sync: Tensor<1> = match mode {
            "forward" => model.forward(x, Capture::None).unwrap().logits.sum(),
            "fused" => {
                let out = model.forward(x, Capture::Fused(HeadFusion::Mean)).unwrap();
                let mut sync = out.logits.sum();
                for a in out.attention {
                    for block in a.probs.blocks {
                        sync = sync + block.probs.sum();
                    }
                }
                sync
            }
            // The explained rows, as the app, analyze, export and eval take them.
            "rollout" => {
                let (out, explanation) = runner::explain(&model, x, RolloutOptions::default()).unwrap();
                let rows = mbtscope::explain::maps::explained_rollout_rows(&model.config, &explanation);
                rows.into_iter().fold(out.logits.sum(), |s, (_, r)| s + r.sum())
            }
            // The dense joint rollout, as `infer --rollout` writes it.
            "rollout-joint" => {
                let (out, explanation) = runner::explain(&model, x, RolloutOptions::default()).unwrap();
                out.logits.sum() + explanation.rollout().sum()
            }
            "relevance" => {
                let result = relevance(&model, x, None).unwrap();
                let rows = mbtscope::explain::maps::explained_relevance_rows(&model.config, &result);
                rows.into_iter().fold(result.logits.sum(), |s, (_, r)| s + r.sum())
            }
            "train-step" => {
                let (trained, loss) = train_step(model, &mut optim, &c, x, &device);
                model = trained;
                loss
            }
            other => panic!("unknown mode {other}"),
        };
        let _ = sync.into_scalar::<f32>();
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    let gflops = flops::count(&c).total() / 1e9;
    let device_name = if device_name == "cpu" { format!("cpu, {blocks} blocks") } else { device_name.to_owned() };
    let device_name = if memory == "kept" { device_name } else { format!("{device_name}, freed memory returned") };
    println!("RESULT|{name}|{device_name}|{mode}|{gflops:.1}|{best:.4}|{:.0}|{}", peak_rss_mib(), selected.description);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| -> String {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
    };
    let runs: usize = value("--runs", "3").parse().unwrap();
    if let Ok(job) = std::env::var("MBTSCOPE_BENCH_CHILD") {
        let parts: Vec<&str> = job.split(':').collect();
        child(parts[0], parts[1], parts[2], parts[3], parts[4], runs);
        return;
    }
    println!("| config | device | mode | model GFLOPs | time per window (s) | peak RSS (MiB) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for name in value("--configs", "small,mbt-b-bottleneck,mbt-b-vanilla").split(',') {
        let cpu_blocks = value("--cpu-blocks", "fused");
        let jobs = value("--devices", "cpu,gpu")
            .split(',')
            .flat_map(|d| {
                let blocks: Vec<&str> = if d == "cpu" { cpu_blocks.split(',').collect() } else { vec!["burn"] };
                blocks.into_iter().map(move |b| (d.to_owned(), b.to_owned()))
            })
            .collect::<Vec<_>>();
        for (device, blocks) in &jobs {
            for (mode, memory) in value("--modes", "forward,fused,rollout,relevance")
                .split(',')
                .flat_map(|mode| value("--freed-memory", "kept").split(',').map(|m| (mode.to_owned(), m.to_owned())).collect::<Vec<_>>())
            {
                let mode = mode.as_str();
                let output = Command::new(&args[0])
                    .args(["--runs", &runs.to_string()])
                    .env("MBTSCOPE_BENCH_CHILD", format!("{name}:{device}:{mode}:{blocks}:{memory}"))
                    .output()
                    .expect("re-running the benchmark binary");
                let stdout = String::from_utf8_lossy(&output.stdout);
                match stdout.lines().find_map(|l| l.strip_prefix("RESULT|")) {
                    Some(line) => {
                        let f: Vec<&str> = line.split('|').collect();
                        println!("| {} | {} ({}) | {} | {} | {} | {} |", f[0], f[1], f[6], f[2], f[3], f[4], f[5]);
                    }
                    None => {
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        let reason = stderr
                            .lines()
                            .find(|l| l.contains("panicked") || l.contains("allocate") || l.contains("error"))
                            .unwrap_or("no result");
                        println!("| {name} | {device} | {mode} | failed: {reason} | | |");
                    }
                }
            }
        }
    }
}
