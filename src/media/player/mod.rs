//! The playback engine, without a window: open / play / pause / seek / speed / volume, and
//! `frame_at(t)` for the renderer.
//!
//! Two worker threads, each with a bounded queue: video frames (a few frames ahead) and audio
//! samples (a lock-free ring of half a second, drained by the cpal callback). The audio clock
//! (samples the device has taken, minus its reported latency) is the master clock; without an
//! audio device or audio stream, a wall clock runs instead and the player says so. Speed changes
//! resample the audio (pitch follows speed). Dropping the player stops and joins its threads.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod audio;
mod display;
mod recovery;
mod video;

use super::error::MediaError;
use super::output::{AudioDevice, AudioOutput, Tap};
use super::time::Timestamp;
use super::video::{VideoDecoder, VideoFrame, VideoInfo};
use audio::{AudioCommand, AudioParts, start_audio};
pub use video::fit_within;
use video::{FrameQueue, VideoCommand, set_error, video_worker};

/// Decoded frames kept ahead of the playhead.
const VIDEO_QUEUE: usize = 8;
/// Audio buffered ahead of the device, in seconds.
const AUDIO_AHEAD_SECS: f64 = 0.5;

#[derive(Debug, Clone, Default)]
pub struct PlayerOptions {
    pub audio: AudioDevice,
    /// Decode frames scaled down to fit within this (upright) size, aspect kept; smaller
    /// clips keep their own size (None: always the coded size).
    pub max_frame_size: Option<(u32, u32)>,
    /// Receives a copy of every sample handed to the device (tests, meters).
    pub tap: Option<TapSlot>,
}

/// The audio device has failed when this many errors arrive within [`AUDIO_FAILURE_WINDOW`], or
/// when it reported an error and then took no samples for [`AUDIO_STALL`]: the player then plays
/// on the wall clock. (A broken ALSA device reports an error on every period, about a thousand a
/// second; a single underrun is no failure.)
const AUDIO_FAILURE_ERRORS: u64 = 5;
const AUDIO_FAILURE_WINDOW: Duration = Duration::from_secs(1);
const AUDIO_STALL: Duration = Duration::from_millis(500);
/// A failed device is reopened at most this many times within the window before the player
/// gives up on it.
const AUDIO_REOPENS: usize = 2;
const AUDIO_REOPEN_WINDOW: Duration = Duration::from_secs(30);

/// The audio clock may run ahead of the wall clock since playback started by this much (seconds):
/// the callback's interpolation and the device latency's jitter. A reading further ahead is
/// stale bookkeeping, not sound that was heard.
const AUDIO_AHEAD_OF_WALL: f64 = 0.05;

/// What [`Player::poll`] saw happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerEvent {
    /// Playback reached the end of the clip and stopped there; the next play starts over.
    Ended,
    /// The audio device failed and was opened again; playback goes on with sound.
    AudioReopened(String),
    /// The audio device failed (again); playback goes on by the wall clock, without sound.
    AudioFailed(String),
}

/// How early (seconds) a display may read the clock for a frame and still show it, while
/// playing: see [`Player::frame_for_display`].
const WAKE_TOLERANCE: f64 = 0.005;

/// A tap producer wrapped so that [`PlayerOptions`] stays `Clone`; the first player takes it.
#[derive(Debug, Clone, Default)]
pub struct TapSlot(pub Arc<Mutex<Option<Tap>>>);

/// What drives playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockSource {
    /// `rate` and `channels` are the device's (interleaved f32 samples).
    Audio { device: String, rate: u32, channels: u16 },
    /// No audio: frames are shown by a wall clock; `reason` says why (for the UI).
    Wall { reason: String },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerStats {
    /// How far the latest newly shown frame's time was from the clock when it went up, in
    /// milliseconds (positive: late, negative: early).
    pub av_offset_ms: f64,
    /// The largest such distance (either way) since the last seek.
    pub max_av_offset_ms: f64,
    /// The mean distance (either way) of newly shown frames since the last seek.
    pub mean_av_offset_ms: f64,
    /// Frames shown since the last seek.
    pub shown_frames: u64,
    /// Of those, the frames that went up more than 20 ms from their time (either way).
    pub off_by_over_20ms: u64,
    /// Frames decoded but skipped because the clock had passed them.
    pub dropped_frames: u64,
    /// Device callbacks that found the audio queue short.
    pub audio_underruns: u64,
    /// The output device's reported latency, in milliseconds.
    pub audio_latency_ms: f64,
}

pub struct Player {
    path: PathBuf,
    info: VideoInfo,
    clock_source: ClockSource,
    output: Option<AudioOutput>,
    video_tx: SyncSender<VideoCommand>,
    video_thread: Option<JoinHandle<()>>,
    queue: Arc<(Mutex<FrameQueue>, Condvar)>,
    audio_tx: Option<SyncSender<AudioCommand>>,
    audio_thread: Option<JoinHandle<()>>,
    generation: u64,
    /// Clock state: media time at the last (re)start, how much the device had taken then.
    base: Timestamp,
    mark: u64,
    wall_start: Option<Instant>,
    playing: bool,
    speed: f64,
    volume: f32,
    current: Option<Arc<VideoFrame>>,
    /// The size frames are scaled to (None: the clip's own).
    frame_size: Option<(u32, u32)>,
    stats: PlayerStats,
    /// The frame [`Self::frame_for_display`] last put up while playing, until its screen time is
    /// known ([`Self::presented`]): its time, the clock reading it was chosen at, and the
    /// estimated delay (media seconds) from that reading to the screen.
    pending: Option<(Timestamp, Timestamp, f64)>,
    /// The clock never runs backwards while playing, even when the device's latency estimate
    /// jitters between callbacks.
    last_position: std::cell::Cell<Timestamp>,
    /// When the current burst of device errors began, and the error count then.
    error_window: Option<(Instant, u64)>,
    /// The device asked for, to reopen it after a failure, and when that was done.
    audio_device: AudioDevice,
    reopened: Vec<Instant>,
}

impl Player {
    /// Opens `path` paused at the start.
    pub fn open(path: &Path, options: PlayerOptions) -> Result<Self, MediaError> {
        // Opened here for its info and errors; the worker opens its own (FFmpeg's contexts stay
        // on the thread that uses them).
        let info = VideoDecoder::open(path)?.info().clone();
        let frame_size = options.max_frame_size.and_then(|(w, h)| fit_within(info.width, info.height, w, h));
        let queue =
            Arc::new((Mutex::new(FrameQueue { frames: VecDeque::new(), generation: 0, ended: false, error: None }), Condvar::new()));
        let (video_tx, video_rx) = sync_channel(4);
        let video_thread = {
            let queue = Arc::clone(&queue);
            let size = frame_size;
            let worker_path = path.to_owned();
            std::thread::Builder::new()
                .name("mbtscope-video".into())
                .spawn(move || match VideoDecoder::open(&worker_path) {
                    Ok(decoder) => video_worker(decoder, size, video_rx, &queue),
                    Err(e) => set_error(&queue.0, e.to_string()),
                })
                .map_err(|e| MediaError::Open { path: path.to_owned(), reason: format!("cannot start the video thread: {e}") })?
        };

        let mut clock_source = ClockSource::Wall { reason: "the clip has no audio stream".into() };
        let mut audio = None;
        if info.has_audio {
            let tap = options.tap.as_ref().and_then(|t| t.0.lock().ok().and_then(|mut g| g.take()));
            match start_audio(path, &options.audio, tap) {
                Ok(parts) => {
                    clock_source = parts.clock_source();
                    audio = Some(parts);
                }
                Err(reason) => clock_source = ClockSource::Wall { reason },
            }
        }
        let (output, audio_tx, audio_thread) = match audio {
            Some(AudioParts { output, tx, thread }) => (Some(output), Some(tx), Some(thread)),
            None => (None, None, None),
        };
        let mut player = Self {
            path: path.to_owned(),
            info,
            clock_source,
            output,
            video_tx,
            video_thread: Some(video_thread),
            queue,
            audio_tx,
            audio_thread,
            generation: 0,
            base: Timestamp::ZERO,
            mark: 0,
            wall_start: None,
            playing: false,
            speed: 1.0,
            volume: 1.0,
            current: None,
            frame_size,
            stats: PlayerStats::default(),
            pending: None,
            last_position: std::cell::Cell::new(Timestamp::ZERO),
            error_window: None,
            audio_device: options.audio.clone(),
            reopened: Vec::new(),
        };
        if let Some(out) = &player.output {
            out.shared.paused.store(true, Ordering::Release);
        }
        player.seek(Timestamp::ZERO);
        Ok(player)
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The size of the frames the player hands out (upright), after any scaling.
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame_size.unwrap_or((self.info.width, self.info.height))
    }

    /// Scales the frames decoded from now on to fit within `max_width x max_height` (never up),
    /// for example to the size they are shown at. The frames already queued are scaled too, on
    /// the decoder's thread.
    pub fn set_max_frame_size(&mut self, max_width: u32, max_height: u32) {
        let size = fit_within(self.info.width, self.info.height, max_width, max_height);
        if size != self.frame_size {
            self.frame_size = size;
            let _ = self.video_tx.send(VideoCommand::Resize(size));
            // Paused, the frame on screen is decoded again at the new size (it stays up until
            // then). Otherwise the first frame of playback would be the first at the new size:
            // a new texture and, on a software rasteriser, probably a new shader variant (llvmpipe
            // keys them on power-of-two texture sides), which stalled the start of playback.
            if !self.playing && self.current.is_some() {
                let shown = self.current.clone();
                self.seek(self.position());
                self.current = shown;
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn clock_source(&self) -> &ClockSource {
        &self.clock_source
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn stats(&self) -> PlayerStats {
        let mut stats = self.stats.clone();
        if let Some(out) = &self.output {
            stats.audio_underruns = out.shared.underruns.load(Ordering::Relaxed);
            stats.audio_latency_ms = out.shared.latency_us.load(Ordering::Relaxed) as f64 / 1000.0;
        }
        stats
    }

    /// Current media time by the master clock.
    pub fn position(&self) -> Timestamp {
        if !self.playing {
            return self.base;
        }
        let elapsed = match &self.output {
            Some(out) => {
                let shared = &out.shared;
                if shared.flush_pending() {
                    return self.base; // the device has not yet dropped the old samples
                }
                // Samples handed over before the latest callback, plus the time since that
                // callback (at most its length), minus the device latency: what is audible now.
                let per_sec = f64::from(out.channels.max(1)) * f64::from(out.rate.max(1));
                let start = shared.chunk_start.load(Ordering::Acquire);
                let len = shared.chunk_len.load(Ordering::Acquire) as f64 / per_sec;
                let since = (out.epoch.elapsed().as_nanos() as u64).saturating_sub(shared.callback_ns.load(Ordering::Acquire)) as f64 / 1e9;
                let handed = start.saturating_sub(self.mark) as f64 / per_sec + since.min(len);
                let latency = shared.latency_us.load(Ordering::Relaxed) as f64 / 1e6;
                (handed - latency).max(0.0)
            }
            None => self.wall_start.map_or(0.0, |s| s.elapsed().as_secs_f64()),
        };
        // Sound cannot have been heard faster than real time since playback started.
        let wall = self.wall_start.map_or(0.0, |s| s.elapsed().as_secs_f64()) + AUDIO_AHEAD_OF_WALL;
        let t = self.base + Timestamp::from_secs(elapsed.min(wall) * self.speed);
        let t = if self.info.duration > Timestamp::ZERO { t.min(self.info.duration) } else { t };
        let t = t.max(self.last_position.get());
        self.last_position.set(t);
        t
    }

    /// Starts (or resumes) playback; at the end of the clip it starts over from the beginning.
    pub fn play(&mut self) {
        if self.playing {
            return;
        }
        if self.at_clip_end() {
            self.seek(Timestamp::ZERO);
        }
        self.restart_clock(self.base);
        self.playing = true;
        if let Some(out) = &self.output {
            out.shared.paused.store(false, Ordering::Release);
        }
    }

    pub fn pause(&mut self) {
        if !self.playing {
            return;
        }
        let now = self.position();
        self.playing = false;
        if let Some(out) = &self.output {
            out.shared.paused.store(true, Ordering::Release);
        }
        self.base = now;
    }

    /// Starts the clock counting from `at`.
    fn restart_clock(&mut self, at: Timestamp) {
        self.base = at;
        self.last_position.set(at);
        // After a seek whose flush the callback has not yet seen, the device's count is about to
        // restart at zero: the old count would hold the clock still until the new one caught up
        // (playing again after the end froze it for the clip's length). Read in this order: the
        // callback marks a flush done after zeroing the count, and while paused it adds nothing.
        self.mark = self.output.as_ref().map_or(0, |o| if o.shared.flush_pending() { 0 } else { o.shared.played.load(Ordering::Acquire) });
        self.wall_start = Some(Instant::now());
    }

    /// Whether the paused playhead is at the end of the clip, so that play starts over.
    fn at_clip_end(&self) -> bool {
        if self.info.duration > Timestamp::ZERO { self.base >= self.info.duration } else { self.at_end() }
    }

    /// Call once per repaint (or every few milliseconds): stops playback at the end of the clip,
    /// and moves to the wall clock when the audio device fails. Says what happened, if anything.
    pub fn poll(&mut self) -> Option<PlayerEvent> {
        if let Some(reason) = self.audio_failure() {
            return Some(self.recover_audio(reason));
        }
        if !self.playing {
            return None;
        }
        let ended = if self.info.duration > Timestamp::ZERO {
            self.position() >= self.info.duration
        } else {
            self.at_end() && self.output.as_ref().is_none_or(|o| o.shared.ended.load(Ordering::Acquire))
        };
        if ended {
            self.pause();
            return Some(PlayerEvent::Ended);
        }
        None
    }

    /// Jumps to `t` (clamped to the clip); frames and audio restart from there.
    pub fn seek(&mut self, t: Timestamp) {
        let t = t.clamp(Timestamp::ZERO, self.info.duration.max(Timestamp::ZERO));
        self.generation += 1;
        {
            let (lock, cvar) = &*self.queue;
            if let Ok(mut q) = lock.lock() {
                q.frames.clear();
                q.generation = self.generation;
                q.ended = false;
                cvar.notify_all();
            }
        }
        let _ = self.video_tx.send(VideoCommand::Seek(t));
        if let (Some(out), Some(tx)) = (&self.output, &self.audio_tx) {
            out.shared.ended.store(false, Ordering::Release);
            let flush = out.shared.request_flush();
            let _ = tx.send(AudioCommand::Seek { at: t, speed: self.speed, flush });
        }
        self.current = None;
        self.stats.max_av_offset_ms = 0.0;
        self.stats.mean_av_offset_ms = 0.0;
        self.stats.shown_frames = 0;
        self.stats.off_by_over_20ms = 0;
        self.pending = None;
        self.base = t;
        self.last_position.set(t);
        // After a flush the device's count restarts at zero.
        self.mark = 0;
        self.wall_start = Some(Instant::now());
    }

    /// Playback speed, 0.25x to 2x.
    pub fn set_speed(&mut self, speed: f64) {
        let speed = speed.clamp(0.25, 2.0);
        if (speed - self.speed).abs() < 1e-9 {
            return;
        }
        let now = self.position();
        let playing = self.playing;
        self.speed = speed;
        self.seek(now);
        if playing {
            self.playing = false;
            self.play();
        }
    }

    /// Volume from 0 (mute) to 1 (and up to 2 for quiet clips).
    pub fn set_volume(&mut self, volume: f32) {
        self.volume = volume.clamp(0.0, 2.0);
        if let Some(out) = &self.output {
            out.shared.volume.store(self.volume.to_bits(), Ordering::Relaxed);
        }
    }

    pub fn volume(&self) -> f32 {
        self.volume
    }

    /// The frame to show at media time `t` (normally [`Self::position`]): the last decoded frame
    /// whose timestamp is at or before `t`. Frames the clock has already passed are dropped and
    /// counted. Returns the previous frame while the decoder catches up.
    pub fn frame_at(&mut self, t: Timestamp) -> Option<Arc<VideoFrame>> {
        self.frame_for_display(t, 0.0)
    }

    /// Whether the video decoder has reached the end of the clip and every frame was handed out.
    pub fn at_end(&self) -> bool {
        let (lock, _) = &*self.queue;
        lock.lock().map(|q| q.ended && q.frames.is_empty()).unwrap_or(true)
    }

    /// A decoding error from the worker, if one stopped it.
    pub fn error(&self) -> Option<String> {
        let (lock, _) = &*self.queue;
        lock.lock().ok().and_then(|q| q.error.clone())
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.video_tx.send(VideoCommand::Stop);
        {
            let (lock, cvar) = &*self.queue;
            if let Ok(mut q) = lock.lock() {
                q.generation = u64::MAX;
            }
            cvar.notify_all();
        }
        if let Some(tx) = &self.audio_tx {
            let _ = tx.send(AudioCommand::Stop);
        }
        if let Some(h) = self.video_thread.take() {
            let _ = h.join();
        }
        if let Some(h) = self.audio_thread.take() {
            let _ = h.join();
        }
    }
}
