//! The dataset browser's state (File > Open results…, or `mbtscope --results FILE`): the table
//! of an `analyze` results file, how it is sorted, filtered and searched, and opening a row's
//! clip with the results stored in the file ([`load_stored`]), so that nothing is recomputed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use super::ModelResults;
use super::task::Task;
use super::worker::WindowSpan;
use crate::analysis::report::ModelInfo;
use crate::analysis::{AnalysisSettings, ClipAnalysis};
use crate::dataset::table::{Query, ResultsTable};

/// An open results file and what of it is shown.
#[derive(Default)]
pub struct Browser {
    pub table: Option<Arc<ResultsTable>>,
    pub query: Query,
    /// The rows `query` shows, in its order (indices into the table's clips).
    pub view: Vec<usize>,
    /// The row last clicked (an index into the table's clips).
    pub selected: Option<usize>,
    /// Reading a results file (and its labels CSV).
    pub(super) loading: Option<(PathBuf, Task<Result<ResultsTable, String>>)>,
    /// Reading a row's stored results to open its clip.
    pub(super) opening: Option<Task<Result<StoredClip, String>>>,
    /// What went wrong last, or what the last action did.
    pub message: Option<String>,
}

impl Browser {
    pub fn loading(&self) -> bool {
        self.loading.is_some()
    }

    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    /// Starts reading `path` (and `labels`) in the background.
    pub(super) fn load(&mut self, path: PathBuf, labels: Option<PathBuf>, wake: impl Fn() + Send + 'static) {
        let file = path.clone();
        let started = Task::spawn("results", wake, move |_| ResultsTable::read(&file, labels.as_deref()).map_err(|e| format!("{e:#}")));
        match started {
            Ok(task) => {
                self.loading = Some((path, task));
                self.message = None;
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// Picks up a finished read; returns whether a table arrived.
    pub(super) fn poll(&mut self) -> bool {
        let Some(answer) = self.loading.as_mut().and_then(|(_, task)| task.poll()) else { return false };
        if self.loading.take().is_none() {
            return false;
        }
        match answer.and_then(|r| r) {
            Ok(table) => {
                let failures = table.failures.len();
                self.message = (failures > 0).then(|| format!("{failures} clips failed in the run (see the file's `failures`)"));
                self.table = Some(Arc::new(table));
                self.selected = None;
                self.refresh();
                true
            }
            Err(e) => {
                // The error names the file (and the labels CSV, when that is what failed).
                self.message = Some(e);
                false
            }
        }
    }

    pub(super) fn set_query(&mut self, query: Query) {
        if query != self.query {
            self.query = query;
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.view = self.table.as_ref().map_or_else(Vec::new, |t| t.view(&self.query));
    }
}

/// A row's clip with the file's results for it, ready to show.
pub struct StoredClip {
    pub clip: PathBuf,
    pub models: Vec<ModelResults>,
    pub settings: AnalysisSettings,
    /// Seconds: the centre of the window the row was opened at.
    pub seek: f64,
    /// The file the results came from, and the row.
    pub source: (PathBuf, usize),
    /// What did not match (shown in the status bar).
    pub notes: Vec<String>,
}

/// Where a results file's model is on this machine: the folder it names when it holds a model,
/// else a known model folder (`known`: the app's) of the same name.
fn model_dir(info: &ModelInfo, known: &[PathBuf]) -> Option<PathBuf> {
    let is_model = |d: &Path| d.join(crate::weights::native::CONFIG_FILE).exists();
    if is_model(&info.dir) {
        return Some(info.dir.clone());
    }
    known.iter().find(|d| crate::analysis::model_name(d) == info.name && is_model(d)).cloned()
}

/// Reads row `row`'s results from `table` and lays them out as the app's analysis of the clip
/// (windows, crop and maps as the worker would have sent them), without running a model: each
/// model's config comes from its folder (`known`: other folders to look in by name).
pub fn load_stored(table: &ResultsTable, row: usize, window: Option<usize>, known: &[PathBuf]) -> anyhow::Result<StoredClip> {
    let (models, stored) = table.read_clip(row)?;
    let clip = table.clip_path(row);
    anyhow::ensure!(clip.exists(), "{} is not on this machine (the results name it as {})", clip.display(), stored.clip.display());
    let window = window.unwrap_or_else(|| table.telling_window(row));
    let mut notes = Vec::new();
    let mut out = Vec::new();
    let mut seek = None;
    for (info, windows) in models.iter().zip(&stored.models) {
        let dir = model_dir(info, known).with_context(|| {
            format!(
                "the results' model {} ({}) is not on this machine: load a model folder of that name from the Models menu, then open \
                 the row again",
                info.name,
                info.dir.display()
            )
        })?;
        let config = crate::weights::native::load_config(&dir)?;
        anyhow::ensure!(
            config.num_classes == info.labels.len(),
            "{} has {} classes, but the results' model {} has {}",
            dir.display(),
            config.num_classes,
            info.name,
            info.labels.len()
        );
        let analysis = ClipAnalysis::open(&clip, &config, None)?;
        let spans: Vec<WindowSpan> = analysis.windows.iter().map(WindowSpan::of).collect();
        let mut results = vec![None; spans.len()];
        for w in windows {
            let result = w.to_result(&config).with_context(|| format!("{}, {}: window {}", table.path.display(), info.name, w.index))?;
            match (results.get_mut(w.index), spans.get(w.index)) {
                (Some(slot), Some(span)) if (span.centre - w.centre).abs() < 1e-3 => *slot = Some(result),
                _ => {
                    notes.push(format!("{}: window {} does not match the clip as it is now (was it changed?)", info.name, w.index));
                }
            }
            if w.index == window {
                seek.get_or_insert(w.centre);
            }
        }
        let mut m = ModelResults::new(&dir);
        m.labels = info.labels.clone();
        m.crop = Some(analysis.features.crop_mapping());
        m.config = Some(config);
        m.windows = spans;
        m.results = results;
        out.push(m);
    }
    if !table.maps {
        notes.push("the results hold no maps (analyze ran with --no-maps): predictions only".into());
    }
    Ok(StoredClip {
        clip,
        models: out,
        settings: table.settings.clone(),
        seek: seek.unwrap_or(0.0),
        source: (table.path.clone(), row),
        notes,
    })
}
