//! `mbtscope probe` and `mbtscope play`: the media half from the command line.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{PlayArgs, ProbeArgs};
use mbtscope::features::{ClipFeatures, FbankConfig};
use mbtscope::media::{AudioDevice, ClockSource, Player, PlayerOptions, Timestamp};
use mbtscope::model::MbtConfig;

pub fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            MbtConfig::parse_scenic_json(&text).with_context(|| format!("bad model config: {}", path.display()))?.config
        }
        None => {
            let text = include_str!("../../assets/configs/mbt_b_bottleneck_audioset.json");
            MbtConfig::parse_scenic_json(text)?.config
        }
    };
    let mut features = ClipFeatures::open(&args.clip, &config, FbankConfig::default())?;
    let info = features.info().clone();
    mbtscope::outln!(
        "{}: {}x{} {} at {:.3} fps, {} long, rotation {}°, {}",
        args.clip.display(),
        info.width,
        info.height,
        info.codec,
        info.frame_rate,
        info.duration,
        info.rotation,
        if info.has_audio { "with audio" } else { "no audio" }
    );
    let spec = features.spec().clone();
    mbtscope::outln!(
        "model windows: {} frames every {} at {} fps ({} of video), {} spectrogram frames ({} of audio)",
        spec.num_frames,
        spec.stride,
        spec.fps,
        spec.video_span(),
        spec.spectrogram_frames,
        spec.audio_span()
    );
    let windows = features.windows(None);
    for w in windows.iter().take(args.windows) {
        let input = features.window_input(w)?;
        let mean_spec = input.spectrogram.iter().sum::<f32>() / input.spectrogram.len().max(1) as f32;
        mbtscope::outln!(
            "window {:3}: centre {}, frames {}..{}, audio {}..{}, rgb {}x{}x{}x3, spectrogram {}x{} (mean {:+.2})",
            w.index,
            w.centre,
            w.frame_times.first().copied().unwrap_or_default(),
            w.frame_times.last().copied().unwrap_or_default(),
            w.audio_start,
            w.audio_end,
            input.frames,
            input.crop,
            input.crop,
            input.time,
            input.mel,
            mean_spec
        );
    }
    if windows.len() > args.windows {
        mbtscope::outln!("... {} windows in all", windows.len());
    }
    Ok(())
}

/// `--audio-device`: none given is the system default, `none` is silence.
pub fn audio_device(name: Option<&str>) -> AudioDevice {
    match name {
        None => AudioDevice::Default,
        Some("none") => AudioDevice::Disabled,
        Some(name) => AudioDevice::Named(name.to_owned()),
    }
}

pub fn play(args: PlayArgs) -> anyhow::Result<()> {
    let audio = audio_device(args.audio_device.as_deref());
    let mut player = Player::open(&args.clip, PlayerOptions { audio, ..Default::default() })?;
    match player.clock_source() {
        ClockSource::Audio { device, rate, channels } => mbtscope::outln!("clock: audio ({device}, {rate} Hz, {channels} channels)"),
        ClockSource::Wall { reason } => mbtscope::outln!("clock: wall clock ({reason})"),
    }
    player.set_speed(args.speed);
    player.set_volume(args.volume);
    if let Some(start) = args.start {
        player.seek(Timestamp::from_secs(start));
    }
    player.play();
    let started = Instant::now();
    let limit = args.seconds.map(Duration::from_secs_f64);
    let mut next_report = Duration::ZERO;
    loop {
        match player.poll() {
            Some(mbtscope::media::PlayerEvent::Ended) => break,
            Some(mbtscope::media::PlayerEvent::AudioFailed(reason)) => eprintln!("warning: {reason}; playing on the wall clock"),
            Some(mbtscope::media::PlayerEvent::AudioReopened(reason)) => eprintln!("warning: {reason}; reopened it"),
            None => {}
        }
        let t = player.position();
        let frame = player.frame_at(t);
        if started.elapsed() >= next_report {
            let stats = player.stats();
            mbtscope::outln!(
                "{t}  frame {}  A/V lateness {:.1} ms (mean {:.1}, max {:.1})  dropped {}  underruns {}",
                frame.map_or_else(|| "-".into(), |f| f.pts.to_string()),
                stats.av_offset_ms,
                stats.mean_av_offset_ms,
                stats.max_av_offset_ms,
                stats.dropped_frames,
                stats.audio_underruns
            );
            next_report += Duration::from_millis(500);
        }
        if let Some(e) = player.error() {
            anyhow::bail!("playback stopped: {e}");
        }
        // Nobody reads the report any more (`play ... | head`): stop.
        if mbtscope::console::stdout_closed() || limit.is_some_and(|l| started.elapsed() >= l) {
            break;
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    Ok(())
}
