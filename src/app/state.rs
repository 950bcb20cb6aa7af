//! The app's state besides its settings: the open clip ([`Session`]), the models' analysis of it
//! ([`Analysis`]), background jobs ([`Tasks`]) and what the window shows besides the data
//! ([`UiState`]). Panels read all of it; only [`super::MbtApp::apply`] changes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::task::Task;
use super::worker::{Event, WindowSpan, Worker};
use super::{dialog, export};
use crate::analysis::{AnalysisSettings, Method, WindowResult};
use crate::media::Timestamp;
use crate::media::player::Player;
use crate::render::Normalisation;

/// One model's results on the open clip.
pub struct ModelResults {
    pub dir: PathBuf,
    pub name: String,
    pub labels: Vec<String>,
    pub config: Option<crate::model::MbtConfig>,
    pub windows: Vec<WindowSpan>,
    pub results: Vec<Option<WindowResult>>,
    pub crop: Option<crate::features::input::CropMapping>,
    /// The explanation settings that did not fit this model and were changed for it alone.
    pub adjusted: Vec<String>,
}

impl ModelResults {
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            name: dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned()),
            labels: Vec::new(),
            config: None,
            windows: Vec::new(),
            results: Vec::new(),
            crop: None,
            adjusted: Vec::new(),
        }
    }

    /// The analysed window nearest to `t`.
    pub fn window_at(&self, t: f64) -> Option<&WindowResult> {
        // Nearest among all the windows, analysed or not: a window still being analysed shows as
        // such rather than as its neighbour's result.
        self.results.get(crate::analysis::nearest_window(self.windows.iter().map(|w| w.centre), t)?)?.as_ref()
    }

    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }

    /// The analysed windows as an export's model run (what `mbtscope export` draws).
    pub fn run(&self) -> Option<crate::analysis::ModelRun> {
        Some(crate::analysis::ModelRun {
            name: self.name.clone(),
            dir: self.dir.clone(),
            labels: self.labels.clone(),
            num_frames: self.config.as_ref()?.dataset_configs.num_frames,
            crop: self.crop?,
            results: self.results.iter().flatten().cloned().collect(),
        })
    }
}

/// The clip's log-mel spectrogram for display (10 ms frames x 128 mel bins).
pub struct ClipSpectrogram {
    pub values: Vec<f32>,
    pub frames: usize,
    pub mel: usize,
    /// The lowest and highest value over the clip (the grey scale's ends).
    pub range: (f32, f32),
}

pub(super) fn clip_spectrogram(path: &Path) -> Option<ClipSpectrogram> {
    let track = crate::media::audio::decode_audio(path, 16_000, Timestamp::ZERO, None).ok()??;
    let fbank = crate::features::Fbank::new(crate::features::FbankConfig::default());
    let values = fbank.compute(&track.samples);
    let mel = fbank.config().num_mel_bins;
    let range = crate::explain::maps::value_range(&values);
    Some(ClipSpectrogram { frames: values.len() / mel.max(1), values, mel, range })
}

/// Models > Import a Scenic checkpoint: the form's fields as the user left them (the import
/// itself runs as [`Tasks::import`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportForm {
    pub shown: bool,
    pub checkpoint: String,
    pub config: String,
    /// Optional class names, one per line.
    pub labels: String,
    /// The model folder to write.
    pub out: String,
    /// Replace the files of a model already in `out`.
    pub replace: bool,
    pub message: Option<String>,
}

/// What an import reads and writes, from the form.
pub(super) struct ImportPaths {
    pub(super) checkpoint: PathBuf,
    pub(super) config: PathBuf,
    pub(super) labels: Option<PathBuf>,
    pub(super) out: PathBuf,
    pub(super) replace: bool,
}

impl ImportForm {
    /// Fills in the checkpoint and, when empty, an output folder named after it under the data
    /// folder (`~/.local/share/mbtscope/models/NAME`).
    pub fn set_checkpoint(&mut self, path: &Path) {
        self.checkpoint = path.display().to_string();
        if self.out.trim().is_empty() {
            let stem = path.file_stem().map_or_else(|| "imported".into(), |s| s.to_string_lossy().into_owned());
            self.out = crate::fsutil::data_dir().join("models").join(stem).display().to_string();
        }
    }

    pub(super) fn paths(&self) -> Result<ImportPaths, String> {
        let field = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
        let (Some(checkpoint), Some(config), Some(out)) = (field(&self.checkpoint), field(&self.config), field(&self.out)) else {
            return Err("give the checkpoint, its config and the output folder".into());
        };
        Ok(ImportPaths { checkpoint, config, labels: field(&self.labels), out, replace: self.replace })
    }
}

/// Where the main views were drawn in the last frame (points), for tests and screenshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewRects {
    /// The frame views (central panel).
    pub frames: egui::Rect,
    /// Transport, label strip and spectrogram (bottom panel).
    pub transport: egui::Rect,
    /// Explanation settings, labels and bottleneck tokens (right panel).
    pub inspector: egui::Rect,
}

impl Default for ViewRects {
    fn default() -> Self {
        Self { frames: egui::Rect::NOTHING, transport: egui::Rect::NOTHING, inspector: egui::Rect::NOTHING }
    }
}

/// What one frame's layout measured, for the next frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Layout {
    pub rects: ViewRects,
    /// The size (pixels) of one frame view; (0, 0) before the first layout.
    pub view_pixels: (u32, u32),
}

/// The selected bottleneck token: fusion-layer position and token index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPick {
    pub layer: usize,
    pub token: usize,
}

/// The open clip: its playback, what is known of it, and what of it is shown.
pub struct Session {
    pub clip: PathBuf,
    pub player: Player,
    /// The ground truth, for clips made by `mbtscope synth`.
    pub truth: Option<crate::synth::ClipTruth>,
    pub spectrogram: Option<Arc<ClipSpectrogram>>,
    pub(super) spectrogram_task: Option<Task<Option<ClipSpectrogram>>>,
    /// The spectrogram of the clip whose audio a what-if swaps in, decoded as for the clip.
    pub swapped: Option<SwappedAudio>,
    /// The frame on screen, and a key that changes with it.
    pub current_frame: Option<Arc<crate::media::video::VideoFrame>>,
    pub frame_key: u64,
    /// The bottleneck token whose maps are shown instead of the classification tokens'.
    pub token: Option<TokenPick>,
    pub(super) opened_at: std::time::Instant,
    /// Seconds from opening to the first analysed window.
    pub first_result_after: Option<f64>,
    /// The A-B loop: playing past `b` goes back to `a`.
    pub loop_ab: LoopAb,
}

/// An A-B loop as in mpv and VLC (`[` sets A, `]` sets B, Backspace clears): while both are
/// set, playback that reaches B goes on from A.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoopAb {
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl LoopAb {
    /// Both ends, when the loop is set.
    pub fn span(&self) -> Option<(f64, f64)> {
        Some((self.a?, self.b?))
    }

    /// A at `t`; a B that is not after it is dropped.
    pub fn set_a(&mut self, t: f64) {
        self.a = Some(t);
        if self.b.is_some_and(|b| b <= t) {
            self.b = None;
        }
    }

    /// B at `t`; an A that is not before it is dropped.
    pub fn set_b(&mut self, t: f64) {
        self.b = Some(t);
        if self.a.is_some_and(|a| a >= t) {
            self.a = None;
        }
    }
}

/// Another clip's audio, for the spectrogram rows of a what-if that swaps it in.
pub struct SwappedAudio {
    pub path: PathBuf,
    /// `None` while decoding, and when the file has no audio that FFmpeg can decode.
    pub spectrogram: Option<Arc<ClipSpectrogram>>,
    pub(super) task: Option<Task<Option<ClipSpectrogram>>>,
}

impl Session {
    /// The spectrogram to draw for audio from `path`: the clip's own, or the swapped-in clip's
    /// once decoded (`Err` says why there is none yet).
    pub fn spectrogram_of(&self, path: Option<&Path>) -> Result<Arc<ClipSpectrogram>, &'static str> {
        match path {
            None => self.spectrogram.clone().ok_or("no spectrogram"),
            Some(p) => match &self.swapped {
                Some(s) if s.path == p && s.task.is_some() => Err("decoding the swapped-in audio..."),
                Some(s) if s.path == p => s.spectrogram.clone().ok_or("the swapped-in clip has no sound to show"),
                _ => Err("decoding the swapped-in audio..."),
            },
        }
    }

    /// Whether the spectrogram is still being computed.
    pub fn spectrogram_pending(&self) -> bool {
        self.spectrogram_task.is_some()
    }
}

/// The models' analysis of the open clip, and the worker that runs it.
pub struct Analysis {
    pub(super) worker: Worker,
    /// The worker request whose results are shown (older ones' events are ignored).
    pub(super) generation: u64,
    /// Models A and B, as the settings list them.
    pub models: Vec<ModelResults>,
    pub status: String,
    /// Where the models run, in words.
    pub device_description: String,
    /// Windows received since the app started (for the probes).
    pub received: usize,
}

impl Analysis {
    /// `(analysed, all)` windows over the models.
    pub fn progress(&self) -> (usize, usize) {
        self.models.iter().fold((0, 0), |(d, t), m| (d + m.done(), t + m.results.len()))
    }

    /// Applies the worker's events (a window's first result also times the session's first).
    pub(super) fn poll(&mut self, session: Option<&mut Session>) {
        let mut session = session;
        while let Ok(event) = self.worker.events.try_recv() {
            match event {
                Event::Ready { generation, model, labels, config, windows, crop, adjusted } if generation == self.generation => {
                    if let Some(m) = self.models.get_mut(model) {
                        m.adjusted = adjusted;
                        m.results = vec![None; windows.len()];
                        m.windows = windows;
                        m.labels = labels;
                        m.config = Some(*config);
                        m.crop = Some(crop);
                    }
                }
                Event::Window { generation, model, result } if generation == self.generation => {
                    self.received += 1;
                    if let Some(s) = session.as_deref_mut().filter(|s| s.first_result_after.is_none()) {
                        s.first_result_after = Some(s.opened_at.elapsed().as_secs_f64());
                    }
                    if let Some(m) = self.models.get_mut(model)
                        && let Some(slot) = m.results.get_mut(result.index)
                    {
                        *slot = Some(*result);
                    }
                }
                Event::Done { generation, cached, seconds } if generation == self.generation => {
                    self.status = if cached { "analysis read from the cache".into() } else { format!("analysed in {seconds:.1} s") };
                }
                Event::Failed { generation, message } if generation == self.generation => {
                    self.status = format!("analysis failed: {message}");
                }
                _ => {}
            }
        }
    }
}

/// Background jobs that outlive a frame (the spectrogram's belongs to the [`Session`]).
#[derive(Default)]
pub struct Tasks {
    /// A one-frame or JSON export.
    pub save: Option<export::SaveTask>,
    pub clip_export: Option<export::ClipExportTask>,
    /// A checkpoint import, and the folder it writes.
    pub import: Option<(PathBuf, Task<Result<crate::weights::ImportReport, String>>)>,
}

/// What fills the window below the menu bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Page {
    /// The open clip, its maps and the inspector.
    #[default]
    Clip,
    /// The dataset browser's table of an `analyze` results file.
    Results,
}

/// What the window shows besides the data: messages, dialogs, the import form, the layout.
#[derive(Default)]
pub struct UiState {
    pub page: Page,
    /// About the clip and its sound.
    pub message: Option<String>,
    /// About the last export or model folder.
    pub export_message: Option<String>,
    pub dialogs: dialog::Dialogs,
    pub import: ImportForm,
    pub layout: Layout,
    /// The keyboard shortcuts overlay (F1 or ?).
    pub show_shortcuts: bool,
    /// What the model sees: model A's input at the playhead (P).
    pub preview: super::preview::PreviewState,
    /// The frame views' zoom and pan, shared by the panes.
    pub zoom: FrameZoom,
}

/// The frame views' zoom: `scale` times the pane's size (1: the whole frame), with the frame
/// point `centre` (in [0, 1]^2 of the frame) at the pane's centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameZoom {
    pub scale: f32,
    pub centre: [f32; 2],
}

impl Default for FrameZoom {
    fn default() -> Self {
        Self { scale: 1.0, centre: [0.5, 0.5] }
    }
}

impl FrameZoom {
    /// The most a frame is magnified.
    pub const MAX: f32 = 8.0;

    /// Where the whole frame lies for a pane at `pane` (larger than it when zoomed in).
    pub fn frame_rect(&self, pane: egui::Rect) -> egui::Rect {
        let size = pane.size() * self.scale;
        let min = pane.center() - egui::vec2(self.centre[0] * size.x, self.centre[1] * size.y);
        egui::Rect::from_min_size(min, size)
    }

    /// Magnified by `factor` about the screen point `at`, which keeps showing the same part of
    /// the frame.
    pub fn zoomed(self, factor: f32, at: egui::Pos2, pane: egui::Rect) -> Self {
        let frame = self.frame_rect(pane);
        let uv = [(at.x - frame.left()) / frame.width(), (at.y - frame.top()) / frame.height()];
        let scale = (self.scale * factor).clamp(1.0, Self::MAX);
        // The cursor's frame point stays under the cursor: centre = uv - offset / size.
        let size = pane.size() * scale;
        let centre = [uv[0] - (at.x - pane.center().x) / size.x, uv[1] - (at.y - pane.center().y) / size.y];
        Self { scale, centre }.clamped()
    }

    /// Moved by a drag of `delta` points.
    pub fn panned(self, delta: egui::Vec2, pane: egui::Rect) -> Self {
        let size = pane.size() * self.scale;
        Self { centre: [self.centre[0] - delta.x / size.x, self.centre[1] - delta.y / size.y], ..self }.clamped()
    }

    /// With the frame covering the whole pane.
    fn clamped(self) -> Self {
        let half = 0.5 / self.scale;
        Self { scale: self.scale, centre: self.centre.map(|c| c.clamp(half, 1.0 - half)) }
    }
}

/// A named set of explanation settings (the method and its options, and the map's time span).
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// Where it comes from and how it scored, for the tooltip.
    pub note: &'static str,
    pub analysis: AnalysisSettings,
    pub span: crate::render::MapSpan,
}

/// The presets the inspector offers, the one that scored best in `eval` (README, "Shipped
/// models": the pointing game on the 500 test clips) first.
pub fn presets() -> [Preset; 3] {
    use crate::explain::RolloutOptions;
    use crate::render::MapSpan;
    let rollout = |discard_ratio: f32, start_layer: usize| AnalysisSettings {
        rollout: RolloutOptions { discard_ratio, start_layer, ..RolloutOptions::default() },
        ..AnalysisSettings::default()
    };
    [
        Preset {
            name: "best in eval: relevance over the window",
            note: "Gradient-weighted relevance for the top prediction, its tubelets summed over the window: the reading that points at the sounding object most often in `mbtscope eval` (bottleneck model 83.0% of the 500 test clips, late fusion 83.4%, vanilla 63.8%; chosen on the validation split first)",
            analysis: AnalysisSettings { method: Method::Relevance, ..AnalysisSettings::default() },
            span: MapSpan::Window,
        },
        Preset {
            name: "tuned rollout: from layer 3, 90% discarded",
            note: "Attention rollout from layer 3 with 90% of each layer's attention discarded, over the window (chosen on the validation split): vanilla's rollout then points at the sounding object in 78.8% of the test clips, the bottleneck model's in 46.6%",
            analysis: rollout(0.9, 3),
            span: MapSpan::Window,
        },
        Preset {
            name: "plain rollout (Abnar & Zuidema)",
            note: "Attention rollout over every layer, heads averaged, nothing discarded, per tubelet: the paper's method and the app's default (42-48% pointing for every shipped model)",
            analysis: rollout(0.0, 0),
            span: MapSpan::Slice,
        },
    ]
}

/// The preset the settings are (a what-if aside), if any.
pub fn preset_of(analysis: &AnalysisSettings, span: crate::render::MapSpan) -> Option<Preset> {
    presets().into_iter().find(|p| AnalysisSettings { counterfactual: None, ..analysis.clone() } == p.analysis && span == p.span)
}

/// How the app names what the models get: "the clip's audio", or the counterfactual's
/// [`crate::features::Counterfactual::description`].
pub fn what_if_name(counterfactual: Option<&crate::features::Counterfactual>) -> String {
    counterfactual.map_or_else(|| "the clip's audio".to_owned(), crate::features::Counterfactual::description)
}

/// Settings of the explanation method as the UI edits them.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Rollout => "attention rollout",
        Method::Relevance => "gradient-weighted relevance",
    }
}

pub fn span_name(s: crate::render::MapSpan) -> &'static str {
    match s {
        crate::render::MapSpan::Slice => "this tubelet",
        crate::render::MapSpan::Window => "whole window",
    }
}

pub fn normalisation_name(n: Normalisation) -> &'static str {
    match n {
        Normalisation::Frame => "per frame",
        Normalisation::Clip => "per clip",
        Normalisation::Smooth => "smoothed over time",
    }
}

#[cfg(test)]
mod tests {
    use super::LoopAb;

    /// Each end is set at the playhead; an end that would leave the loop empty or backwards is
    /// dropped rather than kept, so a loop is never B before A.
    #[test]
    fn a_loop_is_never_backwards() {
        let mut l = LoopAb::default();
        l.set_a(1.0);
        assert_eq!(l.span(), None);
        l.set_b(2.0);
        assert_eq!(l.span(), Some((1.0, 2.0)));
        l.set_a(3.0);
        assert_eq!((l.a, l.b), (Some(3.0), None), "A after B drops B");
        l.set_b(3.0);
        assert_eq!((l.a, l.b), (None, Some(3.0)), "B at A drops A");
        l.set_a(0.5);
        assert_eq!(l.span(), Some((0.5, 3.0)));
    }
}
