//! `mbtscope merge` and `mbtscope report`: results files of whole datasets.

use std::path::{Path, PathBuf};

use super::{BadArgument, MergeArgs, ReportArgs};
use mbtscope::analysis::report::Results;
use mbtscope::dataset::{labels, merge as merging, metrics, read_results, write_results};

/// The ground truth in `path` for `results` (every model must have the same labels).
fn ground_truth(path: &Path, results: &Results) -> anyhow::Result<labels::GroundTruth> {
    let names = results.models.first().map(|m| m.labels.clone()).unwrap_or_default();
    anyhow::ensure!(
        results.models.iter().all(|m| m.labels == names),
        "the models in the results have different labels, so one ground truth cannot score them all"
    );
    let clips: Vec<PathBuf> = results.clips.iter().map(|c| c.clip.clone()).collect();
    Ok(labels::read(path, &names, &clips)?)
}

pub fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let same = |a: &Path, b: &Path| a == b || (std::fs::canonicalize(a).ok().is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a)));
    if args.files.iter().any(|f| same(f, &args.out)) {
        return Err(BadArgument(format!("--out {} is also an input", args.out.display())).into());
    }
    if args.out.exists() && !args.force {
        anyhow::bail!("{} already exists (use --force to replace it)", args.out.display());
    }
    let mut inputs = Vec::with_capacity(args.files.len());
    for file in &args.files {
        inputs.push((file.clone(), read_results(file)?));
    }
    let merged = merging::merge(inputs)?;
    // The report's ground truth is read before anything is written, so that a bad CSV leaves
    // no output behind.
    let truth = args.labels.as_deref().map(|p| ground_truth(p, &merged.results)).transpose()?;
    write_results(&args.out, &merged.results, args.force)?;
    if !merged.missing_shards.is_empty() {
        eprintln!("warning: shards {} were not among the inputs", merged.missing_shards.join(", "));
    }
    eprintln!(
        "{}: {} clips from {} files ({} failed)",
        args.out.display(),
        merged.results.clips.len(),
        args.files.len(),
        merged.results.failures.len()
    );
    if let Some(truth) = &truth {
        mbtscope::outln!("{}", metrics::markdown(&merged.results, Some(truth)));
    }
    Ok(())
}

pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let results = read_results(&args.file)?;
    let truth = args.labels.as_deref().map(|p| ground_truth(p, &results)).transpose()?;
    mbtscope::outln!("{}", metrics::markdown(&results, truth.as_ref()));
    Ok(())
}
