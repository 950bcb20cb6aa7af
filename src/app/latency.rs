//! How long a repaint takes from reading the playback clock to its picture being presented.
//!
//! Frames are chosen for the moment they will be on screen, so the player needs this latency.
//! eframe's `cpu_usage` leaves out the time in `present`, which is where a software rasteriser
//! does its drawing (and where a GPU may wait for a free swapchain image), so it is only a lower
//! bound. The vendored egui-wgpu records when `present` returned
//! ([`egui_wgpu::winit::last_present`]); at the start of each repaint, the previous repaint's
//! latency is that moment less the previous repaint's start. On a GPU with vsync the picture
//! appears at the next vertical blank after that, which this leaves out.

use std::collections::VecDeque;
use std::time::Instant;

/// Samples beyond this are stalls, not the display's latency; they are clamped to it.
const MAX_LATENCY: f64 = 0.1;

/// How many recent samples are kept (for the play report): a minute and more at 60 repaints/s.
const KEPT: usize = 4096;

#[derive(Debug, Default)]
pub struct PaintLatency {
    /// Seconds, smoothed over the samples.
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
    /// not known) and eframe's `cpu_usage` for the previous repaint.
    pub fn begin_repaint(&mut self, now: Instant, last_present: Option<Instant>, cpu_usage: Option<f32>) {
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
            self.estimate = if self.samples.len() == 1 { sample } else { self.estimate + 0.1 * (sample - self.estimate) };
        } else if let Some(cpu) = cpu_usage {
            // Nothing presented (hidden window, a test harness): only the lower bound is known.
            self.estimate = self.estimate.max(f64::from(cpu).min(MAX_LATENCY));
        }
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
        l.begin_repaint(t0, None, Some(0.003));
        assert!((l.seconds() - 0.003).abs() < 1e-9);
        // The first repaint was presented 21 ms after it started.
        l.begin_repaint(ms(t0, 33), Some(ms(t0, 21)), Some(0.003));
        assert!((l.seconds() - 0.021).abs() < 1e-9, "{}", l.seconds());
        // A present from before the previous repaint started is no sample.
        l.begin_repaint(ms(t0, 66), Some(ms(t0, 21)), Some(0.004));
        assert_eq!(l.samples().count(), 1);
        assert!((l.seconds() - 0.021).abs() < 1e-9);
        // Slower repaints raise the estimate, smoothly.
        let mut start = 66;
        for _ in 0..5 {
            l.begin_repaint(ms(t0, start + 33), Some(ms(t0, start + 31)), None);
            start += 33;
        }
        assert!(l.seconds() > 0.021 && l.seconds() < 0.031, "{}", l.seconds());
        // A stall counts as at most 0.1 s.
        l.begin_repaint(ms(t0, start + 900), Some(ms(t0, start + 800)), None);
        assert_eq!(l.samples().last(), Some(MAX_LATENCY));
        assert_eq!(l.samples().count(), 7);
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
