//! Presenting frames: which frame is due for a display with a given repaint latency, the
//! measured audio/video offset, and when the next frame falls due.

use super::*;

impl Player {
    /// [`Self::frame_at`] for a display whose frames reach the screen `latency` seconds
    /// after `t` is read (the time a repaint takes; at most 0.1 s is honoured). While playing,
    /// it shows the last frame due by then (looking at most one frame period ahead), so a frame
    /// is on screen on time rather than one repaint late. The A/V offset is measured when the
    /// display reports the screen time ([`Self::presented`]), or at the estimate.
    pub fn frame_for_display(&mut self, t: Timestamp, latency: f64) -> Option<Arc<VideoFrame>> {
        // A frame whose screen time was never reported counts at its estimate.
        self.presented(None);
        let (lock, cvar) = &*self.queue;
        let mut newly_shown = None;
        // A display woken for the next frame's time may read the clock a little before it
        // (timer slack, the audio clock's steps); that frame is due then all the same, or it
        // would wait a whole extra repaint.
        let early = if self.playing && latency > 0.0 { WAKE_TOLERANCE.min(self.period() / 4.0) * self.speed } else { 0.0 };
        let due = t + Timestamp::from_secs(self.display_lead(latency) + early);
        if let Ok(mut q) = lock.lock()
            && q.generation == self.generation
        {
            let mut skipped = 0u64;
            while q.frames.front().is_some_and(|f| f.pts <= due) {
                if let Some(f) = q.frames.pop_front() {
                    if newly_shown.is_some() {
                        skipped += 1;
                    }
                    newly_shown = Some(f);
                }
            }
            // Before the first frame (or right after a seek) show the first one available.
            if self.current.is_none() && newly_shown.is_none() {
                newly_shown = q.frames.pop_front();
            }
            self.stats.dropped_frames += skipped;
            cvar.notify_all();
        }
        if let Some(frame) = newly_shown {
            // Frames that were due before playback (re)started are catch-up, not lateness.
            if self.playing && frame.pts <= due && frame.pts >= self.base {
                if latency > 0.0 {
                    self.pending = Some((frame.pts, t, self.screen_delay(latency)));
                } else {
                    self.record_offset(frame.pts, t);
                }
            }
            self.current = Some(frame);
        }
        self.current.clone()
    }

    /// Reports when the picture of the last [`Self::frame_for_display`] call reached the screen:
    /// `latency` seconds after that call read the clock (None: not known, the estimate given
    /// then stands). The A/V statistics count a newly shown frame here, at its measured screen
    /// time, rather than at the estimate it was chosen for.
    pub fn presented(&mut self, latency: Option<f64>) {
        if let Some((pts, t, estimate)) = self.pending.take() {
            let delay = latency.map_or(estimate, |l| self.media_delay(l));
            self.record_offset(pts, t + Timestamp::from_secs(delay));
        }
    }

    pub(super) fn record_offset(&mut self, pts: Timestamp, on_screen: Timestamp) {
        let late = (on_screen - pts).secs() * 1000.0;
        let stats = &mut self.stats;
        stats.av_offset_ms = late;
        stats.max_av_offset_ms = stats.max_av_offset_ms.max(late.abs());
        stats.shown_frames += 1;
        if late.abs() > 20.0 {
            stats.off_by_over_20ms += 1;
        }
        stats.mean_av_offset_ms += (late.abs() - stats.mean_av_offset_ms) / stats.shown_frames as f64;
    }

    /// How much media time passes between reading the clock and the frame being on screen: the
    /// display's latency (at most 0.1 s) at the playback speed while playing, nothing while
    /// paused.
    pub(super) fn screen_delay(&self, latency: f64) -> f64 {
        if self.playing { self.media_delay(latency) } else { 0.0 }
    }

    /// A display latency (seconds, at most 0.1 honoured) as media time at the playback speed.
    pub(super) fn media_delay(&self, latency: f64) -> f64 {
        latency.clamp(0.0, 0.1) * self.speed
    }

    /// How far ahead of the clock (in media time) [`Self::frame_for_display`] looks: the screen
    /// delay, at most one frame period. A lead beyond a period would make every next frame due
    /// at once, and [`Self::until_next_frame`] would ask for repaints back to back instead of
    /// one per frame.
    pub(super) fn display_lead(&self, latency: f64) -> f64 {
        self.screen_delay(latency).min(self.period() * self.speed)
    }

    /// Seconds between frames at the clip's frame rate (0 when unknown).
    pub(super) fn period(&self) -> f64 {
        if self.info.frame_rate > 0.0 { 1.0 / self.info.frame_rate } else { 0.0 }
    }

    /// While playing, the wall-clock time until [`Self::frame_for_display`] (with the same
    /// `latency`) will put up the next decoded frame: zero when it is already due, None when
    /// paused or when the decoder has no frame ready yet. A display that repaints at these
    /// moments reads the clock just after each frame falls due, so that one slow repaint
    /// makes the next frame late instead of skipping it.
    pub fn until_next_frame(&self, latency: f64) -> Option<Duration> {
        if !self.playing {
            return None;
        }
        let next = {
            let (lock, _) = &*self.queue;
            let q = lock.lock().ok()?;
            if q.generation != self.generation {
                return None;
            }
            q.frames.front()?.pts
        };
        let ahead = (next - self.position()).secs() - self.display_lead(latency);
        Some(Duration::from_secs_f64((ahead / self.speed.max(1e-6)).max(0.0)))
    }
}
