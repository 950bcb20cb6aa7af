//! Whole datasets as a cluster job runs them: `analyze --shard` (given and from a Slurm or
//! Kubernetes environment) over a clip list, `merge`, and `report` with ground truth, on clips
//! from `synth` with the shipped models.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn analyze(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = mbtscope();
    command
        .args(["analyze", "--device", "cpu", "--no-cache", "--top-k", "3", "--model"])
        .arg(model("bottleneck"))
        .arg("--model")
        .arg(model("vanilla"));
    for var in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "JOB_COMPLETION_INDEX"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).arg("--out").arg(out).args(extra).arg(input).output().unwrap()
}

#[test]
fn shards_merge_into_the_unsharded_result_and_report_scores_them() {
    let dir = crate::scratch("dataset-shards");
    let data = dir.join("clips");
    ok(&mbtscope()
        .args(["synth", "--clips", "5", "--seed", "4", "--split", "test", "--duration", "2", "--out"])
        .arg(&data)
        .output()
        .unwrap());
    // A list with relative paths, out of order, a comment and a blank line.
    let list = data.join("list.txt");
    std::fs::write(&list, "# five clips\ntest_00003.mp4\ntest_00000.mp4\n\ntest_00004.mp4\ntest_00001.mp4\ntest_00002.mp4\n").unwrap();

    let whole = dir.join("whole.json");
    ok(&analyze(&list, &whole, &[], &[]));
    let whole_clips = crate::result_clips(&whole);
    assert_eq!(whole_clips.len(), 5);

    // Shard 0 of 2 given, shard 1 from a Slurm array numbered from 1 (task 2 of 2).
    let s0 = dir.join("s0.json");
    let s1 = dir.join("s1.json");
    ok(&analyze(&list, &s0, &["--shard", "0/2"], &[]));
    ok(&analyze(
        &list,
        &s1,
        &["--shard", "from-env"],
        &[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "2")],
    ));
    let names = |p: &Path| {
        crate::result_clips(p)
            .iter()
            .map(|c| PathBuf::from(c["clip"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&s0), ["test_00000.mp4", "test_00002.mp4", "test_00004.mp4"]);
    assert_eq!(names(&s1), ["test_00001.mp4", "test_00003.mp4"]);
    let shard_tag: serde_json::Value = serde_json::from_slice(&std::fs::read(&s1).unwrap()).unwrap();
    assert_eq!(shard_tag["shard"], serde_json::json!({"index": 1, "count": 2}));
    // A Kubernetes Indexed Job's shard is the same as the one given.
    let k0 = dir.join("k0.json");
    ok(&analyze(&list, &k0, &["--shard", "from-env", "--shards", "2"], &[("JOB_COMPLETION_INDEX", "0")]));
    assert_eq!(crate::result_clips(&k0), crate::result_clips(&s0));

    // Merged, the shards equal the unsharded run clip for clip and window for window.
    let merged = dir.join("merged.json");
    ok(&mbtscope().arg("merge").arg(&s1).arg(&s0).arg("--out").arg(&merged).output().unwrap());
    assert_eq!(crate::result_clips(&merged), whole_clips);

    // The same as Parquet: shards written as Parquet merge into Parquet (or JSON) equal to the
    // unsharded run, and a JSON shard merges with a Parquet one.
    let p0 = dir.join("s0.parquet");
    let p1 = dir.join("s1.parquet");
    ok(&analyze(&list, &p0, &["--shard", "0/2"], &[]));
    ok(&analyze(&list, &p1, &["--shard", "1/2"], &[]));
    assert_eq!(crate::result_clips(&p0), crate::result_clips(&s0));
    let merged_parquet = dir.join("merged.parquet");
    ok(&mbtscope().arg("merge").arg(&p0).arg(&p1).arg("--out").arg(&merged_parquet).output().unwrap());
    assert_eq!(crate::result_clips(&merged_parquet), whole_clips);
    let mixed = dir.join("mixed.json");
    ok(&mbtscope().arg("merge").arg(&p0).arg(&s1).arg("--out").arg(&mixed).output().unwrap());
    assert_eq!(crate::result_clips(&mixed), whole_clips);
    // Resuming a Parquet shard skips its clips.
    let again = analyze(&list, &p0, &["--shard", "0/2", "--json"], &[]);
    let kinds: Vec<String> =
        ok(&again).lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["skipped", "skipped", "skipped", "done"]);
    // A truncated or foreign Parquet file is refused, naming it.
    let cut = dir.join("cut.parquet");
    let bytes = std::fs::read(&p1).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let output = mbtscope().arg("report").arg(&cut).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cut.parquet is not an mbtscope Parquet results file"), "{}", stderr(&output));

    // Ground truth from the sidecars, by stem; the report scores both models.
    let mut csv = String::from("clip,label\n");
    for i in 0..5 {
        let truth = mbtscope::synth::read_truth(&data.join(format!("test_{i:05}.json"))).unwrap();
        csv.push_str(&format!("test_{i:05},{}\n", truth.label_name));
    }
    let labels = dir.join("labels.csv");
    std::fs::write(&labels, &csv).unwrap();
    let report = ok(&mbtscope().arg("report").arg(&merged).arg("--labels").arg(&labels).output().unwrap());
    assert!(report.contains("| bottleneck | 5 |") && report.contains("| vanilla | 5 |"), "{report}");
    assert!(report.contains("Confusion matrix of bottleneck"), "{report}");
    assert!(report.contains("Clips where the models disagree"), "{report}");
    // merge --labels prints the same report.
    let again = dir.join("again.json");
    let merge_report =
        ok(&mbtscope().arg("merge").arg(&s0).arg(&s1).arg("--out").arg(&again).arg("--labels").arg(&labels).output().unwrap());
    assert_eq!(merge_report, report);

    // Refusals, each naming the problem, and nothing written.
    let refused = |args: &[std::ffi::OsString], code: i32, says: &str, out: Option<&Path>| {
        let output = mbtscope().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{args:?}: {}", stderr(&output));
        if let Some(out) = out {
            assert!(!out.exists(), "{args:?} wrote {}", out.display());
        }
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let nothing = dir.join("nothing.json");
    for (spec, says) in [("2/2", "K must be below N"), ("1-2", "expected K/N")] {
        let output = analyze(&list, &nothing, &["--shard", spec], &[]);
        assert_eq!(output.status.code(), Some(2), "--shard {spec}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert!(!nothing.exists());
    }
    let output = analyze(&list, &nothing, &["--shard", "from-env"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("SLURM_ARRAY_TASK_ID"), "{}", stderr(&output));
    // The same shard twice, and a shard merged with the whole run (its clips are duplicates).
    refused(&[os("merge"), s0.clone().into(), k0.clone().into(), os("--out"), nothing.clone().into()], 1, "is in both", Some(&nothing));
    refused(
        &[os("merge"), whole.clone().into(), s1.clone().into(), os("--out"), nothing.clone().into()],
        1,
        "shard counts",
        Some(&nothing),
    );
    // Other settings.
    let other = dir.join("other.json");
    ok(&analyze(&list, &other, &["--shard", "1/2", "--no-maps"], &[]));
    refused(
        &[os("merge"), s0.clone().into(), other.clone().into(), os("--out"), nothing.clone().into()],
        1,
        "other settings",
        Some(&nothing),
    );
    // A truncated file.
    let cut = dir.join("cut.json");
    let bytes = std::fs::read(&s1).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &[os("merge"), s0.clone().into(), cut.clone().into(), os("--out"), nothing.clone().into()],
        1,
        "cut.json is not an mbtscope analysis file",
        Some(&nothing),
    );
    // Unknown clips or labels in the CSV: merge writes nothing.
    let bad_labels = dir.join("bad.csv");
    std::fs::write(&bad_labels, "test_00000,no such label\n").unwrap();
    refused(
        &[
            os("merge"),
            s0.clone().into(),
            s1.clone().into(),
            os("--out"),
            nothing.clone().into(),
            os("--labels"),
            bad_labels.clone().into(),
        ],
        1,
        "unknown label",
        Some(&nothing),
    );
    std::fs::write(&bad_labels, "elsewhere_00009,drum crate\n").unwrap();
    refused(&[os("report"), merged.clone().into(), os("--labels"), bad_labels.clone().into()], 1, "not in the results", None);
    // An existing OUT is kept without --force.
    refused(&[os("merge"), s0.clone().into(), s1.clone().into(), os("--out"), merged.clone().into()], 1, "already exists", None);
    assert_eq!(crate::result_clips(&merged), whole_clips);
}
