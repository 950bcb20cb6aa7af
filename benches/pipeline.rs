//! Headless pipeline throughput: `analyze`'s real-time factor on the demo clips, and `export`'s
//! annotated frames per second against the `ffmpeg` CLI re-encoding the same clip, alternating in
//! one run.
//!
//! `cargo bench --bench pipeline -- [--runs N] [--device cpu|gpu|auto]`
//!
//! Real-time factor = analysis time (every window, both shipped models, rollout) / clip duration;
//! below 1 is faster than real time. Export: the whole clip as an annotated MP4 (H.264 veryfast
//! CRF 20 + AAC, the two models side by side, analysis already done) and as PNG frames; the peer is
//! `ffmpeg -i CLIP -c:v libx264 -preset veryfast -crf 20 -c:a aac` (no annotation) on the same clip.

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use mbtscope::analysis::AnalysisSettings;
use mbtscope::analysis::{ModelRun, analyze_cached};
use mbtscope::export::annotate::AnnotateStyle;
use mbtscope::export::{ExportJob, FrameSelection, ImageFormat, export};
use mbtscope::model::device::{DeviceChoice, select};
use mbtscope::runner;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| -> String {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_owned())
    };
    let runs: usize = value("--runs", "3").parse().unwrap();
    let choice = match value("--device", "auto").as_str() {
        "cpu" => DeviceChoice::Cpu,
        "gpu" => DeviceChoice::Gpu,
        _ => DeviceChoice::Auto,
    };
    let selected = select(choice);
    let models: Vec<PathBuf> = ["bottleneck", "vanilla"].iter().map(|m| Path::new(ROOT).join("assets/models").join(m)).collect();
    let loaded: Vec<_> = models.iter().map(|d| runner::load_model_dir(d, &selected.device).unwrap()).collect();
    let settings = AnalysisSettings::default();
    let mut clips: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("assets/demo"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    clips.sort();
    println!("device: {}", selected.description);

    println!("\n| clip | duration (s) | windows x models | analysis (s) | real-time factor |");
    println!("| --- | --- | --- | --- | --- |");
    let mut runs_by_clip = Vec::new();
    for clip in &clips {
        let duration = mbtscope::media::VideoDecoder::open(clip).unwrap().info().duration.secs();
        let mut best = f64::INFINITY;
        let mut last = Vec::new();
        for run in 0..=runs {
            let start = Instant::now();
            let done: Vec<ModelRun> =
                models.iter().zip(&loaded).map(|(d, m)| analyze_cached(clip, d, m, &settings, None, |_, _| {}).unwrap()).collect();
            if run > 0 {
                best = best.min(start.elapsed().as_secs_f64());
            }
            last = done;
        }
        let windows: usize = last.iter().map(|r| r.results.len()).sum();
        println!("| {} | {duration:.2} | {windows} | {best:.3} | {:.3} |", clip.file_name().unwrap().to_string_lossy(), best / duration);
        runs_by_clip.push((clip.clone(), last));
    }

    println!("\n| clip | frames | mbtscope MP4 (frames/s) | mbtscope PNG (frames/s) | ffmpeg re-encode (frames/s) | ratio MP4 / ffmpeg |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let scratch = std::env::temp_dir().join("mbtscope-pipeline-bench");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let never = AtomicBool::new(false);
    for (clip, done) in &runs_by_clip {
        let refs: Vec<&ModelRun> = done.iter().collect();
        let (mut video_best, mut png_best, mut ffmpeg_best) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let mut frames = 0;
        for run in 0..=runs {
            let video = scratch.join(format!("{run}.mp4"));
            let job = ExportJob {
                clip: clip.clone(),
                frames: FrameSelection::All,
                style: AnnotateStyle::default(),
                top_k: 3,
                out_dir: None,
                format: ImageFormat::Png,
                jpeg_quality: 92,
                video: Some(video.clone()),
                force: true,
            };
            let start = Instant::now();
            let summary = export(&job, &refs, &settings, |_, _| {}, &never).unwrap();
            let video_time = start.elapsed().as_secs_f64();
            frames = summary.written;

            let png_dir = scratch.join(format!("png{run}"));
            let job = ExportJob { video: None, out_dir: Some(png_dir), ..job };
            let start = Instant::now();
            export(&job, &refs, &settings, |_, _| {}, &never).unwrap();
            let png_time = start.elapsed().as_secs_f64();

            let peer = scratch.join(format!("ffmpeg{run}.mp4"));
            let start = Instant::now();
            let status = Command::new("ffmpeg")
                .args(["-y", "-loglevel", "error", "-i"])
                .arg(clip)
                .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac"])
                .arg(&peer)
                .status()
                .expect("the ffmpeg CLI (Debian package ffmpeg)");
            assert!(status.success());
            let ffmpeg_time = start.elapsed().as_secs_f64();
            if run > 0 {
                video_best = video_best.min(video_time);
                png_best = png_best.min(png_time);
                ffmpeg_best = ffmpeg_best.min(ffmpeg_time);
            }
        }
        let fps = |t: f64| frames as f64 / t;
        println!(
            "| {} | {frames} | {:.1} | {:.1} | {:.1} | {:.2} |",
            clip.file_name().unwrap().to_string_lossy(),
            fps(video_best),
            fps(png_best),
            fps(ffmpeg_best),
            fps(video_best) / fps(ffmpeg_best)
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
