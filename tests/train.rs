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
    let options =
        TrainOptions { steps: 200, batch_size: 8, learning_rate: 3e-3, warmup_steps: 10, seed: 1, flip: true, ..TrainOptions::default() };
    let mut losses = Vec::new();
    let model =
        train::train(&config, &mut RandomInit::new(1), &examples, &options, &device, |r| losses.push(r.loss), |_, _| Ok(())).unwrap();
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!((first - (8.0f32).ln()).abs() < 0.5, "initial loss {first} should be near ln 8");
    assert!(last < 0.7 * first, "loss did not fall: {first:.3} -> {last:.3} ({losses:?})");

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
    let device = Device::flex();
    let options =
        TrainOptions { steps: 200, batch_size: 8, learning_rate: 3e-3, warmup_steps: 10, seed: 1, flip: true, ..TrainOptions::default() };
    let mut losses = Vec::new();
    train::train(&config, &mut RandomInit::new(1), &examples, &options, &device, |r| losses.push(r.loss), |_, _| Ok(())).unwrap();
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
    assert!((first - (8.0f32).ln()).abs() < 0.5, "initial loss {first} should be near ln 8");
    assert!(last < 0.7 * first, "loss did not fall: {first:.3} -> {last:.3} ({losses:?})");
}

#[test]
fn the_schedule_warms_up_then_decays() {
    let o = TrainOptions { steps: 100, warmup_steps: 10, learning_rate: 1.0, ..TrainOptions::default() };
    assert!((train::learning_rate(&o, 0) - 0.1).abs() < 1e-9);
    assert!((train::learning_rate(&o, 9) - 1.0).abs() < 1e-9);
    assert!(train::learning_rate(&o, 50) < 1.0 && train::learning_rate(&o, 50) > 0.3);
    assert!((train::learning_rate(&o, 100) - 0.05).abs() < 1e-9);
}
