//! A real Slurm job array: `deploy/slurm-analyze.sh` submitted with `sbatch --array` to the
//! single-node cluster that `scripts/slurm.sh` starts (scripts/test.sh starts it before the
//! tests), its shards merged, and the merged result equal to an unsharded run clip for clip and
//! window for window. Without a cluster the test says so and passes, except under CI (`CI` set),
//! where it fails: CI must run it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cluster_is_up() -> bool {
    Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| ["idle", "mixed", "allocated"].contains(&l.trim()))
    })
}

#[test]
fn a_slurm_job_array_of_shards_merges_into_the_unsharded_result() {
    if !cluster_is_up() {
        assert!(std::env::var_os("CI").is_none(), "no Slurm cluster answers `sinfo`: scripts/slurm.sh should have started one");
        eprintln!("skipped: no Slurm cluster (run scripts/slurm.sh as root to start one)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("assets/models/bottleneck");
    let dir = crate::scratch("slurm-array");
    let data = dir.join("clips");
    let synth = Command::new(bin)
        .args(["synth", "--clips", "4", "--seed", "8", "--split", "test", "--duration", "2", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let list = data.join("clips.txt");
    std::fs::write(&list, (0..4).map(|i| format!("test_{i:05}.mp4\n")).collect::<String>()).unwrap();

    let whole = dir.join("whole.json");
    let run = Command::new(bin)
        .args(["analyze", "--device", "cpu", "--no-cache", "--top-k", "3", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&whole)
        .arg(&list)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let out = dir.join("shards");
    let logs = dir.join("slurm-%A_%a.log");
    let submitted = Command::new("sbatch")
        .args(["--wait", "--array=0-1", "--cpus-per-task=1", "--mem=2G", "--time=10"])
        .arg(format!("--output={}", logs.display()))
        .arg(root.join("deploy/slurm-analyze.sh"))
        .arg(&list)
        .arg(&model)
        .arg(&out)
        .env("MBTSCOPE", bin)
        .env("MBTSCOPE_DEVICE", "cpu")
        .env("MBTSCOPE_ARGS", "--no-cache --top-k 3")
        .output()
        .unwrap();
    let logs: String = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(submitted.status.success(), "sbatch: {}\n{logs}", String::from_utf8_lossy(&submitted.stderr));
    let shards: Vec<PathBuf> = (0..2).map(|k| out.join(format!("shard-{k}.parquet"))).collect();
    for s in &shards {
        assert!(s.exists(), "{} is missing\n{logs}", s.display());
    }
    let merged = dir.join("merged.parquet");
    let merge = Command::new(bin).arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert!(merge.status.success(), "{}", String::from_utf8_lossy(&merge.stderr));
    assert!(!String::from_utf8_lossy(&merge.stderr).contains("were not among the inputs"), "{}", String::from_utf8_lossy(&merge.stderr));
    assert_eq!(crate::result_clips(&merged), crate::result_clips(&whole));
    assert_eq!(crate::result_clips(&merged).len(), 4);
}
