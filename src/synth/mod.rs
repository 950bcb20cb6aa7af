//! A procedural audio-visual benchmark with ground-truth sound sources.
//!
//! Each clip shows three or four moving objects over a cluttered background; every object has
//! visual events (it swells and brightens), but only one of them sounds, and its events coincide
//! with the audio events. Classes come in pairs that share a sound and differ in shape and colour,
//! so audio alone is ambiguous within a pair. The objects on screen come from different pairs, so
//! video alone is ambiguous about which of them sounds. Together the two resolve the label: the
//! sound names the pair and exactly one object on screen belongs to it; its visual events also
//! line up with the audio events, while the other objects pulse in the gaps, at least 0.35 s from
//! every sound. Every clip comes with a JSON sidecar: label, the sounding object, its box on every
//! frame, the audio event times.

pub mod scene;
pub mod sound;

use std::path::Path;

use serde::Serialize;

use crate::media::MediaError;
use crate::media::encode::{EncodeOptions, Mp4Writer};
use scene::{Background, CLASSES, Object, render};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub duration: f64,
    pub audio_rate: u32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self { width: 112, height: 112, fps: 25, duration: 4.0, audio_rate: 16_000 }
    }
}

/// The JSON sidecar of one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ClipTruth {
    pub label: usize,
    pub label_name: String,
    /// Index into `objects` of the object that makes the sound.
    pub sounding_object: usize,
    pub objects: Vec<ObjectTruth>,
    /// Start times (s) of the sound events.
    pub audio_events: Vec<f64>,
    pub fps: u32,
    pub duration: f64,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectTruth {
    pub class: usize,
    pub class_name: String,
    /// RGB as drawn at rest (events brighten it up to 1.5x).
    pub colour: [u8; 3],
    /// `[x0, y0, x1, y1]` in pixels, one per frame.
    pub boxes: Vec<[f32; 4]>,
    /// Start times (s) of its visual events.
    pub events: Vec<f64>,
}

/// Class names, one per line, in label order.
pub fn labels() -> Vec<String> {
    CLASSES.iter().map(|c| c.name.to_owned()).collect()
}

/// splitmix64: deterministic per seed, cheap.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// `t` rounded to whole milliseconds (the sidecar's resolution).
fn ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// Sound event times: a beat with a period of 0.9 to 1.2 s, a random phase and 80 ms of jitter,
/// inside `[0.1, duration - 0.3]`.
fn beat_times(rng: &mut Rng, duration: f64) -> Vec<f64> {
    let period = rng.range(0.9, 1.2);
    let mut t = 0.1 + rng.range(0.0, period);
    let mut times = Vec::new();
    while t <= duration - 0.3 {
        let jittered = (t + rng.range(-0.08, 0.08)).clamp(0.1, duration - 0.3);
        times.push(ms(jittered));
        t += period;
    }
    if times.is_empty() {
        times.push(ms(duration * 0.5));
    }
    times
}

/// Distractor event times: in each gap between sound events (and before the first and after
/// the last) at least 0.35 s from any sound, one event with probability 0.8, and at least one.
fn off_beat_times(rng: &mut Rng, sounds: &[f64], duration: f64) -> Vec<f64> {
    // A little over 0.35 s, so that rounding to milliseconds cannot bring an event closer.
    const CLEAR: f64 = 0.352;
    let mut edges = vec![0.1 - CLEAR];
    edges.extend_from_slice(sounds);
    edges.push(duration - 0.3 + CLEAR);
    let slots: Vec<(f64, f64)> =
        edges.windows(2).map(|w| (w[0] + CLEAR, w[1] - CLEAR)).filter(|(lo, hi)| hi > lo).collect();
    let mut times: Vec<f64> = slots
        .iter()
        .filter_map(|&(lo, hi)| {
            let t = rng.range(lo, hi);
            (rng.unit() < 0.8).then_some(ms(t))
        })
        .collect();
    if times.is_empty()
        && let Some(&(lo, hi)) = slots.get(rng.below(slots.len()))
    {
        times.push(ms(rng.range(lo, hi)));
    }
    times
}

fn vary(rng: &mut Rng, colour: [u8; 3]) -> [u8; 3] {
    colour.map(|c| (f64::from(c) + rng.range(-25.0, 25.0)).clamp(0.0, 255.0) as u8)
}

/// Designs clip `seed`: returns objects, background, sounding index and label.
pub fn design(config: &SynthConfig, seed: u64) -> (Vec<Object>, Background, usize, usize) {
    let mut rng = Rng::new(seed);
    let label = rng.below(CLASSES.len());
    let (w, h) = (config.width as f64, config.height as f64);
    // One object per sound pair: the sounding one, plus two or three from the other pairs.
    let pairs = CLASSES.len() / 2;
    let mut other_pairs: Vec<usize> = (0..pairs).filter(|&p| p != label / 2).collect();
    let extra = 2 + rng.below(2);
    let mut classes = vec![label];
    for _ in 0..extra.min(other_pairs.len()) {
        let pair = other_pairs.remove(rng.below(other_pairs.len()));
        classes.push(2 * pair + rng.below(2));
    }
    // Sound events on a jittered beat of about one second, so every model window (about 2 s)
    // holds one or two and each falls in its own video tubelet (about 0.5 s).
    let sounding_events = beat_times(&mut rng, config.duration);
    let objects_count = classes.len();
    let order_offset = rng.below(objects_count);
    let mut objects = Vec::with_capacity(objects_count);
    for k in 0..objects_count {
        let class = classes[(k + order_offset) % objects_count];
        let is_sounding = (k + order_offset).is_multiple_of(objects_count);
        let size = rng.range(0.08, 0.14) * w.min(h);
        let speed = rng.range(8.0, 30.0);
        let angle = rng.range(0.0, std::f64::consts::TAU);
        let events = if is_sounding {
            sounding_events.clone()
        } else {
            // Distractors pulse about as often, in the gaps between sounds and never within
            // 0.35 s of one.
            off_beat_times(&mut rng, &sounding_events, config.duration)
        };
        objects.push(Object {
            class,
            colour: vary(&mut rng, CLASSES[class].colour),
            size: size as f32,
            start: [rng.range(size, w - size) as f32, rng.range(size, h - size) as f32],
            velocity: [(speed * angle.cos()) as f32, (speed * angle.sin()) as f32],
            events,
        });
    }
    let sounding = (objects_count - order_offset) % objects_count;
    let shade = |rng: &mut Rng| [rng.range(20.0, 110.0) as u8, rng.range(20.0, 110.0) as u8, rng.range(20.0, 110.0) as u8];
    let background = Background {
        top: shade(&mut rng),
        bottom: shade(&mut rng),
        blobs: (0..3 + rng.below(4))
            .map(|_| {
                [
                    rng.range(0.0, w) as f32,
                    rng.range(0.0, h) as f32,
                    rng.range(10.0, 30.0) as f32,
                    rng.range(-10.0, 10.0) as f32,
                    rng.range(-10.0, 10.0) as f32,
                    rng.range(-40.0, 40.0) as f32,
                ]
            })
            .collect(),
    };
    (objects, background, sounding, label)
}

/// The audio track of a designed clip.
pub fn audio(config: &SynthConfig, objects: &[Object], sounding: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0xA0D1_0000);
    let len = (config.duration * f64::from(config.audio_rate)) as usize;
    let mut samples = sound::background(len, config.audio_rate, rng.range(0.02, 0.12) as f32, seed);
    let object = &objects[sounding];
    let pitch = rng.range(0.85, 1.15);
    let gain = rng.range(0.4, 0.8) as f32;
    for &t in &object.events {
        sound::add_event(&mut samples, config.audio_rate, t, CLASSES[object.class].sound, pitch, gain);
    }
    samples.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
    samples
}

/// Writes `name.mp4` and `name.json` for clip `seed` into `dir`.
pub fn write_clip(dir: &Path, name: &str, config: &SynthConfig, seed: u64, overwrite: bool) -> Result<ClipTruth, MediaError> {
    let (objects, background, sounding, label) = design(config, seed);
    let frames = (config.duration * f64::from(config.fps)).round() as usize;
    let path = dir.join(format!("{name}.mp4"));
    let mut writer = Mp4Writer::create(
        &path,
        EncodeOptions { width: config.width, height: config.height, fps: config.fps, audio_rate: Some(config.audio_rate), crf: 20 },
        overwrite,
    )?;
    writer.set_audio(audio(config, &objects, sounding, seed));
    let mut rgb = Vec::new();
    for i in 0..frames {
        let t = i as f64 / f64::from(config.fps);
        render(&objects, &background, t, config.width, config.height, &mut rgb);
        writer.push_frame(&rgb)?;
    }
    writer.finish()?;
    let truth = ClipTruth {
        label,
        label_name: CLASSES[label].name.to_owned(),
        sounding_object: sounding,
        audio_events: objects[sounding].events.clone(),
        objects: objects
            .iter()
            .map(|o| ObjectTruth {
                class: o.class,
                class_name: CLASSES[o.class].name.to_owned(),
                colour: o.colour,
                boxes: (0..frames).map(|i| o.bbox(i as f64 / f64::from(config.fps), config.width, config.height)).collect(),
                events: o.events.clone(),
            })
            .collect(),
        fps: config.fps,
        duration: config.duration,
        width: config.width,
        height: config.height,
        seed,
    };
    let json = serde_json::to_vec_pretty(&truth).map_err(|e| MediaError::Decode {
        path: dir.join(format!("{name}.json")),
        what: "writing the sidecar",
        reason: e.to_string(),
    })?;
    let sidecar = dir.join(format!("{name}.json"));
    crate::fsutil::write_atomic(&sidecar, &json, overwrite).map_err(|e| MediaError::Decode {
        path: sidecar.clone(),
        what: "writing the sidecar",
        reason: e.to_string(),
    })?;
    Ok(truth)
}

/// The seed of clip `index` of `split` for base seed `seed` (splits never share clips).
pub fn clip_seed(seed: u64, split: &str, index: usize) -> u64 {
    let split_code = split.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    Rng::new(seed ^ split_code ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

/// Clip file stem for `index` of `split`.
pub fn clip_name(split: &str, index: usize) -> String {
    format!("{split}_{index:05}")
}
