//! A procedural audio-visual benchmark with ground-truth sound sources, in two tasks.
//!
//! **`pairs`** (the shipped models' first task). Each clip shows three or four moving objects over a cluttered background; every object has
//! visual events (it swells and brightens), but only one of them sounds, and its events coincide
//! with the audio events. Classes come in pairs that share a sound and differ in shape and colour,
//! so audio alone is ambiguous within a pair. The objects on screen come from different pairs, so
//! video alone is ambiguous about which of them sounds. Together the two resolve the label: the
//! sound names the pair and exactly one object on screen belongs to it; its visual events also
//! line up with the audio events, while the other objects pulse in the gaps, at least 0.35 s from
//! every sound. Every clip comes with a JSON sidecar: label, the sounding object, its box on every
//! frame, the audio event times.
//!
//! **`sync`**: only audio-visual correspondence solves it. Three or four objects of different
//! classes; the sound's timbre (one of the four kinds, any pitch) is drawn independently of the
//! class, so audio alone says nothing about the label. Time is cut into slots of one video
//! tubelet of the models' geometry ([`SLOT_SECS`]: 4 sampled frames at stride 3 and 25 fps), and
//! each model window (4 slots, [`SLOTS_PER_WINDOW`]) gives every object an on/off pattern with
//! exactly two slots on, all objects' patterns distinct. So every object is equally busy, any two
//! patterns differ in at least two slots of every window, and the sound plays in exactly the
//! sounding object's on slots: the label is the class of the object lit when the sound plays.
//! (The `pairs` task is the special case in which timbre names the class pair.)
//!
//! **Twins** ([`write_twins`]): the same scene and motion with another object sounding; each
//! sidecar names the other clip.

pub mod scene;
pub mod sound;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::media::MediaError;
use crate::media::encode::{EncodeOptions, Mp4Writer};
use scene::{Background, CLASSES, Object, render};

/// Which benchmark task a clip poses (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Timbre names a pair of classes; the object of that pair on screen sounds.
    #[default]
    Pairs,
    /// Timbre is random; the object whose on slots the sound follows sounds.
    Sync,
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pairs" => Ok(Task::Pairs),
            "sync" => Ok(Task::Sync),
            other => Err(format!("unknown task `{other}` (pairs or sync)")),
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Pairs => "pairs",
            Task::Sync => "sync",
        }
    }
}

/// One `sync` slot: one video tubelet of the shipped configs (temporal patch 4 of 16 frames at
/// stride 3, 25 fps), 0.48 s. Model windows start at multiples of 4 slots (1.92 s).
pub const SLOT_FRAMES: usize = 12;
pub const SLOT_SECS: f64 = 0.48;
pub const SLOTS_PER_WINDOW: usize = 4;

/// The on/off patterns of one window in the `sync` task: two of four slots on (bit k: slot k).
const SYNC_PATTERNS: [u8; 6] = [0b0011, 0b0101, 0b0110, 0b1001, 0b1010, 0b1100];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub duration: f64,
    pub audio_rate: u32,
    #[serde(default)]
    pub task: Task,
    /// How many objects a `sync` clip shows (2 to [`MAX_SYNC_OBJECTS`]); `None` draws three or
    /// four per clip. A curriculum starts from two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<usize>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self { width: 112, height: 112, fps: 25, duration: 4.0, audio_rate: 16_000, task: Task::Pairs, objects: None }
    }
}

/// The most objects a `sync` clip can show: one per distinct on/off pattern of a window.
pub const MAX_SYNC_OBJECTS: usize = SYNC_PATTERNS.len();

/// The JSON sidecar of one clip, written by [`write_clip`] and read back by [`read_truth`].
/// Fields added since the first sidecars default when missing, so older clips still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTruth {
    #[serde(default)]
    pub task: Task,
    pub label: usize,
    pub label_name: String,
    /// Index into `objects` of the object that makes the sound.
    pub sounding_object: usize,
    pub objects: Vec<ObjectTruth>,
    /// Start times (s) of the sound events.
    pub audio_events: Vec<f64>,
    /// The kind of sound the sounding object makes (in `pairs`, its class pair's; missing in
    /// sidecars written before the `sync` task).
    #[serde(default)]
    pub timbre: Option<scene::Sound>,
    /// The counterfactual twin: the same scene with another object sounding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twin: Option<TwinTruth>,
    pub fps: u32,
    pub duration: f64,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectTruth {
    pub class: usize,
    pub class_name: String,
    /// RGB as drawn at rest (events brighten it up to 1.5x).
    pub colour: [u8; 3],
    /// `[x0, y0, x1, y1]` in pixels, one per frame.
    pub boxes: Vec<[f32; 4]>,
    /// Start times (s) of its visual events.
    pub events: Vec<f64>,
    /// `[start, end)` (s) of its on slots (`sync`; empty in `pairs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<[f64; 2]>,
}

/// Which clip is this one's twin, and which object sounds there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinTruth {
    /// The twin's file stem, in the same folder.
    pub clip: String,
    pub sounding_object: usize,
    pub label: usize,
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
    let slots: Vec<(f64, f64)> = edges.windows(2).map(|w| (w[0] + CLEAR, w[1] - CLEAR)).filter(|(lo, hi)| hi > lo).collect();
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

/// Designs clip `seed` of `config.task`: returns objects, background, sounding index and label.
pub fn design(config: &SynthConfig, seed: u64) -> (Vec<Object>, Background, usize, usize) {
    match config.task {
        Task::Pairs => design_pairs(config, seed),
        Task::Sync => design_sync(config, seed),
    }
}

fn design_pairs(config: &SynthConfig, seed: u64) -> (Vec<Object>, Background, usize, usize) {
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
        objects.push(place(&mut rng, class, [size, speed, angle], [w, h], events, Vec::new()));
    }
    let sounding = (objects_count - order_offset) % objects_count;
    (objects, background(&mut rng, w, h), sounding, label)
}

/// The `sync` design: three or four objects of distinct classes, each with its own on slots
/// (two per window, patterns distinct between objects), and one of them sounding.
fn design_sync(config: &SynthConfig, seed: u64) -> (Vec<Object>, Background, usize, usize) {
    let mut rng = Rng::new(seed ^ 0x5EC0_0000);
    let (w, h) = (config.width as f64, config.height as f64);
    let count = config.objects.unwrap_or_else(|| 3 + rng.below(2)).clamp(2, MAX_SYNC_OBJECTS);
    let mut classes: Vec<usize> = (0..CLASSES.len()).collect();
    let classes: Vec<usize> = (0..count).map(|_| classes.remove(rng.below(classes.len()))).collect();
    let slot = SLOT_FRAMES as f64 / f64::from(config.fps);
    let windows = (config.duration / (slot * SLOTS_PER_WINDOW as f64)).floor().max(1.0) as usize;
    // Per window, a distinct pattern for each object.
    let mut patterns = vec![Vec::with_capacity(windows); count];
    for _ in 0..windows {
        let mut free = SYNC_PATTERNS.to_vec();
        for object in &mut patterns {
            object.push(free.remove(rng.below(free.len())));
        }
    }
    let sounding = rng.below(count);
    let mut objects = Vec::with_capacity(count);
    for (k, &class) in classes.iter().enumerate() {
        let size = rng.range(0.08, 0.14) * w.min(h);
        let speed = rng.range(8.0, 30.0);
        let angle = rng.range(0.0, std::f64::consts::TAU);
        // On slots as frame intervals, moved half a frame early so that a frame on a slot's
        // boundary falls inside it whatever the rounding.
        let half = 0.5 / f64::from(config.fps);
        let active: Vec<[f64; 2]> = patterns[k]
            .iter()
            .enumerate()
            .flat_map(|(window, &bits)| {
                (0..SLOTS_PER_WINDOW).filter(move |b| bits >> b & 1 == 1).map(move |b| window * SLOTS_PER_WINDOW + b)
            })
            .map(|i| {
                let start = (i * SLOT_FRAMES) as f64 / f64::from(config.fps);
                [ms((start - half).max(0.0)), ms(start + slot - half)]
            })
            .collect();
        objects.push(place(&mut rng, class, [size, speed, angle], [w, h], Vec::new(), active));
    }
    let label = objects[sounding].class;
    (objects, background(&mut rng, w, h), sounding, label)
}

/// An object of `class` with its size, speed and heading drawn, in a `w x h` frame: its colour
/// and starting point are drawn here, after everything the caller drew for it.
fn place(rng: &mut Rng, class: usize, [size, speed, angle]: [f64; 3], [w, h]: [f64; 2], events: Vec<f64>, active: Vec<[f64; 2]>) -> Object {
    Object {
        class,
        colour: vary(rng, CLASSES[class].colour),
        size: size as f32,
        start: [rng.range(size, w - size) as f32, rng.range(size, h - size) as f32],
        velocity: [(speed * angle.cos()) as f32, (speed * angle.sin()) as f32],
        events,
        active,
    }
}

/// Background clutter: a gradient and three to six drifting blobs.
fn background(rng: &mut Rng, w: f64, h: f64) -> Background {
    let shade = |rng: &mut Rng| [rng.range(20.0, 110.0) as u8, rng.range(20.0, 110.0) as u8, rng.range(20.0, 110.0) as u8];
    Background {
        top: shade(rng),
        bottom: shade(rng),
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
    }
}

/// The kind of sound clip `seed` makes when `sounding` sounds: its class pair's in `pairs`,
/// drawn from the seed alone in `sync` (so twins keep it).
pub fn timbre(config: &SynthConfig, objects: &[Object], sounding: usize, seed: u64) -> scene::Sound {
    match config.task {
        Task::Pairs => CLASSES[objects[sounding].class].sound,
        Task::Sync => scene::Sound::ALL[Rng::new(seed ^ 0x71B3_0000).below(scene::Sound::ALL.len())],
    }
}

/// When the sounding object's sound events start: its visual events in `pairs`; in `sync`, two
/// per on slot (0.02 s and 0.25 s in, 0.2 s each), so the sound fills the slot.
pub fn sound_events(config: &SynthConfig, object: &Object) -> Vec<f64> {
    match config.task {
        Task::Pairs => object.events.clone(),
        Task::Sync => object
            .active
            .iter()
            .flat_map(|&[start, _]| {
                // On slots start half a frame early (see `design_sync`): from the slot itself.
                let slot_secs = SLOT_FRAMES as f64 / f64::from(config.fps);
                let slot = (start / slot_secs).round() * slot_secs;
                [ms(slot + 0.02), ms(slot + 0.25)]
            })
            .collect(),
    }
}

/// The audio track of a designed clip.
pub fn audio(config: &SynthConfig, objects: &[Object], sounding: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0xA0D1_0000);
    let len = (config.duration * f64::from(config.audio_rate)) as usize;
    let mut samples = sound::background(len, config.audio_rate, rng.range(0.02, 0.12) as f32, seed);
    let pitch = rng.range(0.85, 1.15);
    let gain = rng.range(0.4, 0.8) as f32;
    let kind = timbre(config, objects, sounding, seed);
    for t in sound_events(config, &objects[sounding]) {
        sound::add_event(&mut samples, config.audio_rate, t, kind, pitch, gain);
    }
    samples.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
    samples
}

/// Writes `name.mp4` and `name.json` for clip `seed` into `dir`.
pub fn write_clip(dir: &Path, name: &str, config: &SynthConfig, seed: u64, overwrite: bool) -> Result<ClipTruth, MediaError> {
    let (objects, background, sounding, label) = design(config, seed);
    write_design(dir, name, config, seed, overwrite, &objects, &background, sounding, label, None)
}

/// The object that sounds in clip `seed`'s twin: another one, drawn from the seed.
pub fn twin_sounding(objects: &[Object], sounding: usize, seed: u64) -> usize {
    let others: Vec<usize> = (0..objects.len()).filter(|&k| k != sounding).collect();
    others[Rng::new(seed ^ 0x7717_0000).below(others.len())]
}

/// The twin's file stem for clip `name`.
pub fn twin_name(name: &str) -> String {
    format!("{name}_twin")
}

/// Writes clip `seed` as `name` and its counterfactual twin as `name_twin`: the same scene and
/// motion, with another object sounding (the twin's label is that object's class). Each sidecar
/// names the other clip.
pub fn write_twins(dir: &Path, name: &str, config: &SynthConfig, seed: u64, overwrite: bool) -> Result<(ClipTruth, ClipTruth), MediaError> {
    let (objects, background, sounding, label) = design(config, seed);
    let other = twin_sounding(&objects, sounding, seed);
    let twin = twin_name(name);
    let first = TwinTruth { clip: twin.clone(), sounding_object: other, label: objects[other].class };
    let second = TwinTruth { clip: name.to_owned(), sounding_object: sounding, label };
    let a = write_design(dir, name, config, seed, overwrite, &objects, &background, sounding, label, Some(first))?;
    let b = write_design(dir, &twin, config, seed, overwrite, &objects, &background, other, objects[other].class, Some(second))?;
    Ok((a, b))
}

#[allow(clippy::too_many_arguments)]
fn write_design(
    dir: &Path,
    name: &str,
    config: &SynthConfig,
    seed: u64,
    overwrite: bool,
    objects: &[Object],
    background: &Background,
    sounding: usize,
    label: usize,
    twin: Option<TwinTruth>,
) -> Result<ClipTruth, MediaError> {
    let frames = (config.duration * f64::from(config.fps)).round() as usize;
    let path = dir.join(format!("{name}.mp4"));
    let mut writer = Mp4Writer::create(
        &path,
        EncodeOptions { width: config.width, height: config.height, fps: config.fps, audio_rate: Some(config.audio_rate), crf: 20 },
        overwrite,
    )?;
    writer.set_audio(audio(config, objects, sounding, seed));
    let mut rgb = Vec::new();
    for i in 0..frames {
        let t = i as f64 / f64::from(config.fps);
        render(objects, background, t, config.width, config.height, &mut rgb);
        writer.push_frame(&rgb)?;
    }
    writer.finish()?;
    let truth = ClipTruth {
        task: config.task,
        label,
        label_name: CLASSES[label].name.to_owned(),
        sounding_object: sounding,
        audio_events: sound_events(config, &objects[sounding]),
        timbre: Some(timbre(config, objects, sounding, seed)),
        twin,
        objects: objects
            .iter()
            .map(|o| ObjectTruth {
                class: o.class,
                class_name: CLASSES[o.class].name.to_owned(),
                colour: o.colour,
                boxes: (0..frames).map(|i| o.bbox(i as f64 / f64::from(config.fps), config.width, config.height)).collect(),
                events: o.events.clone(),
                active: o.active.clone(),
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

impl ClipTruth {
    /// Object `index`'s box (frame pixels) on the frame shown at `secs`.
    pub fn object_box(&self, index: usize, secs: f64) -> Option<[f32; 4]> {
        let boxes = &self.objects.get(index)?.boxes;
        let frame = ((secs * f64::from(self.fps) + 1e-6).floor().max(0.0) as usize).min(boxes.len().checked_sub(1)?);
        Some(boxes[frame])
    }

    /// The sounding object's box on the frame shown at `secs`.
    pub fn sounding_box(&self, secs: f64) -> Option<[f32; 4]> {
        self.object_box(self.sounding_object, secs)
    }

    /// Every object's box (sounding or not) on the frame shown at `secs`.
    pub fn object_boxes(&self, secs: f64) -> Vec<[f32; 4]> {
        (0..self.objects.len()).filter_map(|i| self.object_box(i, secs)).collect()
    }
}

/// Reads a clip's sidecar; the error names the file and what is wrong with it.
pub fn read_truth(path: &Path) -> anyhow::Result<ClipTruth> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let truth: ClipTruth = serde_json::from_str(&text).with_context(|| format!("bad sidecar {}", path.display()))?;
    anyhow::ensure!(truth.fps > 0, "bad sidecar {}: fps is 0", path.display());
    anyhow::ensure!(
        truth.sounding_object < truth.objects.len(),
        "bad sidecar {}: sounding_object {} of {} objects",
        path.display(),
        truth.sounding_object,
        truth.objects.len()
    );
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
