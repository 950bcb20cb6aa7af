//! Exporting annotated frames and videos: analyse a clip with one or two models, then draw each
//! chosen frame with its heatmap and labels ([`crate::export::annotate`]) into PNG/JPEG files and
//! optionally an MP4 with the clip's audio. `mbtscope export` and the app's export both run
//! through [`export`], so the same settings give the same pixels.
//!
//! Every file is written under a temporary name and renamed into place. A hidden manifest in the
//! output folder records the settings of the export; running the same export again resumes it
//! (frames already written are kept), and a different export into the same folder refuses to
//! replace existing files unless `force` is set.

pub mod annotate;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use image::ImageEncoder as _;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisSettings, ModelRun};
use crate::export::annotate::{AnnotateStyle, Panel, RgbFrame, compose};
use crate::media::encode::{EncodeOptions, Mp4Writer};
use crate::media::{Timestamp, VideoDecoder, decode_audio};
use crate::render::crop_rect;

impl ModelRun {
    /// The panel to draw for this model at `t` on a `width x height` frame.
    pub fn panel(&self, t: f64, width: u32, height: u32, style: &AnnotateStyle, top_k: usize) -> Panel {
        let heat = self.heat(t, &style.overlay);
        Panel {
            title: self.name.clone(),
            range: heat.as_ref().and_then(|h| h.1),
            heat: heat.map(|h| h.0),
            crop: crop_rect(&self.crop, width, height),
            labels: self.top_at(t, top_k),
            ..Panel::default()
        }
    }
}

/// What else goes into every frame of an export besides the models' panels.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameExtras<'a> {
    /// The clip's ground truth (its sidecar), for [`AnnotateStyle::truth_box`].
    pub truth: Option<&'a crate::synth::ClipTruth>,
    /// The caption's settings line ([`caption_text`]).
    pub caption: &'a str,
}

/// The settings an export's caption states: the method and its options, the normalisation, the
/// threshold, the time span and, when the audio was altered, how.
pub fn caption_text(settings: &AnalysisSettings, style: &crate::render::OverlayStyle) -> String {
    use crate::render::{MapSpan, Normalisation};
    let method = match settings.method {
        crate::analysis::Method::Rollout => format!(
            "attention rollout ({:?} heads, discard {:.2}, from layer {})",
            settings.rollout.head_fusion, settings.rollout.discard_ratio, settings.rollout.start_layer
        )
        .to_lowercase(),
        crate::analysis::Method::Relevance => match settings.class {
            Some(c) => format!("relevance for class {c}"),
            None => "relevance for the top prediction".to_owned(),
        },
    };
    let normalisation = match style.normalisation {
        Normalisation::Frame => "0-1 per frame",
        Normalisation::Clip => "0-1 over the clip",
        Normalisation::Smooth => "0-1 per frame, blended in time",
    };
    let span = match style.span {
        MapSpan::Slice => "the frame's tubelet",
        MapSpan::Window => "the whole window",
    };
    let mut text = format!("{method}; {} {normalisation}; threshold {:.2}; {span}", style.colormap.name(), style.threshold);
    if let Some(c) = &settings.counterfactual {
        text.push_str(&format!("; {}", c.description()));
    }
    text
}

/// Which frames to export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FrameSelection {
    All,
    /// Frame indices `start..end` (`end` exclusive, `None`: to the last frame).
    Range {
        start: usize,
        end: Option<usize>,
    },
    /// Times in seconds `start..end`.
    Times {
        start: f64,
        end: Option<f64>,
    },
    /// These frame indices.
    List(Vec<usize>),
}

impl FrameSelection {
    /// Parses `all`, `START:END` (frame indices, END exclusive, either may be left out),
    /// `1.5s:3s` (seconds), or `N,M,...` (frame indices).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        if let Some((a, b)) = text.split_once(':') {
            let (a, b) = (a.trim(), b.trim());
            let seconds = a.ends_with('s') || b.ends_with('s');
            if seconds {
                let secs = |s: &str| -> Result<Option<f64>, String> {
                    if s.is_empty() {
                        return Ok(None);
                    }
                    let v: f64 = s.trim_end_matches('s').parse().map_err(|_| format!("`{s}` is not a time in seconds (like 1.5s)"))?;
                    if v.is_finite() && v >= 0.0 { Ok(Some(v)) } else { Err(format!("`{s}`: times must be 0 or more")) }
                };
                let (start, end) = (secs(a)?.unwrap_or(0.0), secs(b)?);
                if end.is_some_and(|e| e <= start) {
                    return Err(format!("`{text}`: the end must come after the start"));
                }
                return Ok(Self::Times { start, end });
            }
            let index = |s: &str| -> Result<Option<usize>, String> {
                if s.is_empty() { Ok(None) } else { s.parse().map(Some).map_err(|_| format!("`{s}` is not a frame index")) }
            };
            let (start, end) = (index(a)?.unwrap_or(0), index(b)?);
            if end.is_some_and(|e| e <= start) {
                return Err(format!("`{text}`: the end must come after the start"));
            }
            return Ok(Self::Range { start, end });
        }
        let mut list = text
            .split(',')
            .map(|s| s.trim().parse::<usize>().map_err(|_| format!("`{s}` is not a frame index (expected all, START:END or N,M,...)")))
            .collect::<Result<Vec<_>, _>>()?;
        list.sort_unstable();
        list.dedup();
        Ok(Self::List(list))
    }

    /// Whether frame `index` shown at `pts` seconds is selected.
    pub fn contains(&self, index: usize, pts: f64) -> bool {
        match self {
            Self::All => true,
            Self::Range { start, end } => index >= *start && end.is_none_or(|e| index < e),
            Self::Times { start, end } => pts >= *start - 1e-6 && end.is_none_or(|e| pts < e - 1e-6),
            Self::List(list) => list.binary_search(&index).is_ok(),
        }
    }

    /// Whether the selection is one run of consecutive frames (needed for a video).
    pub fn is_contiguous(&self) -> bool {
        match self {
            Self::List(list) => list.windows(2).all(|w| w[1] == w[0] + 1),
            _ => true,
        }
    }

    /// The last frame index that could be selected, if the selection ends.
    fn last_index(&self) -> Option<usize> {
        match self {
            Self::Range { end: Some(e), .. } => Some(e.saturating_sub(1)),
            Self::List(list) => list.last().copied(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpg,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpg => "jpg",
        }
    }
}

/// One export.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub clip: PathBuf,
    pub frames: FrameSelection,
    pub style: AnnotateStyle,
    /// Labels listed per model.
    pub top_k: usize,
    /// Images go here (`<clip stem>_<frame index>.png|jpg`); `None`: no images.
    pub out_dir: Option<PathBuf>,
    pub format: ImageFormat,
    /// JPEG quality, 1 to 100.
    pub jpeg_quality: u8,
    /// An annotated MP4 with the clip's audio.
    pub video: Option<PathBuf>,
    /// Replace existing outputs from another export.
    pub force: bool,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Frames drawn and written as images (or into the video).
    pub written: usize,
    /// Frames skipped because an earlier run of the same export wrote them.
    pub resumed: usize,
    pub images: Vec<PathBuf>,
    pub video: Option<PathBuf>,
    /// Frames of the selection that FFmpeg could not decode (their indices are missing from the
    /// images; the video holds the frame before in their place).
    pub lost: Vec<usize>,
}

/// The settings an export's outputs depend on (its manifest records their hash).
#[derive(Serialize)]
struct ManifestKey<'a> {
    clip: &'a Path,
    models: Vec<(&'a Path, &'a str)>,
    settings: String,
    style: AnnotateStyle,
    top_k: usize,
    format: ImageFormat,
    jpeg_quality: u8,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    key: String,
    clip: PathBuf,
}

/// One manifest per clip and image format: a PNG and a JPEG export of one clip can share a
/// folder, each resumable.
fn manifest_path(out_dir: &Path, stem: &str, format: ImageFormat) -> PathBuf {
    out_dir.join(format!(".mbtscope-export-{stem}.{}.json", format.extension()))
}

/// Whether `name` is one of the frame images an export of `stem` in `format` writes:
/// `<stem>_<6 or more digits>.<ext>`.
fn is_frame_image(name: &str, stem: &str, format: ImageFormat) -> bool {
    name.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('_'))
        .and_then(|rest| rest.strip_suffix(format.extension()))
        .and_then(|rest| rest.strip_suffix('.'))
        .is_some_and(|digits| digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The index of a frame shown at `pts` seconds at `fps` frames a second, given the index of the
/// frame before (decoded frames are numbered by their time, so a frame FFmpeg could not decode
/// leaves a gap rather than renumbering the ones after it).
fn frame_index(pts: f64, fps: f64, previous: Option<usize>) -> usize {
    let by_time = if fps > 0.0 && pts.is_finite() { (pts * fps).round().max(0.0) as usize } else { previous.map_or(0, |p| p + 1) };
    match previous {
        Some(p) if by_time <= p => p + 1,
        _ => by_time,
    }
}

/// Removes the temporary files that interrupted exports (of any clip) left in `dir`: hidden
/// names with `.tmp-` whose writer is gone. A running export's temporaries are its own
/// process's, which is alive, so they stay.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && crate::fsutil::is_abandoned_temporary(&entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Draws frame `rgb` at `t` with every model's panel.
#[expect(clippy::too_many_arguments, reason = "the frame, its time, what is drawn and how: each is needed")]
pub fn annotate(
    rgb: &[u8],
    width: u32,
    height: u32,
    t: f64,
    runs: &[&ModelRun],
    style: &AnnotateStyle,
    top_k: usize,
    extras: &FrameExtras<'_>,
) -> RgbFrame {
    let truth = extras.truth.and_then(|truth| truth.sounding_box(t)).map(|b| {
        // The sidecar's box is in the clip's pixels.
        [b[0] / width as f32, b[1] / height as f32, b[2] / width as f32, b[3] / height as f32]
    });
    let panels: Vec<Panel> =
        runs.iter().map(|r| Panel { truth, caption: extras.caption.to_owned(), ..r.panel(t, width, height, style, top_k) }).collect();
    compose(rgb, width, height, t, &panels, style)
}

/// Encodes an annotated frame as PNG or JPEG bytes.
pub fn encode_image(frame: &RgbFrame, format: ImageFormat, jpeg_quality: u8) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match format {
        ImageFormat::Png => {
            image::codecs::png::PngEncoder::new(&mut bytes).write_image(
                &frame.rgb,
                frame.width,
                frame.height,
                image::ExtendedColorType::Rgb8,
            )?;
        }
        ImageFormat::Jpg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, jpeg_quality.clamp(1, 100)).write_image(
                &frame.rgb,
                frame.width,
                frame.height,
                image::ExtendedColorType::Rgb8,
            )?;
        }
    }
    Ok(bytes)
}

/// Runs an export. `progress(done, total)` is called per selected frame (`total` is estimated
/// from the clip's duration and frame rate); `cancel` is checked between frames.
pub fn export(
    job: &ExportJob,
    runs: &[&ModelRun],
    settings: &AnalysisSettings,
    mut progress: impl FnMut(usize, usize),
    cancel: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<ExportSummary> {
    anyhow::ensure!(job.out_dir.is_some() || job.video.is_some(), "nothing to export: give an output folder or a video file");
    anyhow::ensure!(!runs.is_empty(), "no model to draw");
    let clip = &job.clip;
    let stem = clip.file_stem().map_or_else(|| "clip".into(), |s| s.to_string_lossy().into_owned());
    let mut decoder = VideoDecoder::open(clip)?;
    let info = decoder.info().clone();
    let fps = info.frame_rate;
    let expected = (info.duration.secs() * fps).round().max(1.0) as usize;

    // One export of a clip in a format at a time writes into a folder, and one into a video
    // file (another waits for none: it refuses); the locks are held until the end.
    let mut locks = Vec::new();
    let mut resume = false;
    if let Some(dir) = &job.out_dir {
        let (lock, resuming) = prepare_image_folder(job, dir, runs, settings, &stem)?;
        locks.push(lock);
        resume = resuming;
    }
    if let Some(video) = &job.video {
        locks.push(prepare_video(job, video)?);
    }
    // The ground truth, when the clip has a sidecar and its box is asked for: a bad sidecar is
    // an error naming it, not a silently missing box.
    let sidecar = clip.with_extension("json");
    let truth = if job.style.truth_box && sidecar.exists() { Some(crate::synth::read_truth(&sidecar)?) } else { None };
    let caption = caption_text(settings, &job.style.overlay);
    let extras = FrameExtras { truth: truth.as_ref(), caption: &caption };
    let total = selected_frames(&job.frames, expected, info.duration.secs(), fps);
    let mut summary = ExportSummary::default();
    let mut writer: Option<Mp4Writer> = None;
    let mut done = 0;
    let mut previous: Option<usize> = None;
    let mut last_video_frame: Option<Vec<u8>> = None;
    progress(0, total);
    while let Some(frame) = decoder.next_frame()? {
        let t = frame.pts.secs();
        let i = frame_index(t, fps, previous);
        // Frames between the previous one and this could not be decoded.
        let first_missing = previous.map_or(0, |p| p + 1);
        let lost_before = summary.lost.len();
        summary.lost.extend((first_missing..i).filter(|&m| job.frames.contains(m, m as f64 / fps.max(1e-9))));
        // The video keeps its timing: the frame before stands in for each lost one.
        if let (Some(writer), Some(last)) = (writer.as_mut(), last_video_frame.as_ref()) {
            for _ in lost_before..summary.lost.len() {
                writer.push_frame(last)?;
            }
        }
        previous = Some(i);
        if !job.frames.contains(i, t) {
            if job.frames.last_index().is_some_and(|last| i > last) {
                break;
            }
            if matches!(job.frames, FrameSelection::Times { end: Some(e), .. } if t >= e) {
                break;
            }
            continue;
        }
        anyhow::ensure!(!cancel.load(std::sync::atomic::Ordering::Relaxed), "export cancelled after {done} frames");
        let image_path = job.out_dir.as_ref().map(|d| d.join(format!("{stem}_{i:06}.{}", job.format.extension())));
        let need_image = image_path.as_ref().is_some_and(|p| !(resume && p.exists()));
        if image_path.is_some() && !need_image {
            summary.resumed += 1;
        }
        if need_image || job.video.is_some() {
            let annotated = annotate(&frame.rgb, frame.width, frame.height, t, runs, &job.style, job.top_k, &extras);
            if let (Some(path), true) = (&image_path, need_image) {
                let bytes = encode_image(&annotated, job.format, job.jpeg_quality)?;
                crate::fsutil::write_atomic(path, &bytes, true).with_context(|| format!("cannot write {}", path.display()))?;
                summary.images.push(path.clone());
            }
            if let Some(video) = &job.video {
                let (w, h) = (annotated.width & !1, annotated.height & !1);
                if writer.is_none() {
                    writer = Some(open_video(video, job, &info, w, h, t)?);
                }
                if let Some(writer) = writer.as_mut() {
                    let pixels = crop_even(&annotated, w, h);
                    writer.push_frame(&pixels)?;
                    last_video_frame = Some(pixels);
                }
            }
            summary.written += 1;
        }
        done += 1;
        progress(done, total);
    }
    let decoded = previous.map_or(0, |p| p + 1);
    anyhow::ensure!(done > 0, "{}: no frame of the clip is selected ({decoded} frames)", clip.display());
    if !summary.lost.is_empty() {
        log::warn!("{}: {} selected frames could not be decoded: {:?}", clip.display(), summary.lost.len(), summary.lost);
    }
    if let Some(writer) = writer {
        summary.video = Some(writer.finish()?);
    }
    Ok(summary)
}

/// Readies the image folder `dir`: takes its lock, removes stale temporaries, and decides
/// whether this export resumes one with the same settings (its manifest's key) or replaces
/// another's frames (only with `force`). Returns the lock and whether it resumes.
fn prepare_image_folder(
    job: &ExportJob,
    dir: &Path,
    runs: &[&ModelRun],
    settings: &AnalysisSettings,
    stem: &str,
) -> anyhow::Result<(crate::fsutil::FileLock, bool)> {
    let clip = &job.clip;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let lock = dir.join(format!(".mbtscope-export-{stem}.{}.lock", job.format.extension()));
    let lock = crate::fsutil::FileLock::acquire(&lock, &format!("frames of {} in {}", clip.display(), dir.display()))?;
    remove_stale_temporaries(dir);
    let key = ManifestKey {
        clip,
        models: runs.iter().map(|r| (r.dir.as_path(), r.name.as_str())).collect(),
        settings: settings.key(),
        style: job.style,
        top_k: job.top_k,
        format: job.format,
        jpeg_quality: job.jpeg_quality,
    };
    let key = format!("{:016x}", crate::analysis::fnv1a(serde_json::to_string(&key)?.as_bytes()));
    let manifest = manifest_path(dir, stem, job.format);
    let previous: Option<Manifest> = std::fs::read(&manifest).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let resume = previous.is_some_and(|m| m.key == key);
    if !resume {
        let frames: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .filter(|e| is_frame_image(&e.file_name().to_string_lossy(), stem, job.format))
            .map(|e| e.path())
            .collect();
        if let Some(clash) = frames.first() {
            anyhow::ensure!(
                job.force,
                "{} already holds frames of another export of {} (for example {}); use --force to replace them",
                dir.display(),
                clip.display(),
                clash.file_name().unwrap_or_default().to_string_lossy()
            );
            // Replaced means gone: frames of the other export that this one does not
            // write again must not pass for this export's when it is resumed later.
            for frame in &frames {
                std::fs::remove_file(frame).with_context(|| format!("cannot remove {} (--force)", frame.display()))?;
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&Manifest { key, clip: clip.clone() })?;
    crate::fsutil::write_atomic(&manifest, &bytes, true).with_context(|| format!("cannot write {}", manifest.display()))?;
    Ok((lock, resume))
}

/// Readies the annotated video's path: consecutive frames only, its folder, its lock, and no
/// file there already (unless `force`).
fn prepare_video(job: &ExportJob, video: &Path) -> anyhow::Result<crate::fsutil::FileLock> {
    anyhow::ensure!(job.frames.is_contiguous(), "a video needs consecutive frames (all, START:END), not a list");
    if let Some(dir) = video.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let name = video.file_name().map_or_else(|| "video".into(), |s| s.to_string_lossy().into_owned());
    let lock = crate::fsutil::FileLock::acquire(&video.with_file_name(format!(".{name}.lock")), &video.display().to_string())?;
    anyhow::ensure!(job.force || !video.exists(), "{} already exists (use --force to replace it)", video.display());
    let dir = video.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    remove_stale_temporaries(dir);
    Ok(lock)
}

/// How many frames `frames` selects of a clip of `expected` frames and `duration` seconds.
fn selected_frames(frames: &FrameSelection, expected: usize, duration: f64, fps: f64) -> usize {
    match frames {
        FrameSelection::All => expected,
        FrameSelection::Range { start, end } => end.unwrap_or(expected).min(expected).saturating_sub(*start),
        FrameSelection::Times { start, end } => ((end.unwrap_or(duration) - start) * fps).round().max(0.0) as usize,
        FrameSelection::List(list) => list.len(),
    }
}

/// Starts the annotated video (`w x h`, the clip's frame rate) with the clip's audio from `t`, the
/// first selected frame, to the end of the selection.
fn open_video(path: &Path, job: &ExportJob, info: &crate::media::VideoInfo, w: u32, h: u32, t: f64) -> anyhow::Result<Mp4Writer> {
    let fps = info.frame_rate.max(1.0);
    let audio_rate = info.has_audio.then_some(48_000);
    let options = EncodeOptions { width: w, height: h, fps: fps.round() as u32, audio_rate, crf: 20 };
    let mut writer = Mp4Writer::create(path, options, job.force)?;
    if info.has_audio {
        let end = match &job.frames {
            FrameSelection::Range { end: Some(e), .. } => *e as f64 / fps,
            FrameSelection::Times { end: Some(e), .. } => *e,
            FrameSelection::List(list) => (list.last().copied().unwrap_or(0) + 1) as f64 / fps,
            _ => info.duration.secs(),
        };
        let (from, to) = (Timestamp::from_secs(t), Timestamp::from_secs(end.min(info.duration.secs()).max(t)));
        if let Some(track) = decode_audio(&job.clip, 48_000, from, Some(to))? {
            let len = ((to - from).secs() * 48_000.0).round() as usize;
            writer.set_audio(track.span(from, len));
        }
    }
    Ok(writer)
}

/// The top-left `w x h` of a frame (H.264 wants even sizes).
fn crop_even(frame: &RgbFrame, w: u32, h: u32) -> Vec<u8> {
    if w == frame.width && h == frame.height {
        return frame.rgb.clone();
    }
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let row = (y * frame.width * 3) as usize;
        out.extend_from_slice(&frame.rgb[row..row + (w * 3) as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_selections_parse() {
        assert_eq!(FrameSelection::parse("all"), Ok(FrameSelection::All));
        assert_eq!(FrameSelection::parse("10:20"), Ok(FrameSelection::Range { start: 10, end: Some(20) }));
        assert_eq!(FrameSelection::parse(":5"), Ok(FrameSelection::Range { start: 0, end: Some(5) }));
        assert_eq!(FrameSelection::parse("7:"), Ok(FrameSelection::Range { start: 7, end: None }));
        assert_eq!(FrameSelection::parse("1.5s:3s"), Ok(FrameSelection::Times { start: 1.5, end: Some(3.0) }));
        assert_eq!(FrameSelection::parse("9, 3,3"), Ok(FrameSelection::List(vec![3, 9])));
        assert!(FrameSelection::parse("5:2").is_err());
        assert!(FrameSelection::parse("x").unwrap_err().contains("not a frame index"));
        assert!(FrameSelection::parse("2s:1s").is_err());
    }

    #[test]
    fn selections_contain_the_right_frames() {
        let r = FrameSelection::Range { start: 2, end: Some(4) };
        assert_eq!((0..6).filter(|&i| r.contains(i, 0.0)).collect::<Vec<_>>(), vec![2, 3]);
        let t = FrameSelection::Times { start: 0.1, end: Some(0.2) };
        assert_eq!((0..10).filter(|&i| t.contains(i, i as f64 / 25.0)).collect::<Vec<_>>(), vec![3, 4]);
        assert!(FrameSelection::List(vec![3, 4, 5]).is_contiguous());
        assert!(!FrameSelection::List(vec![3, 5]).is_contiguous());
    }
}
