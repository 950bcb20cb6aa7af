//! The procedural scene: classes (an object kind with a sound kind), moving objects with visual
//! events, cluttered backgrounds, and the rasteriser that draws them.

use serde::Serialize;

/// A shape an object can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
    Ring,
    Cross,
    Bar,
    Star,
}

/// A kind of sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sound {
    Drum,
    Bell,
    Buzz,
    Whistle,
}

impl Sound {
    pub const ALL: [Sound; 4] = [Sound::Drum, Sound::Bell, Sound::Buzz, Sound::Whistle];
}

/// One class: the pairs share a sound (audio alone cannot tell them apart) and differ in shape
/// and colour.
pub struct ClassSpec {
    pub name: &'static str,
    pub shape: Shape,
    pub sound: Sound,
    /// Base colour; instances vary around it.
    pub colour: [u8; 3],
}

pub const CLASSES: [ClassSpec; 8] = [
    ClassSpec { name: "drum ball", shape: Shape::Circle, sound: Sound::Drum, colour: [225, 50, 45] },
    ClassSpec { name: "drum crate", shape: Shape::Square, sound: Sound::Drum, colour: [240, 140, 30] },
    ClassSpec { name: "bell triangle", shape: Shape::Triangle, sound: Sound::Bell, colour: [240, 225, 50] },
    ClassSpec { name: "bell star", shape: Shape::Star, sound: Sound::Bell, colour: [245, 245, 240] },
    ClassSpec { name: "buzzer diamond", shape: Shape::Diamond, sound: Sound::Buzz, colour: [50, 200, 70] },
    ClassSpec { name: "buzzer bar", shape: Shape::Bar, sound: Sound::Buzz, colour: [40, 210, 210] },
    ClassSpec { name: "whistle ring", shape: Shape::Ring, sound: Sound::Whistle, colour: [60, 100, 240] },
    ClassSpec { name: "whistle cross", shape: Shape::Cross, sound: Sound::Whistle, colour: [200, 70, 230] },
];

/// A moving object over the clip.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub class: usize,
    pub colour: [u8; 3],
    /// Radius in pixels at rest.
    pub size: f32,
    pub start: [f32; 2],
    pub velocity: [f32; 2],
    /// Times (s) of its visual events (a pulse in size and brightness).
    pub events: Vec<f64>,
    /// `[start, end)` intervals (s) in which it is lit and swollen throughout (the `sync` task's
    /// on slots; empty in the `pairs` task).
    pub active: Vec<[f64; 2]>,
}

/// Seconds a visual event lasts.
pub const EVENT_LENGTH: f64 = 0.25;

impl Object {
    /// Centre at time t, bouncing off the frame's edges.
    pub fn centre(&self, t: f64, width: u32, height: u32) -> [f32; 2] {
        let bounce = |p: f32, v: f32, lo: f32, hi: f32| {
            let span = (hi - lo).max(1.0);
            let x = (p - lo + v * t as f32).rem_euclid(2.0 * span);
            lo + if x > span { 2.0 * span - x } else { x }
        };
        [
            bounce(self.start[0], self.velocity[0], self.size, width as f32 - self.size),
            bounce(self.start[1], self.velocity[1], self.size, height as f32 - self.size),
        ]
    }

    /// How far into an event t is (0 outside events, 1 at its peak).
    pub fn pulse(&self, t: f64) -> f32 {
        if self.active.iter().any(|&[a, b]| (a..b).contains(&t)) {
            return 1.0;
        }
        self.events
            .iter()
            .map(|&e| {
                let d = t - e;
                if (0.0..EVENT_LENGTH).contains(&d) { (1.0 - d / EVENT_LENGTH) as f32 } else { 0.0 }
            })
            .fold(0.0, f32::max)
    }

    /// Current radius (events enlarge the object by up to 45%).
    pub fn radius(&self, t: f64) -> f32 {
        self.size * (1.0 + 0.45 * self.pulse(t))
    }

    /// Bounding box `[x0, y0, x1, y1]` at t.
    pub fn bbox(&self, t: f64, width: u32, height: u32) -> [f32; 4] {
        let [cx, cy] = self.centre(t, width, height);
        let r = self.radius(t);
        [(cx - r).max(0.0), (cy - r).max(0.0), (cx + r).min(width as f32), (cy + r).min(height as f32)]
    }

    /// Whether the point (dx, dy) relative to the centre, in units of the radius, is inside.
    fn covers(&self, dx: f32, dy: f32) -> bool {
        let (ax, ay) = (dx.abs(), dy.abs());
        match CLASSES[self.class].shape {
            Shape::Circle => dx * dx + dy * dy <= 1.0,
            Shape::Ring => {
                let d = dx * dx + dy * dy;
                (0.36..=1.0).contains(&d)
            }
            Shape::Square => ax <= 0.8 && ay <= 0.8,
            Shape::Diamond => ax + ay <= 1.0,
            Shape::Triangle => (-1.0..=0.8).contains(&dy) && ax <= (dy + 1.0) * 0.5,
            Shape::Cross => (ax <= 0.28 && ay <= 1.0) || (ay <= 0.28 && ax <= 1.0),
            Shape::Bar => ax <= 1.0 && ay <= 0.32,
            Shape::Star => {
                let angle = dy.atan2(dx);
                let r = (dx * dx + dy * dy).sqrt();
                let limit = 0.55 + 0.45 * (2.5 * angle).cos().abs();
                r <= limit
            }
        }
    }
}

/// Background clutter: a gradient and soft drifting blobs.
#[derive(Debug, Clone, Serialize)]
pub struct Background {
    pub top: [u8; 3],
    pub bottom: [u8; 3],
    /// (x, y, radius, vx, vy, brightness)
    pub blobs: Vec<[f32; 6]>,
}

/// Draws frame t (packed RGB).
pub fn render(objects: &[Object], background: &Background, t: f64, width: u32, height: u32, out: &mut Vec<u8>) {
    out.clear();
    out.reserve((width * height * 3) as usize);
    // Where everything is at t, worked out once per frame rather than per pixel (the same
    // arithmetic, so the same bytes).
    let blobs: Vec<[f32; 4]> = background
        .blobs
        .iter()
        .map(|b| [(b[0] + b[3] * t as f32).rem_euclid(width as f32), (b[1] + b[4] * t as f32).rem_euclid(height as f32), b[2] * b[2], b[5]])
        .collect();
    let placed: Vec<([f32; 2], f32, f32, &Object)> = objects
        .iter()
        .map(|o| {
            let glow = 1.0 + 0.5 * o.pulse(t);
            (o.centre(t, width, height), o.radius(t), glow, o)
        })
        .collect();
    for y in 0..height {
        let f = y as f32 / height.max(1) as f32;
        for x in 0..width {
            let mut px: [f32; 3] = std::array::from_fn(|c| f32::from(background.top[c]) * (1.0 - f) + f32::from(background.bottom[c]) * f);
            for &[bx, by, r2, brightness] in &blobs {
                let d2 = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)) / r2;
                if d2 < 1.0 {
                    let w = (1.0 - d2) * brightness;
                    px.iter_mut().for_each(|v| *v += w);
                }
            }
            for &([cx, cy], r, glow, o) in &placed {
                let (dx, dy) = ((x as f32 + 0.5 - cx) / r, (y as f32 + 0.5 - cy) / r);
                if dx.abs() <= 1.0 && dy.abs() <= 1.0 && o.covers(dx, dy) {
                    px = o.colour.map(|v| f32::from(v) * glow);
                }
            }
            out.extend(px.map(|v| v.clamp(0.0, 255.0) as u8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame as first written: everything worked out again at every pixel.
    fn render_per_pixel(objects: &[Object], background: &Background, t: f64, width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..height {
            let f = y as f32 / height.max(1) as f32;
            for x in 0..width {
                let mut px: [f32; 3] =
                    std::array::from_fn(|c| f32::from(background.top[c]) * (1.0 - f) + f32::from(background.bottom[c]) * f);
                for b in &background.blobs {
                    let bx = (b[0] + b[3] * t as f32).rem_euclid(width as f32);
                    let by = (b[1] + b[4] * t as f32).rem_euclid(height as f32);
                    let d2 = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)) / (b[2] * b[2]);
                    if d2 < 1.0 {
                        let w = (1.0 - d2) * b[5];
                        px.iter_mut().for_each(|v| *v += w);
                    }
                }
                for o in objects {
                    let [cx, cy] = o.centre(t, width, height);
                    let r = o.radius(t);
                    let (dx, dy) = ((x as f32 + 0.5 - cx) / r, (y as f32 + 0.5 - cy) / r);
                    if dx.abs() <= 1.0 && dy.abs() <= 1.0 && o.covers(dx, dy) {
                        let glow = 1.0 + 0.5 * o.pulse(t);
                        px = o.colour.map(|v| f32::from(v) * glow);
                    }
                }
                out.extend(px.map(|v| v.clamp(0.0, 255.0) as u8));
            }
        }
        out
    }

    /// Placing the objects and blobs once per frame draws the same bytes as the per-pixel
    /// definition, for both tasks.
    #[test]
    fn render_matches_the_per_pixel_definition() {
        for task in [crate::synth::Task::Pairs, crate::synth::Task::Sync] {
            let config = crate::synth::SynthConfig { width: 224, height: 224, duration: 8.0, task, ..Default::default() };
            for seed in (0..3).chain((0..3).map(|i| crate::synth::clip_seed(2026, "test", i))) {
                let (objects, background, _, _) = crate::synth::design(&config, seed);
                for frame in [0, 7, 48, 120, 199] {
                    let t = f64::from(frame) / 25.0;
                    let mut fast = Vec::new();
                    render(&objects, &background, t, 224, 224, &mut fast);
                    let slow = render_per_pixel(&objects, &background, t, 224, 224);
                    let differ = fast.iter().zip(&slow).filter(|(a, b)| a != b).count();
                    assert_eq!(differ, 0, "{task} seed {seed} frame {frame}: {differ} bytes differ");
                }
            }
        }
    }
}
