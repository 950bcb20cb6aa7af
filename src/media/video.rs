//! Video decoding with FFmpeg (ffmpeg-next): frame-accurate seeking, RGB conversion and resizing
//! with swscale, rotation metadata honoured.

use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg::media::Type;
use ffmpeg::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ffmpeg;

use super::error::MediaError;
use super::time::Timestamp;

/// Largest frame side accepted; larger declared sizes are refused before allocating.
pub const MAX_SIDE: u32 = 16_384;

/// After this many consecutive unreadable packets the file is given up on (guards against a
/// demuxer that reports errors forever).
const MAX_CONSECUTIVE_READ_ERRORS: usize = 256;

/// One attempt to read a packet from a container.
pub(crate) enum PacketRead {
    Packet(ffmpeg::Packet),
    Eof,
    /// Unreadable; skipped (and counted by the caller).
    Bad,
}

/// Reads the next packet, giving up with the error only after
/// `MAX_CONSECUTIVE_READ_ERRORS` unreadable ones in a row.
pub(crate) fn read_packet(input: &mut ffmpeg::format::context::Input, consecutive_errors: &mut usize) -> Result<PacketRead, ffmpeg::Error> {
    let mut packet = ffmpeg::Packet::empty();
    match packet.read(input) {
        Ok(()) => {
            *consecutive_errors = 0;
            Ok(PacketRead::Packet(packet))
        }
        Err(ffmpeg::Error::Eof) => Ok(PacketRead::Eof),
        Err(e) => {
            *consecutive_errors += 1;
            if *consecutive_errors > MAX_CONSECUTIVE_READ_ERRORS { Err(e) } else { Ok(PacketRead::Bad) }
        }
    }
}

/// What the container says about the video stream (after rotation).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    /// Upright size (rotation applied).
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation applied to decoded frames, in degrees (0, 90, 180, 270).
    pub rotation: u32,
    /// Average frame rate as declared (frames may still come at a variable rate).
    pub frame_rate: f64,
    pub duration: Timestamp,
    pub codec: String,
    pub has_audio: bool,
}

/// A decoded frame in packed RGB (3 bytes per pixel, row-major), upright.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    pub pts: Timestamp,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl VideoFrame {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// Initialises FFmpeg once and quiets its console logging (errors reach the caller as values).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// What an RGB converter was made for: input format, input size, output size, fast filter.
type ScalerKey = (Pixel, u32, u32, u32, u32, bool);

/// Opens and decodes one video stream.
pub struct VideoDecoder {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    stream_index: usize,
    time_base: (i32, i32),
    info: VideoInfo,
    /// Output size before rotation (None: the coded size).
    scale_to: Option<(u32, u32)>,
    /// Scale with swscale's faster, slightly less exact bilinear filter (display frames).
    fast_scaling: bool,
    scaler: Option<(Scaler, ScalerKey)>,
    /// Conversion target, reused between frames (a fresh 1080p buffer per frame costs page faults).
    rgb: ffmpeg::frame::Video,
    /// Frames decoded but not yet handed out (decoders may emit several per packet, and
    /// [`Self::frame_at`] looks one frame ahead), still in the decoder's pixel format.
    pending: std::collections::VecDeque<ffmpeg::frame::Video>,
    /// The last frame [`Self::frames_at`] decoded, kept so that a following call for later
    /// times can go on decoding forward instead of seeking.
    held: Option<(Timestamp, ffmpeg::frame::Video)>,
    eof: bool,
    /// Packets that failed to demux or decode and were skipped.
    pub bad_packets: usize,
}

impl VideoDecoder {
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        init();
        let open_err = |reason: String| MediaError::Open { path: path.to_owned(), reason };
        let meta = std::fs::metadata(path).map_err(|e| open_err(e.to_string()))?;
        if meta.len() == 0 {
            return Err(open_err("the file is empty".into()));
        }
        let input = ffmpeg::format::input(&path).map_err(|e| open_err(format!("not a media file FFmpeg can read: {e}")))?;
        let has_audio = input.streams().best(Type::Audio).is_some();
        let stream = input.streams().best(Type::Video).ok_or_else(|| MediaError::NoVideo { path: path.to_owned() })?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let time_base = (tb.numerator(), tb.denominator());
        let rate = stream.avg_frame_rate();
        let frame_rate = if rate.denominator() != 0 && rate.numerator() > 0 {
            f64::from(rate.numerator()) / f64::from(rate.denominator())
        } else {
            let r = stream.rate();
            if r.denominator() != 0 { f64::from(r.numerator()) / f64::from(r.denominator()) } else { 0.0 }
        };
        let duration = if stream.duration() > 0 {
            Timestamp::from_pts(stream.duration(), time_base.0, time_base.1)
        } else if input.duration() > 0 {
            Timestamp(input.duration()) // AV_TIME_BASE is microseconds
        } else {
            Timestamp::ZERO
        };
        let rotation = rotation_of(&stream);
        let parameters = stream.parameters();
        let codec_id = parameters.id();
        let mut context =
            ffmpeg::codec::context::Context::from_parameters(parameters).map_err(|e| open_err(format!("bad codec parameters: {e}")))?;
        // Frame and slice threads on every core (libavcodec decodes on one thread by default).
        context.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let decoder = context.decoder().video().map_err(|_| MediaError::Codec {
            path: path.to_owned(),
            kind: "video",
            codec: format!("{codec_id:?}"),
        })?;
        let (w, h) = (decoder.width(), decoder.height());
        if w == 0 || h == 0 {
            return Err(open_err(format!("the video stream declares a {w}x{h} frame")));
        }
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(MediaError::TooLarge { path: path.to_owned(), width: w, height: h, max: MAX_SIDE });
        }
        let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        Ok(Self {
            path: path.to_owned(),
            input,
            decoder,
            stream_index,
            time_base,
            info: VideoInfo { width, height, rotation, frame_rate, duration, codec: format!("{codec_id:?}").to_lowercase(), has_audio },
            scale_to: None,
            fast_scaling: false,
            scaler: None,
            rgb: ffmpeg::frame::Video::empty(),
            pending: Default::default(),
            held: None,
            eof: false,
            bad_packets: 0,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Scales frames to `width x height` (upright size) as part of the RGB conversion.
    pub fn set_output_size(&mut self, width: u32, height: u32) {
        let coded = if self.info.rotation % 180 == 90 { (height, width) } else { (width, height) };
        self.scale_to = Some((coded.0.max(1), coded.1.max(1)));
        self.fast_scaling = false;
    }

    /// Like [`Self::set_output_size`] with swscale's fast bilinear filter: for frames that are
    /// only shown, never given to a model.
    pub fn set_display_size(&mut self, width: u32, height: u32) {
        self.set_output_size(width, height);
        self.fast_scaling = true;
    }

    /// Frames at the clip's own size again.
    pub fn clear_output_size(&mut self) {
        self.scale_to = None;
        self.fast_scaling = false;
    }

    fn decode_err(&self, what: &'static str, reason: impl ToString) -> MediaError {
        MediaError::Decode { path: self.path.clone(), what, reason: reason.to_string() }
    }

    /// Seeks to the keyframe at or before `t`; the next frames decoded start there.
    pub fn seek_keyframe(&mut self, t: Timestamp) -> Result<(), MediaError> {
        // Container-level seek in AV_TIME_BASE (microseconds), to the keyframe at or before t.
        let target = t.micros().max(0);
        self.input.seek(target, ..target).map_err(|e| self.decode_err("seeking", e))?;
        self.decoder.flush();
        self.pending.clear();
        self.held = None;
        self.eof = false;
        Ok(())
    }

    /// The frame shown at `t`: the last frame whose timestamp is at or before `t`. Seeks to the
    /// keyframe before `t` and decodes forward, so the result is exact for any `t`.
    pub fn frame_at(&mut self, t: Timestamp) -> Result<VideoFrame, MediaError> {
        self.seek_keyframe(t)?;
        let mut best: Option<ffmpeg::frame::Video> = None;
        loop {
            match self.next_decoded()? {
                Some(frame) if self.pts_of(&frame) <= t => best = Some(frame),
                Some(frame) => {
                    // The first frame after t: if nothing came before (t precedes the first
                    // frame, or the seek landed after t), this is the one shown.
                    let shown = self.convert(best.as_ref().unwrap_or(&frame))?;
                    self.pending.push_front(frame);
                    return Ok(shown);
                }
                None => {
                    return match best {
                        Some(frame) => self.convert(&frame),
                        None => Err(MediaError::NoFrame { path: self.path.clone(), time: t, end: self.info.duration }),
                    };
                }
            }
        }
    }

    /// The frames shown at each of `times` (ascending). Decodes forward from one seek, or with
    /// no seek at all when the previous call ended shortly before `times` (consecutive model
    /// windows), and converts to RGB only the frames that are returned.
    pub fn frames_at(&mut self, times: &[Timestamp]) -> Result<Vec<VideoFrame>, MediaError> {
        /// Decoding this far forward costs less than a seek back to a keyframe usually does.
        const FORWARD_LIMIT_SECS: f64 = 2.0;
        let Some(&first) = times.first() else { return Ok(Vec::new()) };
        let held = self.held.take().filter(|(pts, _)| *pts <= first && (first - *pts).secs() <= FORWARD_LIMIT_SECS);
        let mut current = match held {
            Some((_, frame)) => frame,
            None => {
                self.seek_keyframe(first)?;
                // The first frame is shown for any time before it.
                self.next_decoded()?.ok_or_else(|| MediaError::NoFrame { path: self.path.clone(), time: first, end: self.info.duration })?
            }
        };
        let mut out: Vec<VideoFrame> = Vec::with_capacity(times.len());
        let mut next = self.next_decoded()?;
        let mut converted: Option<(Timestamp, usize)> = None;
        for &t in times {
            while let Some(frame) = next.take() {
                if self.pts_of(&frame) <= t {
                    current = frame;
                    next = self.next_decoded()?;
                } else {
                    next = Some(frame);
                    break;
                }
            }
            let pts = self.pts_of(&current);
            match converted {
                // The same frame shown at several times (a clip slower than the sampling).
                Some((p, index)) if p == pts => out.push(out[index].clone()),
                _ => {
                    converted = Some((pts, out.len()));
                    out.push(self.convert(&current)?);
                }
            }
        }
        if let Some(frame) = next {
            self.pending.push_front(frame);
        }
        self.held = Some((self.pts_of(&current), current));
        Ok(out)
    }

    /// The next frame in presentation order, or None at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<VideoFrame>, MediaError> {
        self.held = None;
        match self.next_decoded()? {
            Some(frame) => self.convert(&frame).map(Some),
            None => Ok(None),
        }
    }

    /// The next decoded frame, before conversion.
    fn next_decoded(&mut self) -> Result<Option<ffmpeg::frame::Video>, MediaError> {
        let mut read_errors = 0;
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            let mut decoded = ffmpeg::frame::Video::empty();
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => return Ok(Some(decoded)),
                Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(_) if self.eof => return Ok(None),
                Err(_) => {}
            }
            match read_packet(&mut self.input, &mut read_errors).map_err(|e| self.decode_err("reading packets", e))? {
                PacketRead::Packet(packet) => {
                    if packet.stream() == self.stream_index && self.decoder.send_packet(&packet).is_err() {
                        self.bad_packets += 1;
                    }
                }
                PacketRead::Eof => {
                    self.eof = true;
                    let _ = self.decoder.send_eof();
                }
                PacketRead::Bad => self.bad_packets += 1,
            }
        }
    }

    fn pts_of(&self, frame: &ffmpeg::frame::Video) -> Timestamp {
        let pts = frame.timestamp().or(frame.pts()).unwrap_or(0);
        Timestamp::from_pts(pts, self.time_base.0, self.time_base.1)
    }

    fn convert(&mut self, frame: &ffmpeg::frame::Video) -> Result<VideoFrame, MediaError> {
        let (w, h) = (frame.width(), frame.height());
        let (ow, oh) = self.scale_to.unwrap_or((w, h));
        let key = (frame.format(), w, h, ow, oh, self.fast_scaling);
        if self.scaler.as_ref().map(|(_, k)| *k) != Some(key) {
            // swscale refuses an output frame of another size: let the new converter allocate one.
            self.rgb = ffmpeg::frame::Video::empty();
            // Frames for the screen take swscale's fast bilinear path; the models' input keeps
            // the exact one it was trained with.
            let flags = if self.fast_scaling { Flags::FAST_BILINEAR } else { Flags::BILINEAR };
            let scaler =
                Scaler::get(frame.format(), w, h, Pixel::RGB24, ow, oh, flags).map_err(|e| self.decode_err("converting to RGB", e))?;
            self.scaler = Some((scaler, key));
        }
        let rgb = &mut self.rgb;
        if let Some((scaler, _)) = self.scaler.as_mut() {
            scaler.run(frame, rgb).map_err(|e| MediaError::Decode {
                path: self.path.clone(),
                what: "converting to RGB",
                reason: e.to_string(),
            })?;
        }
        let packed = packed_rgb(rgb, ow, oh);
        let pts = self.pts_of(frame);
        let (packed, width, height) = rotate(packed, ow, oh, self.info.rotation);
        Ok(VideoFrame { pts, width, height, rgb: packed })
    }
}

/// `frame` scaled to `width x height` with swscale's fast bilinear filter (for the screen).
pub fn scale_frame(frame: &VideoFrame, width: u32, height: u32) -> Result<VideoFrame, ffmpeg::Error> {
    let (w, h) = (frame.width, frame.height);
    let mut input = ffmpeg::frame::Video::new(Pixel::RGB24, w, h);
    let stride = input.stride(0);
    let data = input.data_mut(0);
    for (y, row) in frame.rgb.chunks_exact(w as usize * 3).enumerate().take(h as usize) {
        data[y * stride..y * stride + row.len()].copy_from_slice(row);
    }
    let mut output = ffmpeg::frame::Video::empty();
    Scaler::get(Pixel::RGB24, w, h, Pixel::RGB24, width, height, Flags::FAST_BILINEAR)?.run(&input, &mut output)?;
    Ok(VideoFrame { pts: frame.pts, width, height, rgb: packed_rgb(&output, width, height) })
}

/// The RGB24 pixels of `frame` without FFmpeg's row padding (lines are padded to its stride).
fn packed_rgb(frame: &ffmpeg::frame::Video, width: u32, height: u32) -> Vec<u8> {
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut packed = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height as usize {
        packed.extend_from_slice(&data[y * stride..y * stride + width as usize * 3]);
    }
    packed
}

/// Clockwise rotation in degrees from the stream's display matrix (0 when absent).
fn rotation_of(stream: &ffmpeg::format::stream::Stream<'_>) -> u32 {
    for side in stream.side_data() {
        if side.kind() != ffmpeg::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = side.data();
        if data.len() < 36 {
            continue;
        }
        let m: Vec<f64> = data[..36].chunks_exact(4).map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])) / 65536.0).collect();
        // FFmpeg turns the picture clockwise by atan2(m[1], m[0]) to display it (the negation
        // of av_display_rotation_get's counter-clockwise angle).
        let cw = m[1].atan2(m[0]).to_degrees().rem_euclid(360.0);
        return ((cw / 90.0).round() as u32 % 4) * 90;
    }
    0
}

/// Rotates packed RGB clockwise by 0/90/180/270 degrees.
pub fn rotate(rgb: Vec<u8>, width: u32, height: u32, degrees: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    match degrees {
        90 | 180 | 270 => {
            let mut out = vec![0u8; rgb.len()];
            let (ow, oh) = if degrees == 180 { (w, h) } else { (h, w) };
            for y in 0..h {
                for x in 0..w {
                    let (nx, ny) = match degrees {
                        90 => (h - 1 - y, x),
                        180 => (w - 1 - x, h - 1 - y),
                        _ => (y, w - 1 - x),
                    };
                    let src = (y * w + x) * 3;
                    let dst = (ny * ow + nx) * 3;
                    out[dst..dst + 3].copy_from_slice(&rgb[src..src + 3]);
                }
            }
            (out, ow as u32, oh as u32)
        }
        _ => (rgb, width, height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_moves_the_top_left_pixel_where_expected() {
        // 2x1 image: red, green.
        let rgb = vec![255, 0, 0, 0, 255, 0];
        let (r90, w, h) = rotate(rgb.clone(), 2, 1, 90);
        assert_eq!((w, h), (1, 2));
        assert_eq!(r90, vec![255, 0, 0, 0, 255, 0]); // red on top after a clockwise turn
        let (r180, _, _) = rotate(rgb.clone(), 2, 1, 180);
        assert_eq!(r180, vec![0, 255, 0, 255, 0, 0]);
        let (r270, w, h) = rotate(rgb, 2, 1, 270);
        assert_eq!((w, h), (1, 2));
        assert_eq!(r270, vec![0, 255, 0, 255, 0, 0]); // green on top
    }
}
