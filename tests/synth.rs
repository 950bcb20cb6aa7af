//! The benchmark generator's ground truth against the media it wrote: the sounding object's box
//! holds its colour in the decoded frames, and the audio is loud exactly at the audio events.

use std::process::Command;

use mbtscope::media::{Timestamp, VideoDecoder, decode_audio};
use mbtscope::synth::scene::CLASSES;
use mbtscope::synth::{self, SynthConfig};

#[test]
fn classes_pair_up_by_sound_and_differ_by_shape_and_colour() {
    assert!(CLASSES.len() >= 8);
    for pair in CLASSES.chunks(2) {
        assert_eq!(pair[0].sound, pair[1].sound);
        assert_ne!(pair[0].shape, pair[1].shape);
        assert_ne!(pair[0].colour, pair[1].colour);
    }
    let mut names: Vec<&str> = CLASSES.iter().map(|c| c.name).collect();
    names.dedup();
    assert_eq!(names.len(), CLASSES.len());
}

#[test]
fn only_the_sounding_object_belongs_to_the_sounds_pair_and_distractors_pulse_off_beat() {
    let config = SynthConfig::default();
    let mut counts = [0usize; 5];
    for seed in 0..500 {
        let (objects, _, sounding, label) = synth::design(&config, seed);
        assert_eq!(objects[sounding].class, label);
        counts[objects.len()] += 1;
        // One object per pair: the sound names the pair, and exactly one object on screen is in it.
        let mut pairs: Vec<usize> = objects.iter().map(|o| o.class / 2).collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), objects.len(), "seed {seed}: two objects of one pair");
        let sounds = &objects[sounding].events;
        // Every 1.92 s model window holds a sound event.
        let mut start = 0.0;
        while start + 1.92 <= config.duration {
            assert!(sounds.iter().any(|&t| t >= start && t < start + 1.92), "seed {seed}: window at {start} s is silent");
            start += 0.12;
        }
        for (k, o) in objects.iter().enumerate().filter(|&(k, _)| k != sounding) {
            assert!(!o.events.is_empty(), "seed {seed}: object {k} never pulses");
            for t in &o.events {
                assert!(sounds.iter().all(|s| (s - t).abs() >= 0.35), "seed {seed}: object {k} pulses at {t} s, near a sound");
            }
        }
    }
    assert!(counts[3] > 150 && counts[4] > 150, "object counts {counts:?}");
}

#[test]
fn design_is_deterministic_and_splits_differ() {
    let config = SynthConfig::default();
    let a = format!("{:?}", synth::design(&config, 42));
    let b = format!("{:?}", synth::design(&config, 42));
    assert_eq!(a, b);
    assert_ne!(synth::clip_seed(1, "train", 0), synth::clip_seed(1, "test", 0));
    assert_ne!(synth::clip_seed(1, "train", 0), synth::clip_seed(1, "train", 1));
}

#[test]
fn boxes_hold_the_sounding_object_and_audio_events_are_loud() {
    let dir = crate::scratch("synth-truth");
    let config = SynthConfig::default();
    let mut checked_frames = 0;
    for index in 0..16 {
        let name = synth::clip_name("test", index);
        let truth = synth::write_clip(&dir, &name, &config, synth::clip_seed(7, "test", index), false).unwrap();
        let clip = dir.join(format!("{name}.mp4"));
        let sounding = &truth.objects[truth.sounding_object];
        assert_eq!(sounding.class, truth.label);
        assert_eq!(sounding.events, truth.audio_events);

        // Frames at event peaks where no other object overlaps the sounding one.
        let mut decoder = VideoDecoder::open(&clip).unwrap();
        for &event in &truth.audio_events {
            let frame_index = ((event + 0.02) * f64::from(config.fps)).ceil() as usize;
            let b = sounding.boxes[frame_index];
            let overlaps = truth.objects.iter().enumerate().any(|(k, o)| {
                let c = o.boxes[frame_index];
                k != truth.sounding_object && c[0] < b[2] && b[0] < c[2] && c[1] < b[3] && b[1] < c[3]
            });
            if overlaps {
                continue;
            }
            let frame = decoder.frame_at(Timestamp::from_secs(frame_index as f64 / f64::from(config.fps))).unwrap();
            // Pixels of the object's colour, as drawn (brightened by up to 1.5x during an event,
            // blurred a little by the encoder).
            let colour = sounding.colour;
            let matches = |px: [u8; 3]| {
                (0..3).all(|c| {
                    let lo = f32::from(colour[c]) - 35.0;
                    let hi = (f32::from(colour[c]) * 1.5).min(255.0) + 35.0;
                    (lo..=hi).contains(&f32::from(px[c]))
                })
            };
            let (mut inside, mut total) = (0usize, 0usize);
            for y in b[1] as u32..(b[3] as u32).min(frame.height) {
                for x in b[0] as u32..(b[2] as u32).min(frame.width) {
                    total += 1;
                    inside += usize::from(matches(frame.pixel(x, y)));
                }
            }
            let share = inside as f64 / total.max(1) as f64;
            assert!(
                share > 0.15,
                "{name}: only {share:.2} of the box at frame {frame_index} has the colour of its {}",
                CLASSES[truth.label].name
            );
            checked_frames += 1;
        }

        // The audio is loud in the 100 ms after each event and quiet in the gaps.
        let track = decode_audio(&clip, 16_000, Timestamp::ZERO, None).unwrap().unwrap();
        let energy = |from: f64, len: f64| {
            let a = (from * 16_000.0) as usize;
            let b = ((from + len) * 16_000.0) as usize;
            let s = &track.samples[a.min(track.samples.len())..b.min(track.samples.len())];
            s.iter().map(|v| v * v).sum::<f32>() / s.len().max(1) as f32
        };
        let quiet: Vec<f64> =
            (0..38).map(|k| 0.1 * f64::from(k)).filter(|t| truth.audio_events.iter().all(|e| (t - e).abs() > 0.35)).collect();
        let background = quiet.iter().map(|&t| energy(t, 0.1)).fold(f32::MAX, f32::min);
        let background_mean = quiet.iter().map(|&t| energy(t, 0.1)).sum::<f32>() / quiet.len().max(1) as f32;
        for &event in &truth.audio_events {
            let loud = energy(event, 0.1);
            assert!(
                loud > 3.0 * background_mean,
                "{name}: event at {event} s has energy {loud}, background {background_mean} (min {background})"
            );
        }
    }
    assert!(checked_frames >= 20, "too few unoccluded event frames checked ({checked_frames})");
}

#[test]
fn the_cli_writes_clips_labels_and_resumes() {
    let dir = crate::scratch("synth-cli");
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    let run = || Command::new(bin).args(["synth", "--clips", "4", "--seed", "3", "--split", "val", "--out"]).arg(&dir).output().unwrap();
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let labels = std::fs::read_to_string(dir.join("labels.txt")).unwrap();
    assert_eq!(labels.lines().count(), CLASSES.len());
    for i in 0..4 {
        assert!(dir.join(format!("val_{i:05}.mp4")).exists());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("val_{i:05}.json"))).unwrap()).unwrap();
        assert_eq!(json["objects"][0]["boxes"].as_array().unwrap().len(), 100);
    }
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).contains("4 already there"), "{}", String::from_utf8_lossy(&second.stdout));
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp-")));
}

/// `mbtscope eval` on four generated clips with the shipped bottleneck model: the report's
/// counts agree with each other, every localisation is scored, and each clip's hit agrees with
/// its reported map maximum and box (checked here independently of the metric code).
#[test]
fn eval_scores_generated_clips_consistently() {
    let dir = crate::scratch("eval-cli");
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    let synth = Command::new(bin)
        .args(["synth", "--clips", "4", "--seed", "11", "--split", "test", "--size", "224", "--duration", "4", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bottleneck");
    let json = dir.join("eval.json");
    let plots = dir.join("plots");
    let eval = Command::new(bin)
        .args(["eval", "--device", "cpu", "--data"])
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&json)
        .arg("--plots")
        .arg(&plots)
        .args(["--discard-ratio", "0.5", "--start-layer", "1"])
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let table = String::from_utf8_lossy(&eval.stdout);
    assert!(table.contains("| bottleneck | 4 |"), "{table}");
    assert!(table.contains("summed over the window's time slices"), "{table}");
    let reports: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &reports[0];
    assert_eq!(r["clips"], 4);
    assert_eq!(r["rollout_options"]["discard_ratio"], 0.5);
    assert_eq!(r["rollout_options"]["start_layer"], 1);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(r["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 4);
    let correct: u64 = (0..confusion.len()).map(|k| confusion[k][k]).sum();
    assert!((r["accuracy"].as_f64().unwrap() - correct as f64 / 4.0).abs() < 1e-9);
    for key in [
        "rollout",
        "audio_rollout",
        "relevance",
        "audio_relevance",
        "rollout_window",
        "audio_rollout_window",
        "relevance_window",
        "audio_relevance_window",
    ] {
        let s = &r[key];
        assert_eq!(s["clips"], 4, "{key}: {s}");
        let chance = s["pointing_chance"].as_f64().unwrap();
        assert!(chance > 0.0 && chance < 1.0, "{key}: chance {chance}");
        let mut hits = 0;
        for clip in r["per_clip"].as_array().unwrap() {
            let l = &clip[key];
            let p: [f64; 2] = serde_json::from_value(l["point"].clone()).unwrap();
            let b: [f64; 4] = serde_json::from_value(clip["sounding_box"].clone()).unwrap();
            // The maximum is a patch centre; a hit means that point lies in the box, up to the
            // rounding of mapping it back to frame pixels (half a pixel).
            let inside = p[0] >= b[0] - 0.5 && p[0] <= b[2] + 0.5 && p[1] >= b[1] - 0.5 && p[1] <= b[3] + 0.5;
            let hit = l["hit"].as_bool().unwrap();
            assert!(!hit || inside, "{key}: {} hit at {p:?} outside {b:?}", clip["name"]);
            assert!(!hit || l["on_object"].as_bool().unwrap(), "{key}: a hit is on an object");
            hits += usize::from(hit);
        }
        assert!((s["pointing_game"].as_f64().unwrap() - hits as f64 / 4.0).abs() < 1e-9, "{key}");
        assert!(s["on_any_object"].as_f64().unwrap() >= s["pointing_game"].as_f64().unwrap(), "{key}");
    }
    for plot in ["confusion_bottleneck.png", "accuracy_vs_gflops.png"] {
        assert!(image::open(plots.join(plot)).is_ok(), "{plot}");
    }
}

/// The `sync` task as designed: every object is lit in exactly two of the four tubelet-long
/// slots of each model window, whole slots on the model's frame grid; the objects' patterns are
/// distinct (so any two differ in at least two slots of every window); the sound plays only in
/// the sounding object's on slots; and the timbre says nothing about the class.
///
/// The same holds with the number of objects fixed (`synth --objects`), from two to six.
#[test]
fn sync_clips_pose_correspondence_only() {
    let config = SynthConfig { task: synth::Task::Sync, ..SynthConfig::default() };
    let mut timbres = vec![[0usize; 4]; CLASSES.len()];
    let mut counts = [0usize; 7];
    for seed in 0..2000 {
        let (objects, label) = assert_sync_design(&config, seed);
        counts[objects.len()] += 1;
        let sounding = objects.iter().position(|o| o.class == label).unwrap();
        let kind = synth::timbre(&config, &objects, sounding, seed);
        timbres[label][synth::scene::Sound::ALL.iter().position(|&s| s == kind).unwrap()] += 1;
    }
    assert!(counts[3] > 700 && counts[4] > 700 && counts[3] + counts[4] == 2000, "object counts {counts:?}");
    // Independence of timbre and class: each timbre's share within every class is near 1/4
    // (about 250 clips per class: one standard deviation is 0.027).
    for (class, row) in timbres.iter().enumerate() {
        let total: usize = row.iter().sum();
        for &n in row {
            let share = n as f64 / total as f64;
            assert!((0.15..0.35).contains(&share), "class {class}: timbre shares {row:?}");
        }
    }
    for n in 2..=synth::MAX_SYNC_OBJECTS {
        let fixed = SynthConfig { objects: Some(n), ..config.clone() };
        for seed in 0..200 {
            assert_eq!(assert_sync_design(&fixed, seed).0.len(), n, "seed {seed}");
        }
    }
}

/// Checks one `sync` design (see [`sync_clips_pose_correspondence_only`]); returns its objects
/// and label.
fn assert_sync_design(config: &SynthConfig, seed: u64) -> (Vec<synth::scene::Object>, usize) {
    let fps = f64::from(config.fps);
    let frames = (config.duration * fps).round() as usize;
    let windows = 2; // a 4 s clip holds two 1.92 s windows
    let (objects, _, sounding, label) = synth::design(config, seed);
    assert_eq!(objects[sounding].class, label);
    let mut classes: Vec<usize> = objects.iter().map(|o| o.class).collect();
    classes.sort_unstable();
    classes.dedup();
    assert_eq!(classes.len(), objects.len(), "seed {seed}: two objects of one class");
    // Lit or not on each sampled slot, read from the frames as drawn: every frame of a slot
    // (12 video frames, one tubelet) agrees.
    let lit: Vec<Vec<bool>> = objects
        .iter()
        .map(|o| {
            (0..windows * synth::SLOTS_PER_WINDOW)
                .map(|slot| {
                    let states: Vec<bool> =
                        (0..synth::SLOT_FRAMES).map(|f| o.pulse((slot * synth::SLOT_FRAMES + f) as f64 / fps) == 1.0).collect();
                    assert!(states.iter().all(|&s| s == states[0]), "seed {seed}: slot {slot} is lit only in part: {states:?}");
                    states[0]
                })
                .collect()
        })
        .collect();
    for o in &objects {
        // Nothing is lit past the last whole window.
        let past = (windows * synth::SLOTS_PER_WINDOW * synth::SLOT_FRAMES..frames).any(|f| o.pulse(f as f64 / fps) > 0.0);
        assert!(!past, "seed {seed}: lit after the last window");
    }
    for w in 0..windows {
        let slots = w * synth::SLOTS_PER_WINDOW..(w + 1) * synth::SLOTS_PER_WINDOW;
        for (k, a) in lit.iter().enumerate() {
            assert_eq!(a[slots.clone()].iter().filter(|&&on| on).count(), 2, "seed {seed}: object {k} in window {w}");
            for (j, b) in lit.iter().enumerate().skip(k + 1) {
                let differ = slots.clone().filter(|&s| a[s] != b[s]).count();
                assert!(differ >= 2, "seed {seed}: objects {k} and {j} differ in {differ} slots of window {w}");
            }
        }
    }
    // The sound plays in the sounding object's on slots, and only there.
    let events = synth::sound_events(config, &objects[sounding]);
    let slot_of = |t: f64| (t / synth::SLOT_SECS).floor() as usize;
    #[expect(
        clippy::needless_range_loop,
        reason = "the slot is a time index, compared with the events' slots, not only an index into `lit`"
    )]
    for slot in 0..windows * synth::SLOTS_PER_WINDOW {
        let sounds = events.iter().filter(|&&t| slot_of(t) == slot && slot_of(t + synth::sound::SOUND_LENGTH - 1e-9) == slot).count();
        let inside = events.iter().filter(|&&t| slot_of(t) == slot).count();
        assert_eq!(inside, sounds, "seed {seed}: a sound crosses the end of slot {slot}");
        assert_eq!(inside > 0, lit[sounding][slot], "seed {seed}: slot {slot} sound {inside}, lit {}", lit[sounding][slot]);
    }
    let kind = synth::timbre(config, &objects, sounding, seed);
    let other = synth::twin_sounding(&objects, sounding, seed);
    assert_ne!(other, sounding);
    // Twins keep the timbre: only the correspondence changes.
    assert_eq!(synth::timbre(config, &objects, other, seed), kind);
    (objects, label)
}

/// A `sync` clip and its twin, as written and decoded: the sidecars name each other; the
/// pictures are the same; each track is loud in its own sounding object's on slots and quiet in
/// its off slots; and the sounding object's box holds its lit colour in its on slots.
#[test]
fn sync_twins_share_the_picture_and_the_sound_follows_the_named_object() {
    let dir = crate::scratch("synth-twins");
    let config = SynthConfig { task: synth::Task::Sync, ..SynthConfig::default() };
    let fps = f64::from(config.fps);
    for index in 0..4 {
        let name = synth::clip_name("test", index);
        let (a, b) = synth::write_twins(&dir, &name, &config, synth::clip_seed(9, "test", index), false).unwrap();
        let twin = synth::twin_name(&name);
        assert_eq!(a.twin.as_ref().unwrap().clip, twin);
        assert_eq!(b.twin.as_ref().unwrap().clip, name);
        assert_eq!(a.twin.as_ref().unwrap().sounding_object, b.sounding_object);
        assert_eq!(b.twin.as_ref().unwrap().sounding_object, a.sounding_object);
        assert_ne!(a.sounding_object, b.sounding_object);
        assert_eq!(a.label, a.objects[a.sounding_object].class);
        assert_eq!(b.label, b.objects[b.sounding_object].class);
        assert_eq!(a.twin.as_ref().unwrap().label, b.label);
        assert_eq!(a.timbre, b.timbre);
        // The sidecar on disk says the same.
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{twin}.json"))).unwrap()).unwrap();
        assert_eq!(json["task"], "sync");
        assert_eq!(json["twin"]["clip"], name.as_str());
        assert_eq!(json["sounding_object"], b.sounding_object);

        let (clip_a, clip_b) = (dir.join(format!("{name}.mp4")), dir.join(format!("{twin}.mp4")));
        let (mut da, mut db) = (VideoDecoder::open(&clip_a).unwrap(), VideoDecoder::open(&clip_b).unwrap());
        // Another scene, to scale the comparison: x264's multithreaded rate control makes the
        // twins' encodings differ by a level or two (more on a loaded machine), while another
        // scene differs by tens of levels on average.
        let other = dir.join(format!("{}.mp4", synth::clip_name("other", index)));
        synth::write_clip(&dir, &synth::clip_name("other", index), &config, synth::clip_seed(10, "test", index), false).unwrap();
        let mut dc = VideoDecoder::open(&other).unwrap();
        let mean_diff = |x: &[u8], y: &[u8]| x.iter().zip(y).map(|(p, q)| f64::from(p.abs_diff(*q))).sum::<f64>() / x.len() as f64;
        for frame in [0usize, 30, 61, 95] {
            let t = Timestamp::from_secs(frame as f64 / fps);
            let (fa, fb, fc) = (da.frame_at(t).unwrap(), db.frame_at(t).unwrap(), dc.frame_at(t).unwrap());
            let (twin_diff, other_diff) = (mean_diff(&fa.rgb, &fb.rgb), mean_diff(&fa.rgb, &fc.rgb));
            assert!(
                twin_diff < 3.0 && twin_diff * 8.0 < other_diff,
                "{name}: frame {frame} differs from its twin's by {twin_diff:.3} on average, from another scene's by {other_diff:.3}"
            );
        }
        for (truth, clip) in [(&a, &clip_a), (&b, &clip_b)] {
            let track = decode_audio(clip, 16_000, Timestamp::ZERO, None).unwrap().unwrap();
            let energy = |from: f64, len: f64| {
                let s = &track.samples[(from * 16_000.0) as usize..((from + len) * 16_000.0) as usize];
                s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32
            };
            let sounding = &truth.objects[truth.sounding_object];
            let on = |slot: usize| sounding.active.iter().any(|&[s, e]| (s..e).contains(&(slot as f64 * synth::SLOT_SECS + 0.1)));
            // 60 ms from each event's start (the drum decays fast), against the quietest
            // 60 ms of each off slot.
            let loudest_off = (0..8).filter(|&s| !on(s)).map(|s| energy(s as f64 * synth::SLOT_SECS + 0.05, 0.36)).fold(0.0f32, f32::max);
            for slot in (0..8).filter(|&s| on(s)) {
                let start = slot as f64 * synth::SLOT_SECS;
                let loud = energy(start + 0.02, 0.06).min(energy(start + 0.25, 0.06));
                assert!(loud > 3.0 * loudest_off, "{clip:?}: on slot {slot} energy {loud}, loudest off slot {loudest_off}");
            }
            // Lit in its on slots: the frame in the middle of the slot, where no other object
            // overlaps, has the object's lit colour in its box.
            let mut decoder = VideoDecoder::open(clip).unwrap();
            for slot in (0..8).filter(|&s| on(s)) {
                let frame = slot * synth::SLOT_FRAMES + synth::SLOT_FRAMES / 2;
                let bx = sounding.boxes[frame];
                let overlaps = truth.objects.iter().enumerate().any(|(k, o)| {
                    let c = o.boxes[frame];
                    k != truth.sounding_object && c[0] < bx[2] && bx[0] < c[2] && c[1] < bx[3] && bx[1] < c[3]
                });
                if overlaps {
                    continue;
                }
                let image = decoder.frame_at(Timestamp::from_secs(frame as f64 / fps)).unwrap();
                let lit = sounding.colour.map(|c| (f32::from(c) * 1.5).min(255.0));
                let (mut inside, mut total) = (0usize, 0usize);
                for y in bx[1] as u32..(bx[3] as u32).min(image.height) {
                    for x in bx[0] as u32..(bx[2] as u32).min(image.width) {
                        total += 1;
                        let px = image.pixel(x, y);
                        inside += usize::from((0..3).all(|c| (f32::from(px[c]) - lit[c]).abs() < 40.0));
                    }
                }
                assert!(inside as f64 > 0.15 * total as f64, "{clip:?}: slot {slot}: {inside} of {total} box pixels lit");
            }
        }
    }
}

/// Runs `mbtscope synth --task sync --twins` for `clips` clips into `dir`, which must succeed.
fn synth_sync_twins(dir: &std::path::Path, clips: usize, seed: &str, split: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_mbtscope"))
        .args(["synth", "--clips", &clips.to_string(), "--seed", seed, "--split", split, "--task", "sync", "--twins", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `synth --task sync --twins` writes each clip and its twin; an unknown task exits 2 and says
/// which tasks there are.
#[test]
fn the_cli_writes_sync_twins_and_refuses_an_unknown_task() {
    let dir = crate::scratch("synth-cli-sync");
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    synth_sync_twins(&dir, 2, "3", "val");
    for stem in ["val_00000", "val_00000_twin", "val_00001", "val_00001_twin"] {
        assert!(dir.join(format!("{stem}.mp4")).exists(), "{stem}");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap()).unwrap();
        assert_eq!(json["task"], "sync");
    }
    let bad = Command::new(bin).args(["synth", "--clips", "1", "--task", "chords", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pairs or sync"), "{}", String::from_utf8_lossy(&bad.stderr));
    // `--objects`: two objects per clip as asked; out of range, or with `pairs`, a bad argument.
    let two = dir.join("two");
    let ok = Command::new(bin).args(["synth", "--clips", "2", "--task", "sync", "--objects", "2", "--out"]).arg(&two).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    for stem in ["train_00000", "train_00001"] {
        let truth = synth::read_truth(&two.join(format!("{stem}.json"))).unwrap();
        assert_eq!(truth.objects.len(), 2, "{stem}");
    }
    for (task, objects, says) in [("sync", "7", "must be 2 to 6"), ("sync", "1", "must be 2 to 6"), ("pairs", "3", "only to --task sync")] {
        let out = dir.join(format!("bad-{task}-{objects}"));
        let bad =
            Command::new(bin).args(["synth", "--clips", "1", "--task", task, "--objects", objects, "--out"]).arg(&out).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{task} --objects {objects}");
        assert!(String::from_utf8_lossy(&bad.stderr).contains(says), "{}", String::from_utf8_lossy(&bad.stderr));
        assert!(!out.exists(), "{task} --objects {objects}: the output folder was made");
    }
}

/// `eval` on `sync` twins: the pairs are found through the sidecars, and `follows_sound` is the
/// share of pairs with a hit in both clips, as read back from the per-clip scores.
#[test]
fn eval_scores_twins_for_following_the_sound() {
    let dir = crate::scratch("eval-twins");
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    synth_sync_twins(&dir, 3, "5", "test");
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bottleneck");
    let json = dir.join("eval.json");
    let eval = Command::new(bin)
        .args(["eval", "--device", "cpu", "--no-relevance", "--data"])
        .arg(&dir)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    assert!(String::from_utf8_lossy(&eval.stdout).contains("Follows the sound"), "{}", String::from_utf8_lossy(&eval.stdout));
    let reports: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &reports[0];
    assert_eq!(r["clips"], 6);
    let clips = r["per_clip"].as_array().unwrap();
    for key in ["rollout", "rollout_window", "audio_rollout"] {
        assert_eq!(r[key]["twin_pairs"], 3, "{key}");
        let hit = |name: &str| clips.iter().find(|c| c["name"] == name).unwrap()[key]["hit"].as_bool().unwrap();
        let follows = (0..3).filter(|i| {
            let name = format!("test_{i:05}");
            hit(&name) && hit(&format!("{name}_twin"))
        });
        let expected = follows.count() as f64 / 3.0;
        assert!(
            (r[key]["follows_sound"].as_f64().unwrap() - expected).abs() < 1e-9,
            "{key}: {} against {expected}",
            r[key]["follows_sound"]
        );
    }
    assert!(r["relevance"].is_null());
}

/// The sidecar reads back as the type it was written from: a fresh one equals what `write_clip`
/// returned, the demo's (written before the `sync` task) reads with the new fields defaulted,
/// and a broken one is an error that names the file and the field.
#[test]
fn sidecars_read_back_typed_old_ones_too_and_bad_ones_name_the_file() {
    let dir = crate::scratch("synth-sidecar");
    let config = SynthConfig { task: synth::Task::Sync, ..SynthConfig::default() };
    let (written, _) = synth::write_twins(&dir, "test_00000", &config, 77, false).unwrap();
    assert_eq!(synth::read_truth(&dir.join("test_00000.json")).unwrap(), written);
    let demo = synth::read_truth(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/test_00000.json")).unwrap();
    assert_eq!(demo.task, synth::Task::Pairs);
    assert!(demo.twin.is_none() && demo.sounding_object < demo.objects.len());
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"label": 1, "label_name": "x", "sounding_object": 0}"#).unwrap();
    let message = format!("{:#}", synth::read_truth(&bad).unwrap_err());
    assert!(message.contains("bad.json") && message.contains("objects"), "{message}");
    std::fs::write(&bad, serde_json::to_vec(&synth::ClipTruth { sounding_object: 9, ..written }).unwrap()).unwrap();
    let message = format!("{:#}", synth::read_truth(&bad).unwrap_err());
    assert!(message.contains("bad.json") && message.contains("sounding_object 9"), "{message}");
}
