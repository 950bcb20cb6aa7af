//! Audio decoding with FFmpeg, resampled by swresample to float32 at a chosen rate and channel
//! count (mono 16 kHz for the model, the device's format for playback), whatever the source's
//! layout (mono, stereo, 5.1, ...) and rate.

use std::path::{Path, PathBuf};

use ffmpeg::ChannelLayout;
use ffmpeg::format::Sample;
use ffmpeg::format::sample::Type as SampleType;
use ffmpeg::media::Type;
use ffmpeg::software::resampling::Context as Resampler;
use ffmpeg_next as ffmpeg;

use super::error::MediaError;
use super::time::Timestamp;
use super::video::{PacketRead, init, read_packet};

const OUT_FORMAT: Sample = Sample::F32(SampleType::Packed);

/// Mono samples starting at `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    pub rate: u32,
    pub start: Timestamp,
    pub samples: Vec<f32>,
    /// Packets that could not be decoded and were skipped.
    pub bad_packets: usize,
}

impl AudioTrack {
    pub fn duration(&self) -> Timestamp {
        Timestamp::from_secs(self.samples.len() as f64 / f64::from(self.rate))
    }

    /// Samples covering `len` samples from media time `from`, zero outside the track.
    pub fn span(&self, from: Timestamp, len: usize) -> Vec<f32> {
        let offset = ((from - self.start).secs() * f64::from(self.rate)).round() as i64;
        (0..len as i64)
            .map(|i| {
                let k = offset + i;
                if k >= 0 { self.samples.get(k as usize).copied().unwrap_or(0.0) } else { 0.0 }
            })
            .collect()
    }
}

/// Decodes an audio stream chunk by chunk as interleaved f32 at `rate` Hz and `channels`,
/// starting at `start` (samples before it are dropped, so the first sample is at `start` or at
/// the stream's first sample, whichever is later).
pub struct AudioStream {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Audio,
    index: usize,
    time_base: (i32, i32),
    rate: u32,
    channels: u16,
    layout: ChannelLayout,
    resampler: Option<(Resampler, (Sample, u64, u32))>,
    /// Media time of the next sample handed out (known after the first frame).
    next_time: Option<Timestamp>,
    start: Timestamp,
    eof: bool,
    drained: bool,
    pub bad_packets: usize,
}

impl AudioStream {
    /// Opens the best audio stream of `path`; `Ok(None)` if it has none.
    pub fn open(path: &Path, rate: u32, channels: u16, start: Timestamp) -> Result<Option<Self>, MediaError> {
        init();
        let mut input = ffmpeg::format::input(&path)
            .map_err(|e| MediaError::Open { path: path.to_owned(), reason: format!("not a media file FFmpeg can read: {e}") })?;
        let Some(stream) = input.streams().best(Type::Audio) else { return Ok(None) };
        let index = stream.index();
        let tb = stream.time_base();
        let parameters = stream.parameters();
        let codec = parameters.id();
        let context = ffmpeg::codec::context::Context::from_parameters(parameters).map_err(|e| MediaError::Decode {
            path: path.to_owned(),
            what: "reading audio parameters",
            reason: e.to_string(),
        })?;
        let decoder = context.decoder().audio().map_err(|_| MediaError::Codec {
            path: path.to_owned(),
            kind: "audio",
            codec: format!("{codec:?}"),
        })?;
        if start > Timestamp::ZERO {
            let target = start.micros();
            input.seek(target, ..target).map_err(|e| MediaError::Decode {
                path: path.to_owned(),
                what: "seeking audio",
                reason: e.to_string(),
            })?;
        }
        Ok(Some(Self {
            path: path.to_owned(),
            input,
            decoder,
            index,
            time_base: (tb.numerator(), tb.denominator()),
            rate,
            channels: channels.max(1),
            layout: ChannelLayout::default(i32::from(channels.max(1))),
            resampler: None,
            next_time: None,
            start,
            eof: false,
            drained: false,
            bad_packets: 0,
        }))
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Media time of the next sample [`Self::next_chunk`] returns (None before the first).
    pub fn next_time(&self) -> Option<Timestamp> {
        self.next_time
    }

    /// The next interleaved samples, or None at the end of the stream.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, MediaError> {
        let mut decoded = ffmpeg::frame::Audio::empty();
        let mut read_errors = 0;
        loop {
            if self.drained {
                return Ok(None);
            }
            if self.decoder.receive_frame(&mut decoded).is_ok() {
                if let Some(chunk) = self.convert(&mut decoded)? {
                    return Ok(Some(chunk));
                }
                continue;
            }
            if self.eof {
                self.drained = true;
                return Ok(self.flush().filter(|c| !c.is_empty()));
            }
            let read = read_packet(&mut self.input, &mut read_errors).map_err(|e| MediaError::Decode {
                path: self.path.clone(),
                what: "reading audio packets",
                reason: e.to_string(),
            })?;
            match read {
                PacketRead::Packet(packet) => {
                    if packet.stream() == self.index && self.decoder.send_packet(&packet).is_err() {
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

    /// Resamples a decoded frame (whose layout it fills in where the stream names none; a copy
    /// would not do: ffmpeg-next copies a frame without a layout as one without channels).
    fn convert(&mut self, frame: &mut ffmpeg::frame::Audio) -> Result<Option<Vec<f32>>, MediaError> {
        let layout = if frame.channel_layout().is_empty() {
            ChannelLayout::default(i32::from(channel_count(frame)))
        } else {
            frame.channel_layout()
        };
        frame.set_channel_layout(layout);
        let key = (frame.format(), layout.bits(), frame.rate());
        if self.resampler.as_ref().map(|(_, k)| *k) != Some(key) {
            let r = Resampler::get(frame.format(), layout, frame.rate(), OUT_FORMAT, self.layout, self.rate).map_err(|e| {
                MediaError::Decode {
                    path: self.path.clone(),
                    what: "setting up the resampler",
                    reason: format!("{e} (from {:?}, {} channels, {} Hz)", frame.format(), channel_count(frame), frame.rate()),
                }
            })?;
            self.resampler = Some((r, key));
        }
        if self.next_time.is_none() {
            let pts = frame.timestamp().or(frame.pts());
            self.next_time = Some(pts.map_or(self.start, |p| Timestamp::from_pts(p, self.time_base.0, self.time_base.1)));
        }
        // Sized for the whole output (ffmpeg-next would size it like the input, and upsampling
        // would then leave samples stranded in swresample's buffer).
        let capacity = frame.samples() * self.rate as usize / frame.rate().max(1) as usize + 256;
        let mut out = ffmpeg::frame::Audio::new(OUT_FORMAT, capacity, self.layout);
        let Some((r, _)) = self.resampler.as_mut() else { return Ok(None) };
        if r.run(frame, &mut out).is_err() {
            self.bad_packets += 1;
            return Ok(None);
        }
        Ok(Some(self.take(&out)))
    }

    fn flush(&mut self) -> Option<Vec<f32>> {
        let (r, _) = self.resampler.as_mut()?;
        let mut all = Vec::new();
        let mut chunks = Vec::new();
        // Drain what swresample still holds (its filter delay).
        for _ in 0..64 {
            let mut out = ffmpeg::frame::Audio::new(OUT_FORMAT, 4096, self.layout);
            if r.flush(&mut out).is_err() || out.samples() == 0 {
                break;
            }
            chunks.push(out);
        }
        for out in chunks {
            all.extend(self.take(&out));
        }
        Some(all)
    }

    /// Interleaved samples of `frame`, minus any that precede `start`.
    fn take(&mut self, frame: &ffmpeg::frame::Audio) -> Vec<f32> {
        let n = frame.samples() * usize::from(self.channels);
        let data = frame.data(0);
        let mut samples: Vec<f32> = data[..n * 4].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let now = self.next_time.unwrap_or(self.start);
        if now < self.start {
            let skip = ((self.start - now).secs() * f64::from(self.rate)).round() as usize * usize::from(self.channels);
            let skip = skip.min(samples.len());
            samples.drain(..skip);
            let frames = skip / usize::from(self.channels);
            self.next_time = Some(now + Timestamp::from_secs(frames as f64 / f64::from(self.rate)));
        }
        let frames = samples.len() / usize::from(self.channels);
        if let Some(t) = self.next_time.as_mut() {
            *t = *t + Timestamp::from_secs(frames as f64 / f64::from(self.rate));
        }
        samples
    }
}

/// Decodes the best audio stream of `path` between `from` and `to` (None: to the end) as mono
/// f32 at `rate` Hz. Returns `Ok(None)` when the file has no audio stream.
pub fn decode_audio(path: &Path, rate: u32, from: Timestamp, to: Option<Timestamp>) -> Result<Option<AudioTrack>, MediaError> {
    let Some(mut stream) = AudioStream::open(path, rate, 1, from)? else { return Ok(None) };
    let mut samples = Vec::new();
    let mut start = None;
    while let Some(chunk) = stream.next_chunk()? {
        // Chunks wholly before `from` come back empty; the track starts at the first sample kept.
        if chunk.is_empty() {
            continue;
        }
        if start.is_none() {
            let after = stream.next_time().unwrap_or(from);
            start = Some(after - Timestamp::from_secs(chunk.len() as f64 / f64::from(rate)));
        }
        samples.extend(chunk);
        if let (Some(s), Some(t)) = (start, to)
            && s + Timestamp::from_secs(samples.len() as f64 / f64::from(rate)) >= t
        {
            break;
        }
    }
    let start = start.unwrap_or(from);
    if let Some(t) = to {
        samples.truncate(((t - start).secs().max(0.0) * f64::from(rate)).round() as usize);
    }
    Ok(Some(AudioTrack { rate, start, samples, bad_packets: stream.bad_packets }))
}

/// The frame's channel count. FFmpeg 5.1 leaves the legacy count at 0 where the stream names no
/// layout (a plain stereo WAV, for one), so the count comes from the newer layout field then.
fn channel_count(frame: &ffmpeg::frame::Audio) -> u16 {
    if frame.channels() > 0 {
        return frame.channels();
    }
    // SAFETY: `as_ptr` points at the frame's AVFrame, alive for this borrow; a plain integer
    // field is read.
    let count = unsafe { (*frame.as_ptr()).ch_layout.nb_channels };
    u16::try_from(count).unwrap_or(0)
}
