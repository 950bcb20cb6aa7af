//! Combining the results files of shards into one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analysis::report::Results;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{other} holds results of other {what} than {first}; only shards of one run can be merged")]
    Different { first: PathBuf, other: PathBuf, what: &'static str },
    #[error("{clip} is in both {first} and {second}")]
    Duplicate { clip: PathBuf, first: PathBuf, second: PathBuf },
    #[error("shard {shard} is given twice: {first} and {second}")]
    DuplicateShard { shard: String, first: PathBuf, second: PathBuf },
}

/// What a merge gives: the combined results (clips sorted by path, no shard tag) and the
/// shards of the run that were not among the inputs (a warning, not an error: a rerun of the
/// missing ones can be merged in later).
#[derive(Debug)]
pub struct Merged {
    pub results: Results,
    pub missing_shards: Vec<String>,
}

/// Merges `inputs` (each a file and its results). They must come from one run: the same
/// format, settings, top k, maps and models, and the same shard count where they have one; no
/// clip (analysed or failed) may be in two of them.
pub fn merge(inputs: Vec<(PathBuf, Results)>) -> Result<Merged, MergeError> {
    let mut inputs = inputs.into_iter();
    let (first_path, first) = inputs.next().ok_or(MergeError::Empty)?;
    let mut seen: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut shards: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut count = None;
    let mut note = |path: &Path, results: &Results| -> Result<(), MergeError> {
        for clip in results.clips.iter().map(|c| &c.clip).chain(results.failures.iter().map(|f| &f.clip)) {
            if let Some(before) = seen.insert(clip.clone(), path.to_owned()) {
                return Err(MergeError::Duplicate { clip: clip.clone(), first: before, second: path.to_owned() });
            }
        }
        if let Some(shard) = results.shard {
            if let Some(before) = shards.insert(shard.index, path.to_owned()) {
                return Err(MergeError::DuplicateShard { shard: shard.to_string(), first: before, second: path.to_owned() });
            }
            count = count.or(Some(shard.count));
        }
        Ok(())
    };
    note(&first_path, &first)?;
    let shard_count = first.shard.map(|s| s.count);
    let mut merged = Results { shard: None, ..first };
    for (path, results) in inputs {
        let different = |what| MergeError::Different { first: first_path.clone(), other: path.clone(), what };
        if results.format != merged.format {
            return Err(different("format"));
        }
        if results.models != merged.models {
            return Err(different("models"));
        }
        if results.settings != merged.settings || results.top_k != merged.top_k || results.maps != merged.maps {
            return Err(different("settings"));
        }
        if results.shard.map(|s| s.count) != shard_count {
            return Err(different("shard counts"));
        }
        note(&path, &results)?;
        merged.clips.extend(results.clips);
        merged.failures.extend(results.failures);
    }
    merged.clips.sort_by(|a, b| a.clip.cmp(&b.clip));
    merged.failures.sort_by(|a, b| a.clip.cmp(&b.clip));
    let missing_shards = count.map_or_else(Vec::new, |n| (0..n).filter(|k| !shards.contains_key(k)).map(|k| format!("{k}/{n}")).collect());
    Ok(Merged { results: merged, missing_shards })
}
