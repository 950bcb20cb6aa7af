//! The desktop app: a clip playing with its sound, the models' explanations drawn over the
//! frames (WGSL through an egui_wgpu paint callback) and the spectrogram, the labels, and the
//! bottleneck tokens, analysed in the background on the GUI's own wgpu device (or the CPU when
//! that device is a software rasteriser).

pub mod browser;
pub mod command;
pub mod dialog;
pub mod export;
mod latency;
pub mod preview;
pub mod probe;
pub mod settings;
pub mod state;
pub mod task;
mod view;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::analysis::AnalysisSettings;
use crate::features::Counterfactual;
use crate::media::Timestamp;
use crate::media::player::{ClockSource, Player, PlayerOptions};
use crate::model::device::DeviceChoice;
use crate::render::OverlayStyle;
pub use command::Command;
pub use settings::{AppOptions, FigureOptions, Settings, ViewMode, assets_dir, demo_clip, shipped_models};
pub use state::{
    Analysis, ClipSpectrogram, FrameZoom, ImportForm, Layout, LoopAb, ModelResults, Page, Preset, Session, SwappedAudio, Tasks, TokenPick,
    UiState, ViewRects, method_name, normalisation_name, preset_of, presets, span_name, what_if_name,
};
use task::Task;
pub use view::SHORTCUTS;
use worker::{Request, Worker};

pub struct MbtApp {
    /// What persists between runs.
    pub settings: Settings,
    /// How the app was started.
    pub options: AppOptions,
    pub session: Option<Session>,
    pub analysis: Analysis,
    pub tasks: Tasks,
    /// The dataset browser (File > Open results…).
    pub browser: browser::Browser,
    pub ui: UiState,
    /// What a repaint takes from reading the clock to the screen: frames go up this far ahead
    /// of the clock, so that they are on screen at their time.
    paint_latency: latency::PaintLatency,
}

/// Picks the burn device for the app: the GUI's own wgpu device when it is a real GPU (shared
/// with egui, so maps never leave the GPU's memory), burn's CPU backend when the adapter is a
/// software rasteriser, or what the user forced.
fn model_device(cc: &eframe::CreationContext<'_>, choice: DeviceChoice) -> (burn::prelude::Device, String) {
    let shared = |rs: &egui_wgpu::RenderState| {
        let setup = burn::tensor::wgpu::WgpuSetup {
            instance: rs.instance.clone(),
            adapter: rs.adapter.clone(),
            device: rs.device.clone(),
            queue: rs.queue.clone(),
            backend: rs.adapter.get_info().backend,
        };
        burn::prelude::Device::wgpu_options().setup(setup).init()
    };
    let Some(rs) = cc.wgpu_render_state.as_ref() else {
        let s = crate::model::device::select(choice);
        return (s.device, s.description);
    };
    let info = rs.adapter.get_info();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    match (choice, software) {
        (DeviceChoice::Cpu, _) | (DeviceChoice::Auto, true) => (
            burn::prelude::Device::flex(),
            format!(
                "CPU (burn Flex){}",
                if software { format!("; the GPU adapter is a software one ({})", info.name) } else { String::new() }
            ),
        ),
        _ => match shared(rs) {
            Ok(device) => (device, format!("GPU, shared with the window (burn-wgpu on {} via {:?})", info.name, info.backend)),
            Err(e) => (burn::prelude::Device::flex(), format!("CPU (burn Flex): the window's GPU device could not be shared: {e}")),
        },
    }
}

/// How long quitting waits for background jobs to stop.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl MbtApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let settings = if options.fresh { None } else { cc.storage.and_then(|s| eframe::get_value::<Settings>(s, eframe::APP_KEY)) };
        let mut settings = settings.unwrap_or_default();
        settings.models.retain(|m| m.join(crate::weights::native::WEIGHTS_FILE).exists());
        if settings.models.is_empty() {
            settings.models = shipped_models();
        }
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            let renderer = crate::render::gpu::OverlayRenderer::new(&rs.device, &rs.queue, rs.target_format);
            rs.renderer.write().callback_resources.insert(renderer);
        }
        let (device, device_description) = model_device(cc, options.device);
        let ctx = cc.egui_ctx.clone();
        // On a software rasteriser every drawn pixel costs CPU time that playback needs: there,
        // shapes go without the one-pixel anti-aliasing fringe (text keeps its own).
        if cc.wgpu_render_state.as_ref().is_some_and(|rs| rs.adapter.get_info().device_type == wgpu::DeviceType::Cpu) {
            ctx.tessellation_options_mut(|t| t.feathering = false);
        }
        let cache = (!options.no_cache).then(|| crate::fsutil::cache_dir().join("analysis"));
        let worker = Worker::spawn(device, cache, move || ctx.request_repaint());
        let mut app = Self {
            settings,
            options: options.clone(),
            session: None,
            analysis: Analysis { worker, generation: 0, models: Vec::new(), status: String::new(), device_description, received: 0 },
            tasks: Tasks::default(),
            browser: browser::Browser::default(),
            ui: UiState::default(),
            paint_latency: latency::PaintLatency::default(),
        };
        if let Some((results, labels)) = options.results.clone() {
            let ctx = cc.egui_ctx.clone();
            app.browser.load(results, labels, move || ctx.request_repaint());
            app.ui.page = Page::Results;
        }
        // With results to browse, a clip opens when a row is clicked (or when one was given).
        if let Some(clip) = options.clip.clone().or_else(|| options.results.is_none().then(demo_clip)) {
            app.open(&clip, &cc.egui_ctx);
        }
        app
    }

    pub fn clip(&self) -> Option<&Path> {
        self.session.as_ref().map(|s| s.clip.as_path())
    }

    pub fn player(&self) -> Option<&Player> {
        self.session.as_ref().map(|s| &s.player)
    }

    pub fn current_frame(&self) -> Option<&Arc<crate::media::video::VideoFrame>> {
        self.session.as_ref()?.current_frame.as_ref()
    }

    pub fn token(&self) -> Option<TokenPick> {
        self.session.as_ref()?.token
    }

    pub fn position(&self) -> f64 {
        self.player().map_or(0.0, |p| p.position().secs())
    }

    pub fn duration(&self) -> f64 {
        self.player().map_or(0.0, |p| p.info().duration.secs())
    }

    /// Whether a checkpoint import is running.
    pub fn importing(&self) -> bool {
        self.tasks.import.is_some()
    }

    /// The paint latency the player uses now and the measurements behind it (milliseconds).
    pub fn paint_latency_ms(&self) -> (f64, Vec<f64>) {
        (self.paint_latency.seconds() * 1000.0, self.paint_latency.samples().map(|s| s * 1000.0).collect())
    }

    /// Does what a command asks.
    pub fn apply(&mut self, command: Command, ctx: &egui::Context) {
        let wake = {
            let ctx = ctx.clone();
            move || ctx.request_repaint()
        };
        match command {
            Command::OpenClip(path) => self.open(&path, ctx),
            Command::PickPath(purpose, start) => self.ui.dialogs.request(purpose, start.as_deref(), ctx),
            Command::MakeModelA(dir) => self.make_model_a(dir),
            Command::LoadModelFolder(dir) => {
                if dir.join(crate::weights::native::WEIGHTS_FILE).exists() {
                    self.make_model_a(dir);
                } else {
                    self.ui.export_message =
                        Some(format!("{} is not a model folder (no {})", dir.display(), crate::weights::native::WEIGHTS_FILE));
                }
            }
            Command::SetExportFolder(dir) => {
                self.ui.export_message = Some(format!("exports go to {}", dir.display()));
                self.settings.export_dir = Some(dir);
            }
            Command::SetView(view) => self.settings.view = view,
            Command::ShowOverlay(shown) => self.settings.show_overlay = shown,
            Command::ShowInspector(shown) => self.settings.show_inspector = shown,
            Command::SetZoom(zoom) => self.ui.zoom = zoom,
            Command::SetStyle(style) => self.settings.style = style,
            Command::SetAnalysis(analysis) => self.set_analysis(analysis),
            Command::SwapAudio(path) => match Counterfactual::swap(&path) {
                Ok(swap) => self.set_analysis(AnalysisSettings { counterfactual: Some(swap), ..self.settings.analysis.clone() }),
                Err(e) => self.ui.message = Some(format!("cannot swap in that audio: {e}")),
            },
            Command::TogglePlay => {
                if let Some(s) = &mut self.session {
                    if s.player.is_playing() {
                        s.player.pause();
                    } else {
                        // At the end of the clip this starts over from the beginning.
                        s.player.play();
                    }
                }
            }
            Command::Seek(secs) => self.seek(secs),
            Command::SetLoopA | Command::SetLoopB => {
                let t = self.position();
                // B stays two frames before the end, where the player stops.
                let before_end = self.player().map_or(0.0, |p| 2.0 / p.info().frame_rate.max(1.0));
                let end = (self.duration() - before_end).max(0.0);
                if let Some(s) = &mut self.session {
                    if command == Command::SetLoopA {
                        s.loop_ab.set_a(t.min(end));
                    } else {
                        s.loop_ab.set_b(t.min(end));
                    }
                }
            }
            Command::ClearLoop => {
                if let Some(s) = &mut self.session {
                    s.loop_ab = LoopAb::default();
                }
            }
            Command::ToggleShortcuts => self.ui.show_shortcuts = !self.ui.show_shortcuts,
            Command::ToggleInputPreview => self.ui.preview.shown = !self.ui.preview.shown,
            Command::ResetExplanation => {
                self.settings.style = OverlayStyle::default();
                if self.settings.analysis != AnalysisSettings::default() {
                    self.settings.analysis = AnalysisSettings::default();
                    self.reanalyze();
                }
            }
            Command::Step(frames) => {
                let Some(s) = &mut self.session else { return };
                s.player.pause();
                let fps = s.player.info().frame_rate.max(1.0);
                let t = s.player.position().secs() + f64::from(frames) / fps;
                self.seek(t);
            }
            Command::SetSpeed(speed) => {
                self.settings.speed = speed;
                if let Some(s) = &mut self.session {
                    s.player.set_speed(speed);
                }
            }
            Command::SetVolume { volume, muted } => {
                self.settings.volume = volume;
                self.settings.muted = muted;
                if let Some(s) = &mut self.session {
                    s.player.set_volume(if muted { 0.0 } else { volume });
                }
            }
            Command::PickToken(token) => {
                if let Some(s) = &mut self.session {
                    s.token = token;
                }
            }
            Command::ExportFrame | Command::ExportJson => {
                if self.tasks.save.is_some() {
                    self.ui.export_message = Some("export failed: an export is already being written".into());
                    return;
                }
                let started =
                    if command == Command::ExportFrame { export::start_frame(self, wake) } else { export::start_json(self, wake) };
                match started {
                    Ok(task) => self.tasks.save = Some(task),
                    Err(e) => self.ui.export_message = Some(format!("export failed: {e:#}")),
                }
            }
            Command::ExportClip { frames, format, images, video } => match crate::export::FrameSelection::parse(&frames)
                .map_err(anyhow::Error::msg)
                .and_then(|frames| export::start_clip(self, frames, format, [images, video], wake))
            {
                Ok(task) => {
                    self.tasks.clip_export = Some(task);
                    self.ui.export_message = Some("exporting the clip...".into());
                }
                Err(e) => self.ui.export_message = Some(format!("export failed: {e:#}")),
            },
            Command::SetFigure(figure) => self.settings.figure = figure,
            Command::CancelExport => {
                if let Some(task) = &self.tasks.clip_export {
                    task.cancel();
                }
            }
            Command::EditImport(form) => self.ui.import = form,
            Command::StartImport => self.start_import(wake),
            Command::OpenResults(path) => {
                self.browser.load(path, None, wake);
                self.ui.page = Page::Results;
            }
            Command::OpenGroundTruth(csv) => match &self.browser.table {
                Some(table) => {
                    let path = table.path.clone();
                    self.browser.load(path, Some(csv), wake);
                }
                None => self.browser.message = Some("open a results file first".into()),
            },
            Command::SetResultsQuery(query) => self.browser.set_query(query),
            Command::OpenResultRow { row, window } => self.open_row(row, window, wake),
            Command::ShowPage(page) => self.ui.page = page,
        }
    }

    /// Starts reading a row's stored results; the clip opens with them when they are read.
    fn open_row(&mut self, row: usize, window: Option<usize>, wake: impl Fn() + Send + 'static) {
        let Some(table) = self.browser.table.clone() else { return };
        self.browser.selected = Some(row);
        let mut known = self.settings.models.clone();
        known.extend(shipped_models());
        let started =
            Task::spawn("stored results", wake, move |_| browser::load_stored(&table, row, window, &known).map_err(|e| format!("{e:#}")));
        match started {
            // A newer click replaces an older one still being read.
            Ok(task) => self.browser.opening = Some(task),
            Err(e) => self.browser.message = Some(e),
        }
    }

    /// Shows a row's clip with the results the file stored for it: no model runs.
    fn show_stored(&mut self, stored: browser::StoredClip, ctx: &egui::Context) {
        if !self.open_session(&stored.clip, ctx) {
            self.browser.message = self.ui.message.clone();
            return;
        }
        // What the results were computed with becomes what the app shows (and what a change
        // of setting re-analyses with).
        self.settings.analysis = stored.settings;
        for m in stored.models.iter().rev() {
            self.settings.models.retain(|d| d != &m.dir);
            self.settings.models.insert(0, m.dir.clone());
        }
        self.analysis.generation = self.analysis.worker.cancel();
        self.analysis.models = stored.models;
        let (file, row) = &stored.source;
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut status = format!("stored results from {name} (row {}; nothing recomputed)", row + 1);
        for note in &stored.notes {
            status.push_str("; ");
            status.push_str(note);
        }
        self.analysis.status = status;
        self.seek(stored.seek);
        self.browser.message = None;
        self.ui.page = Page::Clip;
    }

    fn start_import(&mut self, wake: impl Fn() + Send + 'static) {
        if self.tasks.import.is_some() {
            return;
        }
        let paths = match self.ui.import.paths() {
            Ok(paths) => paths,
            Err(message) => {
                self.ui.import.message = Some(message);
                return;
            }
        };
        let out = paths.out.clone();
        let started = Task::spawn("import", wake, move |_| {
            crate::weights::import_scenic(&paths.checkpoint, &paths.config, paths.labels.as_deref(), &paths.out, paths.replace)
                .map_err(|e| format!("{e:#}"))
        });
        match started {
            Ok(task) => {
                self.tasks.import = Some((out, task));
                self.ui.import.message = Some("importing…".into());
            }
            Err(e) => self.ui.import.message = Some(format!("cannot start the import: {e}")),
        }
    }

    /// Keeps the input preview on model A's window at the playhead: takes a finished task's
    /// answer, and starts a task when the window changes.
    fn poll_preview(&mut self, ctx: &egui::Context) {
        let preview = &mut self.ui.preview;
        if let Some((key, task)) = preview.task.as_mut()
            && let Some(answer) = task.poll()
        {
            preview.key = Some(key.clone());
            preview.result = Some(answer.and_then(|r| r));
            preview.task = None;
        }
        if !preview.shown {
            return;
        }
        let t = self.position();
        let (Some(session), Some(m)) = (&self.session, self.analysis.models.first()) else { return };
        let (Some(config), Some(window)) = (&m.config, crate::analysis::nearest_window(m.windows.iter().map(|w| w.centre), t)) else {
            return;
        };
        let wanted = preview::PreviewKey { clip: session.clip.clone(), model: m.dir.clone(), window };
        let preview = &mut self.ui.preview;
        if preview.key.as_ref() == Some(&wanted) || preview.task.as_ref().map(|(k, _)| k) == Some(&wanted) {
            return;
        }
        let (clip, config, waker) = (wanted.clip.clone(), config.clone(), ctx.clone());
        match Task::spawn(
            "input preview",
            move || waker.request_repaint(),
            move |_| preview::preview(&clip, &config, window).map_err(|e| format!("{e:#}")),
        ) {
            Ok(task) => preview.task = Some((wanted, task)),
            Err(e) => preview.result = Some(Err(e)),
        }
    }

    /// Picks up finished background jobs.
    fn poll_tasks(&mut self, ctx: &egui::Context) {
        self.poll_preview(ctx);
        if let Some(answer) = self.tasks.save.as_mut().and_then(Task::poll) {
            self.tasks.save = None;
            self.ui.export_message = Some(match answer.and_then(|r| r) {
                Ok(path) => format!("wrote {}", path.display()),
                Err(e) => format!("export failed: {e}"),
            });
        }
        if let Some(task) = &mut self.tasks.clip_export {
            match task.poll() {
                Some(answer) => {
                    self.tasks.clip_export = None;
                    self.ui.export_message = Some(match answer.and_then(|r| r) {
                        Ok(summary) => export::clip_outcome(&summary),
                        Err(e) => format!("export failed: {e}"),
                    });
                }
                // For the progress bar.
                None => ctx.request_repaint_after(std::time::Duration::from_millis(200)),
            }
        }
        if let Some(answer) = self.tasks.import.as_mut().and_then(|(_, task)| task.poll()) {
            let Some((out, _)) = self.tasks.import.take() else { return };
            match answer.and_then(|r| r) {
                Ok(report) => {
                    let mut lines =
                        vec![format!("imported {} tensors ({} parameters) into {}", report.tensors, report.parameters, out.display())];
                    lines.extend(report.notes.iter().map(|n| format!("note: {n}")));
                    lines.extend(report.ignored_fields.iter().map(|f| format!("ignored config field `{f}`")));
                    self.ui.import.message = Some(lines.join("\n"));
                    self.make_model_a(out);
                }
                Err(e) => self.ui.import.message = Some(format!("import failed: {e}")),
            }
        }
        self.browser.poll();
        if let Some(answer) = self.browser.opening.as_mut().and_then(Task::poll) {
            self.browser.opening = None;
            match answer.and_then(|r| r) {
                Ok(stored) => self.show_stored(stored, ctx),
                Err(e) => self.browser.message = Some(format!("cannot open the row: {e}")),
            }
        }
        if let Some(s) = &mut self.session
            && let Some(answer) = s.spectrogram_task.as_mut().and_then(Task::poll)
        {
            s.spectrogram = answer.ok().flatten().map(Arc::new);
            s.spectrogram_task = None;
        }
        self.poll_swapped_audio(ctx);
    }

    /// Decodes the spectrogram of the audio a what-if swaps in, once per file.
    fn poll_swapped_audio(&mut self, ctx: &egui::Context) {
        let Some(s) = &mut self.session else { return };
        if let Some(Counterfactual::Swap(path)) = &self.settings.analysis.counterfactual
            && s.swapped.as_ref().is_none_or(|w| &w.path != path)
        {
            let (waker, audio_path) = (ctx.clone(), path.clone());
            let task = Task::spawn("swapped-spectrogram", move || waker.request_repaint(), move |_| state::clip_spectrogram(&audio_path))
                .inspect_err(|e| log::warn!("no spectrogram of the swapped-in audio: {e}"))
                .ok();
            s.swapped = Some(SwappedAudio { path: path.clone(), spectrogram: None, task });
        }
        if let Some(w) = &mut s.swapped
            && let Some(answer) = w.task.as_mut().and_then(Task::poll)
        {
            w.spectrogram = answer.ok().flatten().map(Arc::new);
            w.task = None;
        }
    }

    /// Opens a clip: starts playback (paused) and its analysis. Errors are shown, not fatal: a
    /// clip that cannot be opened leaves the one that was open as it was.
    fn open(&mut self, path: &Path, ctx: &egui::Context) {
        if self.open_session(path, ctx) {
            self.ui.page = Page::Clip;
            self.reanalyze();
        }
    }

    /// Opens a clip's playback (paused) without analysing it; returns whether it opened (if
    /// not, the message says why and the open clip stays).
    fn open_session(&mut self, path: &Path, ctx: &egui::Context) -> bool {
        let keep = if self.session.is_some() { " The clip that was open stays open." } else { "" };
        if !path.exists() {
            self.ui.message =
                Some(format!("{} does not exist. Open a clip with File > Open or drop one on the window.{keep}", path.display()));
            return false;
        }
        // Frames for the screen, not the file: a 4K clip is decoded, converted and uploaded at
        // about the size it is shown at (exports decode their own frames at full size).
        let options = PlayerOptions { audio: self.options.audio.clone(), max_frame_size: Some(self.display_size()), tap: None };
        let mut player = match Player::open(path, options) {
            Ok(player) => player,
            Err(e) => {
                // The error names the file already.
                self.ui.message = Some(format!("Cannot play the clip: {e}.{keep}"));
                return false;
            }
        };
        self.ui.export_message = None;
        player.set_volume(if self.settings.muted { 0.0 } else { self.settings.volume });
        player.set_speed(self.settings.speed);
        self.ui.message = match player.clock_source() {
            ClockSource::Wall { reason } => Some(format!("No sound: {reason}. Playing on a wall clock.")),
            ClockSource::Audio { .. } => None,
        };
        let sidecar = path.with_extension("json");
        // Clips made by `mbtscope synth` carry their ground truth; for other clips a sidecar
        // that is not one is simply not shown.
        let truth = sidecar.exists().then(|| crate::synth::read_truth(&sidecar)).and_then(|r| r.inspect_err(|e| log::info!("{e:#}")).ok());
        let audio_path = path.to_owned();
        let waker = ctx.clone();
        let spectrogram_task = Task::spawn("spectrogram", move || waker.request_repaint(), move |_| state::clip_spectrogram(&audio_path))
            .inspect_err(|e| log::warn!("no spectrogram: {e}"))
            .ok();
        self.ui.zoom = FrameZoom::default();
        self.session = Some(Session {
            clip: path.to_owned(),
            player,
            truth,
            spectrogram: None,
            spectrogram_task,
            swapped: None,
            current_frame: None,
            frame_key: 0,
            token: None,
            opened_at: std::time::Instant::now(),
            first_result_after: None,
            loop_ab: LoopAb::default(),
        });
        self.settings.recent.retain(|p| p != path);
        self.settings.recent.insert(0, path.to_owned());
        self.settings.recent.truncate(10);
        true
    }

    /// New explanation settings: analyses again when they differ from the current ones.
    fn set_analysis(&mut self, analysis: AnalysisSettings) {
        if analysis != self.settings.analysis {
            self.settings.analysis = analysis;
            self.reanalyze();
        }
    }

    /// (Re)starts the background analysis with the current models and settings.
    fn reanalyze(&mut self) {
        let Some(clip) = self.clip().map(Path::to_owned) else { return };
        // Settings saved with a swapped-in clip that has since gone: back to the clip's audio.
        if let Some(Counterfactual::Swap(donor)) = &self.settings.analysis.counterfactual
            && !donor.is_file()
        {
            self.ui.message = Some(format!("{} is gone, so model A hears the clip's own audio again", donor.display()));
            self.settings.analysis.counterfactual = None;
        }
        // A what-if (a counterfactual audio) compares model A with itself: before, on the clip's
        // own audio, and after, on the altered audio. Otherwise models A and B, as set.
        let settings = &self.settings.analysis;
        let models: Vec<(PathBuf, AnalysisSettings)> = match (&settings.counterfactual, self.settings.models.first()) {
            (Some(_), Some(a)) => {
                vec![(a.clone(), AnalysisSettings { counterfactual: None, ..settings.clone() }), (a.clone(), settings.clone())]
            }
            _ => self.settings.models.iter().take(2).map(|d| (d.clone(), settings.clone())).collect(),
        };
        self.analysis.models = models
            .iter()
            .map(|(dir, settings)| {
                let mut m = ModelResults::new(dir);
                if let Some(c) = &settings.counterfactual {
                    m.name = format!("{}, {}", m.name, c.description());
                }
                m
            })
            .collect();
        if models.is_empty() {
            self.analysis.status =
                format!("No models: none found in {}. Load a model folder from the Models menu.", assets_dir().join("models").display());
            return;
        }
        self.analysis.generation = self.analysis.worker.request(Request { clip, models });
        self.analysis.status = "analysing...".into();
    }

    fn make_model_a(&mut self, dir: PathBuf) {
        self.settings.models.retain(|m| m != &dir);
        self.settings.models.insert(0, dir);
        self.reanalyze();
    }

    pub fn seek(&mut self, secs: f64) {
        let d = self.duration();
        if let Some(s) = &mut self.session {
            s.player.seek(Timestamp::from_secs(secs.clamp(0.0, d)));
        }
    }

    /// While playing with an A-B loop set, a playhead that has reached B goes back to A.
    fn keep_in_loop(&mut self, playing: bool) {
        let Some((a, b)) = self.session.as_ref().and_then(|s| s.loop_ab.span()) else { return };
        if playing && self.position() >= b {
            self.seek(a);
        }
    }

    /// The largest size worth decoding frames at for the screen: the frame view's pixels rounded
    /// up (to a multiple of 128, so that resizing the window by a few pixels changes nothing),
    /// 1280x720 before the first layout.
    fn display_size(&self) -> (u32, u32) {
        match self.ui.layout.view_pixels {
            (0, _) | (_, 0) => (1280, 720),
            (w, h) => (w.div_ceil(128) * 128, h.div_ceil(128) * 128),
        }
    }

    /// A path picked in a file dialog, as the command it asks for.
    fn picked(&self, purpose: dialog::Purpose, path: PathBuf) -> Command {
        use dialog::Purpose;
        let mut form = self.ui.import.clone();
        match purpose {
            Purpose::OpenClip => return Command::OpenClip(path),
            Purpose::ModelFolder => return Command::LoadModelFolder(path),
            Purpose::ExportFolder => return Command::SetExportFolder(path),
            Purpose::OpenResults => return Command::OpenResults(path),
            Purpose::GroundTruth => return Command::OpenGroundTruth(path),
            Purpose::SwapAudio => return Command::SwapAudio(path),
            Purpose::ImportCheckpoint => form.set_checkpoint(&path),
            Purpose::ImportConfig => form.config = path.display().to_string(),
            Purpose::ImportLabels => form.labels = path.display().to_string(),
            Purpose::ImportOut => form.out = path.display().to_string(),
        }
        Command::EditImport(form)
    }

    /// Advances playback and picks the frame to show at this repaint.
    fn advance_playback(&mut self, ctx: &egui::Context, frame: &eframe::Frame) {
        let now = std::time::Instant::now();
        let measured = self.paint_latency.begin_repaint(now, egui_wgpu::winit::last_present(), frame.info().cpu_usage);
        let latency = self.paint_latency.seconds();
        let Some(s) = &mut self.session else { return };
        let p = &mut s.player;
        match p.poll() {
            Some(crate::media::PlayerEvent::AudioFailed(reason)) => {
                self.ui.message = Some(format!("No sound: {reason}. Playing on a wall clock."));
            }
            Some(crate::media::PlayerEvent::AudioReopened(reason)) => {
                self.ui.message = Some(format!("Sound: {reason}; it was reopened."));
            }
            Some(crate::media::PlayerEvent::Ended) | None => {}
        }
        p.presented(measured);
        if let Some(frame) = p.frame_for_display(p.position(), latency)
            && s.current_frame.as_ref().is_none_or(|f| !Arc::ptr_eq(f, &frame))
        {
            s.frame_key = s.frame_key.wrapping_add(1);
            s.current_frame = Some(frame);
        }
        if p.is_playing() {
            // Repaint when the next frame falls due rather than as often as possible: a
            // repaint that starts just after a frame's time leaves a whole frame period
            // before the following one, so a slow repaint delays a frame instead of
            // skipping it. With no frame decoded yet, poll again soon.
            ctx.request_repaint_after(p.until_next_frame(latency).unwrap_or(std::time::Duration::from_millis(4)));
        }
    }
}

impl eframe::App for MbtApp {
    /// The panels' colour: the panels themselves paint no background (see `view::draw`).
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.options.fresh || self.options.screenshot.is_some() {
            return;
        }
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }

    /// Stops the background jobs, waiting a little for each (the analysis worker joins when the
    /// app is dropped).
    fn on_exit(&mut self) {
        if let Some(task) = self.tasks.clip_export.take() {
            task.join(EXIT_WAIT);
        }
        if let Some(task) = self.tasks.save.take() {
            task.join(EXIT_WAIT);
        }
        if let Some((_, task)) = self.tasks.import.take() {
            task.join(EXIT_WAIT);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_tasks(&ctx);
        self.analysis.poll(self.session.as_mut());
        let mut commands = Vec::new();
        if let Some((purpose, path)) = self.ui.dialogs.poll(&ctx) {
            commands.push(self.picked(purpose, path));
        }
        view::input(self, &ctx, &mut commands);
        for command in commands.drain(..) {
            self.apply(command, &ctx);
        }
        let playing = self.player().is_some_and(Player::is_playing);
        self.keep_in_loop(playing);
        self.analysis.worker.set_playhead(self.position(), playing);
        self.advance_playback(&ctx, frame);
        let (done, total) = self.analysis.progress();
        if total > 0 && done < total {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        self.ui.layout = view::draw(self, ui, &mut commands);
        for command in commands {
            self.apply(command, &ctx);
        }
        let display = self.display_size();
        if let Some(s) = &mut self.session {
            s.player.set_max_frame_size(display.0, display.1);
        }
    }
}

/// Opens the window and runs the app until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    crate::media::video::init();
    // A fresh run (and a screenshot run) neither reads nor writes the remembered settings and
    // window geometry. eframe falls back to its default storage when given no path, so it gets
    // a throwaway file instead, removed on exit.
    let fresh = options.screenshot.is_some() || options.fresh;
    let throwaway = fresh.then(|| std::env::temp_dir().join(format!("mbtscope-fresh-{}.ron", std::process::id())));
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1400.0, 900.0])
            .with_title("mbtscope")
            .with_app_id("mbtscope")
            .with_drag_and_drop(true),
        persist_window: !fresh,
        persistence_path: throwaway.clone(),
        // Flat colours do not band; dithering is per-pixel work a software rasteriser feels.
        dithering: false,
        ..Default::default()
    };
    let result = run_native(native, options);
    if let Some(path) = throwaway {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run_native(mut native: eframe::NativeOptions, options: AppOptions) -> anyhow::Result<()> {
    // Ask for everything the adapter offers, as burn's wgpu runtime does, so that the device
    // can be shared with the model.
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut native.wgpu_options.wgpu_setup {
        create.device_descriptor = Arc::new(|adapter| wgpu::DeviceDescriptor {
            label: Some("mbtscope device (egui and burn)"),
            required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            ..Default::default()
        });
    }
    eframe::run_native(
        "mbtscope",
        native,
        Box::new(move |cc| {
            let app = MbtApp::new(cc, options.clone());
            // Only a measuring or screenshot run is wrapped in its probe.
            Ok(if options.play_report.is_some() || options.screenshot.is_some() {
                Box::new(probe::Probe::new(app, &options)) as Box<dyn eframe::App>
            } else {
                Box::new(app)
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
