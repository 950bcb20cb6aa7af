//! Model inputs from media: log-mel filter banks against torchaudio, a tone landing on the right
//! mel bin through the whole decode path, window placement, and per-window inputs.

use mbtscope::features::{ClipFeatures, Fbank, FbankConfig, WindowType};
use mbtscope::media::Timestamp;
use mbtscope::model::MbtConfig;
use mbtscope::npz;

/// torchaudio.compliance.kaldi.fbank on two seconds of speech (tests/reference/make_fbank_fixture.py).
#[test]
fn fbank_matches_torchaudio_within_1e_3() {
    let fixture = npz::read(&crate::fixtures().join("fbank.npz")).unwrap();
    let waveform = fixture["waveform"].to_f32();
    for (name, window) in [("hanning", WindowType::Hanning), ("hamming", WindowType::Hamming), ("povey", WindowType::Povey)] {
        let fbank = Fbank::new(FbankConfig { window, ..FbankConfig::default() });
        let ours = fbank.compute(&waveform);
        let theirs = &fixture[&format!("fbank_{name}")];
        assert_eq!(theirs.shape, vec![fbank.num_frames(waveform.len()), 128]);
        let worst = ours.iter().zip(theirs.to_f32()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{name}: differs from torchaudio by {worst}");
    }
}

/// The mel bin whose centre is nearest `hz` (Kaldi's filter layout, 20 Hz to 8 kHz).
fn mel_bin_of(hz: f64) -> usize {
    let mel = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
    let (lo, hi) = (mel(20.0), mel(8000.0));
    let delta = (hi - lo) / 129.0;
    (0..128)
        .min_by(|&a, &b| {
            let ca = (lo + (a as f64 + 1.0) * delta - mel(hz)).abs();
            let cb = (lo + (b as f64 + 1.0) * delta - mel(hz)).abs();
            ca.total_cmp(&cb)
        })
        .unwrap()
}

#[test]
fn a_tone_peaks_on_its_mel_bin() {
    let fbank = Fbank::new(FbankConfig::default());
    for hz in [440.0, 1000.0, 3000.0] {
        let samples: Vec<f32> = (0..16_000).map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0).sin() as f32 * 0.5).collect();
        let features = fbank.compute(&samples);
        for frame in features.chunks(128).skip(5).take(10) {
            let peak = frame.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            assert_eq!(peak, mel_bin_of(hz), "{hz} Hz");
        }
    }
}

fn mbt_b_config() -> MbtConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/configs/mbt_b_bottleneck_audioset.json");
    MbtConfig::parse_scenic_json(&std::fs::read_to_string(path).unwrap()).unwrap().config
}

/// A 10 s clip: 64x48 video at 25 fps and a 1 kHz tone that starts at 2 s, made once (the tests
/// run in parallel; making it per test let one test delete the clip another was reading).
fn tone_clip() -> std::path::PathBuf {
    static CLIP: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    CLIP.get_or_init(make_tone_clip).clone()
}

fn make_tone_clip() -> std::path::PathBuf {
    let dir = crate::scratch("features-tone");
    let path = dir.join("tone.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=10"])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100:duration=8"])
        .args(["-filter_complex", "[1:a]adelay=delays=2000:all=1,apad=whole_dur=10[a]", "-map", "0:v", "-map", "[a]"])
        .args(["-c:v", "libx264", "-c:a", "aac", "-ac", "2"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[test]
fn windows_cover_the_clip_and_carry_their_spans() {
    let clip = tone_clip();
    let config = mbt_b_config();
    let features = ClipFeatures::open(&clip, &config, FbankConfig::default()).unwrap();
    let spec = features.spec().clone();
    assert_eq!((spec.num_frames, spec.stride, spec.spectrogram_frames), (32, 2, 800));
    assert_eq!(spec.video_span(), Timestamp::from_secs(2.56));
    let windows = features.windows(None);
    assert_eq!(windows.len(), 4, "{:?}", windows.iter().map(|w| w.centre).collect::<Vec<_>>());
    for w in &windows {
        assert_eq!(w.frame_times.len(), 32);
        let steps: Vec<i64> = w.frame_times.windows(2).map(|p| (p[1] - p[0]).micros()).collect();
        // 80 ms apart, less where the last frames are clamped to the end of the clip.
        assert!(steps.iter().all(|&s| s <= 80_000), "{steps:?}");
        assert!(steps.iter().filter(|&&s| s == 80_000).count() >= 20, "{steps:?}");
        // The audio span is 8 s of spectrogram (plus one 25 ms frame) around the centre.
        assert_eq!((w.audio_end - w.audio_start).micros(), 8_015_000);
        assert_eq!(w.centre - w.audio_start, w.audio_end - w.centre);
    }
    assert_eq!(windows[0].centre, Timestamp::from_secs(1.28));
    assert_eq!(windows[1].centre - windows[0].centre, Timestamp::from_secs(2.56));
}

#[test]
fn window_inputs_have_the_model_geometry_and_the_tone_where_it_sounds() {
    let clip = tone_clip();
    let config = mbt_b_config();
    let mut features = ClipFeatures::open(&clip, &config, FbankConfig::default()).unwrap();
    let windows = features.windows(None);
    let window = &windows[1]; // centre 3.84 s: audio from -0.17 s to 7.85 s
    let input = features.window_input(window).unwrap();
    assert_eq!((input.frames, input.crop, input.time, input.mel), (32, 224, 800, 128));
    assert_eq!(input.rgb.len(), 32 * 224 * 224 * 3);
    assert!(input.rgb.iter().all(|v| (-1.0..=1.0).contains(v)));
    let (mean, std) = (config.dataset_configs.spec_mean, config.dataset_configs.spec_stddev);
    let raw = |v: f32| v * std + mean;
    let expected_bin = mel_bin_of(1000.0);
    // Frame k covers audio from audio_start + k * 10 ms. Before 2 s there is silence (the log
    // floor), after it the tone.
    let frame_at = |secs: f64| (((secs - window.audio_start.secs()) * 100.0).round()) as usize;
    let silent = &input.spectrogram[frame_at(1.0) * 128..(frame_at(1.0) + 1) * 128];
    assert!(silent.iter().all(|&v| raw(v) < -5.0), "expected silence at 1 s");
    for secs in [2.5, 4.0, 7.0] {
        let row = &input.spectrogram[frame_at(secs) * 128..(frame_at(secs) + 1) * 128];
        let peak = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(peak, expected_bin, "at {secs} s");
    }
}

/// `blank-video` replaces every sampled frame by mid-grey and keeps the audio exactly; `mute`
/// keeps the frames exactly and silences the audio.
#[test]
fn blank_video_and_mute_alter_only_their_own_modality() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: MbtConfig = serde_json::from_slice(&std::fs::read(root.join("assets/models/bottleneck/model.json")).unwrap()).unwrap();
    let clip = root.join("assets/demo/test_00000.mp4");
    let mut features = ClipFeatures::open(&clip, &config, FbankConfig::default()).unwrap();
    let window = features.windows(None)[1].clone();
    let (frames, audio) = features.window_bytes(&window).unwrap();
    features.set_counterfactual(Some(mbtscope::features::Counterfactual::BlankVideo));
    let (blank, same_audio) = features.window_bytes(&window).unwrap();
    assert_eq!(blank.len(), frames.len());
    assert!(blank.iter().all(|&b| b == 128), "every pixel mid-grey");
    assert_ne!(frames, blank);
    assert_eq!(same_audio, audio, "the audio untouched");
    features.set_counterfactual(Some(mbtscope::features::Counterfactual::Mute));
    let (same_frames, silent) = features.window_bytes(&window).unwrap();
    assert_eq!(same_frames, frames, "the frames untouched");
    assert_ne!(silent, audio);
}

/// `swap=PATH` keeps the clip's frames exactly and feeds the window exactly the audio the other
/// clip's own window has; a clip without sound cannot be swapped in, and the error names it.
#[test]
fn swapped_audio_is_the_other_clips_window_and_the_frames_stay() {
    use mbtscope::features::Counterfactual;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config: MbtConfig = serde_json::from_slice(&std::fs::read(root.join("assets/models/bottleneck/model.json")).unwrap()).unwrap();
    let (clip, donor) = (root.join("assets/demo/test_00000.mp4"), root.join("assets/demo/test_00001.mp4"));
    let mut features = ClipFeatures::open(&clip, &config, FbankConfig::default()).unwrap();
    let mut other = ClipFeatures::open(&donor, &config, FbankConfig::default()).unwrap();
    for window in features.windows(None).into_iter().take(3) {
        let (frames, audio) = features.window_bytes(&window).unwrap();
        let (_, donor_audio) = other.window_bytes(&window).unwrap();
        assert_ne!(audio, donor_audio, "the two clips sound different at {}", window.audio_start);
        features.set_counterfactual(Some(Counterfactual::swap(&donor).unwrap()));
        let (same_frames, swapped) = features.window_bytes(&window).unwrap();
        assert_eq!(same_frames, frames, "the frames untouched");
        assert_eq!(swapped, donor_audio, "the other clip's audio at {}", window.audio_start);
        features.set_counterfactual(None);
    }
    assert!(Counterfactual::swap(&root.join("assets/demo/missing.mp4")).unwrap_err().contains("missing.mp4: no such file"));
    // The same clip without its audio stream.
    let silent = crate::scratch("features-swap").join("silent.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(&donor)
        .args(["-an", "-c:v", "copy"])
        .arg(&silent)
        .status()
        .expect("ffmpeg (Debian package `ffmpeg`)");
    assert!(status.success());
    features.set_counterfactual(Some(Counterfactual::swap(&silent).unwrap()));
    let window = features.windows(None)[0].clone();
    let error = features.window_bytes(&window).unwrap_err().to_string();
    assert!(error.contains("no audio stream") && error.contains("silent.mp4"), "{error}");
}
