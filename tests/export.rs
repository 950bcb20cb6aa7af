//! `mbtscope analyze` and `mbtscope export` as scripts call them, on clips from `synth`, with the
//! shipped bottleneck and vanilla models.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mbtscope::analysis::CompactMap;
use mbtscope::media::{Timestamp, VideoDecoder, decode_audio};

fn mbtscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mbtscope"))
}

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models").join(name)
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "failed ({:?}):\n{}", output.status.code(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `n` generated test clips of `size` pixels and `duration` seconds in `dir`.
fn synth(dir: &Path, n: usize, size: u32, duration: f64) -> Vec<PathBuf> {
    let out = mbtscope()
        .args([
            "synth",
            "--clips",
            &n.to_string(),
            "--seed",
            "7",
            "--split",
            "test",
            "--size",
            &size.to_string(),
            "--duration",
            &duration.to_string(),
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    ok(&out);
    (0..n).map(|i| dir.join(format!("test_{i:05}.mp4"))).collect()
}

fn analyze(input: &Path, out: &Path, extra: &[&str]) -> Output {
    mbtscope()
        .args(["analyze", "--device", "cpu", "--no-cache", "--model"])
        .arg(model("bottleneck"))
        .arg("--model")
        .arg(model("vanilla"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn analyze_a_folder_reports_a_broken_clip_and_skips_done_clips_when_run_again() {
    let dir = crate::scratch("analyze-folder");
    let clips = synth(&dir, 2, 112, 3.0);
    std::fs::write(dir.join("broken.mp4"), b"not a video at all").unwrap();
    let out = dir.join("results/results.json");

    let run = analyze(&dir, &out, &["--json"]);
    assert_eq!(run.status.code(), Some(3), "a failed clip must give exit status 3:\n{}", String::from_utf8_lossy(&run.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["failed", "clip", "clip", "done"], "{events:?}");
    assert!(events[0]["error"].as_str().unwrap().contains("broken.mp4"), "the error names the file: {}", events[0]);

    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(results["format"], "mbtscope-analysis/1");
    assert_eq!(results["models"].as_array().unwrap().len(), 2);
    assert_eq!(results["failures"].as_array().unwrap().len(), 1);
    let done = results["clips"].as_array().unwrap();
    assert_eq!(done.len(), 2);
    for (clip, want) in done.iter().zip(&clips) {
        assert_eq!(clip["clip"].as_str().unwrap(), want.to_str().unwrap());
        for windows in clip["models"].as_array().unwrap() {
            let windows = windows.as_array().unwrap();
            // 3 s clips, 1.92 s windows at 25 fps.
            assert!(!windows.is_empty());
            for w in windows {
                let top = w["top"].as_array().unwrap();
                assert_eq!(top.len(), 5);
                let p: Vec<f64> = top.iter().map(|l| l["probability"].as_f64().unwrap()).collect();
                assert!(p.windows(2).all(|w| w[0] >= w[1]) && p.iter().sum::<f64>() <= 1.0 + 1e-5, "{p:?}");
                let rgb: CompactMap = serde_json::from_value(w["maps"]["rgb"].clone()).unwrap();
                assert_eq!(rgb.shape, vec![4, 7, 7], "tubelets x rows x cols for 16 frames of 112 px");
                assert_eq!(rgb.decode().unwrap().len(), 4 * 7 * 7);
                let spec: CompactMap = serde_json::from_value(w["maps"]["spectrogram"].clone()).unwrap();
                assert_eq!(spec.decode().unwrap().len(), spec.shape.iter().product::<usize>());
                assert!(w["cross_modal"]["rgb"].as_f64().is_some());
            }
        }
        // The bottleneck model reports its tokens' activity per fusion layer; vanilla has none.
        let bottleneck = &clip["models"][0][0]["bottleneck"];
        assert_eq!(bottleneck.as_array().unwrap().len(), 4, "fusion layers 2..5");
        assert_eq!(clip["models"][1][0]["bottleneck"].as_array().unwrap().len(), 0);
    }

    // Again: the two good clips are skipped, the broken one is retried and fails again.
    let again = analyze(&dir, &out, &["--json"]);
    assert_eq!(again.status.code(), Some(3));
    let kinds: Vec<String> = String::from_utf8_lossy(&again.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["failed", "skipped", "skipped", "done"]);

    // Other settings do not mix into the same file.
    let other = analyze(&dir, &out, &["--method", "relevance"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("--force"), "{}", String::from_utf8_lossy(&other.stderr));
}

/// The slice of the analysed rgb map shown at `t`: the one whose frames' middle is nearest.
fn slice_at(windows: &[serde_json::Value], t: f64) -> (Vec<f32>, usize, usize) {
    let mut best: Option<(f64, Vec<f32>, usize, usize)> = None;
    for w in windows {
        let map: CompactMap = serde_json::from_value(w["maps"]["rgb"].clone()).unwrap();
        let values = map.decode().unwrap();
        let (first, last) = (w["first_frame"].as_f64().unwrap(), w["last_frame"].as_f64().unwrap());
        let step = (last - first) / 15.0;
        let (rows, cols) = (map.shape[1], map.shape[2]);
        for (s, frames) in w["maps"]["rgb_frames"].as_array().unwrap().iter().enumerate() {
            let (a, b) = (frames[0].as_f64().unwrap(), frames[1].as_f64().unwrap());
            let time = first + step * (a + b - 1.0) / 2.0;
            let distance = (time - t).abs();
            if best.as_ref().is_none_or(|b| distance < b.0) {
                best = Some((distance, values[s * rows * cols..(s + 1) * rows * cols].to_vec(), rows, cols));
            }
        }
    }
    let (_, values, rows, cols) = best.unwrap();
    (values, rows, cols)
}

#[test]
fn export_draws_the_hottest_analysed_patch_hot_and_writes_frames_and_a_video_with_audio() {
    let dir = crate::scratch("export-frames");
    let clip = synth(&dir, 1, 112, 3.0).remove(0);
    let results = dir.join("results.json");
    ok(&analyze(&clip, &results, &[]));
    let analysed: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let windows = analysed["clips"][0]["models"][0].as_array().unwrap().clone();

    let frames = dir.join("frames");
    let video = dir.join("video/annotated.mp4");
    let run = mbtscope()
        .args(["export", "--device", "cpu", "--no-cache", "--frames", "2:12", "--no-labels", "--nearest"])
        .args(["--opacity", "1", "--threshold", "0", "--colormap", "turbo", "--model"])
        .arg(model("bottleneck"))
        .arg("--compare")
        .arg(model("vanilla"))
        .arg("--out")
        .arg(&frames)
        .arg("--video")
        .arg(&video)
        .arg(&clip)
        .output()
        .unwrap();
    let stdout = ok(&run);
    assert!(stdout.contains("10 frames written"), "{stdout}");
    let mut names: Vec<String> = std::fs::read_dir(&frames)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0], "test_00000_000002.png");
    assert_eq!(names[9], "test_00000_000011.png");

    // Frame 4 (t = 0.16 s): side by side, the bottleneck model on the left. With opacity 1, no
    // threshold and nearest upsampling, each 16 px patch is one colormap entry: the hottest
    // patch of the analysed map is the colormap's top (allowing 2 of 255 steps for the map's
    // byte quantisation in results.json), the coldest its bottom.
    let image = image::open(frames.join("test_00000_000004.png")).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (224, 112));
    let (values, rows, cols) = slice_at(&windows, 4.0 / 25.0);
    assert_eq!((rows, cols), (7, 7));
    let argmax = (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
    let argmin = (0..values.len()).min_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
    let colour_at = |i: usize| image.get_pixel((i % cols) as u32 * 16 + 8, (i / cols) as u32 * 16 + 8).0;
    let near = |got: [u8; 3], lo: f32, hi: f32| {
        (0..=255).filter(|&k| (k as f32 / 255.0) >= lo && (k as f32 / 255.0) <= hi).any(|k| {
            let want = mbtscope::render::Colormap::Turbo.eval(k as f32 / 255.0);
            (0..3).all(|c| (i32::from(got[c]) - i32::from(want[c])).abs() <= 1)
        })
    };
    assert!(near(colour_at(argmax), 0.99, 1.0), "hottest patch {argmax} is {:?}", colour_at(argmax));
    assert!(near(colour_at(argmin), 0.0, 0.01), "coldest patch {argmin} is {:?}", colour_at(argmin));

    // The video: the same 10 frames at the clip's rate, with the clip's audio over the same span.
    let mut decoder = VideoDecoder::open(&video).unwrap();
    assert_eq!((decoder.info().width, decoder.info().height), (224, 112));
    assert!(decoder.info().has_audio);
    let mut count = 0;
    while decoder.next_frame().unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 10);
    let audio = decode_audio(&video, 16_000, Timestamp::ZERO, None).unwrap().unwrap();
    let secs = audio.samples.len() as f64 / 16_000.0;
    assert!((secs - 0.4).abs() < 0.1, "{secs} s of audio for 10 frames at 25 fps");
    let source = decode_audio(&clip, 16_000, Timestamp::from_secs(0.08), Some(Timestamp::from_secs(0.48))).unwrap().unwrap();
    let rms = |s: &[f32]| (s.iter().map(|v| v * v).sum::<f32>() / s.len().max(1) as f32).sqrt();
    // AAC twice over: loudness within a factor of 1.5 of the source span.
    let (a, b) = (rms(&audio.samples[..6000.min(audio.samples.len())]), rms(&source.samples[..6000]));
    assert!(a > b / 1.5 && a < b * 1.5, "audio level {a} vs source {b}");

    // The video is not replaced without --force.
    let again = mbtscope()
        .args(["export", "--device", "cpu", "--frames", "2:12", "--model"])
        .arg(model("bottleneck"))
        .arg("--video")
        .arg(&video)
        .arg(&clip)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn an_interrupted_export_leaves_no_partial_file_and_resumes() {
    let dir = crate::scratch("export-interrupt");
    let clip = synth(&dir, 1, 224, 8.0).remove(0);
    let frames = dir.join("frames");
    let video = dir.join("annotated.mp4");
    let export = || {
        let mut c = mbtscope();
        c.args(["export", "--device", "cpu", "--format", "jpg", "--model"])
            .arg(model("bottleneck"))
            .arg("--compare")
            .arg(model("vanilla"))
            .arg("--out")
            .arg(&frames)
            .arg("--video")
            .arg(&video)
            .arg(&clip);
        c
    };
    let visible = || -> Vec<PathBuf> {
        std::fs::read_dir(&frames)
            .map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut child = export().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while visible().len() < 20 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = visible();
    assert!(written.len() >= 20 && written.len() < 200, "{} frames before the kill", written.len());
    for path in &written {
        image::open(path).unwrap_or_else(|e| panic!("{} is not a whole image: {e}", path.display()));
    }
    assert!(!video.exists(), "a killed export must not leave the video under its name");

    let stdout = ok(&export().output().unwrap());
    assert!(stdout.contains("kept from an earlier run"), "{stdout}");
    let kept: usize = stdout.split('(').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(kept >= written.len(), "{stdout}");
    assert_eq!(visible().len(), 200, "8 s at 25 fps");
    let leftovers: Vec<String> = std::fs::read_dir(&frames)
        .unwrap()
        .chain(std::fs::read_dir(&dir).unwrap())
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(video.exists());
}

/// `--upscale`, `--truth-box`, `--labels-below` and `--caption` make a figure: frames three times
/// the size with a strip under them, the sounding object outlined, and a video of them that
/// still decodes (even dimensions).
#[test]
fn export_options_for_figures_upscale_outline_and_caption() {
    let work = crate::scratch("export-figure");
    let clips = synth(&work.join("clips"), 1, 96, 2.0);
    let out = work.join("frames");
    let video = work.join("figure.mp4");
    ok(&mbtscope()
        .args([
            "export",
            "--device",
            "cpu",
            "--no-cache",
            "--frames",
            "10:14",
            "--upscale",
            "3",
            "--truth-box",
            "--labels-below",
            "--caption",
        ])
        .arg(&clips[0])
        .arg("--model")
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(&out)
        .arg("--video")
        .arg(&video)
        .output()
        .unwrap());
    let image = image::open(out.join(format!("{}_000010.png", clips[0].file_stem().unwrap().to_string_lossy()))).unwrap().to_rgb8();
    assert_eq!(image.width(), 3 * 96);
    assert!(image.height() > 3 * 96 && image.height().is_multiple_of(2), "{}", image.height());
    // The sounding object's box, from the sidecar, in white on the frame at 10 / 25 s.
    let truth = mbtscope::synth::read_truth(&clips[0].with_extension("json")).unwrap();
    let b = truth.sounding_box(0.4).unwrap();
    let (x, y) = ((b[0] * 3.0) as u32 + 1, ((b[1] + b[3]) * 1.5) as u32);
    assert!(image.get_pixel(x, y).0.iter().all(|&c| c > 230), "box edge at ({x}, {y}): {:?}", image.get_pixel(x, y));
    let decoded = VideoDecoder::open(&video).unwrap();
    assert_eq!((decoded.info().width, decoded.info().height), (image.width(), image.height()));
    // A bad sidecar is an error that names it, not a missing box.
    std::fs::write(clips[0].with_extension("json"), "{").unwrap();
    let bad = mbtscope()
        .args(["export", "--device", "cpu", "--no-cache", "--frames", "10", "--truth-box", "--force"])
        .arg(&clips[0])
        .arg("--model")
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains(".json"), "{}", String::from_utf8_lossy(&bad.stderr));
}
