//! What a user meets at the edges: stdout closed early, arguments that do not fit the model, a
//! tampered analysis cache, `--force` and concurrent writers, two image formats in one folder,
//! and frames FFmpeg cannot decode. Each test is the regression test of one reported failure
//! (issue "Reliability", F1 to F10).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mbtscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mbtscope"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model(name: &str) -> PathBuf {
    root().join("assets/models").join(name)
}

fn demo() -> PathBuf {
    root().join("assets/demo/test_00000.mp4")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "failed ({:?}):\n{}", output.status.code(), stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One short generated test clip (112 px, 3 s) in `dir`.
fn short_clip(dir: &Path) -> PathBuf {
    let out = mbtscope()
        .args(["synth", "--clips", "1", "--seed", "11", "--split", "test", "--size", "112", "--duration", "3", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    ok(&out);
    dir.join("test_00000.mp4")
}

/// Runs `command` with its stdout a pipe whose reading end is already closed, as
/// `command | head -0` would.
fn with_stdout_closed(mut command: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command.stdout(writer).stderr(Stdio::piped()).stdin(Stdio::null());
    command.output().unwrap()
}

/// F1: no command panics when its reader goes away; each still does its work and exits 0.
#[test]
fn commands_piped_into_a_closed_reader_finish_without_a_panic() {
    let work = crate::scratch("reliability-stdout");
    let case = crate::fixtures().join("mbt/bottleneck_mid_gap_old_layout");
    let imported = work.join("imported");
    let mut import = mbtscope();
    import
        .arg("import-scenic")
        .arg(case.join("checkpoint.msgpack"))
        .arg("--config")
        .arg(case.join("config.json"))
        .arg("--out")
        .arg(&imported);
    let mut infer = mbtscope();
    infer
        .args(["infer", "--device", "cpu", "--model"])
        .arg(&imported)
        .arg("--inputs")
        .arg(case.join("io.npz"))
        .arg("--out")
        .arg(work.join("out.npz"));
    let mut probe = mbtscope();
    probe.arg("probe").arg(demo());
    let mut flops = mbtscope();
    flops.arg("flops").arg("--config").arg(root().join("assets/configs/mbt_b_bottleneck_audioset.json"));
    let mut export = mbtscope();
    export
        .args(["export", "--device", "cpu", "--no-cache", "--frames", "0:2", "--model"])
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(work.join("frames"))
        .arg(demo());
    let mut play = mbtscope();
    play.args(["play", "--audio-device", "none", "--seconds", "3"]).arg(demo());
    for (name, command) in
        [("import-scenic", import), ("infer", infer), ("probe", probe), ("flops", flops), ("export", export), ("play", play)]
    {
        let started = std::time::Instant::now();
        let out = with_stdout_closed(command);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{name} panicked:\n{err}");
        assert_eq!(out.status.code(), Some(0), "{name}:\n{err}");
        if name == "play" {
            assert!(started.elapsed().as_secs_f64() < 2.5, "play goes on for nobody: {:?}", started.elapsed());
        }
    }
    // The work was done all the same.
    assert!(imported.join("model.safetensors").exists());
    assert!(work.join("out.npz").exists());
    assert!(work.join("frames/test_00000_000001.png").exists());
}

fn analyze(clip: &Path, out: &Path, extra: &[&str]) -> Output {
    on_clip("analyze", clip, out, extra)
}

/// `mbtscope COMMAND` with the shipped bottleneck model on the CPU, uncached, on `clip`.
fn on_clip(command: &str, clip: &Path, out: &Path, extra: &[&str]) -> Output {
    mbtscope()
        .args([command, "--device", "cpu", "--no-cache", "--model"])
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(clip)
        .output()
        .unwrap()
}

/// F5 to F8: numbers that do not fit the model, and flags that do not fit together, are bad
/// arguments (exit status 2, a message naming the flag and the model), and nothing is written.
#[test]
fn arguments_that_do_not_fit_the_model_exit_2_with_a_message() {
    let work = crate::scratch("reliability-args");
    let clip = demo();
    let out = work.join("results.json");
    let layers = {
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model("bottleneck").join("model.json")).unwrap()).unwrap();
        config["num_layers"].as_u64().unwrap()
    };
    for (args, wanted) in [
        (vec!["--start-layer", "99"], "--start-layer 99"),
        (vec!["--start-layer", &*layers.to_string()], "layers"),
        (vec!["--method", "relevance", "--class", "999"], "--class 999"),
        (vec!["--class", "3"], "needs --method relevance"),
        (vec!["--top-k", "0"], "at least 1"),
        (vec!["--top-k", "100000"], "--top-k 100000"),
    ] {
        let run = analyze(&clip, &out, &args);
        assert_eq!(run.status.code(), Some(2), "{args:?}:\n{}", stderr(&run));
        assert!(stderr(&run).contains(wanted), "{args:?}: {}", stderr(&run));
        assert!(!stderr(&run).contains("panicked"));
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    let err = stderr(&analyze(&clip, &out, &["--start-layer", "99"]));
    assert!(err.contains("bottleneck"), "names the model: {err}");
    // The same checks in export and eval.
    let export = export(&clip, &work.join("frames"), &["--start-layer", "99"]);
    assert_eq!(export.status.code(), Some(2), "{}", stderr(&export));
    assert!(!work.join("frames").exists());
    let eval = mbtscope()
        .args(["eval", "--device", "cpu", "--start-layer", "99", "--data"])
        .arg(root().join("assets/demo"))
        .arg("--model")
        .arg(model("bottleneck"))
        .output()
        .unwrap();
    assert_eq!(eval.status.code(), Some(2), "{}", stderr(&eval));
    // A loss weight below 0 is refused before anything is trained or written.
    for flag in ["--modality-loss", "--sync-loss"] {
        let out = work.join("model");
        let train = mbtscope()
            .args(["train", "--device", "cpu", "--fresh", "sync", "--steps", "1", &format!("{flag}=-1"), "--config"])
            .arg(model("bottleneck").join("model.json"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(train.status.code(), Some(2), "{flag}: {}", stderr(&train));
        assert!(stderr(&train).contains(&format!("{flag} -1")), "{}", stderr(&train));
        assert!(!out.exists(), "{flag} wrote {}", out.display());
    }
}

/// The analysis cache entry of `clip` in `cache` (the only one there).
fn cache_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join("mbtscope/analysis"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// F2: a cache entry that still parses is not trusted: cut short, edited with its hash fixed up
/// to match, or damaged, it is recomputed, and the output is whole.
#[test]
fn a_tampered_analysis_cache_is_recomputed_not_trusted() {
    let work = crate::scratch("reliability-cache");
    let clip = short_clip(&work);
    let cache = work.join("cache");
    let run = |out: &Path| {
        mbtscope()
            .env("XDG_CACHE_HOME", &cache)
            .args(["analyze", "--device", "cpu", "--force", "--model"])
            .arg(model("bottleneck"))
            .arg("--out")
            .arg(out)
            .arg(&clip)
            .output()
            .unwrap()
    };
    ok(&run(&work.join("first.json")));
    let entry = cache_entry(&cache);
    let bytes = std::fs::read(&entry).unwrap();
    let newline = bytes.iter().position(|&b| b == b'\n').expect("a header line");
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[..newline]).unwrap();
    let mut results: serde_json::Value = serde_json::from_slice(&bytes[newline + 1..]).unwrap();
    // Cut the stored rgb map of the first window to 5 values, and fix the hash up to match, as
    // a careful vandal (or a buggy writer) would: only the shape check can catch this.
    let values = results[0]["rgb"]["values"].as_array_mut().unwrap();
    assert!(values.len() > 5);
    values.truncate(5);
    let payload = serde_json::to_vec(&results).unwrap();
    use sha2::Digest as _;
    header["sha256"] = sha2::Sha256::digest(&payload).iter().map(|b| format!("{b:02x}")).collect::<String>().into();
    let mut tampered = serde_json::to_vec(&header).unwrap();
    tampered.push(b'\n');
    tampered.extend_from_slice(&payload);
    std::fs::write(&entry, &tampered).unwrap();

    let second = run(&work.join("second.json"));
    ok(&second);
    assert!(stderr(&second).contains("ignoring the cached analysis"), "{}", stderr(&second));
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(work.join("second.json")).unwrap()).unwrap();
    for window in out["clips"][0]["models"][0].as_array().unwrap() {
        let map: mbtscope::analysis::CompactMap = serde_json::from_value(window["maps"]["rgb"].clone()).unwrap();
        assert_eq!(map.decode().unwrap().len(), map.shape.iter().product::<usize>(), "a map of shape {:?}", map.shape);
    }
    // The entry was written again, whole; export reads it without a panic.
    let rewritten = std::fs::read(cache_entry(&cache)).unwrap();
    assert_ne!(rewritten, tampered);
    // Damage anywhere in the payload is caught by the hash.
    let mut damaged = rewritten.clone();
    let last = damaged.len() - 10;
    damaged[last] = if damaged[last] == b'1' { b'2' } else { b'1' };
    std::fs::write(cache_entry(&cache), &damaged).unwrap();
    let export = mbtscope()
        .env("XDG_CACHE_HOME", &cache)
        .args(["export", "--device", "cpu", "--frames", "0:3", "--model"])
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(work.join("frames"))
        .arg(&clip)
        .output()
        .unwrap();
    ok(&export);
    assert!(stderr(&export).contains("does not match its hash"), "{}", stderr(&export));
}

fn export(clip: &Path, out: &Path, extra: &[&str]) -> Output {
    on_clip("export", clip, out, extra)
}

fn frames_in(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n.ends_with(ext))
        .collect();
    names.sort();
    names
}

/// F3 and F9: `--force` replaces the other export's frames (none survive to be "resumed"
/// later), and a PNG and a JPEG export of one clip share a folder, each resumable.
#[test]
fn force_replaces_every_frame_and_two_formats_share_a_folder() {
    let work = crate::scratch("reliability-force");
    let clip = short_clip(&work);
    let out = work.join("frames");
    ok(&export(&clip, &out, &["--frames", "0:20"]));
    ok(&export(&clip, &out, &["--frames", "0:10", "--colormap", "viridis", "--force"]));
    assert_eq!(frames_in(&out, ".png").len(), 10, "the turbo frames 10 to 19 are gone");
    let third = ok(&export(&clip, &out, &["--frames", "0:20", "--colormap", "viridis"]));
    assert!(third.contains("(10 kept"), "{third}");
    // Frame 15 is viridis, as a fresh export draws it.
    let fresh = work.join("fresh");
    ok(&export(&clip, &fresh, &["--frames", "15:16", "--colormap", "viridis"]));
    let (a, b) = (
        image::open(out.join("test_00000_000015.png")).unwrap().to_rgb8(),
        image::open(fresh.join("test_00000_000015.png")).unwrap().to_rgb8(),
    );
    assert_eq!(a, b, "frame 15 was drawn by the viridis export");

    // JPEG into the same folder: no clash with the PNG export, and neither is broken.
    ok(&export(&clip, &out, &["--frames", "0:5", "--format", "jpg", "--colormap", "viridis"]));
    assert_eq!(frames_in(&out, ".jpg").len(), 5);
    let again = ok(&export(&clip, &out, &["--frames", "0:20", "--colormap", "viridis"]));
    assert!(again.contains("(20 kept"), "the PNG export still resumes: {again}");
    let jpg_again = ok(&export(&clip, &out, &["--frames", "0:5", "--format", "jpg", "--colormap", "viridis"]));
    assert!(jpg_again.contains("(5 kept"), "{jpg_again}");
    // Another JPEG export without --force refuses, naming the clash.
    let clash = export(&clip, &out, &["--frames", "0:5", "--format", "jpg", "--colormap", "jet"]);
    assert_eq!(clash.status.code(), Some(1));
    assert!(stderr(&clash).contains("another export"), "{}", stderr(&clash));
}

/// F4: a second writer of the same export folder or results file refuses with a message while
/// the first holds it, and goes ahead once it is done; when two runs race, none that reports
/// success has lost its results.
#[test]
fn concurrent_writers_refuse_or_keep_every_result() {
    let work = crate::scratch("reliability-concurrent");
    let clip = short_clip(&work);
    let out = work.join("frames");
    std::fs::create_dir_all(&out).unwrap();
    {
        let _held = mbtscope::fsutil::FileLock::acquire(&out.join(".mbtscope-export-test_00000.png.lock"), "a test").unwrap();
        let second = export(&clip, &out, &["--frames", "0:3"]);
        assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
        assert!(
            stderr(&second).contains("another mbtscope run") && stderr(&second).contains(&std::process::id().to_string()),
            "{}",
            stderr(&second)
        );
        assert!(frames_in(&out, ".png").is_empty());
        let results = work.join("results.json");
        let _results_held = mbtscope::fsutil::FileLock::acquire(&work.join(".results.json.lock"), "a test").unwrap();
        let analyze_run = analyze(&clip, &results, &[]);
        assert_eq!(analyze_run.status.code(), Some(1), "{}", stderr(&analyze_run));
        assert!(!results.exists());
    }
    ok(&export(&clip, &out, &["--frames", "0:3"]));

    // Two analyses of different clips into one results file at once.
    let other = work.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let out = mbtscope()
        .args(["synth", "--clips", "1", "--seed", "12", "--split", "test", "--size", "112", "--duration", "3", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    ok(&out);
    let results = work.join("shared.json");
    let spawn = |c: &Path| {
        mbtscope()
            .args(["analyze", "--device", "cpu", "--no-cache", "--model"])
            .arg(model("bottleneck"))
            .arg("--out")
            .arg(&results)
            .arg(c)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&clip), spawn(&other.join("test_00000.mp4")));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let clips: Vec<String> = stored["clips"].as_array().unwrap().iter().map(|c| c["clip"].as_str().unwrap().to_owned()).collect();
    for (run, c) in [(&a, &clip), (&b, &other.join("test_00000.mp4"))] {
        if run.status.success() {
            assert!(clips.contains(&c.display().to_string()), "{} reported success but its results are gone: {clips:?}", c.display());
        } else {
            assert!(stderr(run).contains("another mbtscope run"), "{}", stderr(run));
        }
    }
}

/// F10: frames FFmpeg cannot decode are counted and named, and the frames after them keep their
/// own indices (no renumbering): each exported frame is the frame of its index.
#[test]
fn frames_that_cannot_be_decoded_are_reported_and_the_rest_keep_their_indices() {
    let work = crate::scratch("reliability-corrupt");
    let clean = work.join("clean.mp4");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=112x112:rate=25:duration=4"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=4"])
        .args(["-c:v", "libx264", "-g", "5", "-bf", "0", "-c:a", "aac", "-shortest"])
        .arg(&clean)
        .status()
        .unwrap();
    assert!(status.success());
    // Damage a stretch in the middle of the media data.
    let mut bytes = std::fs::read(&clean).unwrap();
    let start = bytes.len() / 2;
    for (k, b) in bytes[start..start + 3000].iter_mut().enumerate() {
        *b ^= (k * 37 + 11) as u8;
    }
    let corrupt = work.join("corrupt.mp4");
    std::fs::write(&corrupt, &bytes).unwrap();
    let out = work.join("frames");
    let run = mbtscope()
        .args(["export", "--device", "cpu", "--no-cache", "--no-labels", "--opacity", "0", "--model"])
        .arg(model("bottleneck"))
        .arg("--out")
        .arg(&out)
        .arg(&corrupt)
        .output()
        .unwrap();
    ok(&run);
    let names = frames_in(&out, ".png");
    let indices: Vec<usize> = names.iter().map(|n| n.trim_start_matches("corrupt_").trim_end_matches(".png").parse().unwrap()).collect();
    let lost = 100 - indices.len();
    assert!(lost > 0, "the damage lost no frame; make it larger ({} frames)", indices.len());
    assert!(stderr(&run).contains(&format!("{lost} frames could not be decoded")), "{}", stderr(&run));
    // Each exported frame after the damage is the clean clip's frame of the same index.
    let mut decoder = mbtscope::media::VideoDecoder::open(&clean).unwrap();
    let mut clean_frames = Vec::new();
    while let Some(f) = decoder.next_frame().unwrap() {
        clean_frames.push(f);
    }
    let after = *indices.last().unwrap();
    let exported = image::open(out.join(format!("corrupt_{after:06}.png"))).unwrap().to_rgb8();
    let mean_diff = |f: &mbtscope::media::VideoFrame| {
        exported
            .pixels()
            .zip(f.rgb.chunks_exact(3))
            .map(|(a, b)| (0..3).map(|c| (i32::from(a[c]) - i32::from(b[c])).abs()).sum::<i32>())
            .sum::<i32>() as f64
            / (112.0 * 112.0 * 3.0)
    };
    let (best, _) = clean_frames.iter().enumerate().map(|(i, f)| (i, mean_diff(f))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(best, after, "the file of frame {after} shows frame {best}");
}

/// A message names its cause once ("No such file or directory" was printed twice for a missing
/// model folder).
#[test]
fn an_error_names_its_cause_once() {
    let work = crate::scratch("reliability-messages");
    let missing = work.join("no_such_model");
    let run = mbtscope()
        .args(["export", "--device", "cpu", "--no-cache", "--model"])
        .arg(&missing)
        .arg("--out")
        .arg(work.join("frames"))
        .arg(demo())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.contains("no_such_model"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

/// Regression (importing a 3-layer model changed the start layer from 5 to 2 for good): settings
/// that do not fit one model are fitted for that model alone and reported; the settings stay.
#[test]
fn settings_that_do_not_fit_a_model_are_fitted_for_it_alone() {
    use mbtscope::analysis::{AnalysisSettings, Method};
    let three_layers = mbtscope::model::MbtConfig::parse_scenic_json(
        r#"{"hidden_size": 32, "num_layers": 3, "num_heads": 2, "mlp_dim": 64, "num_classes": 8,
        "patches": {"size": [16, 16, 2]}, "classifier": "token", "modality_fusion": ["spectrogram", "rgb"],
        "fusion_layer": 1, "use_bottleneck": true, "n_bottlenecks": 2}"#,
    )
    .unwrap()
    .config;
    let mut chosen = AnalysisSettings { method: Method::Relevance, class: Some(9), ..AnalysisSettings::default() };
    chosen.rollout.start_layer = 5;
    let (fitted, notes) = chosen.fitted_to(&three_layers);
    assert_eq!(fitted.rollout.start_layer, 2, "the model's last layer");
    assert_eq!(fitted.class, None, "a class the model lacks: its top prediction");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("start_layer 5") && notes[0].contains("3 layers"), "{notes:?}");
    assert!(notes[1].contains("class 9") && notes[1].contains("8 classes"), "{notes:?}");
    assert_eq!(chosen.rollout.start_layer, 5, "the chosen settings are left as they are");
    let mut fits = chosen;
    fits.rollout.start_layer = 1;
    fits.class = Some(3);
    assert_eq!(fits.fitted_to(&three_layers), (fits, Vec::new()));
}

/// Without `XDG_RUNTIME_DIR` (a server, CI), Vulkan's device-select layer made libwayland print
/// "error: XDG_RUNTIME_DIR is invalid" lines that read as mbtscope's errors.
#[test]
fn no_stray_wayland_errors_without_a_runtime_dir() {
    let run = mbtscope()
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .args(["infer", "--device", "auto", "--model"])
        .arg(model("bottleneck"))
        .arg("--inputs")
        .arg("/nonexistent/inputs.npz")
        .arg("--out")
        .arg(crate::scratch("reliability-wayland").join("out.npz"))
        .output()
        .unwrap();
    let err = stderr(&run);
    assert!(err.contains("device:"), "the device was chosen: {err}");
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
}
