//! Audio decoding with FFmpeg, resampled by swresample to mono float32 at a chosen rate (the
//! model's 16 kHz), whatever the source's layout (mono, stereo, 5.1, ...) and rate.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg::ChannelLayout;
use ffmpeg::format::Sample;
use ffmpeg::format::sample::Type as SampleType;
use ffmpeg::media::Type;
use ffmpeg::software::resampling::Context as Resampler;

use super::error::MediaError;
use super::time::Timestamp;
use super::video::init;

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

    /// Samples covering `[from, from + len)` seconds of media time, zero outside the track.
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

/// Decodes the best audio stream of `path` between `from` and `to` (None: to the end) as mono
/// f32 at `rate` Hz. Returns `Ok(None)` when the file has no audio stream.
pub fn decode_audio(path: &Path, rate: u32, from: Timestamp, to: Option<Timestamp>) -> Result<Option<AudioTrack>, MediaError> {
    init();
    let err = |what: &'static str, reason: String| MediaError::Decode { path: path.to_owned(), what, reason };
    let mut input = ffmpeg::format::input(&path).map_err(|e| MediaError::Open {
        path: path.to_owned(),
        reason: format!("not a media file FFmpeg can read: {e}"),
    })?;
    let Some(stream) = input.streams().best(Type::Audio) else { return Ok(None) };
    let index = stream.index();
    let tb = stream.time_base();
    let (num, den) = (tb.numerator(), tb.denominator());
    let parameters = stream.parameters();
    let codec = parameters.id();
    let context = ffmpeg::codec::context::Context::from_parameters(parameters)
        .map_err(|e| err("reading audio parameters", e.to_string()))?;
    let mut decoder = context.decoder().audio().map_err(|_| MediaError::Codec {
        path: path.to_owned(),
        kind: "audio",
        codec: format!("{codec:?}"),
    })?;
    if from > Timestamp::ZERO {
        let target = from.micros();
        input.seek(target, ..target).map_err(|e| err("seeking audio", e.to_string()))?;
    }
    let out_format = Sample::F32(SampleType::Packed);
    let mut resampler: Option<(Resampler, (Sample, u64, u32))> = None;
    let mut samples: Vec<f32> = Vec::new();
    let mut first_pts: Option<Timestamp> = None;
    let mut bad_packets = 0;
    let mut decoded = ffmpeg::frame::Audio::empty();
    let mut converted;
    let mut read_errors = 0;
    let mut finished = false;
    let end_sample = |start: Timestamp| to.map(|t| ((t - start).secs().max(0.0) * f64::from(rate)).ceil() as usize);
    loop {
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {
                read_errors = 0;
                if packet.stream() != index {
                    continue;
                }
                if decoder.send_packet(&packet).is_err() {
                    bad_packets += 1;
                    continue;
                }
            }
            Err(ffmpeg::Error::Eof) => {
                let _ = decoder.send_eof();
                finished = true;
            }
            Err(e) => {
                bad_packets += 1;
                read_errors += 1;
                if read_errors > 256 {
                    return Err(err("reading audio packets", e.to_string()));
                }
                continue;
            }
        }
        while decoder.receive_frame(&mut decoded).is_ok() {
            let layout = if decoded.channel_layout().is_empty() {
                ChannelLayout::default(i32::from(decoded.channels()))
            } else {
                decoded.channel_layout()
            };
            decoded.set_channel_layout(layout);
            let key = (decoded.format(), layout.bits(), decoded.rate());
            if resampler.as_ref().map(|(_, k)| *k) != Some(key) {
                let r = Resampler::get(decoded.format(), layout, decoded.rate(), out_format, ChannelLayout::MONO, rate)
                    .map_err(|e| err("setting up the resampler", e.to_string()))?;
                resampler = Some((r, key));
            }
            let pts = decoded.timestamp().or(decoded.pts());
            if first_pts.is_none() {
                first_pts = Some(pts.map_or(from, |p| Timestamp::from_pts(p, num, den)));
            }
            if let Some((r, _)) = resampler.as_mut() {
                // Sized for the whole output (ffmpeg-next would size it like the input, and
                // upsampling would then leave samples stranded in swresample's buffer).
                let capacity = decoded.samples() * rate as usize / decoded.rate().max(1) as usize + 256;
                converted = ffmpeg::frame::Audio::new(out_format, capacity, ChannelLayout::MONO);
                if r.run(&decoded, &mut converted).is_err() {
                    bad_packets += 1;
                    continue;
                }
                append(&converted, &mut samples);
            }
            if let (Some(start), Some(limit)) = (first_pts, first_pts.and_then(end_sample)) {
                let _ = start;
                if samples.len() >= limit {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            break;
        }
    }
    if let Some((r, _)) = resampler.as_mut() {
        // Drain what swresample still holds (its filter delay).
        for _ in 0..64 {
            converted = ffmpeg::frame::Audio::new(out_format, 4096, ChannelLayout::MONO);
            if r.flush(&mut converted).is_err() || converted.samples() == 0 {
                break;
            }
            append(&converted, &mut samples);
        }
    }
    let start = first_pts.unwrap_or(from);
    // Trim to [from, to).
    let skip = (((from - start).secs()) * f64::from(rate)).round().max(0.0) as usize;
    let mut samples = samples.split_off(skip.min(samples.len()));
    let start = if skip > 0 { from } else { start };
    if let Some(limit) = to.map(|t| ((t - start).secs().max(0.0) * f64::from(rate)).round() as usize) {
        samples.truncate(limit);
    }
    Ok(Some(AudioTrack { rate, start, samples, bad_packets }))
}

fn append(frame: &ffmpeg::frame::Audio, out: &mut Vec<f32>) {
    let n = frame.samples();
    if n == 0 {
        return;
    }
    let data = frame.data(0);
    out.extend(data[..n * 4].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
}
