//! The dataset browser's table: one row per clip of a results file, with each model's prediction
//! for the clip, the ground truth when a labels CSV is given, whether each model is right, the
//! cross-modal shares, and whether the models disagree; sorted, filtered and searched by a
//! [`Query`]. It reads only what the table shows ([`Listing`]: for Parquet, the columns it
//! needs), and a clip's full results only when it is opened ([`read_clip`]).
//!
//! A clip's prediction is what `mbtscope report` counts: the class with the highest mean over
//! the clip's windows of the top-k probabilities kept ([`super::metrics::clip_scores`]), and its
//! confidence is that mean.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::analysis::AnalysisSettings;
use crate::analysis::report::{ClipResult, FORMAT, Failure, ModelInfo};

/// One window of one model as the table needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedWindow {
    /// The model's place in the file's models.
    pub model: usize,
    pub window: usize,
    /// Seconds.
    pub centre: f64,
    /// The top k (class, probability), best first.
    pub top: Vec<(usize, f32)>,
    /// The rgb and spectrogram cross-modal shares.
    pub cross_modal: [Option<f32>; 2],
}

/// One clip as the table needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedClip {
    pub clip: PathBuf,
    pub duration: f64,
    pub windows: Vec<ListedWindow>,
    /// Its first to last row in a Parquet file.
    pub rows: Option<Range<usize>>,
}

/// A results file without its maps and bottleneck activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub settings: AnalysisSettings,
    pub top_k: usize,
    pub maps: bool,
    pub models: Vec<ModelInfo>,
    pub clips: Vec<ListedClip>,
    pub failures: Vec<Failure>,
}

/// What of the JSON results file the listing reads (serde skips the rest).
#[derive(Deserialize)]
struct JsonListing {
    format: String,
    settings: AnalysisSettings,
    top_k: usize,
    maps: bool,
    models: Vec<ModelInfo>,
    clips: Vec<JsonClip>,
    failures: Vec<Failure>,
}

#[derive(Deserialize)]
struct JsonClip {
    clip: PathBuf,
    duration: f64,
    models: Vec<Vec<JsonWindow>>,
}

#[derive(Deserialize)]
struct JsonWindow {
    index: usize,
    centre: f64,
    top: Vec<JsonLabel>,
    cross_modal: BTreeMap<String, f32>,
}

#[derive(Deserialize)]
struct JsonLabel {
    class: usize,
    probability: f32,
}

/// Reads the listing of a results file (JSON, or Parquet by extension), with errors that name it.
pub fn read_listing(path: &Path) -> anyhow::Result<Listing> {
    if super::is_parquet(path) {
        return super::parquet::read_listing(path);
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: JsonListing = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an mbtscope analysis file (or it was cut short)", path.display()))?;
    anyhow::ensure!(json.format == FORMAT, "{} has format {} (expected {FORMAT})", path.display(), json.format);
    let clips = json
        .clips
        .into_iter()
        .map(|c| ListedClip {
            clip: c.clip,
            duration: c.duration,
            windows: c
                .models
                .into_iter()
                .enumerate()
                .flat_map(|(model, windows)| {
                    windows.into_iter().map(move |w| ListedWindow {
                        model,
                        window: w.index,
                        centre: w.centre,
                        top: w.top.iter().map(|l| (l.class, l.probability)).collect(),
                        cross_modal: [w.cross_modal.get("rgb").copied(), w.cross_modal.get("spectrogram").copied()],
                    })
                })
                .collect(),
            rows: None,
        })
        .collect();
    Ok(Listing { settings: json.settings, top_k: json.top_k, maps: json.maps, models: json.models, clips, failures: json.failures })
}

/// One model's prediction for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPrediction {
    pub window: usize,
    pub centre: f64,
    pub class: Option<usize>,
    pub probability: f32,
}

/// One model's prediction for a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The top class over the clip's windows (None without windows).
    pub class: Option<usize>,
    /// Its mean probability over the windows.
    pub confidence: f32,
    /// The mean rgb and spectrogram cross-modal shares over the windows.
    pub cross_modal: [Option<f32>; 2],
    /// Whether `class` is among the ground truth's labels (None without ground truth).
    pub correct: Option<bool>,
    /// Each window's top class, in window order.
    pub windows: Vec<WindowPrediction>,
}

/// One clip of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipRow {
    /// As the results file names it.
    pub clip: PathBuf,
    /// Its file name, for display and search.
    pub name: String,
    pub duration: f64,
    /// One per model of the file.
    pub models: Vec<Prediction>,
    /// The ground truth's label names (None when the labels CSV has no row for the clip).
    pub truth: Option<Vec<String>>,
    /// Whether the models' top labels differ (by name).
    pub disagree: bool,
    rows: Option<Range<usize>>,
    /// The search text: the path, the top labels and the truth, lowercased.
    haystack: String,
}

/// Which rows the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    #[default]
    All,
    /// Clips where the models' top labels differ.
    Disagree,
    /// Clips where some model is wrong.
    AnyWrong,
    /// Clips where this model is wrong.
    Wrong(usize),
    /// Clips where this model is right.
    Right(usize),
}

/// A column to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Clip,
    Label(usize),
    Confidence(usize),
    Truth,
    Correct(usize),
    /// A model's cross-modal share of a modality (0 rgb, 1 spectrogram).
    CrossModal(usize, usize),
    Disagree,
}

/// How the table is sorted, filtered and searched.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// Case-insensitive; every word must occur in the clip's path, a model's top label or the
    /// ground truth.
    pub search: String,
    pub show: Show,
    pub sort: SortBy,
    pub descending: bool,
}

/// A results file as the dataset browser shows it.
#[derive(Debug, Clone)]
pub struct ResultsTable {
    pub path: PathBuf,
    pub models: Vec<ModelInfo>,
    pub settings: AnalysisSettings,
    pub top_k: usize,
    /// Whether the file holds maps (`analyze` without `--no-maps`).
    pub maps: bool,
    pub clips: Vec<ClipRow>,
    pub failures: Vec<Failure>,
    /// The labels CSV the ground truth came from.
    pub truth_file: Option<PathBuf>,
    /// Each clip's place in the clips sorted by path (sorting and ties go by it, without
    /// comparing paths again).
    clip_rank: Vec<usize>,
}

fn mean(values: impl Iterator<Item = Option<f32>>) -> Option<f32> {
    let (sum, n) = values.flatten().fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v), n + 1));
    (n > 0).then(|| (sum / n as f64) as f32)
}

impl ResultsTable {
    /// Reads `path` (and the ground truth in `labels`, matched as `report --labels` matches it).
    pub fn read(path: &Path, labels: Option<&Path>) -> anyhow::Result<Self> {
        let listing = read_listing(path)?;
        let truth = match labels {
            Some(csv) => {
                let names = listing.models.first().map(|m| m.labels.clone()).unwrap_or_default();
                let clips: Vec<PathBuf> = listing.clips.iter().map(|c| c.clip.clone()).collect();
                let truth = super::labels::read(csv, &names, &clips)?;
                Some(
                    truth
                        .clips
                        .into_iter()
                        .map(|(clip, classes)| (clip, classes.iter().map(|&c| crate::analysis::label_name(&names, c)).collect()))
                        .collect::<BTreeMap<PathBuf, Vec<String>>>(),
                )
            }
            None => None,
        };
        Ok(Self::from_listing(path, listing, truth.as_ref().map(|t| (labels.unwrap_or(path), t))))
    }

    fn from_listing(path: &Path, listing: Listing, truth: Option<(&Path, &BTreeMap<PathBuf, Vec<String>>)>) -> Self {
        let models = listing.models;
        let mut scores: Vec<Vec<f64>> = models.iter().map(|m| vec![0.0; m.labels.len()]).collect();
        let clips: Vec<ClipRow> = listing
            .clips
            .into_iter()
            .map(|c| {
                let clip_truth = truth.and_then(|(_, t)| t.get(&c.clip).cloned());
                let predictions: Vec<Prediction> = models
                    .iter()
                    .enumerate()
                    .map(|(m, info)| {
                        let mut windows: Vec<&ListedWindow> = c.windows.iter().filter(|w| w.model == m).collect();
                        windows.sort_by_key(|w| w.window);
                        let s = &mut scores[m];
                        s.iter_mut().for_each(|v| *v = 0.0);
                        super::metrics::accumulate_scores(s, windows.iter().map(|w| w.top.as_slice()));
                        let class = if windows.is_empty() { None } else { super::metrics::top1(s) };
                        Prediction {
                            class,
                            confidence: class.map_or(0.0, |k| s[k] as f32),
                            cross_modal: [0, 1].map(|k| mean(windows.iter().map(|w| w.cross_modal[k]))),
                            correct: clip_truth.as_ref().zip(class).map(|(t, k)| t.contains(&crate::analysis::label_name(&info.labels, k))),
                            windows: windows
                                .iter()
                                .map(|w| WindowPrediction {
                                    window: w.window,
                                    centre: w.centre,
                                    class: w.top.first().map(|t| t.0),
                                    probability: w.top.first().map_or(0.0, |t| t.1),
                                })
                                .collect(),
                        }
                    })
                    .collect();
                let names: Vec<Option<String>> = predictions
                    .iter()
                    .zip(&models)
                    .map(|(p, info)| p.class.map(|k| crate::analysis::label_name(&info.labels, k)))
                    .collect();
                let disagree = names.windows(2).any(|w| w[0] != w[1]);
                let name = c.clip.file_name().map_or_else(|| c.clip.display().to_string(), |n| n.to_string_lossy().into_owned());
                let mut haystack = c.clip.display().to_string();
                for n in names.iter().flatten().chain(clip_truth.iter().flatten()) {
                    haystack.push('\n');
                    haystack.push_str(n);
                }
                ClipRow {
                    clip: c.clip,
                    name,
                    duration: c.duration,
                    models: predictions,
                    truth: clip_truth,
                    disagree,
                    rows: c.rows,
                    haystack: haystack.to_lowercase(),
                }
            })
            .collect();
        let mut by_path: Vec<usize> = (0..clips.len()).collect();
        by_path.sort_by(|&a, &b| clips[a].clip.cmp(&clips[b].clip));
        let mut clip_rank = vec![0; clips.len()];
        for (place, &i) in by_path.iter().enumerate() {
            clip_rank[i] = place;
        }
        Self {
            path: path.to_owned(),
            models,
            settings: listing.settings,
            top_k: listing.top_k,
            maps: listing.maps,
            clips,
            failures: listing.failures,
            truth_file: truth.map(|(p, _)| p.to_owned()),
            clip_rank,
        }
    }

    /// Model `m`'s name for class `class`.
    pub fn label(&self, m: usize, class: Option<usize>) -> String {
        match (self.models.get(m), class) {
            (Some(info), Some(k)) => crate::analysis::label_name(&info.labels, k),
            _ => "-".into(),
        }
    }

    /// The rows `query` shows, in its order (indices into `clips`).
    pub fn view(&self, query: &Query) -> Vec<usize> {
        let words: Vec<String> = query.search.to_lowercase().split_whitespace().map(str::to_owned).collect();
        let shown = |row: &ClipRow| match query.show {
            Show::All => true,
            Show::Disagree => row.disagree,
            Show::AnyWrong => row.models.iter().any(|m| m.correct == Some(false)),
            Show::Wrong(m) => row.models.get(m).is_some_and(|p| p.correct == Some(false)),
            Show::Right(m) => row.models.get(m).is_some_and(|p| p.correct == Some(true)),
        };
        let mut rows: Vec<usize> = (0..self.clips.len())
            .filter(|&i| {
                let row = &self.clips[i];
                shown(row) && words.iter().all(|w| row.haystack.contains(w.as_str()))
            })
            .collect();
        let clips = &self.clips;
        let rank = &self.clip_rank;
        let f32_key = |v: Option<f32>| v.unwrap_or(f32::NEG_INFINITY);
        match query.sort {
            SortBy::Clip => rows.sort_by_key(|&i| rank[i]),
            SortBy::Label(m) => {
                // Each class's place among the model's label names sorted, so that rows sort by
                // name without building one per row.
                let labels = self.models.get(m).map_or(&[][..], |info| info.labels.as_slice());
                let mut by_name: Vec<usize> = (0..labels.len()).collect();
                by_name.sort_by(|&a, &b| labels[a].cmp(&labels[b]));
                let mut label_rank = vec![0usize; labels.len()];
                for (place, &class) in by_name.iter().enumerate() {
                    label_rank[class] = place;
                }
                let key = |i: usize| clips[i].models.get(m).and_then(|p| p.class).and_then(|k| label_rank.get(k).copied());
                rows.sort_by(|&a, &b| key(a).cmp(&key(b)).then(rank[a].cmp(&rank[b])));
            }
            SortBy::Confidence(m) => {
                rows.sort_by(|&a, &b| {
                    f32_key(clips[a].models.get(m).map(|p| p.confidence))
                        .total_cmp(&f32_key(clips[b].models.get(m).map(|p| p.confidence)))
                        .then(rank[a].cmp(&rank[b]))
                });
            }
            SortBy::Truth => rows.sort_by(|&a, &b| clips[a].truth.cmp(&clips[b].truth).then(rank[a].cmp(&rank[b]))),
            SortBy::Correct(m) => {
                let key = |i: usize| clips[i].models.get(m).and_then(|p| p.correct);
                rows.sort_by(|&a, &b| key(a).cmp(&key(b)).then(rank[a].cmp(&rank[b])));
            }
            SortBy::CrossModal(m, k) => rows.sort_by(|&a, &b| {
                let v = |i: usize| f32_key(clips[i].models.get(m).and_then(|p| p.cross_modal.get(k).copied().flatten()));
                v(a).total_cmp(&v(b)).then(rank[a].cmp(&rank[b]))
            }),
            SortBy::Disagree => rows.sort_by(|&a, &b| clips[a].disagree.cmp(&clips[b].disagree).then(rank[a].cmp(&rank[b]))),
        }
        if query.descending {
            rows.reverse();
        }
        rows
    }

    /// The window a click on row `i` opens: the first where the models' top labels differ, else
    /// the first where a model's top label is not in the ground truth, else the first.
    pub fn telling_window(&self, i: usize) -> usize {
        let Some(row) = self.clips.get(i) else { return 0 };
        let Some(first) = row.models.first() else { return 0 };
        let name = |m: usize, j: usize| row.models[m].windows.get(j).map(|w| self.label(m, w.class));
        let disagrees = |j: usize| (1..row.models.len()).any(|m| name(m, j) != name(0, j));
        let wrong =
            |j: usize| row.truth.as_ref().is_some_and(|t| (0..row.models.len()).any(|m| name(m, j).is_some_and(|n| !t.contains(&n))));
        let n = first.windows.len();
        (0..n).find(|&j| disagrees(j)).or_else(|| (0..n).find(|&j| wrong(j))).map_or(0, |j| first.windows[j].window)
    }

    /// Per model, the share of labelled clips it gets right (None without ground truth).
    pub fn accuracy(&self, m: usize) -> Option<(f64, usize)> {
        let judged: Vec<bool> = self.clips.iter().filter_map(|c| c.models.get(m)?.correct).collect();
        (!judged.is_empty()).then(|| (judged.iter().filter(|&&c| c).count() as f64 / judged.len() as f64, judged.len()))
    }

    /// Where the clip of row `i` is on this machine: its path as the file names it when that
    /// exists (absolute, or relative to the current folder), else relative to the results
    /// file's folder.
    pub fn clip_path(&self, i: usize) -> PathBuf {
        let clip = &self.clips[i].clip;
        if clip.is_absolute() || clip.exists() {
            return clip.clone();
        }
        let beside = self.path.parent().map(|dir| dir.join(clip));
        beside.filter(|p| p.exists()).unwrap_or_else(|| clip.clone())
    }

    /// Row `i`'s clip with its full stored results (maps included) and the file's models.
    pub fn read_clip(&self, i: usize) -> anyhow::Result<(Vec<ModelInfo>, ClipResult)> {
        let row = self.clips.get(i).with_context(|| format!("no row {i}"))?;
        match &row.rows {
            Some(rows) if super::is_parquet(&self.path) => super::parquet::read_clip(&self.path, &row.clip, rows.clone()),
            _ => {
                let results = super::read_results(&self.path)?;
                let clip = results
                    .clips
                    .into_iter()
                    .find(|c| c.clip == row.clip)
                    .with_context(|| format!("{} no longer holds {}", self.path.display(), row.clip.display()))?;
                Ok((results.models, clip))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(model: usize, window: usize, top: &[(usize, f32)]) -> ListedWindow {
        ListedWindow { model, window, centre: window as f64 + 0.5, top: top.to_vec(), cross_modal: [Some(0.1 * window as f32), None] }
    }

    /// Three clips, two models with the same labels: `a` both right, `b` where B is wrong in
    /// window 1 only (and A wrong overall), `c` multi-label with no ground truth row.
    fn table() -> ResultsTable {
        let labels: Vec<String> = ["dog", "cat", "bird"].iter().map(|s| (*s).to_owned()).collect();
        let model = |name: &str| ModelInfo { name: name.into(), dir: PathBuf::from(name), labels: labels.clone() };
        let clip = |name: &str, windows: Vec<ListedWindow>| ListedClip { clip: PathBuf::from(name), duration: 2.0, windows, rows: None };
        let listing = Listing {
            settings: AnalysisSettings::default(),
            top_k: 2,
            maps: false,
            models: vec![model("a"), model("b")],
            clips: vec![
                clip("set/c.mp4", vec![window(0, 0, &[(2, 0.9)]), window(1, 0, &[(2, 0.8)])]),
                clip("set/a.mp4", vec![window(0, 0, &[(0, 0.9), (1, 0.1)]), window(1, 0, &[(0, 0.7)])]),
                clip(
                    "set/b.mp4",
                    vec![
                        window(0, 0, &[(1, 0.6), (0, 0.4)]),
                        window(0, 1, &[(1, 0.7), (0, 0.3)]),
                        window(1, 0, &[(1, 0.9)]),
                        window(1, 1, &[(0, 0.5), (1, 0.4)]),
                    ],
                ),
            ],
            failures: Vec::new(),
        };
        let truth: BTreeMap<PathBuf, Vec<String>> = [("set/a.mp4", vec!["dog".to_owned()]), ("set/b.mp4", vec!["dog".to_owned()])]
            .into_iter()
            .map(|(k, v)| (PathBuf::from(k), v))
            .collect();
        ResultsTable::from_listing(Path::new("r.json"), listing, Some((Path::new("labels.csv"), &truth)))
    }

    #[test]
    fn clip_predictions_are_the_mean_of_the_windows_top_k() {
        let t = table();
        let b = &t.clips[2];
        // A on b: cat (0.6 + 0.7) / 2 = 0.65 against dog 0.35; B: cat (0.9 + 0.4) / 2 = 0.65.
        assert_eq!(b.models[0].class, Some(1));
        assert!((b.models[0].confidence - 0.65).abs() < 1e-6);
        assert_eq!(b.models[1].class, Some(1));
        assert_eq!(b.models[0].correct, Some(false));
        assert_eq!(t.clips[1].models[0].correct, Some(true));
        assert_eq!(t.clips[0].models[0].correct, None, "no truth row");
        assert!(!b.disagree, "both say cat over the clip");
        assert_eq!(b.models[0].cross_modal[0], Some(0.05), "the mean over the windows");
        assert_eq!(t.accuracy(0), Some((0.5, 2)));
    }

    #[test]
    fn views_filter_search_and_sort() {
        let t = table();
        let names = |q: Query| t.view(&q).into_iter().map(|i| t.clips[i].name.clone()).collect::<Vec<_>>();
        assert_eq!(names(Query::default()), ["a.mp4", "b.mp4", "c.mp4"]);
        assert_eq!(names(Query { descending: true, ..Query::default() }), ["c.mp4", "b.mp4", "a.mp4"]);
        assert_eq!(names(Query { show: Show::Wrong(0), ..Query::default() }), ["b.mp4"]);
        assert_eq!(names(Query { show: Show::Right(1), ..Query::default() }), ["a.mp4"]);
        assert_eq!(names(Query { show: Show::AnyWrong, ..Query::default() }), ["b.mp4"]);
        // Every word must occur: in the path, a top label or the truth.
        assert_eq!(names(Query { search: "CAT".into(), ..Query::default() }), ["b.mp4"]);
        assert_eq!(names(Query { search: "dog set".into(), ..Query::default() }), ["a.mp4", "b.mp4"]);
        assert_eq!(names(Query { search: "dog bird".into(), ..Query::default() }), Vec::<String>::new());
        // By label name: bird < cat < dog.
        assert_eq!(names(Query { sort: SortBy::Label(0), ..Query::default() }), ["c.mp4", "b.mp4", "a.mp4"]);
        // Ties (a and c at 0.9) go by path.
        assert_eq!(names(Query { sort: SortBy::Confidence(0), ..Query::default() }), ["b.mp4", "a.mp4", "c.mp4"]);
        assert_eq!(names(Query { sort: SortBy::Confidence(0), descending: true, ..Query::default() }), ["c.mp4", "a.mp4", "b.mp4"]);
    }

    #[test]
    fn a_click_opens_where_the_models_disagree_or_a_model_is_wrong() {
        let t = table();
        // b: window 1 has A cat, B dog: they disagree there.
        assert_eq!(t.telling_window(2), 1);
        // a: no disagreement, nobody wrong: the first window.
        assert_eq!(t.telling_window(1), 0);
    }
}
