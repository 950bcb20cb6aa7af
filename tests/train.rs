//! Training: a tiny MBT on generated clips; the loss must fall, and the trained model saves and
//! reloads through the native format with identical outputs.

use burn::prelude::*;
use mbtscope::model::MbtConfig;
use mbtscope::synth::{self, SynthConfig};
use mbtscope::train::{self, TrainOptions, load_examples};
use mbtscope::weights::{native, params::RandomInit};

fn tiny_config() -> MbtConfig {
    let json = r#"{"hidden_size": 32, "num_layers": 2, "num_heads": 2, "mlp_dim": 64, "num_classes": 8,
        "patches": {"size": [16, 16, 2]}, "classifier": "gap", "modality_fusion": ["spectrogram", "rgb"],
        "fusion_layer": 1, "use_bottleneck": true, "n_bottlenecks": 2,
        "dataset_configs": {"num_frames": 4, "stride": 6, "crop_size": 64, "min_resize": 64,
                            "spec_shape": [192, 64], "num_spec_frames": 1}}"#;
    MbtConfig::parse_scenic_json(json).unwrap().config
}

/// Trains the tiny model 200 steps from a random start and checks that its loss falls from
/// about ln 8 to under 0.7 of that.
fn train_tiny(config: &MbtConfig, examples: &[train::Example], device: &Device) -> mbtscope::model::Mbt {
    let options =
        TrainOptions { steps: 200, batch_size: 8, learning_rate: 3e-3, warmup_steps: 10, seed: 1, flip: true, ..TrainOptions::default() };
    let mut losses = Vec::new();
    let data = train::TrainData::Clips(examples);
    let model = train::train(config, &mut RandomInit::new(1), data, &options, device, |r| losses.push(r.loss), |_, _| Ok(())).unwrap();
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!((first - (8.0f32).ln()).abs() < 0.5, "initial loss {first} should be near ln 8");
    assert!(last < 0.7 * first, "loss did not fall: {first:.3} -> {last:.3} ({losses:?})");
    model
}

#[test]
fn loss_falls_and_the_trained_model_round_trips() {
    let dir = crate::scratch("train-data");
    let clips = SynthConfig { duration: 2.0, ..SynthConfig::default() };
    for i in 0..24 {
        synth::write_clip(&dir, &synth::clip_name("train", i), &clips, synth::clip_seed(5, "train", i), false).unwrap();
    }
    let config = tiny_config();
    let examples = load_examples(&dir, &config, "train_").unwrap();
    assert_eq!(examples.len(), 24);
    assert_eq!(examples[0].rgb.len(), 4 * 64 * 64 * 3);
    assert_eq!(examples[0].spectrogram.len(), 192 * 64);

    let device = Device::flex();
    let model = train_tiny(&config, &examples, &device);

    // Save in the native format and load it back: same logits.
    let out = crate::scratch("train-model");
    let params = model.export_params().unwrap();
    native::save_dir(&out, &config, &params, &synth::labels(), false).unwrap();
    let loaded = mbtscope::runner::load_model_dir(&out, &device).unwrap();
    let batch = |m: &mbtscope::model::Mbt| {
        let e = &examples[0];
        let input = mbtscope::model::MbtInput {
            rgb: Some(Tensor::from_data(TensorData::new(e.rgb_f32(config.dataset_configs.zero_centering), [1, 4, 64, 64, 3]), &device)),
            spectrogram: Some(mbtscope::model::mbt::tile_mono(Tensor::from_data(
                TensorData::new(e.spectrogram.clone(), [1, 192, 64]),
                &device,
            ))),
        };
        m.forward(input, mbtscope::model::Capture::None).unwrap().logits.into_data().try_into_vec_as::<f32>().unwrap()
    };
    let (a, b) = (batch(&model), batch(&loaded.model));
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "reloaded model differs by {diff}");
    assert_eq!(loaded.labels[0], "drum ball");
}

/// The same tiny model learns the `sync` task's clips (timbre independent of the class, the
/// label carried by which object is lit while the sound plays): the loss falls from ln 8.
#[test]
fn loss_falls_on_the_sync_task() {
    let dir = crate::scratch("train-sync");
    let clips = SynthConfig { duration: 2.0, task: synth::Task::Sync, ..SynthConfig::default() };
    for i in 0..24 {
        synth::write_clip(&dir, &synth::clip_name("train", i), &clips, synth::clip_seed(6, "train", i), false).unwrap();
    }
    let config = tiny_config();
    let examples = load_examples(&dir, &config, "train_").unwrap();
    train_tiny(&config, &examples, &Device::flex());
}

#[test]
fn the_schedule_warms_up_then_decays() {
    let o = TrainOptions { steps: 100, warmup_steps: 10, learning_rate: 1.0, ..TrainOptions::default() };
    assert!((train::learning_rate(&o, 0) - 0.1).abs() < 1e-9);
    assert!((train::learning_rate(&o, 9) - 1.0).abs() < 1e-9);
    assert!(train::learning_rate(&o, 50) < 1.0 && train::learning_rate(&o, 50) > 0.3);
    assert!((train::learning_rate(&o, 100) - 0.05).abs() < 1e-9);
}

/// The shipped bottleneck configuration, the `sync` generator and its fresh clips from `seed`.
fn fresh_sync_clips(seed: u64) -> (MbtConfig, SynthConfig, train::FreshClips) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/synth_bottleneck.json")).unwrap();
    let config = MbtConfig::parse_scenic_json(&text).unwrap().config;
    let clips = SynthConfig { task: synth::Task::Sync, ..SynthConfig::default() };
    let fresh = train::FreshClips::new(clips.clone(), &config, seed).unwrap();
    (config, clips, fresh)
}

/// `train --fresh` draws the window `load_examples` takes from the clip `synth` writes for the
/// same seed, less the MP4 round trip: same label, and pictures and spectrogram that differ only
/// by x264 (yuv420p, CRF 20) and AAC coding noise. Measured 2026-12-04: 3.1 to 3.8 levels of
/// 255 on average over the pixels (the colour edges lose most to chroma subsampling) and 0.03
/// normalised spectrogram units (about 0.4 dB); the bounds are 6 levels and 0.1.
/// The twin is the same pictures with the twin's label.
#[test]
fn fresh_examples_match_the_written_clips() {
    let (config, clips, fresh) = fresh_sync_clips(9);
    let dir = crate::scratch("train-fresh");
    let mut compared = 0;
    for index in 0..3 {
        let name = synth::clip_name("train", index);
        synth::write_twins(&dir, &name, &clips, fresh.clip_seed(index as u64), true).unwrap();
        let [clip, twin] = fresh.pair(index as u64);
        assert_eq!(clip.rgb, twin.rgb, "a twin shows the same pictures");
        assert_ne!(clip.label, twin.label, "a twin has another label");
        for (made, stem) in [(&clip, name.clone()), (&twin, synth::twin_name(&name))] {
            let truth = synth::read_truth(&dir.join(format!("{stem}.json"))).unwrap();
            assert_eq!(made.label, truth.label, "{stem}: label");
            assert_eq!(made.label, truth.objects[truth.sounding_object].class, "{stem}: the sounding object's class");
            compared += 1;
        }
    }
    let written = load_examples(&dir, &config, "train_").unwrap();
    assert_eq!(written.len(), compared);
    for (index, pair) in written.chunks(2).enumerate() {
        let made = fresh.pair(index as u64);
        for (disk, made) in pair.iter().zip(&made) {
            assert_eq!(disk.label, made.label, "{}", disk.name);
            assert_eq!(disk.centre, made.centre, "{}", disk.name);
            assert_eq!(disk.rgb.len(), made.rgb.len());
            assert_eq!(disk.spectrogram.len(), made.spectrogram.len());
            let rgb = disk.rgb.iter().zip(&made.rgb).map(|(&a, &b)| f64::from(a.abs_diff(b))).sum::<f64>() / made.rgb.len() as f64;
            let spec = disk.spectrogram.iter().zip(&made.spectrogram).map(|(a, b)| f64::from((a - b).abs())).sum::<f64>()
                / made.spectrogram.len() as f64;
            eprintln!("{}: mean |rgb difference| {rgb:.2} levels, mean |spectrogram difference| {spec:.3}", disk.name);
            assert!(rgb < 6.0, "{}: pictures differ by {rgb:.2} levels on average", disk.name);
            assert!(spec < 0.1, "{}: spectrograms differ by {spec:.3} (normalised units) on average", disk.name);
        }
    }
}

/// Examples whose audio loudness steps between the video's time slices (a random level per
/// slice) over noise pictures that say nothing of it: only attention across the modalities can
/// tell a video token how loud its own slice is.
fn loudness_examples(config: &MbtConfig, count: usize) -> Vec<train::Example> {
    let d = &config.dataset_configs;
    let [rows, mel] = d.spec_shape;
    let slices = config.rgb_time_slices();
    let mut rng = synth::Rng::new(11);
    (0..count)
        .map(|i| {
            let levels: Vec<f32> = (0..slices).map(|_| rng.range(-1.5, 1.5) as f32).collect();
            let spectrogram = (0..rows * mel).map(|k| levels[(k / mel) * slices / rows] + rng.range(-0.3, 0.3) as f32).collect();
            let rgb = (0..d.num_frames * d.crop_size * d.crop_size * 3).map(|_| rng.range(0.0, 255.0) as u8).collect();
            train::Example {
                rgb,
                spectrogram,
                label: i % config.num_classes,
                name: format!("loud_{i}"),
                centre: mbtscope::media::Timestamp::ZERO,
                crop: mbtscope::features::input::CropMapping { scale: [1.0; 2], offset: [0.0; 2], crop: d.crop_size as u32 },
            }
        })
        .collect()
}

/// The time-alignment loss (`train --sync-loss`) can be learnt: in a vanilla model (full
/// attention across modalities from the first layer) and in a bottleneck model, the video tokens
/// come to predict their slice's loudness, which only the audio carries.
#[test]
fn video_tokens_learn_the_loudness_of_their_time_slice() {
    for (name, fusion_layer, bottleneck) in [("vanilla", 0, false), ("bottleneck", 1, true)] {
        let mut config = tiny_config();
        config.fusion_layer = fusion_layer;
        config.use_bottleneck = bottleneck;
        let examples = loudness_examples(&config, 64);
        let options = TrainOptions {
            steps: 300,
            batch_size: 16,
            learning_rate: 3e-3,
            warmup_steps: 10,
            seed: 1,
            sync_loss: 1.0,
            ..TrainOptions::default()
        };
        let mut losses = Vec::new();
        let data = train::TrainData::Clips(&examples);
        train::train(
            &config,
            &mut RandomInit::new(2),
            data,
            &options,
            &Device::flex(),
            |r| losses.push(r.sync_loss.unwrap()),
            |_, _| Ok(()),
        )
        .unwrap();
        let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
        let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
        eprintln!("{name}: sync loss {first:.3} -> {last:.3}");
        assert!(first > 0.7, "{name}: a random model should not know the loudness yet ({first:.3})");
        assert!(last < 0.3, "{name}: sync loss did not fall: {first:.3} -> {last:.3} ({losses:?})");
    }
}

/// The time-alignment loss's targets (`train --sync-loss`) say which of a `sync` clip's slots
/// sound: on fresh clips, every on slot of the window's sounding object gets a higher target than
/// every off slot. The reference is the generator's design (the sounding object's lit slots),
/// which the targets never see: they are read off the spectrogram alone.
#[test]
fn sync_targets_mark_the_sounding_slots() {
    let (config, clips, fresh) = fresh_sync_clips(3);
    let slices = config.rgb_time_slices();
    let frames_per_slice = config.dataset_configs.num_frames / slices;
    let (mut separated, mut gaps) = (0u64, Vec::new());
    let count = 300u64;
    for index in 0..count {
        let example = fresh.example(index);
        let (objects, _, sounding, _) = synth::design(&clips, fresh.clip_seed(index));
        let targets = train::sync_targets(&[&example], config.dataset_configs.spec_shape[1], slices);
        let on: Vec<bool> =
            (0..slices).map(|s| objects[sounding].pulse(fresh.window().frame_times[s * frames_per_slice].secs()) == 1.0).collect();
        let lowest_on = (0..slices).filter(|&s| on[s]).map(|s| targets[s]).fold(f32::INFINITY, f32::min);
        let highest_off = (0..slices).filter(|&s| !on[s]).map(|s| targets[s]).fold(f32::NEG_INFINITY, f32::max);
        gaps.push(lowest_on - highest_off);
        separated += u64::from(lowest_on > highest_off);
    }
    gaps.sort_by(f32::total_cmp);
    eprintln!(
        "on slots above off slots in {separated} of {count}; gap percentiles 1/10/50: {:.3} {:.3} {:.3}",
        gaps[3], gaps[30], gaps[150]
    );
    assert!(separated == count, "on slots above off slots in only {separated} of {count} clips");
}

/// `train --time-route` writes a route into the shipped bottleneck model that works before any
/// training: in every fusion layer's last head, bottleneck token k (k < 4 time slices) puts
/// most of its attention on the audio tokens of slice k in the audio pass, and each video
/// token of slice t much of its attention on bottleneck token t in the video pass. On average
/// over the queries of a fresh `sync` clip, at least 0.5 and 0.25 (measured 2026-12-05: 0.75
/// to 1.0 and 0.37 to 0.45 over layers 2-5; a uniform head gives 12/65 = 0.18 to a slice's
/// audio tokens and 1/201 = 0.005 to one bottleneck token).
#[test]
fn time_route_takes_audio_slices_through_their_bottleneck_tokens() {
    use mbtscope::model::{Capture, Mbt, Modality, PassKind, layout::TokenKind};
    let (config, _, fresh) = fresh_sync_clips(21);
    let device = Device::flex();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bottleneck");
    let mut params = native::load_dir(&dir).unwrap().params;
    let mbt = Mbt::load(&config, &mut params, &device).unwrap();
    let mbt = train::route::with_time_route(mbt, train::route::RouteStrength::default()).unwrap();
    let example = fresh.example(0);
    let input = train::data::input_for(&config, &[&example], &device);
    let out = mbt.forward(input, Capture::AllHeads).unwrap();
    let slices = config.rgb_time_slices();
    let mut checked = 0;
    for pass in &out.attention {
        if !config.is_fusion_layer(pass.layer) {
            continue;
        }
        let [_, heads, q, k] = pass.probs.shape;
        let probs = pass.probs.to_host().unwrap();
        let head = heads - 1;
        let at = |qi: usize, ki: usize| probs[(head * q + qi) * k + ki];
        let bottleneck = pass.layout.find(TokenKind::Bottleneck).unwrap();
        let (mean, what, bound) = match pass.pass {
            PassKind::Modality(Modality::Spectrogram) => {
                let audio = pass.layout.find(TokenKind::Patches(Modality::Spectrogram)).unwrap();
                let per = audio.len / slices;
                let mass: f32 =
                    (0..slices).map(|s| (0..per).map(|i| at(bottleneck.start + s, audio.start + s * per + i)).sum::<f32>()).sum::<f32>()
                        / slices as f32;
                (mass, "bottleneck token k on audio slice k", 0.5)
            }
            PassKind::Modality(Modality::Rgb) => {
                let video = pass.layout.find(TokenKind::Patches(Modality::Rgb)).unwrap();
                let per = video.len / slices;
                let mass: f32 = (0..video.len).map(|i| at(video.start + i, bottleneck.start + i / per)).sum::<f32>() / video.len as f32;
                (mass, "video slice t on bottleneck token t", 0.25)
            }
            _ => continue,
        };
        assert!(mean > bound, "layer {}: {what}: {mean:.3}", pass.layer);
        checked += 1;
    }
    assert_eq!(checked, 2 * (config.num_layers - config.fusion_layer));
}

/// `train --time-route` on the shipped vanilla model: in every fusion layer's last head, a
/// video token of slice t puts most of its attention on the audio tokens of slice t (video
/// pass), and an audio token of slice t on the video tokens of slice t (audio pass). On average
/// over the queries of a fresh `sync` clip, at least 0.5 each (measured 2026-12-05: 0.975 to
/// 1.0 over layers 2-5; a uniform head gives a slice's audio 12/262 = 0.05 and a slice's video
/// 49/262 = 0.19; with the bottleneck's code strength it fell to 0.17-0.39).
#[test]
fn time_route_takes_each_slice_to_the_other_modality_in_vanilla_fusion() {
    use mbtscope::model::{Capture, Mbt, Modality, PassKind, layout::TokenKind};
    let (_, _, fresh) = fresh_sync_clips(22);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/synth_vanilla.json")).unwrap();
    let config = MbtConfig::parse_scenic_json(&text).unwrap().config;
    assert!(!config.use_bottleneck);
    let device = Device::flex();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/vanilla");
    let mut params = native::load_dir(&dir).unwrap().params;
    let mbt = Mbt::load(&config, &mut params, &device).unwrap();
    let mbt = train::route::with_time_route(mbt, train::route::RouteStrength::default()).unwrap();
    let input = train::data::input_for(&config, &[&fresh.example(0)], &device);
    let out = mbt.forward(input, Capture::AllHeads).unwrap();
    let slices = config.rgb_time_slices();
    let mut results = Vec::new();
    for pass in &out.attention {
        if !config.is_fusion_layer(pass.layer) {
            continue;
        }
        let PassKind::Modality(own) = pass.pass else { continue };
        let other = match own {
            Modality::Rgb => Modality::Spectrogram,
            Modality::Spectrogram => Modality::Rgb,
        };
        let [_, heads, q, k] = pass.probs.shape;
        let probs = pass.probs.to_host().unwrap();
        let at = |qi: usize, ki: usize| probs[((heads - 1) * q + qi) * k + ki];
        let queries = pass.layout.find(TokenKind::Patches(own)).unwrap();
        let keys = pass.layout.find(TokenKind::Patches(other)).unwrap();
        let (per_query, per_key) = (queries.len / slices, keys.len / slices);
        let mass: f32 = (0..queries.len)
            .map(|i| {
                let s = i / per_query;
                (0..per_key).map(|j| at(queries.start + i, keys.start + s * per_key + j)).sum::<f32>()
            })
            .sum::<f32>()
            / queries.len as f32;
        eprintln!("layer {} {own:?} pass: slice t on the other modality's slice t: {mass:.3}", pass.layer);
        results.push((pass.layer, own, mass));
    }
    assert_eq!(results.len(), 2 * (config.num_layers - config.fusion_layer));
    for (layer, own, mass) in results {
        assert!(mass > 0.5, "layer {layer}, {own:?} pass: slice t on the other modality's slice t: {mass:.3}");
    }
}

/// `train --fresh sync,pairs` takes the tasks in turn: clip `i` of the mix is clip `i` of the
/// task `i mod 2` alone (same pictures, spectrogram and label), and the twins stay the twins of
/// that task.
#[test]
fn mixed_fresh_clips_take_the_tasks_in_turn() {
    let (config, sync, _) = fresh_sync_clips(23);
    let pairs = SynthConfig { task: synth::Task::Pairs, ..sync.clone() };
    let mixed = train::FreshClips::mixed(vec![sync.clone(), pairs.clone()], &config, 23).unwrap();
    let alone = [train::FreshClips::new(sync, &config, 23).unwrap(), train::FreshClips::new(pairs, &config, 23).unwrap()];
    for index in 0..4u64 {
        let task = &alone[(index % 2) as usize];
        assert_eq!(mixed.synth(index).task, task.synth(index).task);
        let [a, b] = [mixed.example(index), task.example(index)];
        assert_eq!((a.label, &a.rgb, &a.spectrogram), (b.label, &b.rgb, &b.spectrogram), "clip {index}");
        let [_, twin] = mixed.pair(index);
        let [_, alone_twin] = task.pair(index);
        assert_eq!((twin.label, &twin.spectrogram), (alone_twin.label, &alone_twin.spectrogram), "twin of clip {index}");
    }
    let bigger = SynthConfig { width: 224, height: 224, ..SynthConfig::default() };
    assert!(train::FreshClips::mixed(vec![SynthConfig::default(), bigger], &config, 1).is_err(), "sizes must agree");
}
