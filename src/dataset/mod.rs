//! Whole datasets: `analyze`'s results files in JSON or Parquet ([`read_results`],
//! [`write_results`], [`parquet`]), the files of shards of a clip list
//! ([`crate::analysis::Shard`]) merged into one ([`merge`]), ground truth from a CSV file
//! ([`labels`]), per-model metrics over the results ([`metrics`]), and the dataset browser's
//! table of clips ([`table`]).

use std::path::Path;

use anyhow::Context as _;

use crate::analysis::report::{FORMAT, Results};

pub mod labels;
pub mod merge;
pub mod metrics;
pub mod parquet;
pub mod table;

/// Whether `path` names a Parquet file (by its extension); anything else is JSON.
pub fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Reads a results file (JSON, or Parquet by extension), with an error that names it.
pub fn read_results(path: &Path) -> anyhow::Result<Results> {
    let results = if is_parquet(path) {
        parquet::read(path)?
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an mbtscope analysis file (or it was cut short)", path.display()))?
    };
    anyhow::ensure!(results.format == FORMAT, "{} has format {} (expected {FORMAT})", path.display(), results.format);
    Ok(results)
}

/// Writes a results file (JSON, or Parquet by extension) atomically: a temporary file renamed
/// into place, so that a reader never sees half a file. An existing file is replaced only with
/// `overwrite`.
pub fn write_results(path: &Path, results: &Results, overwrite: bool) -> anyhow::Result<()> {
    let bytes = if is_parquet(path) { parquet::encode(results)? } else { serde_json::to_vec(results)? };
    crate::fsutil::write_atomic(path, &bytes, overwrite).with_context(|| format!("cannot write {}", path.display()))
}
