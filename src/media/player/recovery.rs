//! Audio device failure and recovery: counting errors and stalls, reopening the device a
//! bounded number of times, and falling back to the wall clock.

use super::*;

impl Player {
    /// Why the audio device counts as failed, if it does (see [`AUDIO_FAILURE_ERRORS`]).
    pub(super) fn audio_failure(&mut self) -> Option<String> {
        let out = self.output.as_ref()?;
        let shared = &out.shared;
        let errors = shared.errors.load(Ordering::Relaxed);
        if errors == 0 {
            return None;
        }
        let now = Instant::now();
        let (since, at_start) = *self.error_window.get_or_insert((now, 0));
        let last_callback = Duration::from_nanos(shared.callback_ns.load(Ordering::Acquire));
        let stalled = out.epoch.elapsed().saturating_sub(last_callback) > AUDIO_STALL;
        if errors - at_start >= AUDIO_FAILURE_ERRORS || stalled {
            let last = shared.last_error.lock().ok().and_then(|e| e.clone()).unwrap_or_else(|| "unknown error".into());
            return Some(format!("the audio device {} failed ({errors} errors, the last: {last})", out.device_name));
        }
        if now.duration_since(since) > AUDIO_FAILURE_WINDOW {
            self.error_window = Some((now, errors));
        }
        None
    }

    /// Closes the failed output (which ends the backend's stream of errors) and opens the device
    /// again from the current position: a sound server that dropped the stream under load
    /// usually takes a new one. After [`AUDIO_REOPENS`] reopens within [`AUDIO_REOPEN_WINDOW`],
    /// or when the device cannot be opened, playback goes on by the wall clock.
    pub(super) fn recover_audio(&mut self, reason: String) -> PlayerEvent {
        let now = self.position();
        self.close_audio();
        let clock = Instant::now();
        self.reopened.retain(|at| clock.duration_since(*at) < AUDIO_REOPEN_WINDOW);
        if self.reopened.len() >= AUDIO_REOPENS {
            self.fall_back_to_wall_clock(now, &reason);
            return PlayerEvent::AudioFailed(reason);
        }
        self.reopened.push(clock);
        match start_audio(&self.path, &self.audio_device, None) {
            Ok(parts) => {
                log::warn!("{reason}; reopened it");
                self.clock_source = parts.clock_source();
                parts.output.shared.volume.store(self.volume.to_bits(), Ordering::Relaxed);
                parts.output.shared.paused.store(!self.playing, Ordering::Release);
                let flush = parts.output.shared.request_flush();
                let _ = parts.tx.send(AudioCommand::Seek { at: now, speed: self.speed, flush });
                self.output = Some(parts.output);
                self.audio_tx = Some(parts.tx);
                self.audio_thread = Some(parts.thread);
                self.error_window = None;
                // The new device's count starts at zero, from here.
                self.base = now;
                self.last_position.set(now);
                self.mark = 0;
                self.wall_start = Some(Instant::now());
                PlayerEvent::AudioReopened(reason)
            }
            Err(again) => {
                let reason = format!("{reason}; reopening it failed: {again}");
                self.fall_back_to_wall_clock(now, &reason);
                PlayerEvent::AudioFailed(reason)
            }
        }
    }

    /// Stops the audio worker and closes the output stream.
    pub(super) fn close_audio(&mut self) {
        self.output = None;
        if let Some(tx) = self.audio_tx.take() {
            let _ = tx.send(AudioCommand::Stop);
        }
        if let Some(handle) = self.audio_thread.take() {
            let _ = handle.join();
        }
    }

    /// Goes on from `now` by the wall clock, without sound.
    pub(super) fn fall_back_to_wall_clock(&mut self, now: Timestamp, reason: &str) {
        self.clock_source = ClockSource::Wall { reason: reason.to_owned() };
        self.base = now;
        self.last_position.set(now);
        self.wall_start = Some(Instant::now());
    }

    /// Tests only: the audio device reports `n` errors, as a failing device would.
    #[doc(hidden)]
    pub fn inject_audio_errors(&self, n: u64, message: &str) {
        if let Some(out) = &self.output {
            for _ in 0..n {
                out.shared.report_error(message.to_owned());
            }
        }
    }
}
