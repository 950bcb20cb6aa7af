//! Fresh training examples straight from the generator: every step draws new clips, so a model
//! cannot memorise its training set and has to learn what generalises (the `sync` task's
//! audio-visual correspondence needs far more distinct clips than fit on disk).
//!
//! An example is the window [`super::data::load_examples`] would take from the clip that
//! `mbtscope synth` writes for the same seed: the window nearest the clip's middle, its sampled
//! frames rendered as the decoder would show them and its audio cut from the same track. What
//! is left out is the MP4 round trip (x264 and AAC), so the pictures and the spectrogram differ
//! from the decoded ones only by coding noise (`fresh_examples_match_the_written_clips` bounds
//! it).

use anyhow::Context as _;

use super::data::Example;
use crate::features::input::CropMapping;
use crate::features::window::{self, Window, WindowSpec};
use crate::features::{Fbank, FbankConfig};
use crate::media::Timestamp;
use crate::model::MbtConfig;
use crate::synth::{self, SynthConfig, scene};

/// Draws training examples (and their counterfactual twins) from the generator.
pub struct FreshClips {
    /// The generator's settings, one per task mixed in: clip `index` is made with
    /// `synth[index % synth.len()]`.
    synth: Vec<SynthConfig>,
    model: MbtConfig,
    fbank: Fbank,
    samples: usize,
    window: Window,
    seed: u64,
}

impl FreshClips {
    /// Clips of `synth` prepared for `model`; `seed` picks the stream of clips, which never
    /// meets `synth`'s own splits (see [`Self::clip_seed`]).
    pub fn new(synth: SynthConfig, model: &MbtConfig, seed: u64) -> anyhow::Result<Self> {
        Self::mixed(vec![synth], model, seed)
    }

    /// Clips of several generator settings taken in turn (clip `index` from
    /// `synth[index % synth.len()]`), for example both tasks; they must agree on everything but
    /// the task and the number of objects.
    pub fn mixed(synth: Vec<SynthConfig>, model: &MbtConfig, seed: u64) -> anyhow::Result<Self> {
        let first = synth.first().context("no generator settings to draw fresh clips from")?.clone();
        let same_clip = |c: &SynthConfig| SynthConfig { task: first.task, objects: first.objects, ..c.clone() } == first;
        anyhow::ensure!(synth.iter().all(same_clip), "mixed fresh clips must agree on size, rate and duration");
        let d = &model.dataset_configs;
        let side = d.min_resize.max(d.crop_size);
        anyhow::ensure!(
            first.width as usize == side && first.height as usize == side,
            "fresh clips are drawn at the model's input size ({side}x{side}); the generator is set to {}x{}",
            first.width,
            first.height
        );
        anyhow::ensure!(
            first.audio_rate == FbankConfig::default().sample_rate,
            "fresh clips need audio at {} Hz, the spectrogram's rate; the generator is set to {} Hz",
            FbankConfig::default().sample_rate,
            first.audio_rate
        );
        let fbank = Fbank::new(FbankConfig { num_mel_bins: d.spec_shape[1], ..FbankConfig::default() });
        let spec = WindowSpec::from_config(model, |frames| fbank.samples_for(frames));
        let duration = Timestamp::from_secs(first.duration);
        let window = window::plan(&spec, duration, None)
            .into_iter()
            .min_by_key(|w| (w.centre.micros() - duration.micros() / 2).abs())
            .context("the generator's clips are too short for one model window")?;
        let samples = spec.audio_samples;
        Ok(Self { synth, model: model.clone(), fbank, samples, window, seed })
    }

    /// The generator seed of fresh clip `index`: a split of its own (`fresh`), so no fresh clip
    /// is a clip of the `train`, `val` or `test` splits of any seed.
    pub fn clip_seed(&self, index: u64) -> u64 {
        synth::clip_seed(self.seed, "fresh", index as usize)
    }

    /// The window every example is cut from.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The generator's settings clip `index` is made with.
    pub fn synth(&self, index: u64) -> &SynthConfig {
        &self.synth[(index % self.synth.len() as u64) as usize]
    }

    /// Fresh clip `index` as a training example.
    pub fn example(&self, index: u64) -> Example {
        let (synth, seed) = (self.synth(index), self.clip_seed(index));
        let (objects, background, sounding, label) = synth::design(synth, seed);
        let rgb = self.frames(&objects, &background);
        self.finish(index, rgb, &objects, sounding, label)
    }

    /// Fresh clip `index` and its counterfactual twin (the same pictures, another object
    /// sounding; see [`synth::write_twins`]).
    pub fn pair(&self, index: u64) -> [Example; 2] {
        let (synth, seed) = (self.synth(index), self.clip_seed(index));
        let (objects, background, sounding, label) = synth::design(synth, seed);
        let other = synth::twin_sounding(&objects, sounding, seed);
        let rgb = self.frames(&objects, &background);
        let first = self.finish(index, rgb.clone(), &objects, sounding, label);
        let mut twin = self.finish(index, rgb, &objects, other, objects[other].class);
        twin.name = synth::twin_name(&first.name);
        [first, twin]
    }

    /// The window's sampled frames `[frames, side, side, 3]`: the frame a decoder shows at each
    /// sampled time is the last one whose time is not after it.
    fn frames(&self, objects: &[scene::Object], background: &scene::Background) -> Vec<u8> {
        // Every mixed-in setting draws the same size, rate and duration (see `mixed`).
        let synth = &self.synth[0];
        let (w, h, fps) = (synth.width, synth.height, i64::from(synth.fps));
        let last = (synth.duration * synth.fps as f64).round() as i64 - 1;
        let mut rgb = Vec::with_capacity(self.window.frame_times.len() * (w * h * 3) as usize);
        let mut frame = Vec::new();
        for t in &self.window.frame_times {
            let index = (t.micros() * fps / 1_000_000).clamp(0, last.max(0));
            scene::render(objects, background, index as f64 / fps as f64, w, h, &mut frame);
            rgb.extend_from_slice(&frame);
        }
        rgb
    }

    /// Fresh clip `index` with its frames `rgb`, `sounding` object and `label`: the sound cut
    /// and turned into the model's spectrogram.
    fn finish(&self, index: u64, rgb: Vec<u8>, objects: &[scene::Object], sounding: usize, label: usize) -> Example {
        let synth = self.synth(index);
        let track = synth::audio(synth, objects, sounding, self.clip_seed(index));
        let rate = f64::from(synth.audio_rate);
        let offset = (self.window.audio_start.secs() * rate).round() as i64;
        let audio: Vec<f32> =
            (0..self.samples as i64).map(|i| usize::try_from(offset + i).ok().and_then(|k| track.get(k).copied()).unwrap_or(0.0)).collect();
        let d = &self.model.dataset_configs;
        let (mean, std) = (d.spec_mean, d.spec_stddev.max(f32::EPSILON));
        let mut spectrogram = self.fbank.compute(&audio);
        spectrogram.iter_mut().for_each(|v| *v = (*v - mean) / std);
        Example {
            rgb,
            spectrogram,
            label,
            name: format!("fresh_{index}"),
            centre: self.window.centre,
            crop: CropMapping { scale: [1.0; 2], offset: [0.0; 2], crop: synth.width },
        }
    }
}
