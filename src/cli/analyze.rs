//! `mbtscope analyze`: clips in, one JSON results file out.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use super::{AnalyzeArgs, BadArgument, PartialFailure};
use anyhow::Context as _;
use mbtscope::analysis::report::{ClipResult, FORMAT, Failure, ModelInfo, Results, window_out};
use mbtscope::analysis::{ModelRun, Shard, analyze_cached, model_name};
use mbtscope::model::device;
use mbtscope::runner;

const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "mkv", "mov", "webm", "avi", "m4v", "mpg"];

/// The clips to analyse, sorted: INPUT itself, the video files in the folder INPUT, or the
/// clips a `.txt` list names (relative paths from the list's folder).
fn clips(input: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let is_list = input.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    if is_list && input.is_file() {
        let text = std::fs::read_to_string(input).with_context(|| format!("cannot read the clip list {}", input.display()))?;
        let base = input.parent().unwrap_or(Path::new(""));
        let mut clips: Vec<PathBuf> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| base.join(l)).collect();
        clips.sort();
        clips.dedup();
        anyhow::ensure!(!clips.is_empty(), "the clip list {} names no clips", input.display());
        return Ok(clips);
    }
    if !input.is_dir() {
        anyhow::ensure!(input.exists(), "{} does not exist", input.display());
        return Ok(vec![input.to_owned()]);
    }
    let mut clips: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("cannot read the folder {}", input.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str())))
        .collect();
    clips.sort();
    anyhow::ensure!(!clips.is_empty(), "no video files ({}) in {}", VIDEO_EXTENSIONS.join(", "), input.display());
    Ok(clips)
}

fn write_results(path: &Path, results: &Results) -> anyhow::Result<()> {
    mbtscope::dataset::write_results(path, results, true)
}

/// One line of `--json` output.
fn event(value: serde_json::Value) {
    mbtscope::outln!("{value}");
}

/// The shard `--shard` (and `--shards`) ask for.
fn shard(args: &AnalyzeArgs) -> Result<Option<Shard>, BadArgument> {
    let bad = |e: mbtscope::analysis::shard::ShardError| BadArgument(e.to_string());
    match args.shard.as_deref() {
        None => Ok(None),
        Some("from-env") => Shard::from_env(args.shards, |name| std::env::var(name).ok()).map(Some).map_err(bad),
        Some(_) if args.shards.is_some() => Err(BadArgument("--shards N goes with --shard from-env; --shard K/N already says N".into())),
        Some(spec) => Shard::parse(spec).map(Some).map_err(bad),
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    args.explain.check()?;
    let shard = shard(&args)?;
    let settings = args.explain.settings();
    let selected = device::select(args.device);
    if !args.json {
        eprintln!("device: {}", selected.description);
    }
    let mut loaded = Vec::new();
    for dir in &args.model {
        let model = runner::load_model_dir(dir, &selected.device).with_context(|| format!("cannot load the model {}", dir.display()))?;
        super::check_fits(&settings, Some(args.top_k), &model, dir)?;
        loaded.push(model);
    }
    let models: Vec<ModelInfo> = args
        .model
        .iter()
        .zip(&loaded)
        .map(|(dir, m)| ModelInfo { name: model_name(dir), dir: dir.clone(), labels: m.labels.clone() })
        .collect();
    let mut clips = clips(&args.input)?;
    if let Some(shard) = shard {
        clips = shard.select(&clips);
    }

    // Earlier results: kept (and their clips skipped) if made with the same models and settings.
    let mut results = Results {
        format: FORMAT.into(),
        settings: settings.clone(),
        top_k: args.top_k,
        maps: !args.no_maps,
        models: models.clone(),
        shard,
        clips: Vec::new(),
        failures: Vec::new(),
    };
    // One writer of OUT at a time: a second run refuses rather than losing one run's results.
    let _lock = lock_out(&args.out)?;
    if args.out.exists() && !args.force {
        results.clips = previous_clips(&args, &results)?;
    }
    let cache = (!args.no_cache).then(|| mbtscope::fsutil::cache_dir().join("analysis"));
    let terminal = std::io::stderr().is_terminal() && !args.json;
    let total = clips.len();
    let mut skipped = 0;
    for (n, clip) in clips.iter().enumerate() {
        if results.clips.iter().any(|c| c.clip == *clip) {
            skipped += 1;
            if args.json {
                event(serde_json::json!({"event": "skipped", "clip": clip, "index": n, "total": total}));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let name = clip.file_name().map_or_else(|| clip.display().to_string(), |n| n.to_string_lossy().into_owned());
        let analysed = analyze_clip_with_models(clip, &args, &loaded, &settings, cache.as_deref(), terminal, (n, total, &name));
        if terminal {
            eprint!("\r\x1b[2K");
        }
        let seconds = started.elapsed().as_secs_f64();
        match analysed {
            Err(error) => {
                if args.json {
                    event(serde_json::json!({"event": "failed", "clip": clip, "index": n, "total": total, "error": error}));
                } else {
                    eprintln!("[{}/{}] {}: failed: {error}", n + 1, total, clip.display());
                }
                results.failures.push(Failure { clip: clip.clone(), error });
            }
            Ok(runs) => {
                let duration = mbtscope::media::VideoDecoder::open(clip).map_or(0.0, |d| d.info().duration.secs());
                let windows = runs.first().map_or(0, |r| r.results.len());
                // Each model's top label in the middle of the clip.
                let top: Vec<String> = runs
                    .iter()
                    .filter_map(|r| r.top_at(duration / 2.0, 1).first().map(|(label, p)| format!("{}: {label} {:.0}%", r.name, p * 100.0)))
                    .collect();
                if args.json {
                    event(serde_json::json!({
                        "event": "clip", "clip": clip, "index": n, "total": total, "windows": windows,
                        "seconds": seconds, "duration": duration, "real_time_factor": seconds / duration.max(1e-9),
                    }));
                } else {
                    eprintln!("[{}/{}] {}: {windows} windows in {seconds:.1} s ({})", n + 1, total, clip.display(), top.join(", "));
                }
                results.clips.push(ClipResult {
                    clip: clip.clone(),
                    duration,
                    seconds,
                    models: runs
                        .iter()
                        .map(|r| r.results.iter().map(|w| window_out(w, &r.labels, args.top_k, !args.no_maps)).collect())
                        .collect(),
                });
            }
        }
        write_results(&args.out, &results)?;
    }
    if skipped == total {
        // Nothing new: still make sure OUT exists and is complete.
        write_results(&args.out, &results)?;
    }
    let failed = results.failures.len();
    if args.json {
        event(serde_json::json!({"event": "done", "out": args.out, "clips": results.clips.len(), "skipped": skipped, "failed": failed}));
    } else {
        eprintln!("{}: {} clips analysed ({} already there), {failed} failed", args.out.display(), results.clips.len(), skipped);
    }
    if failed > 0 {
        return Err(PartialFailure { failed, total }.into());
    }
    Ok(())
}

/// Takes OUT's lock (`.OUT.lock` beside it), creating its folder.
fn lock_out(out: &Path) -> anyhow::Result<mbtscope::fsutil::FileLock> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let out_name = out.file_name().map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    mbtscope::fsutil::FileLock::acquire(&out.with_file_name(format!(".{out_name}.lock")), &out.display().to_string())
}

/// The clips already in OUT, when it holds results of the same models and settings as
/// `results` (so that they are kept and skipped); an error when it holds anything else.
fn previous_clips(args: &AnalyzeArgs, results: &Results) -> anyhow::Result<Vec<ClipResult>> {
    let previous = mbtscope::dataset::read_results(&args.out).map_err(|e| anyhow::anyhow!("{e:#} (use --force to replace it)"))?;
    let same = previous.format == FORMAT
        && previous.settings == results.settings
        && previous.top_k == args.top_k
        && previous.maps != args.no_maps
        && previous.models == results.models
        && previous.shard == results.shard;
    anyhow::ensure!(same, "{} holds results of other models or settings (use --force to replace it)", args.out.display());
    Ok(previous.clips)
}

/// Every model's analysis of `clip`, with a progress bar on a terminal; the first failure as
/// text. `at` is (index, total, name) for the progress line.
fn analyze_clip_with_models(
    clip: &Path,
    args: &AnalyzeArgs,
    loaded: &[runner::LoadedModel],
    settings: &mbtscope::analysis::AnalysisSettings,
    cache: Option<&Path>,
    terminal: bool,
    (n, total, name): (usize, usize, &str),
) -> Result<Vec<ModelRun>, String> {
    let mut runs = Vec::new();
    for (dir, model) in args.model.iter().zip(loaded) {
        let progress = |done: usize, windows: usize| {
            if terminal {
                let width = 24;
                let filled = (done * width).checked_div(windows).unwrap_or(width);
                eprint!(
                    "\r[{}/{}] {name} {}: [{}{}] {done}/{windows} windows ",
                    n + 1,
                    total,
                    model_name(dir),
                    "#".repeat(filled),
                    ".".repeat(width - filled)
                );
                let _ = std::io::stderr().flush();
            }
        };
        runs.push(analyze_cached(clip, dir, model, settings, cache, progress).map_err(|e| format!("{e:#}"))?);
    }
    Ok(runs)
}
