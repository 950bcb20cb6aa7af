//! MBT's inputs for a window of a clip, prepared as Scenic's pipeline prepares them: frames
//! resized so the short side is `min_resize`, centre-cropped to `crop_size`, scaled to [-1, 1]
//! (or [0, 1] without zero-centring); the log-mel spectrogram of 16 kHz mono audio normalised
//! with the model's mean and standard deviation.

use std::path::Path;

use super::fbank::{Fbank, FbankConfig};
use super::window::{Window, WindowSpec};
use crate::media::{MediaError, Timestamp, VideoDecoder, VideoInfo, decode_audio};
use crate::model::MbtConfig;

/// One window's inputs on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowInput {
    /// `[frames, crop, crop, 3]`
    pub rgb: Vec<f32>,
    /// `[time, mel]`, normalised (tile to 3 channels for the model).
    pub spectrogram: Vec<f32>,
    pub frames: usize,
    pub crop: usize,
    pub time: usize,
    pub mel: usize,
}

/// A clip opened for feature extraction.
pub struct ClipFeatures {
    path: std::path::PathBuf,
    decoder: VideoDecoder,
    fbank: Fbank,
    spec: WindowSpec,
    config: MbtConfig,
    crop_offset: (u32, u32),
    /// Altered audio, for counterfactual inputs (None: the clip's own).
    counterfactual: Option<super::Counterfactual>,
}

impl ClipFeatures {
    pub fn open(path: &Path, config: &MbtConfig, fbank: FbankConfig) -> Result<Self, MediaError> {
        let mut decoder = VideoDecoder::open(path)?;
        let d = &config.dataset_configs;
        let info = decoder.info().clone();
        let (w, h) = resized(info.width, info.height, d.min_resize.max(d.crop_size) as u32);
        decoder.set_output_size(w, h);
        let crop = d.crop_size as u32;
        let crop_offset = ((w.saturating_sub(crop)) / 2, (h.saturating_sub(crop)) / 2);
        let fbank = Fbank::new(FbankConfig { num_mel_bins: d.spec_shape[1], ..fbank });
        let spec = WindowSpec::from_config(config, |frames| fbank.samples_for(frames));
        Ok(Self { path: path.to_owned(), decoder, fbank, spec, config: config.clone(), crop_offset, counterfactual: None })
    }

    /// Feeds the model altered audio from now on (None: the clip's own).
    pub fn set_counterfactual(&mut self, counterfactual: Option<super::Counterfactual>) {
        self.counterfactual = counterfactual;
    }

    pub fn info(&self) -> &VideoInfo {
        self.decoder.info()
    }

    /// How a point in the clip's (displayed) frame maps into the model's crop: `crop = p *
    /// scale - offset`, per axis.
    pub fn crop_mapping(&self) -> CropMapping {
        let info = self.decoder.info();
        let d = &self.config.dataset_configs;
        let (w, h) = resized(info.width, info.height, d.min_resize.max(d.crop_size) as u32);
        CropMapping {
            scale: [w as f32 / info.width.max(1) as f32, h as f32 / info.height.max(1) as f32],
            offset: [self.crop_offset.0 as f32, self.crop_offset.1 as f32],
            crop: d.crop_size as u32,
        }
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    pub fn windows(&self, hop: Option<Timestamp>) -> Vec<Window> {
        super::window::plan(&self.spec, self.decoder.info().duration, hop)
    }

    pub fn window_input(&mut self, window: &Window) -> Result<WindowInput, MediaError> {
        let (bytes, spectrogram) = self.window_bytes(window)?;
        let zero_centering = self.config.dataset_configs.zero_centering;
        let crop = self.config.dataset_configs.crop_size;
        let mel = self.fbank.config().num_mel_bins;
        Ok(WindowInput {
            frames: bytes.len() / (crop * crop * 3).max(1),
            crop,
            time: spectrogram.len() / mel.max(1),
            mel,
            rgb: bytes.iter().map(|&v| rgb_unit(v, zero_centering)).collect(),
            spectrogram,
        })
    }

    /// A window's frames as cropped bytes `[frames, crop, crop, 3]` (before scaling, a quarter
    /// of the memory of [`Self::window_input`]'s floats) and its normalised spectrogram
    /// `[time, mel]`.
    pub fn window_bytes(&mut self, window: &Window) -> Result<(Vec<u8>, Vec<f32>), MediaError> {
        let d = &self.config.dataset_configs;
        let crop = d.crop_size;
        let frames = self.decoder.frames_at(&window.frame_times)?;
        let mut rgb = Vec::with_capacity(frames.len() * crop * crop * 3);
        let (ox, oy) = self.crop_offset;
        let blank = self.counterfactual.as_ref().is_some_and(super::Counterfactual::blanks_video);
        for frame in frames.iter().filter(|_| !blank) {
            for y in 0..crop as u32 {
                for x in 0..crop as u32 {
                    let (sx, sy) = ((x + ox).min(frame.width - 1), (y + oy).min(frame.height - 1));
                    rgb.extend(frame.pixel(sx, sy));
                }
            }
        }
        if blank {
            // A blank picture: every pixel of every sampled frame mid-grey.
            rgb.resize(frames.len() * crop * crop * 3, 128);
        }
        let samples = self.spec.audio_samples;
        let counterfactual = self.counterfactual.as_ref();
        // A shifted track is read from elsewhere in time, a swapped one from another file; the
        // window's length stays.
        let start = counterfactual.map_or(window.audio_start, |c| c.source_start(window.audio_start));
        let end = start + (window.audio_end - window.audio_start);
        let source = counterfactual.map_or(self.path.as_path(), |c| c.source_file(&self.path));
        let swapped = source != self.path;
        // The clip's own audio is known to be absent from its header; another file is asked.
        let mut audio = if (swapped || self.decoder.info().has_audio) && end > Timestamp::ZERO {
            let from = start.max(Timestamp::ZERO);
            match decode_audio(source, self.spec.audio_rate, from, Some(end))? {
                Some(track) => track.span(start, samples),
                None if swapped => return Err(MediaError::NoAudio { path: source.to_owned() }),
                None => vec![0.0; samples],
            }
        } else {
            vec![0.0; samples]
        };
        if let Some(c) = counterfactual {
            c.apply(&mut audio, window.audio_start.micros() as u64 ^ 0x00c0_ffee);
        }
        let mut spectrogram = self.fbank.compute(&audio);
        let (mean, std) = (d.spec_mean, d.spec_stddev.max(f32::EPSILON));
        spectrogram.iter_mut().for_each(|v| *v = (*v - mean) / std);
        Ok((rgb, spectrogram))
    }
}

/// One byte scaled for the model: `[0, 1]`, or `[-1, 1]` with zero-centring.
pub fn rgb_unit(v: u8, zero_centering: bool) -> f32 {
    let unit = f32::from(v) / 255.0;
    if zero_centering { unit * 2.0 - 1.0 } else { unit }
}

/// From frame pixels to crop pixels (see [`ClipFeatures::crop_mapping`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CropMapping {
    pub scale: [f32; 2],
    pub offset: [f32; 2],
    pub crop: u32,
}

impl CropMapping {
    /// A box `[x0, y0, x1, y1]` in frame pixels, in crop pixels.
    pub fn map_box(&self, b: [f32; 4]) -> [f32; 4] {
        [
            b[0] * self.scale[0] - self.offset[0],
            b[1] * self.scale[1] - self.offset[1],
            b[2] * self.scale[0] - self.offset[0],
            b[3] * self.scale[1] - self.offset[1],
        ]
    }

    /// A point in crop pixels, in frame pixels.
    pub fn unmap_point(&self, p: [f32; 2]) -> [f32; 2] {
        [(p[0] + self.offset[0]) / self.scale[0], (p[1] + self.offset[1]) / self.scale[1]]
    }
}

/// The size with the short side equal to `short` and the aspect ratio kept.
pub fn resized(width: u32, height: u32, short: u32) -> (u32, u32) {
    if width <= height {
        (short, ((u64::from(height) * u64::from(short) + u64::from(width) / 2) / u64::from(width.max(1))) as u32)
    } else {
        (((u64::from(width) * u64::from(short) + u64::from(height) / 2) / u64::from(height.max(1))) as u32, short)
    }
}
