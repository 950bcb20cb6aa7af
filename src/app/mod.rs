//! The desktop app: a clip playing with its sound, the models' explanations drawn over the
//! frames (WGSL through an egui_wgpu paint callback) and the spectrogram, the labels, and the
//! bottleneck tokens, analysed in the background on the GUI's own wgpu device (or the CPU when
//! that device is a software rasteriser).

pub mod dialog;
mod latency;
mod view;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisSettings, Method, WindowResult};
use crate::media::Timestamp;
use crate::media::output::AudioDevice;
use crate::media::player::{ClockSource, Player, PlayerOptions};
use crate::model::device::DeviceChoice;
use crate::render::{Normalisation, OverlayStyle};
use worker::{Event, Request, WindowSpan, Worker};

/// Where the shipped models and demo clips are: `$MBTSCOPE_ASSETS`, else the source tree's.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("MBTSCOPE_ASSETS").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets"), PathBuf::from)
}

pub fn demo_clip() -> PathBuf {
    assets_dir().join("demo/test_00000.mp4")
}

/// Model folders under `assets/models`, sorted (bottleneck before vanilla).
pub fn shipped_models() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(assets_dir().join("models"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join(crate::weights::native::WEIGHTS_FILE).exists()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewMode {
    /// The first selected model alone.
    Single,
    /// Both models side by side on the same frame.
    SideBySide,
    /// The second model's map minus the first's.
    Difference,
}

/// What persists between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub style: OverlayStyle,
    pub analysis: AnalysisSettings,
    pub view: ViewMode,
    pub volume: f32,
    pub muted: bool,
    pub speed: f64,
    /// Model folders, the first two analysed (A and B).
    pub models: Vec<PathBuf>,
    pub show_overlay: bool,
    /// Where File > Export writes, when the user picked a folder.
    pub export_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            style: OverlayStyle::default(),
            analysis: AnalysisSettings::default(),
            view: ViewMode::SideBySide,
            volume: 1.0,
            muted: false,
            speed: 1.0,
            models: shipped_models(),
            show_overlay: true,
            export_dir: None,
        }
    }
}

/// How the app was started.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    pub clip: Option<PathBuf>,
    pub audio: AudioDevice,
    pub device: DeviceChoice,
    /// Save a screenshot here once the first window is analysed, then quit (tests).
    pub screenshot: Option<PathBuf>,
    /// Do not read or write the on-disk analysis cache.
    pub no_cache: bool,
    /// Ignore persisted settings.
    pub fresh: bool,
    /// Where File > Export writes, before any folder the user picked (default
    /// `$MBTSCOPE_EXPORT_DIR`, else `~/mbtscope-exports`).
    pub export_dir: Option<PathBuf>,
    /// Benchmark: once the first heatmap is shown, play this many seconds, write a JSON report of
    /// the UI frame rate and the player's statistics to the path, then quit.
    pub play_report: Option<(f64, PathBuf)>,
    /// With `play_report`: stay paused and repaint continuously (the cost of a repaint).
    pub play_still: bool,
}

/// What `--play-report` measures.
#[derive(Debug, Default, serde::Serialize)]
pub struct PlayReport {
    pub clip: Option<PathBuf>,
    pub video: String,
    pub clock: String,
    pub model_device: String,
    /// Seconds from opening the clip to the first analysed window under the playhead.
    pub first_heatmap_s: f64,
    pub played_s: f64,
    pub ui_frames: u64,
    pub ui_fps: f64,
    /// UI frame intervals, milliseconds.
    pub ui_interval_p50_ms: f64,
    pub ui_interval_p99_ms: f64,
    pub ui_interval_max_ms: f64,
    /// The five longest UI frame intervals: (seconds after playing started, milliseconds).
    pub ui_interval_slowest: Vec<(f64, f64)>,
    /// When the UI received each analysed window while playing (seconds after playing started).
    pub windows_received_s: Vec<f64>,
    pub video_frames_shown: u64,
    pub video_frames_dropped: u64,
    pub av_offset_mean_ms: f64,
    pub av_offset_max_ms: f64,
    /// Frames that went up more than 20 ms from their time (either way).
    pub av_offset_over_20ms: u64,
    pub audio_underruns: u64,
    pub audio_latency_ms: f64,
    /// The estimated time from reading the clock to a frame being on screen, at the end.
    pub paint_latency_ms: f64,
    /// The measurements behind that estimate (one per repaint, the last 4096), sorted.
    pub paint_latency_measured_ms: Vec<f64>,
    pub windows_analysed: usize,
}

#[derive(Default)]
struct PlayBench {
    started: Option<std::time::Instant>,
    last: Option<std::time::Instant>,
    /// Each UI frame interval: when it ended (seconds after playing started) and its length
    /// (milliseconds).
    intervals: Vec<(f64, f64)>,
    /// When each analysed window arrived, seconds after playing started.
    results: Vec<f64>,
    done: bool,
}

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
    fn new(dir: &Path) -> Self {
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
        let i = self.windows.iter().enumerate().min_by(|a, b| (a.1.centre - t).abs().total_cmp(&(b.1.centre - t).abs()))?.0;
        self.results.get(i)?.as_ref()
    }

    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }

    /// The analysed windows as an export's model run (what `mbtscope export` draws).
    pub fn run(&self) -> Option<crate::export::ModelRun> {
        Some(crate::export::ModelRun {
            name: self.name.clone(),
            dir: self.dir.clone(),
            labels: self.labels.clone(),
            num_frames: self.config.as_ref()?.dataset_configs.num_frames,
            crop: self.crop?,
            results: self.results.iter().flatten().cloned().collect(),
        })
    }
}

/// A clip export running in the background (File > Export the clip).
pub struct ExportTask {
    pub progress: Arc<std::sync::Mutex<(usize, usize)>>,
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
    pub done: std::sync::mpsc::Receiver<Result<crate::export::ExportSummary, String>>,
}

/// The clip's log-mel spectrogram for display (10 ms frames x 128 mel bins).
pub struct ClipSpectrogram {
    pub values: Vec<f32>,
    pub frames: usize,
    pub mel: usize,
    /// The lowest and highest value over the clip (the grey scale's ends).
    pub range: (f32, f32),
}

fn clip_spectrogram(path: &Path) -> Option<ClipSpectrogram> {
    let track = crate::media::audio::decode_audio(path, 16_000, Timestamp::ZERO, None).ok()??;
    let fbank = crate::features::Fbank::new(crate::features::FbankConfig::default());
    let values = fbank.compute(&track.samples);
    let mel = fbank.config().num_mel_bins;
    let range = crate::render::value_range(&values);
    Some(ClipSpectrogram { frames: values.len() / mel.max(1), values, mel, range })
}

/// Models > Import a Scenic checkpoint: the form's fields and the import running in the
/// background (reading a large checkpoint and checking it by building the model takes seconds).
#[derive(Default)]
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
    running: Option<std::sync::mpsc::Receiver<Result<crate::weights::ImportReport, String>>>,
}

impl ImportForm {
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Fills in the checkpoint and, when empty, an output folder named after it under the data
    /// folder (`~/.local/share/mbtscope/models/NAME`).
    pub fn set_checkpoint(&mut self, path: &Path) {
        self.checkpoint = path.display().to_string();
        if self.out.trim().is_empty() {
            let stem = path.file_stem().map_or_else(|| "imported".into(), |s| s.to_string_lossy().into_owned());
            self.out = crate::fsutil::data_dir().join("models").join(stem).display().to_string();
        }
    }

    /// Starts the import on a thread; a missing field is reported in the form.
    pub fn start(&mut self, ctx: &egui::Context) {
        if self.running.is_some() {
            return;
        }
        let field = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
        let (Some(checkpoint), Some(config), Some(out)) = (field(&self.checkpoint), field(&self.config), field(&self.out)) else {
            self.message = Some("give the checkpoint, its config and the output folder".into());
            return;
        };
        let labels = field(&self.labels);
        let replace = self.replace;
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("import".into()).spawn(move || {
            let result =
                crate::weights::import_scenic(&checkpoint, &config, labels.as_deref(), &out, replace).map_err(|e| format!("{e:#}"));
            let _ = tx.send(result);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => {
                self.running = Some(rx);
                self.message = Some("importing…".into());
            }
            Err(e) => self.message = Some(format!("cannot start the import: {e}")),
        }
    }

    /// The finished import's output folder, once, when it succeeded.
    fn poll(&mut self) -> Option<PathBuf> {
        let result = match self.running.as_ref()?.try_recv() {
            Ok(result) => result,
            Err(std::sync::mpsc::TryRecvError::Empty) => return None,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err("the import thread stopped".into()),
        };
        self.running = None;
        match result {
            Ok(report) => {
                let out = PathBuf::from(self.out.trim());
                let mut lines =
                    vec![format!("imported {} tensors ({} parameters) into {}", report.tensors, report.parameters, out.display())];
                lines.extend(report.notes.iter().map(|n| format!("note: {n}")));
                lines.extend(report.ignored_fields.iter().map(|f| format!("ignored config field `{f}`")));
                self.message = Some(lines.join("\n"));
                Some(out)
            }
            Err(e) => {
                self.message = Some(format!("import failed: {e}"));
                None
            }
        }
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

/// The selected bottleneck token: fusion-layer position and token index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPick {
    pub layer: usize,
    pub token: usize,
}

pub struct MbtApp {
    pub settings: Settings,
    pub options: AppOptions,
    pub clip: Option<PathBuf>,
    pub player: Option<Player>,
    pub message: Option<String>,
    pub truth: Option<crate::synth::ClipTruth>,
    pub spectrogram: Option<Arc<ClipSpectrogram>>,
    spectrogram_rx: Option<std::sync::mpsc::Receiver<Option<ClipSpectrogram>>>,
    pub models: Vec<ModelResults>,
    worker: Worker,
    generation: u64,
    pub analysis_status: String,
    pub device_description: String,
    pub token: Option<TokenPick>,
    pub frame_key: u64,
    pub current_frame: Option<Arc<crate::media::video::VideoFrame>>,
    screenshot_rx: Option<std::sync::mpsc::Receiver<Arc<egui::ColorImage>>>,
    pub first_result_after: Option<f64>,
    opened_at: std::time::Instant,
    pub export_message: Option<String>,
    pub export_task: Option<ExportTask>,
    play_bench: PlayBench,
    /// What a repaint takes from reading the clock to the screen: frames go up this far ahead
    /// of the clock, so that they are on screen at their time.
    paint_latency: latency::PaintLatency,
    pub dialogs: dialog::Dialogs,
    pub import: ImportForm,
    /// The size (pixels) of one frame view in the last layout; (0, 0) before the first.
    pub view_pixels: (u32, u32),
    pub view_rects: ViewRects,
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
            clip: None,
            player: None,
            message: None,
            truth: None,
            spectrogram: None,
            spectrogram_rx: None,
            models: Vec::new(),
            worker,
            generation: 0,
            analysis_status: String::new(),
            device_description,
            token: None,
            frame_key: 0,
            current_frame: None,
            screenshot_rx: None,
            first_result_after: None,
            opened_at: std::time::Instant::now(),
            export_message: None,
            export_task: None,
            play_bench: PlayBench::default(),
            paint_latency: latency::PaintLatency::default(),
            dialogs: dialog::Dialogs::default(),
            import: ImportForm::default(),
            view_rects: ViewRects::default(),
            view_pixels: (0, 0),
        };
        let clip = options.clip.clone().unwrap_or_else(demo_clip);
        app.open(&clip);
        app
    }

    /// Picks up the end of a background clip export.
    fn poll_export(&mut self, ctx: &egui::Context) {
        let Some(task) = &self.export_task else { return };
        match task.done.try_recv() {
            Ok(Ok(summary)) => {
                let mut wrote = Vec::new();
                if let Some(dir) = summary.images.first().and_then(|p| p.parent()) {
                    wrote.push(format!("{} frames in {}", summary.images.len(), dir.display()));
                }
                if let Some(video) = &summary.video {
                    wrote.push(video.display().to_string());
                }
                let lost = if summary.lost.is_empty() {
                    String::new()
                } else {
                    format!(" ({} frames could not be decoded: {:?})", summary.lost.len(), summary.lost.iter().take(5).collect::<Vec<_>>())
                };
                self.export_message = Some(format!("wrote {}{lost}", wrote.join(" and ")));
                self.export_task = None;
            }
            Ok(Err(e)) => {
                self.export_message = Some(format!("export failed: {e}"));
                self.export_task = None;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.export_message = Some("export failed: the export thread stopped".into());
                self.export_task = None;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint_after(std::time::Duration::from_millis(200)),
        }
    }

    /// Opens a clip: starts playback (paused) and its analysis. Errors are shown, not fatal: a
    /// clip that cannot be opened leaves the one that was open as it was.
    pub fn open(&mut self, path: &Path) {
        let keep = if self.player.is_some() { " The clip that was open stays open." } else { "" };
        if !path.exists() {
            self.message =
                Some(format!("{} does not exist. Open a clip with File > Open or drop one on the window.{keep}", path.display()));
            return;
        }
        // Frames for the screen, not the file: a 4K clip is decoded, converted and uploaded at
        // about the size it is shown at (exports decode their own frames at full size).
        let options = PlayerOptions { audio: self.options.audio.clone(), max_frame_size: Some(self.display_size()), tap: None };
        let mut player = match Player::open(path, options) {
            Ok(player) => player,
            Err(e) => {
                // The error names the file already.
                self.message = Some(format!("Cannot play the clip: {e}.{keep}"));
                return;
            }
        };
        self.current_frame = None;
        self.truth = None;
        self.spectrogram = None;
        self.token = None;
        self.clip = Some(path.to_owned());
        self.opened_at = std::time::Instant::now();
        self.first_result_after = None;
        self.export_message = None;
        player.set_volume(if self.settings.muted { 0.0 } else { self.settings.volume });
        player.set_speed(self.settings.speed);
        self.message = match player.clock_source() {
            ClockSource::Wall { reason } => Some(format!("No sound: {reason}. Playing on a wall clock.")),
            ClockSource::Audio { .. } => None,
        };
        self.player = Some(player);
        let sidecar = path.with_extension("json");
        // Clips made by `mbtscope synth` carry their ground truth; for other clips a sidecar
        // that is not one is simply not shown.
        self.truth = sidecar.exists().then(|| crate::synth::read_truth(&sidecar)).and_then(|r| r.inspect_err(|e| log::info!("{e:#}")).ok());
        let (tx, rx) = std::sync::mpsc::channel();
        let audio_path = path.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(clip_spectrogram(&audio_path));
        });
        self.spectrogram_rx = Some(rx);
        self.settings.recent.retain(|p| p != path);
        self.settings.recent.insert(0, path.to_owned());
        self.settings.recent.truncate(10);
        self.reanalyze();
    }

    /// (Re)starts the background analysis with the current models and settings.
    pub fn reanalyze(&mut self) {
        let Some(clip) = self.clip.clone().filter(|_| self.player.is_some()) else { return };
        let models: Vec<PathBuf> = self.settings.models.iter().take(2).cloned().collect();
        self.models = models.iter().map(|d| ModelResults::new(d)).collect();
        if models.is_empty() {
            self.analysis_status =
                format!("No models: none found in {}. Load a model folder from the Models menu.", assets_dir().join("models").display());
            return;
        }
        self.generation = self.worker.request(Request { clip, models, settings: self.settings.analysis });
        self.analysis_status = "analysing...".into();
    }

    pub fn position(&self) -> f64 {
        self.player.as_ref().map_or(0.0, |p| p.position().secs())
    }

    pub fn duration(&self) -> f64 {
        self.player.as_ref().map_or(0.0, |p| p.info().duration.secs())
    }

    fn poll_worker(&mut self) {
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
                    if let Some(started) = self.play_bench.started {
                        self.play_bench.results.push(started.elapsed().as_secs_f64());
                    }
                    if self.first_result_after.is_none() {
                        self.first_result_after = Some(self.opened_at.elapsed().as_secs_f64());
                    }
                    if let Some(m) = self.models.get_mut(model)
                        && let Some(slot) = m.results.get_mut(result.index)
                    {
                        *slot = Some(*result);
                    }
                }
                Event::Done { generation, cached, seconds } if generation == self.generation => {
                    self.analysis_status =
                        if cached { "analysis read from the cache".into() } else { format!("analysed in {seconds:.1} s") };
                }
                Event::Failed { generation, message } if generation == self.generation => {
                    self.analysis_status = format!("analysis failed: {message}");
                }
                _ => {}
            }
        }
        if let Some(rx) = &self.spectrogram_rx
            && let Ok(s) = rx.try_recv()
        {
            self.spectrogram = s.map(Arc::new);
            self.spectrogram_rx = None;
        }
    }

    pub fn progress(&self) -> (usize, usize) {
        self.models.iter().fold((0, 0), |(d, t), m| (d + m.done(), t + m.results.len()))
    }

    pub fn toggle_play(&mut self) {
        if let Some(p) = &mut self.player {
            if p.is_playing() {
                p.pause();
            } else {
                // At the end of the clip this starts over from the beginning.
                p.play();
            }
        }
    }

    pub fn seek(&mut self, secs: f64) {
        let d = self.duration();
        if let Some(p) = &mut self.player {
            p.seek(Timestamp::from_secs(secs.clamp(0.0, d)));
        }
    }

    /// Steps `frames` frames (negative: back), pausing.
    pub fn step(&mut self, frames: i32) {
        let Some(p) = &mut self.player else { return };
        p.pause();
        let fps = p.info().frame_rate.max(1.0);
        let t = p.position().secs() + f64::from(frames) / fps;
        self.seek(t);
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&view::OPEN_SHORTCUT)) {
            let start = self.clip.clone();
            self.dialogs.request(dialog::Purpose::OpenClip, start.as_deref(), ctx);
        }
        let pressed = |k| ctx.input(|i| i.key_pressed(k));
        if pressed(egui::Key::Space) {
            self.toggle_play();
        }
        if pressed(egui::Key::ArrowLeft) {
            self.seek(self.position() - 5.0);
        }
        if pressed(egui::Key::ArrowRight) {
            self.seek(self.position() + 5.0);
        }
        if pressed(egui::Key::Comma) {
            self.step(-1);
        }
        if pressed(egui::Key::Period) {
            self.step(1);
        }
        if pressed(egui::Key::Home) {
            self.seek(0.0);
        }
        if pressed(egui::Key::End) {
            self.seek(self.duration());
        }
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_owned()).collect());
        if let Some(path) = dropped.into_iter().next() {
            if path.is_dir() && path.join(crate::weights::native::WEIGHTS_FILE).exists() {
                self.add_model(path);
            } else {
                self.open(&path);
            }
        }
    }

    /// The largest size worth decoding frames at for the screen: the frame view's pixels rounded
    /// up (to a multiple of 128, so that resizing the window by a few pixels changes nothing),
    /// 1280x720 before the first layout.
    fn display_size(&self) -> (u32, u32) {
        match self.view_pixels {
            (0, _) | (_, 0) => (1280, 720),
            (w, h) => (w.div_ceil(128) * 128, h.div_ceil(128) * 128),
        }
    }

    /// Loads a model folder as model A, or says why it is not one.
    pub fn load_model_folder(&mut self, dir: PathBuf) {
        if dir.join(crate::weights::native::WEIGHTS_FILE).exists() {
            self.add_model(dir);
        } else {
            self.export_message = Some(format!("{} is not a model folder (no {})", dir.display(), crate::weights::native::WEIGHTS_FILE));
        }
    }

    /// Acts on a path picked in a file dialog, and on a finished checkpoint import.
    fn poll_dialogs(&mut self, ctx: &egui::Context) {
        use dialog::Purpose;
        if let Some((purpose, path)) = self.dialogs.poll(ctx) {
            match purpose {
                Purpose::OpenClip => self.open(&path),
                Purpose::ModelFolder => self.load_model_folder(path),
                Purpose::ImportCheckpoint => self.import.set_checkpoint(&path),
                Purpose::ImportConfig => self.import.config = path.display().to_string(),
                Purpose::ImportLabels => self.import.labels = path.display().to_string(),
                Purpose::ImportOut => self.import.out = path.display().to_string(),
                Purpose::ExportFolder => {
                    self.export_message = Some(format!("exports go to {}", path.display()));
                    self.settings.export_dir = Some(path);
                }
            }
        }
        if let Some(dir) = self.import.poll() {
            self.add_model(dir);
        }
    }

    pub fn add_model(&mut self, dir: PathBuf) {
        self.settings.models.retain(|m| m != &dir);
        self.settings.models.insert(0, dir);
        self.reanalyze();
    }

    /// `--play-report`: start playing at the first heatmap (or, with `--play-still`, repaint the
    /// paused window continuously), measure, report, quit.
    fn play_bench(&mut self, ctx: &egui::Context) {
        let Some(seconds) = self.options.play_report.as_ref().map(|r| r.0) else { return };
        if self.play_bench.done {
            return;
        }
        let now = std::time::Instant::now();
        let Some(started) = self.play_bench.started else {
            let ready = self.models.first().is_some_and(|m| m.window_at(self.position()).is_some());
            if ready && self.player.is_some() {
                if !self.options.play_still {
                    self.toggle_play();
                }
                self.play_bench.started = Some(now);
                self.play_bench.last = Some(now);
            }
            ctx.request_repaint();
            return;
        };
        if let Some(last) = self.play_bench.last.replace(now) {
            self.play_bench.intervals.push(((now - started).as_secs_f64(), (now - last).as_secs_f64() * 1000.0));
        }
        if self.options.play_still {
            ctx.request_repaint();
        }
        let played = (now - started).as_secs_f64();
        let at_end = self.player.as_ref().is_none_or(|p| p.at_end());
        if played < seconds && !at_end {
            return;
        }
        self.play_bench.done = true;
        let mut slowest = self.play_bench.intervals.clone();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        slowest.truncate(5);
        let mut sorted: Vec<f64> = self.play_bench.intervals.iter().map(|i| i.1).collect();
        sorted.sort_by(f64::total_cmp);
        let pct = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        let mut report = PlayReport {
            clip: self.clip.clone(),
            model_device: self.device_description.clone(),
            first_heatmap_s: self.first_result_after.unwrap_or(f64::NAN),
            played_s: played,
            ui_frames: sorted.len() as u64,
            ui_fps: sorted.len() as f64 / played.max(1e-9),
            ui_interval_p50_ms: pct(0.5),
            ui_interval_p99_ms: pct(0.99),
            ui_interval_max_ms: sorted.last().copied().unwrap_or(0.0),
            ui_interval_slowest: slowest,
            windows_received_s: self.play_bench.results.clone(),
            windows_analysed: self.models.iter().map(ModelResults::done).sum(),
            paint_latency_ms: self.paint_latency.seconds() * 1000.0,
            paint_latency_measured_ms: {
                let mut m: Vec<f64> = self.paint_latency.samples().map(|s| s * 1000.0).collect();
                m.sort_by(f64::total_cmp);
                m
            },
            ..PlayReport::default()
        };
        if let Some(p) = &self.player {
            let s = p.stats();
            let info = p.info();
            report.video = format!("{}x{} {} at {:.2} fps", info.width, info.height, info.codec, info.frame_rate);
            report.clock = match p.clock_source() {
                crate::media::player::ClockSource::Audio { device, .. } => format!("audio ({device})"),
                crate::media::player::ClockSource::Wall { reason } => format!("wall clock ({reason})"),
            };
            report.video_frames_shown = s.shown_frames;
            report.video_frames_dropped = s.dropped_frames;
            report.av_offset_mean_ms = s.mean_av_offset_ms;
            report.av_offset_max_ms = s.max_av_offset_ms;
            report.av_offset_over_20ms = s.off_by_over_20ms;
            report.audio_underruns = s.audio_underruns;
            report.audio_latency_ms = s.audio_latency_ms;
        }
        let path = self.options.play_report.as_ref().map_or_else(PathBuf::new, |r| r.1.clone());
        match serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::fsutil::write_atomic(&path, &b, true).map_err(|e| e.to_string()))
        {
            Ok(()) => crate::outln!("play report: {}", path.display()),
            Err(e) => eprintln!("error: cannot write the play report {}: {e}", path.display()),
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.options.screenshot.clone() else { return };
        let ready = self.models.first().is_some_and(|m| m.window_at(self.position()).is_some()) && self.spectrogram.is_some();
        if ready && self.screenshot_rx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel();
            let waker = ctx.clone();
            self.screenshot_rx = Some(rx);
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::ScreenshotCallback::new(move |image| {
                let _ = tx.send(image);
                waker.request_repaint();
            })));
        }
        let shot = self.screenshot_rx.as_ref().and_then(|rx| rx.try_recv().ok());
        if let Some(image) = shot {
            let [w, h] = image.size;
            let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
            let result =
                image::RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or_else(|| "bad screenshot size".to_owned()).and_then(|img| {
                    let mut bytes = Vec::new();
                    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).map_err(|e| e.to_string())?;
                    crate::fsutil::write_atomic(&path, &bytes, true).map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => crate::outln!(
                    "screenshot: {} after {:.2} s to the first analysed window",
                    path.display(),
                    self.first_result_after.unwrap_or(0.0)
                ),
                Err(e) => eprintln!("error: cannot write the screenshot {}: {e}", path.display()),
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ctx.request_repaint();
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

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.poll_export(ui.ctx());
        let ctx = ui.ctx().clone();
        self.poll_worker();
        self.poll_dialogs(&ctx);
        self.handle_keys(&ctx);
        self.handle_drops(&ctx);
        let t = self.position();
        self.worker.set_playhead(t, self.player.as_ref().is_some_and(Player::is_playing));
        let now = std::time::Instant::now();
        let measured = self.paint_latency.begin_repaint(now, egui_wgpu::winit::last_present(), frame.info().cpu_usage);
        let latency = self.paint_latency.seconds();
        if let Some(p) = &mut self.player {
            match p.poll() {
                Some(crate::media::PlayerEvent::AudioFailed(reason)) => {
                    self.message = Some(format!("No sound: {reason}. Playing on a wall clock."));
                }
                Some(crate::media::PlayerEvent::AudioReopened(reason)) => {
                    self.message = Some(format!("Sound: {reason}; it was reopened."));
                }
                Some(crate::media::PlayerEvent::Ended) | None => {}
            }
            p.presented(measured);
            if let Some(frame) = p.frame_for_display(p.position(), latency)
                && self.current_frame.as_ref().is_none_or(|f| !Arc::ptr_eq(f, &frame))
            {
                self.frame_key = self.frame_key.wrapping_add(1);
                self.current_frame = Some(frame);
            }
            if p.is_playing() {
                // Repaint when the next frame falls due rather than as often as possible: a
                // repaint that starts just after a frame's time leaves a whole frame period
                // before the following one, so a slow repaint delays a frame instead of
                // skipping it. With no frame decoded yet, poll again soon.
                ctx.request_repaint_after(p.until_next_frame(latency).unwrap_or(std::time::Duration::from_millis(4)));
            }
        }
        let (done, total) = self.progress();
        if total > 0 && done < total {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        view::draw(self, ui);
        let display = self.display_size();
        if let Some(p) = &mut self.player {
            p.set_max_frame_size(display.0, display.1);
        }
        self.screenshot(&ctx);
        self.play_bench(&ctx);
    }
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
        viewport: egui::ViewportBuilder::default().with_inner_size([1400.0, 900.0]).with_title("mbtscope").with_drag_and_drop(true),
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
    eframe::run_native("mbtscope", native, Box::new(move |cc| Ok(Box::new(MbtApp::new(cc, options)))))
        .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
