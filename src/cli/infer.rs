//! `mbtscope infer`

use anyhow::Context as _;

use super::{HeadsArg, InferArgs};
use mbtscope::model::device;
use mbtscope::model::mbt::{Capture, HeadFusion};
use mbtscope::{npz, runner};

pub fn run(args: InferArgs) -> anyhow::Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!("{} already exists (use --force to replace it)", args.out.display());
    }
    if let Some(class) = args.class.filter(|_| !args.relevance) {
        return Err(super::BadArgument(format!("--class {class} needs --relevance: it picks the class relevance explains")).into());
    }
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let loaded = runner::load_model_dir(&args.model, &selected.device)?;
    let arrays = npz::read(&args.inputs)?;
    let input = runner::input_from_arrays(loaded.config(), &arrays, &selected.device)
        .with_context(|| format!("bad inputs: {}", args.inputs.display()))?;
    let capture = match args.heads {
        HeadsArg::All => Capture::AllHeads,
        HeadsArg::Mean => Capture::Fused(HeadFusion::Mean),
        HeadsArg::Max => Capture::Fused(HeadFusion::Max),
        HeadsArg::Min => Capture::Fused(HeadFusion::Min),
        HeadsArg::None => Capture::None,
    };
    let explain = mbtscope::analysis::AnalysisSettings {
        method: mbtscope::analysis::Method::Rollout,
        class: args.class,
        rollout: args.rollout_options.options(args.raw_layer),
        counterfactual: None,
    };
    super::check_fits(&explain, Some(args.top), &loaded, &args.model)?;
    let mut outputs =
        runner::infer_arrays(&loaded.model, input.clone(), capture).with_context(|| format!("bad inputs: {}", args.inputs.display()))??;
    if args.rollout {
        let (_, explanation) = runner::explain(&loaded.model, input.clone(), args.rollout_options.options(args.raw_layer))?;
        outputs.extend(runner::explanation_arrays(loaded.config(), &explanation)?);
    }
    if args.relevance {
        let result = mbtscope::explain::relevance::relevance(&loaded.model, input, args.class)?;
        outputs.extend(runner::relevance_arrays(loaded.config(), &result)?);
    }
    if let Some(logits) = outputs.get("logits") {
        print_top(&logits.to_f32(), logits.shape[1], &loaded.labels, args.top);
    }
    npz::write(&args.out, &outputs, args.force)?;
    mbtscope::outln!("wrote {} arrays to {}", outputs.len(), args.out.display());
    Ok(())
}

fn print_top(logits: &[f32], classes: usize, labels: &[String], k: usize) {
    for (b, row) in logits.chunks(classes).enumerate() {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&i, &j| row[j].total_cmp(&row[i]));
        let top: Vec<String> = order
            .iter()
            .take(k)
            .map(|&i| {
                let p = (row[i] - max).exp() / sum;
                let name = labels.get(i).map_or("?", String::as_str);
                format!("{name} {:.1}%", p * 100.0)
            })
            .collect();
        mbtscope::outln!("example {b}: {}", top.join(", "));
    }
}
