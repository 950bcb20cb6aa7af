//! `mbtscope export`: annotated frames and videos.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;

use super::{ExportArgs, FormatArg};
use mbtscope::analysis::{ModelRun, analyze_cached, model_name};
use mbtscope::export::annotate::AnnotateStyle;
use mbtscope::export::{ExportJob, ImageFormat, export};
use mbtscope::model::device;
use mbtscope::runner;

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clip.exists(), "{} does not exist", args.clip.display());
    args.explain.check()?;
    let settings = args.explain.settings();
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let cache = (!args.no_cache).then(|| mbtscope::fsutil::cache_dir().join("analysis"));
    let terminal = std::io::stderr().is_terminal();
    // Every model is loaded and checked against the arguments before any is run.
    let mut models = Vec::new();
    for dir in std::iter::once(&args.model).chain(args.compare.as_ref()) {
        let model = runner::load_model_dir(dir, &selected.device).with_context(|| format!("cannot load the model {}", dir.display()))?;
        super::check_fits(&settings, Some(args.top_k), &model, dir)?;
        models.push((dir, model));
    }
    let mut runs: Vec<ModelRun> = Vec::new();
    for (dir, model) in models {
        let started = std::time::Instant::now();
        let mut run = analyze_cached(&args.clip, dir, &model, &settings, cache.as_deref(), |done, total| {
            if terminal {
                eprint!("\ranalysing with {}: {done}/{total} windows ", model_name(dir));
                let _ = std::io::stderr().flush();
            }
        })?;
        // The frames say what the model heard when it was not the clip's audio.
        if let Some(c) = &settings.counterfactual {
            run.name = format!("{}, {}", run.name, c.description());
        }
        if terminal {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{}: {} windows analysed in {:.1} s", model_name(dir), run.results.len(), started.elapsed().as_secs_f64());
        runs.push(run);
    }
    let job = ExportJob {
        clip: args.clip.clone(),
        frames: args.frames.clone(),
        style: AnnotateStyle {
            overlay: args.style.overlay(),
            labels: !args.no_labels,
            time: !args.no_labels,
            upscale: args.upscale,
            truth_box: args.truth_box,
            labels_below: args.labels_below,
            caption: args.caption,
        },
        top_k: args.top_k,
        out_dir: args.out.clone(),
        format: match args.format {
            FormatArg::Png => ImageFormat::Png,
            FormatArg::Jpg => ImageFormat::Jpg,
        },
        jpeg_quality: args.quality,
        video: args.video.clone(),
        force: args.force,
    };
    let started = std::time::Instant::now();
    let never = std::sync::atomic::AtomicBool::new(false);
    let refs: Vec<&ModelRun> = runs.iter().collect();
    let summary = export(
        &job,
        &refs,
        &settings,
        |done, total| {
            if terminal {
                eprint!("\rexporting: {done}/{total} frames ");
                let _ = std::io::stderr().flush();
            }
        },
        &never,
    )?;
    if terminal {
        eprint!("\r\x1b[2K");
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(dir) = &args.out {
        mbtscope::outln!(
            "{} frames written to {} ({} kept from an earlier run) in {seconds:.1} s, {:.1} frames/s",
            summary.images.len(),
            dir.display(),
            summary.resumed,
            summary.written as f64 / seconds.max(1e-9)
        );
    }
    if let Some(video) = &summary.video {
        mbtscope::outln!("video written to {} ({} frames)", video.display(), summary.written + summary.lost.len());
    }
    if !summary.lost.is_empty() {
        eprintln!("warning: {}", lost_frames_message(&summary.lost));
    }
    Ok(())
}

/// What a user needs to know about frames FFmpeg could not decode.
pub fn lost_frames_message(lost: &[usize]) -> String {
    let shown: Vec<String> = lost.iter().take(10).map(usize::to_string).collect();
    let more = if lost.len() > shown.len() { format!(" and {} more", lost.len() - shown.len()) } else { String::new() };
    format!(
        "{} frames could not be decoded and are missing (indices {}{more}); the other frames keep their own indices, and the video repeats the frame before each missing one",
        lost.len(),
        shown.join(", ")
    )
}
