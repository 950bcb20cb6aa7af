//! Windows over a clip: which frames and which stretch of audio each model input covers, so
//! that heatmaps can later be placed on the right frames and the right part of the spectrogram.

use crate::media::Timestamp;
use crate::model::MbtConfig;

/// The model's sampling of a clip (Scenic's `dataset_configs` plus the frame rate it assumes).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WindowSpec {
    /// Frame rate the model's `stride` refers to (Scenic's AudioSet pipeline: 25 fps).
    pub fps: f64,
    pub num_frames: usize,
    pub stride: usize,
    /// Spectrogram frames (10 ms each) per window.
    pub spectrogram_frames: usize,
    /// Audio samples (at 16 kHz) needed for those frames.
    pub audio_samples: usize,
    pub audio_rate: u32,
}

impl WindowSpec {
    pub fn from_config(config: &MbtConfig, audio_samples_for: impl Fn(usize) -> usize) -> Self {
        let d = &config.dataset_configs;
        let spectrogram_frames = d.spectrogram_shape()[0];
        Self {
            fps: 25.0,
            num_frames: d.num_frames,
            stride: d.stride.max(1),
            spectrogram_frames,
            audio_samples: audio_samples_for(spectrogram_frames),
            audio_rate: 16_000,
        }
    }

    /// Media time covered by the sampled frames.
    pub fn video_span(&self) -> Timestamp {
        Timestamp::from_secs((self.num_frames * self.stride) as f64 / self.fps)
    }

    pub fn audio_span(&self) -> Timestamp {
        Timestamp::from_secs(self.audio_samples as f64 / f64::from(self.audio_rate))
    }
}

/// One model input's place in the clip.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Window {
    pub index: usize,
    pub centre: Timestamp,
    /// The time of each sampled frame (clamped to the clip).
    pub frame_times: Vec<Timestamp>,
    /// Audio `[start, end)`; parts outside the clip are silence.
    pub audio_start: Timestamp,
    pub audio_end: Timestamp,
}

/// Windows whose centres are `hop` apart (default: the video span, so frames do not overlap),
/// the first centred on half a span, covering `duration`.
pub fn plan(spec: &WindowSpec, duration: Timestamp, hop: Option<Timestamp>) -> Vec<Window> {
    let span = spec.video_span();
    let hop = hop.filter(|h| h.micros() > 0).unwrap_or(span);
    let half = Timestamp(span.micros() / 2);
    let mut centres = Vec::new();
    if duration <= span {
        centres.push(Timestamp(duration.micros() / 2));
    } else {
        let mut c = half;
        while c + half <= duration + Timestamp(hop.micros() / 2) {
            centres.push(c);
            c = c + hop;
        }
    }
    let last = Timestamp((duration.micros() - 1).max(0));
    centres
        .into_iter()
        .enumerate()
        .map(|(index, centre)| {
            let step = spec.stride as f64 / spec.fps;
            let frame_times = (0..spec.num_frames)
                .map(|i| {
                    let t = centre.secs() + (i as f64 - spec.num_frames as f64 / 2.0) * step;
                    Timestamp::from_secs(t).clamp(Timestamp::ZERO, last)
                })
                .collect();
            let audio_start = centre - Timestamp(spec.audio_span().micros() / 2);
            Window { index, centre, frame_times, audio_start, audio_end: audio_start + spec.audio_span() }
        })
        .collect()
}
