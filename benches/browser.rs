//! The dataset browser on a large results file: reading the table's columns from Parquet (against
//! polars reading the same columns, when python3 has it), sorting, filtering and searching the
//! table, and the app's frame time on the results page with 100,000 clips against 100 clips
//! (flat when only the rows on screen are drawn), still and while scrolling.
//!
//! `cargo bench --bench browser -- [--clips N]` (default 100000). The file is synthetic: two
//! models, one window per clip and model, the top 5 classes, no maps.

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::path::{Path, PathBuf};
use std::time::Instant;

use egui_kittest::Harness;
use mbtscope::analysis::report::{ClipResult, FORMAT, Label, ModelInfo, Results, WindowOut};
use mbtscope::app::{AppOptions, MbtApp};
use mbtscope::dataset::table::{Query, ResultsTable, Show, SortBy};
use mbtscope::media::output::AudioDevice;
use mbtscope::model::device::DeviceChoice;

fn results(n: usize) -> Results {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    let labels = mbtscope::weights::native::read_labels(&dir.join("bottleneck/labels.txt")).unwrap();
    let model = |name: &str| ModelInfo { name: name.into(), dir: dir.join(name), labels: labels.clone() };
    let window = |seed: usize| WindowOut {
        index: 0,
        centre: 1.0,
        first_frame: 0.0,
        last_frame: 2.0,
        audio_start: 0.0,
        audio_end: 2.0,
        top: (0..5)
            .map(|k| (seed + k) % labels.len())
            .map(|c| Label { label: labels[c].clone(), class: c, probability: 0.5 / (1.0 + c as f32) })
            .collect(),
        explained_class: None,
        cross_modal: [("rgb".to_owned(), (seed % 97) as f32 / 97.0), ("spectrogram".to_owned(), (seed % 89) as f32 / 89.0)]
            .into_iter()
            .collect(),
        bottleneck: Vec::new(),
        maps: None,
    };
    Results {
        format: FORMAT.into(),
        settings: Default::default(),
        top_k: 5,
        maps: false,
        models: vec![model("bottleneck"), model("vanilla")],
        shard: None,
        clips: (0..n)
            .map(|i| ClipResult {
                clip: PathBuf::from(format!("set/clip_{i:07}.mp4")),
                duration: 10.0,
                seconds: 0.0,
                models: vec![vec![window(i)], vec![window(i / 3)]],
            })
            .collect(),
        failures: Vec::new(),
    }
}

fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// The best of three runs of `f`.
fn best_of_three(mut f: impl FnMut()) -> f64 {
    (0..3).map(|_| seconds(&mut f)).fold(f64::MAX, f64::min)
}

/// Milliseconds per frame of the app on the results page of `path`: `(still, scrolling)`.
fn frame_ms(path: &Path) -> (f64, f64) {
    let options = AppOptions {
        audio: AudioDevice::Disabled,
        device: DeviceChoice::Cpu,
        no_cache: true,
        fresh: true,
        results: Some((path.to_owned(), None)),
        ..AppOptions::default()
    };
    let mut harness = Harness::builder().with_size(egui::vec2(1400.0, 900.0)).build_eframe(|cc| MbtApp::new(cc, options));
    while harness.state().browser.table.is_none() {
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    harness.run_steps(5);
    let frames = 100;
    let still = seconds(|| harness.run_steps(frames)) * 1000.0 / frames as f64;
    harness.hover_at(egui::pos2(400.0, 400.0));
    let scrolling = seconds(|| {
        for _ in 0..frames {
            harness.event(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, -200.0),
                modifiers: egui::Modifiers::default(),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
            });
            harness.step();
        }
    }) * 1000.0
        / frames as f64;
    (still, scrolling)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.iter().position(|a| a == "--clips").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-browser");
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join(format!("clips-{n}.parquet"));
    let big_json = dir.join(format!("clips-{n}.json"));
    let small = dir.join("clips-100.parquet");
    let all = results(n);
    mbtscope::dataset::write_results(&big, &all, true).unwrap();
    mbtscope::dataset::write_results(&big_json, &all, true).unwrap();
    mbtscope::dataset::write_results(&small, &results(100), true).unwrap();
    drop(all);

    let parquet = best_of_three(|| drop(std::hint::black_box(ResultsTable::read(&big, None).unwrap())));
    let json = best_of_three(|| drop(std::hint::black_box(ResultsTable::read(&big_json, None).unwrap())));
    let columns = "['clip', 'model', 'window', 'centre', 'top_classes', 'top_probabilities', 'cross_modal_rgb', 'cross_modal_spectrogram']";
    let polars = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import time, polars as pl\nbest = 1e9\nfor _ in range(3):\n    t = time.perf_counter(); pl.read_parquet('{}', columns={columns}); best = min(best, time.perf_counter() - t)\nprint(best)",
            big.display()
        ))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok());
    let table = ResultsTable::read(&big, None).unwrap();
    let queries = [
        ("sort by clip", Query::default()),
        ("sort by A's confidence, descending", Query { sort: SortBy::Confidence(0), descending: true, ..Query::default() }),
        ("sort by B's top label", Query { sort: SortBy::Label(1), ..Query::default() }),
        ("only disagreements", Query { show: Show::Disagree, ..Query::default() }),
        ("search `clip_00999`", Query { search: "clip_00999".into(), ..Query::default() }),
    ];
    println!("{n} clips, 2 models, 1 window each ({:.1} MB Parquet, {:.1} MB JSON)", mb(&big), mb(&big_json));
    println!();
    println!("| step | time | ratio |");
    println!("| --- | --- | --- |");
    println!("| read the table from Parquet (`ResultsTable::read`: the 8 columns, clip predictions) | {:.0} ms | 1.00 |", parquet * 1000.0);
    match polars {
        Some(p) => println!("| polars `read_parquet` of the same 8 columns (no table built) | {:.0} ms | {:.2} |", p * 1000.0, p / parquet),
        None => println!("| polars `read_parquet` | python3 with polars not found | |"),
    }
    println!("| read the table from JSON | {:.0} ms | {:.2} |", json * 1000.0, json / parquet);
    for (name, query) in &queries {
        let t = best_of_three(|| drop(std::hint::black_box(table.view(query))));
        println!("| {name} | {:.1} ms | |", t * 1000.0);
    }
    let (big_still, big_scroll) = frame_ms(&big);
    let (small_still, small_scroll) = frame_ms(&small);
    println!("| app frame, results page, {n} clips, still | {big_still:.2} ms | {:.2} of 100 clips' |", big_still / small_still);
    println!("| app frame, results page, 100 clips, still | {small_still:.2} ms | 1.00 |");
    println!("| app frame, results page, {n} clips, scrolling | {big_scroll:.2} ms | {:.2} of 100 clips' |", big_scroll / small_scroll);
    println!("| app frame, results page, 100 clips, scrolling | {small_scroll:.2} ms | 1.00 |");
}

fn mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}
