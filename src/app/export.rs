//! File > Export from the app: the frame on screen, the whole clip (images and an annotated MP4),
//! and the predictions and maps as JSON. What an export needs is gathered from the app on the UI
//! thread (cheap copies); the decoding, drawing and writing run as background [`Task`]s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::task::Task;
use super::{MbtApp, ModelResults, ViewMode};
use crate::analysis::ModelRun;
use crate::analysis::{AnalysisSettings, WindowResult};
use crate::export::annotate::AnnotateStyle;
use crate::export::{ExportJob, ExportSummary, FrameSelection, ImageFormat};
use crate::media::video::VideoFrame;

/// Top labels drawn per model, as `mbtscope export` draws by default.
const TOP_K: usize = 3;

/// The folder exports go to: the app's option, the folder picked in File > Export folder…,
/// `$MBTSCOPE_EXPORT_DIR`, else `~/mbtscope-exports`.
pub fn export_dir(app: &MbtApp) -> PathBuf {
    if let Some(dir) = app.options.export_dir.as_ref().or(app.settings.export_dir.as_ref()) {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("MBTSCOPE_EXPORT_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from).join("mbtscope-exports")
}

/// A path under `dir` that does not exist yet (never overwrite): `stem.ext`, or `stem-N.ext`; a
/// folder name without extension when `ext` is empty.
fn fresh_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let name = |suffix: String| if ext.is_empty() { format!("{stem}{suffix}") } else { format!("{stem}{suffix}.{ext}") };
    let mut path = dir.join(name(String::new()));
    let mut n = 1;
    while path.exists() {
        path = dir.join(name(format!("-{n}")));
        n += 1;
    }
    path
}

/// The models an export draws: A, or A and B side by side when the view shows both.
fn runs(app: &MbtApp) -> anyhow::Result<Vec<ModelRun>> {
    let count = if app.settings.view == ViewMode::SideBySide { 2 } else { 1 };
    let runs: Vec<_> = app.analysis.models.iter().take(count).filter_map(ModelResults::run).collect();
    anyhow::ensure!(!runs.is_empty(), "no analysed model to draw");
    Ok(runs)
}

/// The export look: the view's overlay settings, with titles, top-3 labels and the time, as
/// `mbtscope export` draws by default.
fn style(app: &MbtApp) -> AnnotateStyle {
    let figure = app.settings.figure;
    AnnotateStyle {
        overlay: app.settings.style,
        upscale: figure.upscale.clamp(1, 16),
        truth_box: figure.truth_box,
        labels_below: figure.labels_below,
        caption: figure.caption,
        ..AnnotateStyle::default()
    }
}

fn stem(clip: &Path, fallback: &str) -> String {
    clip.file_stem().map_or_else(|| fallback.to_owned(), |s| s.to_string_lossy().into_owned())
}

/// A quick export (one frame, or the JSON) as it runs in the background: the path it wrote.
pub type SaveTask = Task<Result<PathBuf, String>>;

/// A clip export running in the background, with its progress and Cancel.
pub type ClipExportTask = Task<Result<ExportSummary, String>>;

/// Starts writing the frame on screen, annotated as `mbtscope export` draws it (model A, or A
/// and B side by side; the classification-token maps, whatever token is picked), as a PNG.
pub fn start_frame(app: &MbtApp, wake: impl Fn() + Send + 'static) -> anyhow::Result<SaveTask> {
    let session = app.session.as_ref().ok_or_else(|| anyhow::anyhow!("no clip open"))?;
    let shown = session.current_frame.clone().ok_or_else(|| anyhow::anyhow!("no frame to export"))?;
    let clip = session.clip.clone();
    let native = (session.player.info().width, session.player.info().height);
    let runs = runs(app)?;
    let style = style(app);
    let dir = export_dir(app);
    let truth = session.truth.clone();
    let caption = crate::export::caption_text(&app.settings.analysis, &style.overlay);
    let task = Task::spawn("export-frame", wake, move |_| {
        let extras = crate::export::FrameExtras { truth: truth.as_ref(), caption: &caption };
        write_frame(&clip, &shown, native, &runs, (&style, &extras), &dir).map_err(|e| format!("{e:#}"))
    });
    task.map_err(anyhow::Error::msg)
}

fn write_frame(
    clip: &Path,
    shown: &Arc<VideoFrame>,
    native: (u32, u32),
    runs: &[ModelRun],
    (style, extras): (&AnnotateStyle, &crate::export::FrameExtras<'_>),
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let refs: Vec<&ModelRun> = runs.iter().collect();
    // The frame on screen may be scaled down for display: export the clip's own pixels.
    let frame = if native == (shown.width, shown.height) {
        VideoFrame::clone(shown)
    } else {
        crate::media::video::VideoDecoder::open(clip)?.frame_at(shown.pts)?
    };
    let t = frame.pts.secs();
    let annotated = crate::export::annotate(&frame.rgb, frame.width, frame.height, t, &refs, style, TOP_K, extras);
    std::fs::create_dir_all(dir)?;
    let path = fresh_path(dir, &format!("{}_{t:.3}s", stem(clip, "frame")), "png");
    let bytes = crate::export::encode_image(&annotated, ImageFormat::Png, 92)?;
    crate::fsutil::write_atomic(&path, &bytes, false)?;
    Ok(path)
}

/// Starts writing the analysed windows' predictions and maps, per model, as JSON.
pub fn start_json(app: &MbtApp, wake: impl Fn() + Send + 'static) -> anyhow::Result<SaveTask> {
    #[derive(serde::Serialize)]
    struct Export {
        clip: Option<PathBuf>,
        settings: AnalysisSettings,
        models: Vec<ModelExport>,
    }
    #[derive(serde::Serialize)]
    struct ModelExport {
        model: PathBuf,
        labels: Vec<String>,
        windows: Vec<WindowResult>,
    }
    let clip = app.clip().map(Path::to_owned);
    let export = Export {
        clip: clip.clone(),
        settings: app.settings.analysis.clone(),
        models: app
            .analysis
            .models
            .iter()
            .map(|m| ModelExport { model: m.dir.clone(), labels: m.labels.clone(), windows: m.results.iter().flatten().cloned().collect() })
            .collect(),
    };
    let dir = export_dir(app);
    let task = Task::spawn("export-json", wake, move |_| {
        let write = || -> anyhow::Result<PathBuf> {
            std::fs::create_dir_all(&dir)?;
            let stem = clip.as_deref().map_or_else(|| "clip".to_owned(), |c| stem(c, "clip"));
            let path = fresh_path(&dir, &format!("{stem}_analysis"), "json");
            crate::fsutil::write_atomic(&path, &serde_json::to_vec_pretty(&export)?, false)?;
            Ok(path)
        };
        write().map_err(|e| format!("{e:#}"))
    });
    task.map_err(anyhow::Error::msg)
}

/// Starts exporting `frames` of the clip: images into a new folder under the export folder
/// and, with `video`, an annotated MP4 beside it.
pub fn start_clip(
    app: &MbtApp,
    frames: FrameSelection,
    format: ImageFormat,
    [images, video]: [bool; 2],
    wake: impl Fn() + Send + 'static,
) -> anyhow::Result<ClipExportTask> {
    anyhow::ensure!(app.tasks.clip_export.is_none(), "an export is already running");
    anyhow::ensure!(images || video, "choose images, a video or both");
    let clip = app.clip().ok_or_else(|| anyhow::anyhow!("no clip open"))?.to_owned();
    let runs = runs(app)?;
    let dir = export_dir(app);
    std::fs::create_dir_all(&dir)?;
    let stem = stem(&clip, "clip");
    let job = ExportJob {
        clip,
        frames,
        style: style(app),
        top_k: TOP_K,
        out_dir: images.then(|| fresh_path(&dir, &format!("{stem}_frames"), "")),
        format,
        jpeg_quality: 92,
        video: video.then(|| fresh_path(&dir, &format!("{stem}_annotated"), "mp4")),
        force: false,
    };
    let settings = app.settings.analysis.clone();
    let task = Task::spawn("export", wake, move |cx| {
        let refs: Vec<&ModelRun> = runs.iter().collect();
        crate::export::export(&job, &refs, &settings, |done, total| cx.set_progress(done, total), cx.cancel_flag())
            .map_err(|e| format!("{e:#}"))
    });
    task.map_err(anyhow::Error::msg)
}

/// The status line for a finished clip export.
pub fn clip_outcome(summary: &ExportSummary) -> String {
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
    format!("wrote {}{lost}", wrote.join(" and "))
}
