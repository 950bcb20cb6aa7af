//! The real binary: import-scenic, infer and flops as a script would call them.

use std::path::Path;
use std::process::{Command, Output};

use mbtscope::npz;

fn mbtscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mbtscope"))
}

/// `mbtscope import-scenic CHECKPOINT --config CASE/config.json --out OUT`
fn import_scenic(checkpoint: &Path, case: &Path, out: &Path) -> Output {
    mbtscope().arg("import-scenic").arg(checkpoint).arg("--config").arg(case.join("config.json")).arg("--out").arg(out).output().unwrap()
}

/// `mbtscope infer --device cpu EXTRA... --model MODEL --inputs CASE/io.npz --out OUT`
fn infer(extra: &[&str], model: &Path, case: &Path, out: &Path) -> Output {
    mbtscope()
        .args(["infer", "--device", "cpu"])
        .args(extra)
        .arg("--model")
        .arg(model)
        .arg("--inputs")
        .arg(case.join("io.npz"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn import_then_infer_reproduces_the_reference() {
    let case = crate::fixtures().join("mbt/temporal_sampling_bottleneck_token_repr");
    let work = crate::scratch("cli-infer");
    let model = work.join("model");
    let status = import_scenic(&case.join("checkpoint.msgpack"), &case, &model);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(model.join("model.safetensors").exists());

    let out = work.join("out.npz");
    let run = infer(&[], &model, &case, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("example 1:"), "{stdout}");
    let got = npz::read(&out).unwrap();
    let want = npz::read(&case.join("io.npz")).unwrap();
    let diff = got["logits"].to_f32().iter().zip(want["logits"].to_f32()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "logits differ by {diff}");
    assert_eq!(got["attn/layer2/rgb"].shape, want["attn/layer2/rgb"].shape);

    // Existing outputs are not overwritten without --force.
    let again = infer(&[], &model, &case, &out);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn bad_checkpoint_file_is_named_in_the_error() {
    let work = crate::scratch("cli-bad");
    let bogus = work.join("checkpoint_100");
    std::fs::write(&bogus, b"\x89PNG not a checkpoint").unwrap();
    let case = crate::fixtures().join("mbt/late_token");
    let run = import_scenic(&bogus, &case, &work.join("m"));
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("checkpoint_100"), "{stderr}");
    assert!(!work.join("m/model.json").exists());
}

#[test]
fn flops_prints_a_total_line_for_mbt_b() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/configs/mbt_b_bottleneck_audioset.json");
    let run = mbtscope().arg("flops").arg("--config").arg(&config).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let last = stdout.lines().last().unwrap();
    let total: f64 = last.strip_prefix("total GFLOPs: ").unwrap().parse().unwrap();
    assert!(total > 100.0 && total < 1200.0, "{last}");
}

#[test]
fn infer_writes_rollout_relevance_and_bottleneck_activity() {
    let case = crate::fixtures().join("mbt/bottleneck_mid_gap_old_layout");
    let work = crate::scratch("cli-explain");
    let model = work.join("model");
    let import = import_scenic(&case.join("checkpoint.msgpack"), &case, &model);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let out = work.join("explained.npz");
    let explain = ["--heads", "none", "--rollout", "--relevance", "--discard-ratio", "0.1", "--raw-layer", "2"];
    let run = infer(&explain, &model, &case, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let got = npz::read(&out).unwrap();
    for key in [
        "rollout/joint",
        "rollout/gap",
        "rollout/layout",
        "rollout/raw_layer2",
        "rollout/cross_modal_share",
        "relevance/joint",
        "relevance/gap",
        "relevance/classes",
        "bottleneck_activity/layer1/norm",
        "bottleneck_activity/layer2/received_rgb",
    ] {
        assert!(got.contains_key(key), "missing {key}; have {:?}", got.keys().collect::<Vec<_>>());
    }
    // gap + 4 bottlenecks: joint = 8 spectrogram + 8 rgb + 4 bottleneck tokens.
    assert_eq!(got["rollout/joint"].shape, vec![2, 20, 20]);
    assert!(!got.keys().any(|k| k.starts_with("attn/")));

    // A layer the model does not have is a bad argument (exit status 2), and nothing is written.
    let bad = infer(&["--raw-layer", "3", "--rollout"], &model, &case, &work.join("never.npz"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("3 layers"));
    assert!(!work.join("never.npz").exists());
}

/// `eval --counterfactual`: the models hear altered audio through the real input pipeline, and
/// the report says so. The shipped bottleneck model needs the sound to name the class (the
/// sound names a pair of classes, the picture the candidates), so silence or noise must cost it
/// accuracy, while a shift keeps the sound's class.
#[test]
fn eval_with_counterfactual_audio() {
    let dir = crate::scratch("cli-counterfactual");
    let synth = mbtscope().args(["synth", "--clips", "24", "--seed", "21", "--split", "test", "--out"]).arg(&dir).output().unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bottleneck");
    let eval = |extra: &[&str], json: &Path| {
        let run = mbtscope()
            .args(["eval", "--device", "cpu", "--no-relevance", "--data"])
            .arg(&dir)
            .arg("--model")
            .arg(&model)
            .arg("--json")
            .arg(json)
            .args(extra)
            .output()
            .unwrap();
        assert!(run.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&run.stderr));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        (report[0]["accuracy"].as_f64().unwrap(), report[0]["counterfactual"].clone(), String::from_utf8_lossy(&run.stdout).into_owned())
    };
    let (real, none, _) = eval(&[], &dir.join("real.json"));
    assert!(none.is_null());
    let (muted, name, stdout) = eval(&["--counterfactual", "mute"], &dir.join("mute.json"));
    assert_eq!(name, "mute");
    assert!(stdout.contains("counterfactual `mute`"), "{stdout}");
    let (noise, _, _) = eval(&["--counterfactual", "noise"], &dir.join("noise.json"));
    eprintln!("accuracy: real {real:.3}, muted {muted:.3}, noise {noise:.3}");
    assert!(real >= 0.9, "real audio: {real}");
    assert!(muted < real - 0.3 && noise < real - 0.3, "the sound matters: real {real}, muted {muted}, noise {noise}");
    let bad = mbtscope().args(["eval", "--counterfactual", "loud", "--data"]).arg(&dir).arg("--model").arg(&model).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// scripts/install.sh puts the binary, its assets, a valid .desktop entry for video files and the
/// icon under a prefix; the installed binary runs; --uninstall takes it all away again.
#[test]
fn install_script_installs_a_desktop_app_and_uninstalls_it() {
    let prefix = crate::scratch("install");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/install.sh");
    let run = |args: &[&str]| {
        let out = Command::new("bash").arg(&script).args(args).arg("--prefix").arg(&prefix).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["--binary", env!("CARGO_BIN_EXE_mbtscope")]);
    let bin = prefix.join("bin/mbtscope");
    let desktop = prefix.join("share/applications/mbtscope.desktop");
    for path in [&bin, &desktop, &prefix.join("share/icons/hicolor/scalable/apps/mbtscope.svg")] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    for model in ["bottleneck", "vanilla"] {
        assert!(prefix.join("share/mbtscope/assets/models").join(model).join("model.safetensors").is_file());
    }
    assert!(prefix.join("share/mbtscope/assets/demo/test_00000.mp4").is_file());
    let entry = std::fs::read_to_string(&desktop).unwrap();
    assert!(entry.contains(&format!("Exec={} %f", bin.display())), "{entry}");
    assert!(entry.contains("MimeType=video/mp4;"), "{entry}");
    if let Ok(check) = Command::new("desktop-file-validate").arg(&desktop).output() {
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    }
    let version = Command::new(&bin).arg("--help").output().unwrap();
    assert!(version.status.success());
    // Installing again replaces everything in place; no temporary file is left behind.
    run(&["--binary", env!("CARGO_BIN_EXE_mbtscope")]);
    let leftovers: Vec<_> =
        walk(&prefix).into_iter().filter(|p| p.to_string_lossy().contains(".part") || p.to_string_lossy().contains(".mbtscope.")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    run(&["--uninstall"]);
    assert!(!bin.exists() && !desktop.exists() && !prefix.join("share/mbtscope").exists());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// `analyze --counterfactual mute` runs the model on silence: the results file names it in its
/// settings, and the predictions differ from the clip's own audio's.
#[test]
fn analyze_with_a_counterfactual_names_it_and_changes_the_predictions() {
    let work = crate::scratch("cli-counterfactual");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |extra: &[&str], out: &Path| {
        let output = mbtscope()
            .args(["analyze", "--device", "cpu", "--no-cache"])
            .arg(root.join("assets/demo/test_00000.mp4"))
            .arg("--model")
            .arg(root.join("assets/models/bottleneck"))
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        json
    };
    let own = run(&[], &work.join("own.json"));
    let muted = run(&["--counterfactual", "mute"], &work.join("muted.json"));
    assert!(own["settings"].get("counterfactual").is_none());
    assert_eq!(muted["settings"]["counterfactual"], "mute");
    let top = |j: &serde_json::Value| j["clips"][0]["models"][0][0]["top"][0]["probability"].as_f64().unwrap();
    assert!((top(&own) - top(&muted)).abs() > 1e-4, "{} and {}", top(&own), top(&muted));
    // Another clip's audio: named by its path in the settings, and it changes what is said.
    let donor = root.join("assets/demo/test_00001.mp4");
    let swapped = run(&[&format!("--counterfactual=swap={}", donor.display())], &work.join("swapped.json"));
    assert_eq!(swapped["settings"]["counterfactual"]["swap"], donor.display().to_string());
    assert!((top(&own) - top(&swapped)).abs() > 1e-4, "{} and {}", top(&own), top(&swapped));
    // A file that is not there is a bad argument.
    let missing = mbtscope()
        .args(["analyze", "--device", "cpu", "--counterfactual", "swap=/nonexistent/other.mp4"])
        .arg(root.join("assets/demo/test_00000.mp4"))
        .arg("--model")
        .arg(root.join("assets/models/bottleneck"))
        .arg("--out")
        .arg(work.join("never.json"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("swap=/nonexistent/other.mp4: no such file"));
    assert!(!work.join("never.json").exists());
}
