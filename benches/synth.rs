//! How fast the generator makes training clips: one `sync` clip and its twin as `train --fresh`
//! makes them (16 frames rendered, two audio tracks, two spectrograms), the 16 frames alone,
//! and one audio track, on one core.
//!
//! `cargo bench --bench synth -- [--clips N]` (default 64).

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::time::Instant;

use mbtscope::model::MbtConfig;
use mbtscope::synth::{self, SynthConfig, Task, scene};
use mbtscope::train::FreshClips;

fn per_clip_ms(clips: u64, mut work: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    (0..clips).for_each(&mut work);
    start.elapsed().as_secs_f64() * 1e3 / clips as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clips: u64 = args.iter().position(|a| a == "--clips").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(64);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/synth_bottleneck.json");
    let config = MbtConfig::parse_scenic_json(&std::fs::read_to_string(path).unwrap()).unwrap().config;
    let generator = SynthConfig { task: Task::Sync, ..SynthConfig::default() };
    let fresh = FreshClips::new(generator.clone(), &config, 1).unwrap();
    let mut sink = 0usize;
    let pair = per_clip_ms(clips, |i| sink += fresh.pair(i)[1].rgb.len());
    let mut frame = Vec::new();
    let frames = per_clip_ms(clips, |i| {
        let (objects, background, _, _) = synth::design(&generator, i);
        for f in 0..16 {
            scene::render(&objects, &background, f as f64 * 0.12, generator.width, generator.height, &mut frame);
        }
        sink += frame.len();
    });
    let audio = per_clip_ms(clips, |i| {
        let (objects, _, sounding, _) = synth::design(&generator, i);
        sink += synth::audio(&generator, &objects, sounding, i).len();
    });
    println!("| what ({clips} `sync` clips, one core) | ms per clip |");
    println!("| --- | --- |");
    println!("| a clip and its twin, as `train --fresh --pair-twins` makes them | {pair:.1} |");
    println!("| 16 frames of 112 px | {frames:.1} |");
    println!("| one 4 s audio track | {audio:.1} |");
    assert!(sink > 0);
}
