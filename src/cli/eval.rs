//! `mbtscope eval`

use std::io::Write as _;

use anyhow::Context as _;

use super::EvalArgs;
use mbtscope::eval::{self, EvalOptions, EvalReport, plot};
use mbtscope::model::device;
use mbtscope::{runner, train};

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(json) = &args.json {
        anyhow::ensure!(args.force || !json.exists(), "{} already exists (use --force to replace it)", json.display());
    }
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let options = EvalOptions { batch_size: args.batch, relevance: !args.no_relevance, rollout: args.rollout.options(None) };
    // Every model is checked against the arguments before the first is evaluated.
    let explain = mbtscope::analysis::AnalysisSettings { rollout: options.rollout, ..Default::default() };
    for dir in &args.model {
        let loaded = runner::load_model_dir(dir, &selected.device)?;
        super::check_fits(&explain, None, &loaded, dir)?;
    }
    let mut reports: Vec<EvalReport> = Vec::new();
    for dir in &args.model {
        let loaded = runner::load_model_dir(dir, &selected.device)?;
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let started = std::time::Instant::now();
        let examples = train::load_examples_with(&args.data, loaded.config(), &args.prefix, args.counterfactual.as_ref())?;
        eprintln!("{name}: {} clips prepared in {:.1} s", examples.len(), started.elapsed().as_secs_f64());
        let report = eval::evaluate(&loaded.model, &name, &loaded.labels, &args.data, &examples, &options, |done, total| {
            eprint!("\r{name}: {done}/{total} clips");
            let _ = std::io::stderr().flush();
        })?;
        eprintln!();
        if let Some(plots) = &args.plots {
            let path = plots.join(format!("confusion_{name}.png"));
            anyhow::ensure!(args.force || !path.exists(), "{} already exists (use --force to replace it)", path.display());
            plot::confusion_png(&report, &path)?;
        }
        let mut report = report;
        report.counterfactual = args.counterfactual.as_ref().map(mbtscope::features::Counterfactual::name);
        reports.push(report);
    }
    print_table(&reports);
    if let Some(plots) = &args.plots {
        let path = plots.join("accuracy_vs_gflops.png");
        anyhow::ensure!(args.force || !path.exists(), "{} already exists (use --force to replace it)", path.display());
        plot::accuracy_vs_gflops_png(&reports, &path)?;
        mbtscope::outln!("plots written to {}", plots.display());
    }
    if let Some(json) = &args.json {
        let bytes = serde_json::to_vec_pretty(&reports)?;
        mbtscope::fsutil::write_atomic(json, &bytes, args.force).with_context(|| format!("cannot write {}", json.display()))?;
        mbtscope::outln!("wrote {}", json.display());
    }
    Ok(())
}

/// Markdown tables, one row per model: accuracy and cost, then the pointing game and AUC of each
/// map at the centre frame's time slice, then of each map summed over the window's slices.
fn print_table(reports: &[EvalReport]) {
    use mbtscope::eval::LocalisationSummary;
    let pct = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1}%", 100.0 * v));
    let both = |l: Option<LocalisationSummary>| match l {
        Some(l) => format!("{:.1}% / {:.3}", 100.0 * l.pointing_game, l.auc),
        None => "n/a".to_owned(),
    };
    if let Some(c) = reports.iter().find_map(|r| r.counterfactual.as_deref()) {
        mbtscope::outln!("audio: counterfactual `{c}` (not the clips' own)");
    }
    mbtscope::outln!("| model | clips | accuracy | GFLOPs/window | pointing by chance |");
    mbtscope::outln!("|---|---|---|---|---|");
    for r in reports {
        mbtscope::outln!(
            "| {} | {} | {:.1}% | {:.3} | {} |",
            r.model,
            r.clips,
            100.0 * r.accuracy,
            r.gflops_per_window,
            pct(r.rollout.map(|l| l.pointing_chance))
        );
    }
    type Maps = fn(&EvalReport) -> [Option<LocalisationSummary>; 4];
    let tables: [(&str, Maps); 2] = [
        ("at the centre frame's time slice", |r| [r.rollout, r.audio_rollout, r.relevance, r.audio_relevance]),
        ("summed over the window's time slices", |r| {
            [r.rollout_window, r.audio_rollout_window, r.relevance_window, r.audio_relevance_window]
        }),
    ];
    for (what, maps) in tables {
        mbtscope::outln!();
        mbtscope::outln!("Pointing game / AUC, maps {what}:");
        mbtscope::outln!();
        mbtscope::outln!("| model | rollout | audio CLS rollout | relevance | audio CLS relevance |");
        mbtscope::outln!("|---|---|---|---|---|");
        for r in reports {
            let [a, b, c, d] = maps(r);
            mbtscope::outln!("| {} | {} | {} | {} | {} |", r.model, both(a), both(b), both(c), both(d));
        }
    }
    mbtscope::outln!();
    mbtscope::outln!("cIoU >= 0.5 / success-curve AUC (Senocak et al. 2018), maps summed over the window:");
    mbtscope::outln!();
    mbtscope::outln!("| model | rollout | audio CLS rollout | relevance | audio CLS relevance | whole frame | centre prior |");
    mbtscope::outln!("|---|---|---|---|---|---|---|");
    let ciou = |l: Option<LocalisationSummary>| {
        l.map_or_else(|| "n/a".to_owned(), |l| format!("{:.1}% / {:.3}", 100.0 * l.ciou_at_05, l.ciou_auc))
    };
    for r in reports {
        let b = r.baselines;
        mbtscope::outln!(
            "| {} | {} | {} | {} | {} | {:.1}% / {:.3} | {:.1}% / {:.3} |",
            r.model,
            ciou(r.rollout_window),
            ciou(r.audio_rollout_window),
            ciou(r.relevance_window),
            ciou(r.audio_relevance_window),
            100.0 * b.whole_frame.ciou_at_05,
            b.whole_frame.ciou_auc,
            100.0 * b.centre_prior.ciou_at_05,
            b.centre_prior.ciou_auc
        );
    }
    if reports.iter().any(|r| r.rollout.is_some_and(|l| l.twin_pairs > 0)) {
        mbtscope::outln!();
        mbtscope::outln!("Follows the sound (twin pairs whose map maximum is on the sounding object in both clips):");
        mbtscope::outln!();
        mbtscope::outln!(
            "| model | twin pairs | rollout: slice / window | audio CLS rollout: slice / window | relevance: slice / window |"
        );
        mbtscope::outln!("|---|---|---|---|---|");
        let follows = |l: Option<LocalisationSummary>| pct(l.and_then(|l| l.follows_sound));
        for r in reports {
            mbtscope::outln!(
                "| {} | {} | {} / {} | {} / {} | {} / {} |",
                r.model,
                r.rollout.map_or(0, |l| l.twin_pairs),
                follows(r.rollout),
                follows(r.rollout_window),
                follows(r.audio_rollout),
                follows(r.audio_rollout_window),
                follows(r.relevance),
                follows(r.relevance_window)
            );
        }
    }
    mbtscope::outln!();
    for r in reports {
        let on = |l: Option<LocalisationSummary>| pct(l.map(|l| l.on_any_object));
        mbtscope::outln!(
            "{}: at the centre slice, the map maximum falls on some object (sounding or not) in {} of clips for rollout, {} for audio CLS rollout, {} for relevance, {} for audio CLS relevance",
            r.model,
            on(r.rollout),
            on(r.audio_rollout),
            on(r.relevance),
            on(r.audio_relevance)
        );
    }
    if let Some(r) = reports.first() {
        let o = r.rollout_options;
        mbtscope::outln!("rollout: {:?} over heads, discard ratio {}, from layer {}", o.head_fusion, o.discard_ratio, o.start_layer);
    }
}
