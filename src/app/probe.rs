//! Measuring and capturing the real app from outside it: `--play-report` (play for a while and
//! report the frame rate, A/V offsets and latencies as JSON) and `--screenshot` (save the window
//! once the first window is analysed). [`Probe`] wraps the app and watches it after each frame;
//! the app itself knows nothing of either.

use std::path::PathBuf;
use std::time::Instant;

use super::command::Command;
use super::{AppOptions, MbtApp};
use crate::media::player::ClockSource;

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

/// `--play-report`'s measurements as they accumulate.
struct PlayBench {
    seconds: f64,
    path: PathBuf,
    /// Stay paused and repaint continuously (the cost of a repaint).
    still: bool,
    started: Option<Instant>,
    last: Option<Instant>,
    /// Each UI frame interval: when it ended (seconds after playing started) and its length
    /// (milliseconds).
    intervals: Vec<(f64, f64)>,
    /// When each analysed window arrived, seconds after playing started.
    results: Vec<f64>,
    /// Windows the app had received at the last frame.
    received: usize,
    done: bool,
}

struct Screenshot {
    path: PathBuf,
    rx: Option<std::sync::mpsc::Receiver<std::sync::Arc<egui::ColorImage>>>,
}

/// The app with the probes its options ask for.
pub struct Probe {
    app: MbtApp,
    bench: Option<PlayBench>,
    screenshot: Option<Screenshot>,
}

impl Probe {
    pub fn new(app: MbtApp, options: &AppOptions) -> Self {
        let bench = options.play_report.clone().map(|(seconds, path)| PlayBench {
            seconds,
            path,
            still: options.play_still,
            started: None,
            last: None,
            intervals: Vec::new(),
            results: Vec::new(),
            received: 0,
            done: false,
        });
        let screenshot = options.screenshot.clone().map(|path| Screenshot { path, rx: None });
        Self { app, bench, screenshot }
    }
}

/// Whether model A's window under the playhead is analysed.
fn first_heatmap_ready(app: &MbtApp) -> bool {
    app.analysis.models.first().is_some_and(|m| m.window_at(app.position()).is_some())
}

impl PlayBench {
    /// Starts playing at the first heatmap (or, with `still`, repaints the paused window
    /// continuously), measures, reports, quits.
    fn frame(&mut self, app: &mut MbtApp, ctx: &egui::Context) {
        if self.done {
            return;
        }
        let now = Instant::now();
        let received = app.analysis.received;
        let Some(started) = self.started else {
            self.received = received;
            if first_heatmap_ready(app) && app.player().is_some() {
                if !self.still {
                    app.apply(Command::TogglePlay, ctx);
                }
                self.started = Some(now);
                self.last = Some(now);
            }
            ctx.request_repaint();
            return;
        };
        for _ in self.received..received {
            self.results.push((now - started).as_secs_f64());
        }
        self.received = received;
        if let Some(last) = self.last.replace(now) {
            self.intervals.push(((now - started).as_secs_f64(), (now - last).as_secs_f64() * 1000.0));
        }
        if self.still {
            ctx.request_repaint();
        }
        let played = (now - started).as_secs_f64();
        let at_end = app.player().is_none_or(crate::media::player::Player::at_end);
        if played < self.seconds && !at_end {
            return;
        }
        self.done = true;
        let report = self.report(app, played);
        match serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::fsutil::write_atomic(&self.path, &b, true).map_err(|e| e.to_string()))
        {
            Ok(()) => crate::outln!("play report: {}", self.path.display()),
            Err(e) => eprintln!("error: cannot write the play report {}: {e}", self.path.display()),
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn report(&self, app: &MbtApp, played: f64) -> PlayReport {
        let mut slowest = self.intervals.clone();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        slowest.truncate(5);
        let mut sorted: Vec<f64> = self.intervals.iter().map(|i| i.1).collect();
        sorted.sort_by(f64::total_cmp);
        let pct = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        let (latency, mut measured) = app.paint_latency_ms();
        measured.sort_by(f64::total_cmp);
        let mut report = PlayReport {
            clip: app.clip().map(std::path::Path::to_owned),
            model_device: app.analysis.device_description.clone(),
            first_heatmap_s: app.session.as_ref().and_then(|s| s.first_result_after).unwrap_or(f64::NAN),
            played_s: played,
            ui_frames: sorted.len() as u64,
            ui_fps: sorted.len() as f64 / played.max(1e-9),
            ui_interval_p50_ms: pct(0.5),
            ui_interval_p99_ms: pct(0.99),
            ui_interval_max_ms: sorted.last().copied().unwrap_or(0.0),
            ui_interval_slowest: slowest,
            windows_received_s: self.results.clone(),
            windows_analysed: app.analysis.models.iter().map(super::ModelResults::done).sum(),
            paint_latency_ms: latency,
            paint_latency_measured_ms: measured,
            ..PlayReport::default()
        };
        if let Some(p) = app.player() {
            let s = p.stats();
            let info = p.info();
            report.video = format!("{}x{} {} at {:.2} fps", info.width, info.height, info.codec, info.frame_rate);
            report.clock = match p.clock_source() {
                ClockSource::Audio { device, .. } => format!("audio ({device})"),
                ClockSource::Wall { reason } => format!("wall clock ({reason})"),
            };
            report.video_frames_shown = s.shown_frames;
            report.video_frames_dropped = s.dropped_frames;
            report.av_offset_mean_ms = s.mean_av_offset_ms;
            report.av_offset_max_ms = s.max_av_offset_ms;
            report.av_offset_over_20ms = s.off_by_over_20ms;
            report.audio_underruns = s.audio_underruns;
            report.audio_latency_ms = s.audio_latency_ms;
        }
        report
    }
}

impl Screenshot {
    /// Once model A's first window and the spectrogram are shown, saves the window as a PNG and
    /// quits.
    fn frame(&mut self, app: &MbtApp, ctx: &egui::Context) {
        // On the dataset browser, once the results file is read (or has failed to be).
        let ready = if app.ui.page == super::Page::Results {
            !app.browser.loading()
        } else {
            first_heatmap_ready(app) && app.session.as_ref().is_some_and(|s| s.spectrogram.is_some())
        };
        if ready && self.rx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel();
            let waker = ctx.clone();
            self.rx = Some(rx);
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::ScreenshotCallback::new(move |image| {
                let _ = tx.send(image);
                waker.request_repaint();
            })));
        }
        let shot = self.rx.as_ref().and_then(|rx| rx.try_recv().ok());
        if let Some(image) = shot {
            let [w, h] = image.size;
            let rgba: Vec<u8> = image.pixels.iter().flat_map(egui::Color32::to_array).collect();
            let result =
                image::RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or_else(|| "bad screenshot size".to_owned()).and_then(|img| {
                    let mut bytes = Vec::new();
                    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).map_err(|e| e.to_string())?;
                    crate::fsutil::write_atomic(&self.path, &bytes, true).map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => crate::outln!(
                    "screenshot: {} after {:.2} s to the first analysed window",
                    self.path.display(),
                    app.session.as_ref().and_then(|s| s.first_result_after).unwrap_or(0.0)
                ),
                Err(e) => eprintln!("error: cannot write the screenshot {}: {e}", self.path.display()),
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        ctx.request_repaint();
    }
}

impl eframe::App for Probe {
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        self.app.clear_color(visuals)
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.app.save(storage);
    }

    fn on_exit(&mut self) {
        self.app.on_exit();
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.app.ui(ui, frame);
        let ctx = ui.ctx().clone();
        if let Some(shot) = &mut self.screenshot {
            shot.frame(&self.app, &ctx);
        }
        if let Some(bench) = &mut self.bench {
            bench.frame(&mut self.app, &ctx);
        }
    }
}
