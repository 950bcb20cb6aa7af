//! The playback engine through the real cpal path, on a clip with white flashes and clicks at the
//! same known times. Without a sound card the tests play into PulseAudio's null sink through
//! ALSA's `pulse` device (scripts/test.sh starts it): a sink that consumes samples in real time,
//! unlike ALSA's own `null` device, which swallows them as fast as they come.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mbtscope::media::player::TapSlot;
use mbtscope::media::{AudioDevice, ClockSource, Player, PlayerOptions, Timestamp};

const FLASHES: [f64; 3] = [1.0, 2.0, 3.0];

/// 4 s of dark 64x48 video with a white frame at each flash time, and AAC audio that is silent
/// except for a 5 ms click at the same times.
fn flash_clip() -> PathBuf {
    // Each caller gets its own folder: `scratch` empties the folder it hands out, and the tests
    // run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = crate::scratch(&format!("player-flash-{call}"));
    let path = dir.join("flashes.mp4");
    let flashes = FLASHES.iter().map(|t| format!("eq(N\\,{})", (t * 25.0) as usize)).collect::<Vec<_>>().join("+");
    let clicks = FLASHES.iter().map(|t| format!("between(t\\,{t}\\,{})", t + 0.005)).collect::<Vec<_>>().join("+");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error"])
        .args(["-f", "lavfi", "-i", "color=c=0x202020:size=64x48:rate=25:duration=4"])
        .args(["-f", "lavfi", "-i", &format!("aevalsrc=0.8*({clicks})*sin(2*PI*2000*t):s=48000:d=4")])
        .args(["-vf", &format!("geq=lum='if({flashes}\\,235\\,lum(X\\,Y))':cb=128:cr=128")])
        .args(["-c:v", "libx264", "-g", "25", "-c:a", "aac", "-b:a", "128k"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn is_flash(frame: &mbtscope::media::VideoFrame) -> bool {
    frame.pixel(32, 24)[0] > 128
}

#[test]
fn playback_frames_fit_the_display_size() {
    use mbtscope::media::player::fit_within;
    assert_eq!(fit_within(1920, 1080, 1280, 720), Some((1280, 720)));
    assert_eq!(fit_within(3840, 2160, 1280, 720), Some((1280, 720)));
    assert_eq!(fit_within(1080, 1920, 1280, 720), Some((406, 720)));
    assert_eq!(fit_within(224, 224, 1280, 720), None);
    assert_eq!(fit_within(1280, 720, 1280, 720), None);
}

#[test]
fn audio_and_video_stay_in_sync_on_the_audio_clock() {
    let _turn = crate::sound_device_turn();
    let clip = flash_clip();
    let (tap_producer, mut tap) = rtrb::RingBuffer::<f32>::new(48_000 * 2 * 8);
    let options = PlayerOptions {
        audio: AudioDevice::Named(std::env::var("MBTSCOPE_TEST_AUDIO_DEVICE").unwrap_or_else(|_| "pulse".into())),
        max_frame_size: None,
        tap: Some(TapSlot(Arc::new(Mutex::new(Some(tap_producer))))),
    };
    let mut player = Player::open(&clip, options).unwrap();
    let ClockSource::Audio { device, rate, channels } = player.clock_source().clone() else {
        panic!("expected the audio clock, got {:?}", player.clock_source());
    };
    eprintln!("audio device: {device} at {rate} Hz, {channels} channels");
    player.play();
    let mut first_shown: Vec<Option<f64>> = vec![None; FLASHES.len()];
    let started = Instant::now();
    let mut last_position = Timestamp::ZERO;
    while started.elapsed() < Duration::from_secs(30) {
        let t = player.position();
        assert!(t >= last_position, "the clock went backwards: {last_position} -> {t}");
        last_position = t;
        if let Some(frame) = player.frame_at(t) {
            // The frame shown at t is the one due at t: its time has come and the next frame's
            // has not (25 fps: 40 ms per frame, plus 20 ms of tolerance).
            let lag = (t - frame.pts).secs();
            assert!((-0.0001..0.06).contains(&lag) || t.secs() < 0.05, "at {t} showing the frame of {}", frame.pts);
            if is_flash(&frame) {
                let k = FLASHES.iter().position(|&f| (frame.pts.secs() - f).abs() < 0.02).unwrap();
                first_shown[k].get_or_insert(t.secs());
            }
        }
        if t.secs() > 3.6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = player.stats();
    let (end_position, at_end) = (player.position(), player.at_end());
    drop(player);
    eprintln!(
        "stats: {stats:?}, flashes first shown at {first_shown:?}, stopped at {end_position} after {:?} (video ended: {at_end})",
        started.elapsed()
    );
    for (k, shown) in first_shown.iter().enumerate() {
        let shown = shown.unwrap_or_else(|| panic!("flash {k} was never shown"));
        // Polled every 2 ms; the bound leaves room for the test thread's own scheduling delays.
        assert!((shown - FLASHES[k]).abs() < 0.05, "flash {k} shown at {shown:.3} s, expected {}", FLASHES[k]);
    }
    // Frames are shown on average within a few ms of their time. (The maximum also counts the
    // test thread's own scheduling delays on a loaded machine, so it only gets a loose bound.)
    assert!(stats.mean_av_offset_ms < 10.0, "{stats:?}");
    assert!(stats.max_av_offset_ms < 100.0, "{stats:?}");
    assert!(stats.shown_frames > 50, "{stats:?}");

    // The clicks left the device at the media times of the flashes.
    let mut played = Vec::new();
    while let Ok(s) = tap.pop() {
        played.push(s);
    }
    assert!(!played.is_empty(), "nothing reached the device");
    // A click starts where the signal rises after at least 0.1 s of quiet.
    let per_second = f64::from(rate) * f64::from(channels);
    let mut clicks = Vec::new();
    let mut quiet = 0usize;
    for (i, s) in played.iter().enumerate() {
        if s.abs() > 0.05 {
            if quiet as f64 > 0.1 * per_second {
                clicks.push(i);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    assert_eq!(clicks.len(), FLASHES.len(), "clicks at samples {clicks:?}");
    for (k, &i) in clicks.iter().enumerate() {
        let at = i as f64 / per_second;
        assert!((at - FLASHES[k]).abs() < 0.02, "click {k} played at {at:.3} s media time");
    }
}

#[test]
fn without_an_audio_device_the_wall_clock_plays_and_says_so() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    let ClockSource::Wall { reason } = player.clock_source().clone() else { panic!("{:?}", player.clock_source()) };
    assert!(reason.contains("disabled"), "{reason}");
    assert_eq!(player.position(), Timestamp::ZERO);
    player.play();
    std::thread::sleep(Duration::from_millis(300));
    let t = player.position().secs();
    assert!((0.25..0.6).contains(&t), "wall clock at {t} s after 0.3 s");

    // Pause freezes the clock.
    player.pause();
    let paused = player.position();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(player.position(), paused);

    // Seek is exact, playing or not.
    player.seek(Timestamp::from_secs(2.0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let frame = loop {
        if let Some(f) = player.frame_at(Timestamp::from_secs(2.0)) {
            break f;
        }
        assert!(Instant::now() < deadline, "no frame after seeking");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(is_flash(&frame) && (frame.pts.secs() - 2.0).abs() < 1e-6, "pts {}", frame.pts);

    // Double speed runs the clock twice as fast.
    player.set_speed(2.0);
    player.play();
    std::thread::sleep(Duration::from_millis(300));
    let moved = player.position().secs() - 2.0;
    assert!((0.5..1.0).contains(&moved), "moved {moved} s in 0.3 s at 2x");
    player.set_speed(9.0);
    assert_eq!(player.speed(), 2.0);
}

#[test]
fn a_clip_without_audio_plays_on_the_wall_clock() {
    let dir = crate::scratch("player-silent");
    let path = dir.join("silent.mkv");
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=1", "-c:v", "libx264"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let mut player = Player::open(&path, PlayerOptions::default()).unwrap();
    assert!(matches!(player.clock_source(), ClockSource::Wall { reason } if reason.contains("no audio")));
    player.play();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !player.at_end() || player.position().secs() < 0.9 {
        let t = player.position();
        let _ = player.frame_at(t);
        assert!(Instant::now() < deadline, "playback did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(player.error().is_none());
}

/// Changing the display size while playing: frames keep coming, at the new size (never above
/// the clip's own), and `frame_for_display` still follows the clock. (Regression: swscale
/// refused to reuse the old-sized output frame, and playback stopped at the first resize.)
#[test]
fn the_display_size_can_change_while_playing() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, max_frame_size: Some((32, 32)), ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    assert_eq!(player.frame_size(), (32, 24));
    player.play();
    let mut sizes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while player.position().secs() < 2.5 {
        assert!(Instant::now() < deadline, "playback stalled at {} s ({:?})", player.position().secs(), player.error());
        if player.position().secs() > 1.0 {
            player.set_max_frame_size(1280, 720);
        }
        if let Some(f) = player.frame_for_display(player.position(), 0.01) {
            if sizes.last() != Some(&(f.width, f.height)) {
                sizes.push((f.width, f.height));
            }
            assert!(
                (player.position().secs() - f.pts.secs()).abs() < 0.2,
                "frame at {} s shown at {} s",
                f.pts.secs(),
                player.position().secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(player.frame_size(), (64, 48));
    assert_eq!(sizes, vec![(32, 24), (64, 48)], "scaled frames, then the clip's own size");
    let stats = player.stats();
    assert!(stats.shown_frames > 40, "{stats:?}");
}

/// A display that repaints when `until_next_frame` says, with repaints that take most of a frame
/// period and now and then more than one, still shows every frame: a slow repaint makes the next
/// frame late, never skipped. The offset is measured when the frame is on screen, as the
/// display reports it.
#[test]
fn repainting_when_frames_fall_due_skips_none() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    assert_eq!(player.until_next_frame(0.02), None, "paused: no repaint needed");
    // As in the app, the first frame is up before playback starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while player.frame_at(Timestamp::ZERO).is_none() {
        assert!(Instant::now() < deadline, "no first frame ({:?})", player.error());
        std::thread::sleep(Duration::from_millis(2));
    }
    player.play();
    let deadline = Instant::now() + Duration::from_secs(15);
    let latency = 0.02;
    let mut repaints = 0u32;
    while player.position().secs() < 3.0 {
        assert!(Instant::now() < deadline, "playback stalled ({:?})", player.error());
        std::thread::sleep(player.until_next_frame(latency).unwrap_or(Duration::from_millis(4)));
        let _ = player.frame_for_display(player.position(), latency);
        repaints += 1;
        // A 25 fps clip (40 ms a frame); every fifth repaint takes 45 ms. The display reports
        // when each picture was presented, and the statistics take that time.
        let took = if repaints.is_multiple_of(5) { 0.045 } else { 0.020 };
        std::thread::sleep(Duration::from_secs_f64(took));
        player.presented(Some(took));
    }
    let stats = player.stats();
    assert_eq!(stats.dropped_frames, 0, "{stats:?}");
    assert!(stats.shown_frames >= 70, "{stats:?}");
    assert!(stats.mean_av_offset_ms < 10.0, "{stats:?}");
    // The frames of the slow repaints reached the screen 25 ms after the moment they were
    // chosen for, and the statistics saw that.
    assert!(stats.max_av_offset_ms > 20.0 && stats.off_by_over_20ms >= 10, "{stats:?}");
    assert!(repaints < 110, "{repaints} repaints for 75 frames: the display should wait for frames");
}

/// A display woken a few milliseconds before the next frame's time (timer slack, the audio
/// clock's steps) still gets that frame, instead of repainting once for nothing and showing it a
/// whole repaint late.
#[test]
fn a_display_woken_slightly_early_still_gets_the_next_frame() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while player.frame_at(Timestamp::ZERO).is_none() {
        assert!(Instant::now() < deadline, "no first frame ({:?})", player.error());
        std::thread::sleep(Duration::from_millis(2));
    }
    player.play();
    let latency = 0.01;
    let (mut repaints, mut empty) = (0u32, 0u32);
    let mut shown = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while player.position().secs() < 2.0 {
        assert!(Instant::now() < deadline, "playback stalled ({:?})", player.error());
        let wait = player.until_next_frame(latency).unwrap_or(Duration::from_millis(4));
        std::thread::sleep(wait.saturating_sub(Duration::from_millis(3)));
        let frame = player.frame_for_display(player.position(), latency).map(|f| f.pts);
        repaints += 1;
        if frame == shown {
            empty += 1;
        }
        shown = frame;
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = player.stats();
    assert_eq!(stats.dropped_frames, 0, "{stats:?}");
    // 25 fps for 2 s: about 50 repaints, each with a new frame (a slow decoder start may add
    // a few).
    assert!(empty <= 3, "{empty} of {repaints} repaints showed no new frame ({stats:?})");
}

/// Resizing while paused decodes the frame on screen again at the new size, and keeps the old
/// one up until then; the frames already queued are scaled too, so playback starts at the new
/// size (a first frame of another size mid-playback cost lavapipe a shader compile).
#[test]
fn resizing_while_paused_redraws_the_frame_at_the_new_size() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, max_frame_size: Some((32, 32)), ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(f) = player.frame_at(Timestamp::ZERO) {
            break f;
        }
        assert!(Instant::now() < deadline, "no first frame ({:?})", player.error());
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!((first.width, first.height), (32, 24));
    // Let the decoder fill its queue at the old size.
    std::thread::sleep(Duration::from_millis(300));
    player.set_max_frame_size(1280, 720);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = player.frame_at(Timestamp::ZERO).expect("the old frame stays up until the new one is decoded");
        if (f.width, f.height) == (64, 48) {
            assert_eq!(f.pts, Timestamp::ZERO);
            break;
        }
        assert_eq!((f.width, f.height), (32, 24));
        assert!(Instant::now() < deadline, "the frame was not decoded again ({:?})", player.error());
        std::thread::sleep(Duration::from_millis(2));
    }
    // Playback goes on at the new size from the next frame.
    player.play();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sizes = Vec::new();
    while player.position().secs() < 0.5 {
        assert!(Instant::now() < deadline, "playback stalled ({:?})", player.error());
        if let Some(f) = player.frame_at(player.position()) {
            sizes.push((f.width, f.height));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(sizes.iter().all(|&s| s == (64, 48)), "{sizes:?}");
}

/// The device the audio-clock tests play into (PulseAudio's null sink in CI).
fn test_audio_device() -> AudioDevice {
    AudioDevice::Named(std::env::var("MBTSCOPE_TEST_AUDIO_DEVICE").unwrap_or_else(|_| "pulse".into()))
}

/// Polls the player as the app does on each repaint (every 5 ms here) until `done` holds or
/// `limit` passes; returns whether it held and the events seen.
fn poll_until(player: &mut Player, limit: Duration, done: impl Fn(&Player) -> bool) -> (bool, Vec<mbtscope::media::PlayerEvent>) {
    let start = Instant::now();
    let mut events = Vec::new();
    while start.elapsed() < limit {
        events.extend(player.poll());
        let _ = player.frame_at(player.position());
        if done(player) {
            return (true, events);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (false, events)
}

fn open_on_audio_clock(clip: &std::path::Path) -> Player {
    let player = Player::open(clip, PlayerOptions { audio: test_audio_device(), ..Default::default() }).unwrap();
    assert!(matches!(player.clock_source(), ClockSource::Audio { .. }), "expected the audio clock, got {:?}", player.clock_source());
    player
}

/// The flash clip playing on the audio clock, once its clock has passed `secs`.
fn playing_past(secs: f64) -> Player {
    let clip = flash_clip();
    let mut player = open_on_audio_clock(&clip);
    player.play();
    let (moved, _) = poll_until(&mut player, Duration::from_secs(5), |p| p.position().secs() > secs);
    assert!(moved, "playback did not advance");
    player
}

/// Regression (the clock froze after the end): play a clip to its end on the audio clock; the
/// player stops there and says so; play again starts over from the beginning and the clock
/// moves at once. Before the fix the clock held at 0:00.01 for about the clip's length, because
/// the device's sample count from before the restart was taken as the new starting mark.
#[test]
fn playing_again_after_the_end_starts_over_on_the_audio_clock() {
    let _turn = crate::sound_device_turn();
    let clip = flash_clip();
    let mut player = open_on_audio_clock(&clip);
    let duration = player.info().duration;
    player.play();
    let (ended, events) = poll_until(&mut player, Duration::from_secs(15), |p| !p.is_playing());
    assert!(ended, "playback did not stop at the end (at {})", player.position());
    // A sound server that fails under load is given up for the wall clock (the next test's
    // subject); the clock must then behave all the same.
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| {
            !matches!(e, mbtscope::media::PlayerEvent::AudioFailed(why) | mbtscope::media::PlayerEvent::AudioReopened(why) if { eprintln!("the device failed for real: {why}"); true })
        })
        .collect();
    assert_eq!(events, vec![mbtscope::media::PlayerEvent::Ended]);
    assert_eq!(player.position(), duration, "stopped at the end");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(player.position(), duration, "the clock stays at the end while stopped");

    // Pause-then-play, as Space twice: it starts over, and the clock moves.
    player.play();
    assert!(player.position().secs() < 0.1, "play after the end starts over, not at {}", player.position());
    let started = Instant::now();
    let (moved, _) = poll_until(&mut player, Duration::from_secs(3), |p| p.position().secs() > 0.5);
    assert!(moved, "the clock is at {} after {:?} of playing from the start", player.position(), started.elapsed());
    // It runs at real time, not ahead of it (only the device latency behind).
    let t = player.position().secs();
    let wall = started.elapsed().as_secs_f64();
    assert!(t <= wall + 0.06 && t > wall - 0.6, "clock {t:.3} s after {wall:.3} s of wall time");
}

/// Regression (the time jumped to 1-2.5 s and then stalled): pause, seek, change the speed, and
/// play again: the clock continues from the seek target at the new speed, without a jump.
#[test]
fn seeking_and_changing_speed_while_paused_resume_from_the_target() {
    let _turn = crate::sound_device_turn();
    let mut player = playing_past(1.5);
    player.pause();
    player.seek(Timestamp::ZERO);
    player.set_speed(1.5);
    // Paused for a while, as a person would be: the device goes on taking (silent) periods.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(player.position(), Timestamp::ZERO);
    player.play();
    let started = Instant::now();
    let mut last = Timestamp::ZERO;
    while started.elapsed() < Duration::from_millis(1500) {
        let _ = player.poll();
        let t = player.position();
        let wall = started.elapsed().as_secs_f64();
        assert!(t >= last, "the clock went backwards: {last} -> {t}");
        assert!(t.secs() <= 1.5 * wall + 0.1, "the clock jumped to {t} after {wall:.3} s at 1.5x");
        last = t;
        std::thread::sleep(Duration::from_millis(5));
    }
    // 1.5 s at 1.5x is 2.25 s of media time, less the device latency.
    assert!(last.secs() > 1.2, "the clock stalled at {last}");
}

/// A device that reports errors in a burst (ALSA's I/O errors when the sound server drops the
/// stream) is closed, which stops the errors, and opened again from where playback was; one that
/// keeps failing is given up after two reopens: the player says why and goes on by the wall
/// clock from where it was.
#[test]
fn a_failing_audio_device_is_reopened_then_given_up_for_the_wall_clock() {
    let _turn = crate::sound_device_turn();
    let mut player = open_on_audio_clock(&flash_clip());
    player.play();
    let (moved, events) = poll_until(&mut player, Duration::from_secs(5), |p| p.position().secs() > 0.5);
    assert!(moved, "playback did not advance");
    if let Some(real) = events.iter().find(|e| matches!(e, mbtscope::media::PlayerEvent::AudioReopened(_))) {
        // The sound server failed for real and was reopened, which used up a reopen.
        eprintln!("the device failed for real: {real:?}");
        return;
    }
    if let ClockSource::Wall { reason } = player.clock_source() {
        // The sound server failed for real before the injection: the fallback is what is tested.
        eprintln!("the device failed for real: {reason}");
        let before = player.position();
        std::thread::sleep(Duration::from_millis(300));
        let moved = (player.position() - before).secs();
        assert!((0.25..0.6).contains(&moved), "the wall clock moved {moved} s in 0.3 s");
        return;
    }
    // One error is not a failure.
    player.inject_audio_errors(1, "snd_pcm_avail_delay: I/O error");
    assert_eq!(player.poll(), None);
    assert!(matches!(player.clock_source(), ClockSource::Audio { .. }));
    for reopen in 1..=2 {
        player.inject_audio_errors(10, "snd_pcm_avail_delay: I/O error");
        let before = player.position();
        let event = player.poll();
        let Some(mbtscope::media::PlayerEvent::AudioReopened(reason)) = event else {
            panic!("reopen {reopen}: expected a reopen, got {event:?}")
        };
        assert!(reason.contains("I/O error"), "{reason}");
        assert!(matches!(player.clock_source(), ClockSource::Audio { .. }), "{:?}", player.clock_source());
        assert!(player.is_playing());
        assert!((player.position() - before).secs().abs() < 0.05, "the clock went on from {before}, not from {}", player.position());
        // The new stream plays: its clock moves on at real time (less its start-up latency).
        let (moved, events) = poll_until(&mut player, Duration::from_secs(3), |p| (p.position() - before).secs() > 0.3);
        if let Some(real) = events.iter().find(|e| !matches!(e, mbtscope::media::PlayerEvent::Ended)) {
            // The sound server failed for real as well, which used up a reopen: what follows
            // would count that one too.
            eprintln!("the device failed for real: {real:?}");
            return;
        }
        assert!(moved, "reopen {reopen}: the clock stayed at {} after the reopen", player.position());
    }
    player.inject_audio_errors(10, "snd_pcm_avail_delay: I/O error");
    let before = player.position();
    let event = player.poll();
    let Some(mbtscope::media::PlayerEvent::AudioFailed(reason)) = event else { panic!("expected a failure, got {event:?}") };
    assert!(reason.contains("I/O error") && reason.contains("10 errors"), "{reason}");
    let ClockSource::Wall { reason: wall } = player.clock_source().clone() else { panic!("{:?}", player.clock_source()) };
    assert_eq!(wall, reason);
    assert!(player.is_playing());
    assert!((player.position() - before).secs().abs() < 0.05, "the clock went on from {before}, not from {}", player.position());
    std::thread::sleep(Duration::from_millis(300));
    let moved = (player.position() - before).secs();
    assert!((0.25..0.6).contains(&moved), "the wall clock moved {moved} s in 0.3 s");
    // Seeking and playing still work on the wall clock.
    player.seek(Timestamp::from_secs(2.0));
    let (shown, _) = poll_until(&mut player, Duration::from_secs(5), |p| p.position().secs() > 2.2);
    assert!(shown, "no progress after a seek on the fallback clock");
}

/// On the wall clock too: playback stops at the end (showing Play in the app), and play starts
/// over.
#[test]
fn playback_stops_at_the_end_and_play_starts_over() {
    let clip = flash_clip();
    let options = PlayerOptions { audio: AudioDevice::Disabled, ..Default::default() };
    let mut player = Player::open(&clip, options).unwrap();
    player.seek(Timestamp::from_secs(3.6));
    player.play();
    let (ended, events) = poll_until(&mut player, Duration::from_secs(5), |p| !p.is_playing());
    assert!(ended && events == vec![mbtscope::media::PlayerEvent::Ended], "{events:?} at {}", player.position());
    assert_eq!(player.position(), player.info().duration);
    player.play();
    let (moved, _) = poll_until(&mut player, Duration::from_secs(3), |p| p.position().secs() > 0.3);
    assert!(moved && player.position().secs() < 1.0, "at {}", player.position());
}
