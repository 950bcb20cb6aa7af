//! The sounds: one short synthetic event per visual event of the sounding object, over noise.

use super::scene::Sound;

/// Length of one sound event in seconds.
pub const SOUND_LENGTH: f64 = 0.2;

/// Adds the sound of kind `sound` starting at `at` seconds into `out` (mono, `rate` Hz), with a
/// pitch factor for per-clip variety.
pub fn add_event(out: &mut [f32], rate: u32, at: f64, sound: Sound, pitch: f64, gain: f32) {
    let rate_f = f64::from(rate);
    let start = (at * rate_f) as usize;
    let len = (SOUND_LENGTH * rate_f) as usize;
    let mut noise_state = (start as u32).wrapping_mul(2_654_435_761) | 1;
    for i in 0..len {
        let Some(slot) = out.get_mut(start + i) else { break };
        let t = i as f64 / rate_f;
        let two_pi = std::f64::consts::TAU;
        let v = match sound {
            Sound::Drum => {
                // A falling low tone with a noisy attack.
                noise_state ^= noise_state << 13;
                noise_state ^= noise_state >> 17;
                noise_state ^= noise_state << 5;
                let noise = (noise_state as f64 / u32::MAX as f64 - 0.5) * (-t * 60.0).exp();
                let f = 90.0 * pitch * (1.0 - 0.4 * t / SOUND_LENGTH);
                (two_pi * f * t).sin() * (-t * 14.0).exp() + noise
            }
            Sound::Bell => {
                let f = 1100.0 * pitch;
                ((two_pi * f * t).sin() + 0.5 * (two_pi * 2.76 * f * t).sin()) * (-t * 9.0).exp() * 0.7
            }
            Sound::Buzz => {
                let f = 210.0 * pitch;
                let square = if (f * t).fract() < 0.5 { 1.0 } else { -1.0 };
                square * 0.5 * (1.0 - t / SOUND_LENGTH)
            }
            Sound::Whistle => {
                let f0 = 1500.0 * pitch;
                let phase = two_pi * (f0 * t + 2500.0 * t * t);
                phase.sin() * (1.0 - (2.0 * t / SOUND_LENGTH - 1.0).powi(2)) * 0.8
            }
        };
        *slot += gain * v as f32;
    }
}

/// White noise plus a slow hum, at `level`.
pub fn background(len: usize, rate: u32, level: f32, seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    let hum = 50.0 + (seed % 40) as f64;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let white = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f64 / f64::from(rate);
            level * (white + 0.3 * (std::f64::consts::TAU * hum * t).sin() as f32)
        })
        .collect()
}
