//! How long a repaint takes from reading the playback clock to its picture being presented.
//!
//! Frames are chosen for the moment they will be on screen, so the player needs this latency.
//! eframe's `cpu_usage` leaves out the time in `present`, which is where a software rasteriser
//! does its drawing (and where a GPU may wait for a free swapchain image), so it is only a lower
//! bound. The vendored egui-wgpu records when `present` returned
//! ([`egui_wgpu::winit::last_present`]); at the start of each repaint, the previous repaint's
//! latency is that moment less the previous repaint's start. On a GPU with vsync the picture
//! appears at the next vertical blank after that, which this leaves out.
//!
//! The estimate is a high quantile of the last second's samples, not their mean: a repaint
//! slower than the estimate puts its frame up late (the picture behind the sound, which people
//! notice sooner than the reverse), so the estimate leans towards the slow ones, and it follows
//! a run of slow repaints within a few frames.

use std::collections::VecDeque;
use std::time::Instant;

/// Samples beyond this are stalls, not the display's latency; they are clamped to it.
const MAX_LATENCY: f64 = 0.1;

/// How many recent samples are kept (for the play report): a minute and more at 60 repaints/s.
const KEPT: usize = 4096;

/// The estimate is this quantile of the last [`RECENT`] samples.
const QUANTILE: f64 = 0.9;
const RECENT: usize = 30;

#[derive(Debug, Default)]
pub struct PaintLatency {
    /// Seconds.
    estimate: f64,
    /// The start of the previous repaint.
    started: Option<Instant>,
    /// Recent samples, seconds.
    samples: VecDeque<f64>,
}

impl PaintLatency {
    /// The current estimate, in seconds.
    pub fn seconds(&self) -> f64 {
        self.estimate
    }

    /// The recent samples, in seconds, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = f64> + '_ {
        self.samples.iter().copied()
    }

    /// Call at the start of every repaint, with when the last picture was presented (None if
    /// not known) and eframe's `cpu_usage` for the previous repaint. Returns the previous
    /// repaint's measured latency, if there is one.
    pub fn begin_repaint(&mut self, now: Instant, last_present: Option<Instant>, cpu_usage: Option<f32>) -> Option<f64> {
        let previous = self.started.replace(now);
        let measured = match (previous, last_present) {
            // The previous repaint presented its picture: that is a sample.
            (Some(start), Some(presented)) if presented > start => Some((presented - start).as_secs_f64().min(MAX_LATENCY)),
            _ => None,
        };
        if let Some(sample) = measured {
            if self.samples.len() == KEPT {
                self.samples.pop_front();
            }
            self.samples.push_back(sample);
            // On the stack: this runs on every repaint.
            let mut recent = [0.0; RECENT];
            let n = self.samples.len().min(RECENT);
            for (slot, &v) in recent.iter_mut().zip(self.samples.iter().rev()) {
                *slot = v;
            }
            let recent = &mut recent[..n];
            recent.sort_by(f64::total_cmp);
            self.estimate = recent[((n - 1) as f64 * QUANTILE).round() as usize];
        } else if let Some(cpu) = cpu_usage {
            // Nothing presented (hidden window, a test harness): only the lower bound is known.
            self.estimate = self.estimate.max(f64::from(cpu).min(MAX_LATENCY));
        }
        measured
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(t: Instant, ms: u64) -> Instant {
        t + Duration::from_millis(ms)
    }

    #[test]
    fn each_repaint_measures_the_previous_one_to_its_present() {
        let t0 = Instant::now();
        let mut l = PaintLatency::default();
        // No present yet: the lower bound.
        assert_eq!(l.begin_repaint(t0, None, Some(0.003)), None);
        assert!((l.seconds() - 0.003).abs() < 1e-9);
        // The first repaint was presented 21 ms after it started.
        assert_eq!(l.begin_repaint(ms(t0, 33), Some(ms(t0, 21)), Some(0.003)), Some(0.021));
        assert!((l.seconds() - 0.021).abs() < 1e-9, "{}", l.seconds());
        // A present from before the previous repaint started is no sample.
        assert_eq!(l.begin_repaint(ms(t0, 66), Some(ms(t0, 21)), Some(0.004)), None);
        assert_eq!(l.samples().count(), 1);
        // A stall counts as at most 0.1 s.
        l.begin_repaint(ms(t0, 1000), Some(ms(t0, 900)), None);
        assert_eq!(l.samples().last(), Some(MAX_LATENCY));
    }

    #[test]
    fn the_estimate_is_a_high_quantile_of_the_last_second() {
        let t0 = Instant::now();
        let mut l = PaintLatency::default();
        // 30 repaints a frame period apart: 24 take 18 ms, every fifth 40 ms.
        let mut start = 0;
        l.begin_repaint(t0, None, None);
        for k in 1..=30u64 {
            let took = if k % 5 == 0 { 40 } else { 18 };
            l.begin_repaint(ms(t0, start + 33), Some(ms(t0, start + took)), None);
            start += 33;
        }
        // The 90th percentile of 24 x 18 ms and 6 x 40 ms.
        assert!((l.seconds() - 0.040).abs() < 1e-9, "{}", l.seconds());
        // A second of steady 18 ms repaints later, the slow ones have left the window.
        for _ in 0..30 {
            l.begin_repaint(ms(t0, start + 33), Some(ms(t0, start + 18)), None);
            start += 33;
        }
        assert!((l.seconds() - 0.018).abs() < 1e-9, "{}", l.seconds());
        // A run of slow repaints raises it within a few frames.
        for _ in 0..4 {
            l.begin_repaint(ms(t0, start + 33), Some(ms(t0, start + 30)), None);
            start += 33;
        }
        assert!((l.seconds() - 0.030).abs() < 1e-9, "{}", l.seconds());
    }

    #[test]
    fn only_the_recent_samples_are_kept() {
        let t0 = Instant::now();
        let mut l = PaintLatency::default();
        for k in 0..(KEPT as u64 + 10) {
            l.begin_repaint(ms(t0, 10 * k), (k > 0).then(|| ms(t0, 10 * k - 2)), None);
        }
        assert_eq!(l.samples().count(), KEPT);
        assert!((l.seconds() - 0.008).abs() < 1e-9);
    }
}
