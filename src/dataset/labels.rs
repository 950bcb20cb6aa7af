//! Ground truth for a set of clips from a CSV file, one clip per row: `clip,label` (single-label,
//! as VGGSound) or `clip,"label1,label2"` (multi-label, as AudioSet). A first row `clip,label`
//! or `clip,labels` is a header. Clips are matched by path, file name or file stem; labels by
//! the models' label names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each clip's true classes (indices into the models' labels).
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Keyed by the clip as the results name it.
    pub clips: BTreeMap<PathBuf, Vec<usize>>,
    /// Whether any clip has more than one label (mAP is then the headline metric).
    pub multi_label: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {problem}")]
    Line { path: PathBuf, line: usize, problem: String },
    #[error("{path}: {count} clips are not in the results (first: {first})")]
    UnknownClips { path: PathBuf, count: usize, first: String },
}

/// Splits one CSV line into fields (RFC 4180: fields in double quotes may hold commas, and `""`
/// is a quote inside them).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => return Err("a quote inside an unquoted field".into()),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    out.push(field);
    Ok(out.into_iter().map(|f| f.trim().to_owned()).collect())
}

/// Reads `path` for the clips in `clips` with the label names `labels`. Every row must name a
/// clip of the results and known labels; results clips without a row are left out of the
/// metrics.
pub fn read(path: &Path, labels: &[String], clips: &[PathBuf]) -> Result<GroundTruth, LabelsError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabelsError::Read { path: path.to_owned(), source })?;
    let class_of: BTreeMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    // A clip of the results by its path, its file name and its stem (the first clip wins a
    // name two clips share).
    let mut by_name: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for clip in clips {
        by_name.entry(clip.display().to_string()).or_insert(clip);
        if let Some(name) = clip.file_name() {
            by_name.entry(name.to_string_lossy().into_owned()).or_insert(clip);
        }
        if let Some(stem) = clip.file_stem() {
            by_name.entry(stem.to_string_lossy().into_owned()).or_insert(clip);
        }
    }
    let mut truth = GroundTruth { clips: BTreeMap::new(), multi_label: false };
    let mut unknown = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |problem: String| LabelsError::Line { path: path.to_owned(), line: n + 1, problem };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let row = fields(line).map_err(bad)?;
        if n == 0 && row.first().is_some_and(|c| c == "clip") && row.get(1).is_some_and(|l| l == "label" || l == "labels") {
            continue;
        }
        let [clip, names] = row.as_slice() else {
            return Err(bad(format!("{} fields (expected 2: clip,label or clip,\"label1,label2\")", row.len())));
        };
        let mut classes = Vec::new();
        for name in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let class = class_of.get(name).copied().ok_or_else(|| bad(format!("unknown label {name:?} (not among the models' labels)")))?;
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        if classes.is_empty() {
            return Err(bad(format!("no label for {clip}")));
        }
        let Some(&key) = by_name.get(clip.as_str()) else {
            unknown.push(clip.clone());
            continue;
        };
        if truth.clips.insert(key.clone(), classes.clone()).is_some() {
            return Err(bad(format!("{clip} is labelled twice")));
        }
        truth.multi_label |= classes.len() > 1;
    }
    if let Some(first) = unknown.first() {
        return Err(LabelsError::UnknownClips { path: path.to_owned(), count: unknown.len(), first: first.clone() });
    }
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180() {
        assert_eq!(fields("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(fields(r#"a,"b,c""#).unwrap(), vec!["a", "b,c"]);
        assert_eq!(fields(r#""say ""hi""",x"#).unwrap(), vec![r#"say "hi""#, "x"]);
        assert_eq!(fields("a,").unwrap(), vec!["a", ""]);
        assert!(fields(r#"a,"b"#).is_err());
        assert!(fields(r#"a,b"c"#).is_err());
    }

    #[test]
    fn labels_are_read_for_single_and_multi_label_sets() {
        let dir = std::env::temp_dir().join(format!("mbtscope-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let labels: Vec<String> = ["dog", "cat", "drum"].iter().map(|s| (*s).to_owned()).collect();
        let clips: Vec<PathBuf> = ["data/a.mp4", "data/b.mp4", "data/c.mp4"].iter().map(PathBuf::from).collect();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let single = read(&write("single.csv", "clip,label\na,dog\nb.mp4,cat\n"), &labels, &clips).unwrap();
        assert!(!single.multi_label);
        assert_eq!(single.clips[&clips[0]], vec![0]);
        assert_eq!(single.clips[&clips[1]], vec![1]);
        assert!(!single.clips.contains_key(&clips[2]));
        let multi = read(&write("multi.csv", "data/a.mp4,\"dog,drum\"\r\nc,cat\n"), &labels, &clips).unwrap();
        assert!(multi.multi_label);
        assert_eq!(multi.clips[&clips[0]], vec![0, 2]);
        let err = |text: &str| read(&write("bad.csv", text), &labels, &clips).unwrap_err().to_string();
        assert!(err("a,horse\n").contains("line 1: unknown label \"horse\""), "{}", err("a,horse\n"));
        assert!(err("a,dog\nzzz,cat\n").contains("1 clips are not in the results (first: zzz)"));
        assert!(err("a,dog,cat\n").contains("3 fields"));
        assert!(err("a,dog\na,cat\n").contains("labelled twice"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
