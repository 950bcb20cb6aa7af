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
            assert!(share > 0.15, "{name}: only {share:.2} of the box at frame {frame_index} has the colour of its {}", CLASSES[truth.label].name);
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
        let quiet: Vec<f64> = (0..38)
            .map(|k| 0.1 * f64::from(k))
            .filter(|t| truth.audio_events.iter().all(|e| (t - e).abs() > 0.35))
            .collect();
        let background = quiet.iter().map(|&t| energy(t, 0.1)).fold(f32::MAX, f32::min);
        let background_mean = quiet.iter().map(|&t| energy(t, 0.1)).sum::<f32>() / quiet.len().max(1) as f32;
        for &event in &truth.audio_events {
            let loud = energy(event, 0.1);
            assert!(loud > 3.0 * background_mean, "{name}: event at {event} s has energy {loud}, background {background_mean} (min {background})");
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
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("val_{i:05}.json"))).unwrap()).unwrap();
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
    let synth = Command::new(bin).args(["synth", "--clips", "4", "--seed", "11", "--split", "test", "--size", "224", "--duration", "4", "--out"]).arg(&dir).output().unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bottleneck");
    let json = dir.join("eval.json");
    let plots = dir.join("plots");
    let eval = Command::new(bin).args(["eval", "--device", "cpu", "--data"]).arg(&dir).arg("--model").arg(&model).arg("--json").arg(&json).arg("--plots").arg(&plots)
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
    for key in ["rollout", "audio_rollout", "relevance", "audio_relevance", "rollout_window", "audio_rollout_window", "relevance_window", "audio_relevance_window"] {
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
