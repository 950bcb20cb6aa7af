//! The on-disk analysis cache, shared by the app, `analyze` and `export`: one entry per (clip,
//! model, settings), a header line with the SHA-256 of the rest, written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{AnalysisSettings, WindowResult, fnv1a};
use crate::fsutil::file_identity;

/// The layout of a cache entry: a header line, then the results as JSON.
const CACHE_FORMAT: &str = "mbtscope-cache/2";

/// The first line of a cache entry: what the entry holds and the SHA-256 of the rest, so that
/// an entry that was cut short, edited or damaged is recomputed instead of trusted.
#[derive(Debug, Serialize, Deserialize)]
struct CacheHeader {
    format: String,
    windows: usize,
    classes: usize,
    sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a cache entry cannot be used, if it cannot: its header, its hash, or the shapes of what it
/// holds do not match what the model gives.
fn check_cache_entry(bytes: &[u8], windows: usize, classes: usize) -> Result<Vec<WindowResult>, String> {
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or("no header line")?;
    let (header, payload) = (&bytes[..newline], &bytes[newline + 1..]);
    let header: CacheHeader = serde_json::from_slice(header).map_err(|e| format!("bad header: {e}"))?;
    if header.format != CACHE_FORMAT {
        return Err(format!("format {} (expected {CACHE_FORMAT})", header.format));
    }
    if header.windows != windows || header.classes != classes {
        return Err(format!("{} windows of {} classes (expected {windows} of {classes})", header.windows, header.classes));
    }
    if sha256_hex(payload) != header.sha256 {
        return Err("the content does not match its hash".into());
    }
    let results: Vec<WindowResult> = serde_json::from_slice(payload).map_err(|e| format!("bad content: {e}"))?;
    if results.len() != windows {
        return Err(format!("{} windows (expected {windows})", results.len()));
    }
    for (i, r) in results.iter().enumerate() {
        if r.index != i {
            return Err(format!("window {i} is numbered {}", r.index));
        }
        r.check(classes).map_err(|e| format!("window {i}: {e}"))?;
    }
    Ok(results)
}

/// One entry of the cache in `dir`: the analysis of `clip` by the model in `model_dir` with
/// `settings`. An entry is named after the clip's and the weights' identity (path, size,
/// modification time) and the settings' key, so that a changed file or setting misses.
#[derive(Debug, Clone, Copy)]
pub struct CacheEntry<'a> {
    pub dir: &'a Path,
    pub clip: &'a Path,
    pub model_dir: &'a Path,
    pub settings: &'a AnalysisSettings,
}

impl CacheEntry<'_> {
    pub fn path(&self) -> PathBuf {
        let mut clip_identity = file_identity(self.clip);
        // Swapped-in audio is part of the input: its file's identity is part of the key.
        if let Some(crate::features::Counterfactual::Swap(donor)) = &self.settings.counterfactual {
            clip_identity += &format!("|audio:{}", file_identity(donor));
        }
        let clip_key = fnv1a(clip_identity.as_bytes());
        let model_key = fnv1a(file_identity(&self.model_dir.join(crate::weights::native::WEIGHTS_FILE)).as_bytes());
        self.dir.join(format!("{clip_key:016x}-{model_key:016x}-{}.json", self.settings.key()))
    }

    /// The cached results of every window, if a complete and intact set of `windows` windows
    /// of a `classes`-class model is cached. An entry that fails its checks is removed (with a
    /// warning), so that the analysis is computed again.
    pub fn read(&self, windows: usize, classes: usize) -> Option<Vec<WindowResult>> {
        let path = self.path();
        let bytes = std::fs::read(&path).ok()?;
        match check_cache_entry(&bytes, windows, classes) {
            Ok(results) => Some(results),
            Err(why) => {
                log::warn!("ignoring the cached analysis {}: {why}; analysing again", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Caches a complete analysis (best effort: a cache that cannot be written is skipped).
    pub fn write(&self, results: &[WindowResult]) {
        let _ = std::fs::create_dir_all(self.dir);
        let Ok(payload) = serde_json::to_vec(results) else { return };
        let classes = results.first().map_or(0, |r| r.probabilities.len());
        let header = CacheHeader { format: CACHE_FORMAT.into(), windows: results.len(), classes, sha256: sha256_hex(&payload) };
        let Ok(mut bytes) = serde_json::to_vec(&header) else { return };
        bytes.push(b'\n');
        bytes.extend_from_slice(&payload);
        // A unique temporary per writer and an atomic rename: two writers of the same entry leave
        // one whole entry.
        let _ = crate::fsutil::write_atomic(&self.path(), &bytes, true);
    }
}
