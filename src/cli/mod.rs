//! Argument parsing in one place (clap), the work of each command in its own module.

mod analyze;
mod dataset;
mod eval;
mod export;
mod flops;
mod import;
mod infer;
mod media;
mod synth;

mod args;

pub use args::*;

pub use mbtscope::BadArgument;

/// Checks the explanation settings and `top_k` (when given) against a loaded model: anything that
/// does not fit is a [`BadArgument`] naming the flag and the model.
pub fn check_fits(
    settings: &mbtscope::analysis::AnalysisSettings,
    top_k: Option<usize>,
    model: &mbtscope::runner::LoadedModel,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let config = model.config();
    // The library names its settings (`start_layer`); the user typed flags (`--start-layer`).
    let mut misfits: Vec<String> = settings.misfits(config).iter().map(|m| format!("--{}", m.replacen('_', "-", 1))).collect();
    if let Some(k) = top_k.filter(|&k| k > config.num_classes) {
        misfits.push(format!("--top-k {k}: the model has {} classes", config.num_classes));
    }
    if misfits.is_empty() {
        return Ok(());
    }
    Err(BadArgument(format!("{} (model {})", misfits.join("; "), dir.display())).into())
}

/// Some of the inputs failed and were reported; the others succeeded (exit status 3).
#[derive(Debug)]
pub struct PartialFailure {
    pub failed: usize,
    pub total: usize,
}

impl std::fmt::Display for PartialFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} clips failed (see above)", self.failed, self.total)
    }
}

impl std::error::Error for PartialFailure {}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(command) = args.command else {
        let a = args.app;
        for (flag, path) in [("--results", &a.results), ("--labels", &a.labels)] {
            if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(BadArgument(format!("{flag} {}: no such file", path.display())).into());
            }
        }
        return mbtscope::app::run(mbtscope::app::AppOptions {
            clip: a.clip,
            audio: media::audio_device(a.audio_device.as_deref()),
            device: a.device,
            screenshot: a.screenshot,
            no_cache: a.no_cache,
            fresh: a.fresh,
            export_dir: None,
            play_report: a.play_report.map(|p| (a.play_seconds, p)),
            play_still: a.play_still,
            results: a.results.map(|r| (r, a.labels)),
        });
    };
    match command {
        Command::Infer(a) => infer::run(a),
        Command::ImportScenic(a) => import::run(a),
        Command::Flops(a) => flops::run(a),
        Command::Probe(a) => media::probe(a),
        Command::Synth(a) => synth::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Train(a) => mbtscope::train::command::run(a, |dir, config| mbtscope::train::load_examples(dir, config, "train_")),
        Command::Play(a) => media::play(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Export(a) => export::run(a),
        Command::Merge(a) => dataset::merge(a),
        Command::Report(a) => dataset::report(a),
    }
}
