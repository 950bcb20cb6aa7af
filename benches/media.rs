//! Decode + convert throughput on a 1080p H.264 clip against `ffmpeg -i clip -f null -` on the
//! same file (and against ffmpeg converting to RGB as well), and log-mel spectrogram throughput.
//!
//! `cargo bench --bench media -- [--seconds N]`. The clip is made with the ffmpeg CLI
//! (testsrc2, 1920x1080, 25 fps, libx264) in the target directory.

#![expect(clippy::print_stdout, reason = "a benchmark prints its report on stdout")]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use mbtscope::features::{Fbank, FbankConfig};
use mbtscope::media::VideoDecoder;

fn ffmpeg_seconds(args: &[&str], clip: &Path) -> f64 {
    let start = Instant::now();
    let status = Command::new("ffmpeg").args(["-v", "error", "-threads", "0", "-i"]).arg(clip).args(args).status().expect("ffmpeg CLI");
    assert!(status.success());
    start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u32 = args.iter().position(|a| a == "--seconds").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let clip = dir.join(format!("bench-1080p-{seconds}s.mp4"));
    if !clip.exists() {
        let status = Command::new("ffmpeg")
            .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=1920x1080:rate=25:duration={seconds}"))
            .args(["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p"])
            .arg(&clip)
            .status()
            .expect("ffmpeg CLI");
        assert!(status.success());
    }
    let frames = f64::from(seconds * 25);

    // Best of three for each, alternating, so that both see the same machine state.
    let (mut ours, mut ffmpeg_decode, mut ffmpeg_rgb) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..3 {
        let start = Instant::now();
        let mut decoder = VideoDecoder::open(&clip).unwrap();
        let mut count = 0;
        while let Some(frame) = decoder.next_frame().unwrap() {
            std::hint::black_box(&frame.rgb);
            count += 1;
        }
        assert_eq!(count as f64, frames);
        ours = ours.min(start.elapsed().as_secs_f64());
        ffmpeg_decode = ffmpeg_decode.min(ffmpeg_seconds(&["-f", "null", "-"], &clip));
        ffmpeg_rgb = ffmpeg_rgb.min(ffmpeg_seconds(&["-pix_fmt", "rgb24", "-f", "null", "-"], &clip));
    }
    println!("| measurement | time (s) | frames/s | ratio to mbtscope |");
    println!("| --- | --- | --- | --- |");
    println!("| mbtscope decode + RGB conversion (1080p H.264, {frames} frames) | {ours:.2} | {:.1} | 1.00 |", frames / ours);
    println!(
        "| `ffmpeg -i clip -f null -` (decode only) | {ffmpeg_decode:.2} | {:.1} | {:.2} |",
        frames / ffmpeg_decode,
        ffmpeg_decode / ours
    );
    println!("| `ffmpeg -i clip -pix_fmt rgb24 -f null -` | {ffmpeg_rgb:.2} | {:.1} | {:.2} |", frames / ffmpeg_rgb, ffmpeg_rgb / ours);

    // Spectrogram: 10 minutes of 16 kHz audio.
    let samples: Vec<f32> =
        (0..16_000 * 600).map(|i| ((i as f32) * 0.05).sin() * 0.3 + ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.05).collect();
    let fbank = Fbank::new(FbankConfig::default());
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(fbank.compute(&samples));
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("| log-mel fbank, 600 s of 16 kHz audio (128 bins, one thread) | {best:.2} | {:.0}x real time | |", 600.0 / best);
}
