//! Kaldi-style log-mel filter banks, computing what
//! `torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, use_energy=False,
//! window_type=..., dither=0.0, num_mel_bins=128, frame_shift=10)` computes (the features
//! Scenic's AudioSet MBT models were trained on).
//!
//! Per frame (25 ms, hop 10 ms, `snip_edges`): remove the DC offset, pre-emphasis 0.97, window,
//! zero-pad to a power of two, power spectrum, triangular mel filters (20 Hz to Nyquist, mel =
//! 1127 ln(1 + f/700)), natural log floored at f32 epsilon.

/// Window applied to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    /// What Scenic's AudioSet pipeline used (torchaudio's `hanning`).
    #[default]
    Hanning,
    /// The paper's description.
    Hamming,
    /// Kaldi's default: Hann to the power 0.85.
    Povey,
    Rectangular,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FbankConfig {
    pub sample_rate: u32,
    pub frame_length_ms: f64,
    pub frame_shift_ms: f64,
    pub num_mel_bins: usize,
    pub low_freq: f64,
    /// <= 0 means Nyquist plus this offset, as in Kaldi.
    pub high_freq: f64,
    pub preemphasis: f64,
    pub window: WindowType,
}

impl Default for FbankConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            num_mel_bins: 128,
            low_freq: 20.0,
            high_freq: 0.0,
            preemphasis: 0.97,
            window: WindowType::Hanning,
        }
    }
}

/// Precomputed window and filters; `compute` is then allocation-light and fast.
pub struct Fbank {
    config: FbankConfig,
    frame_length: usize,
    frame_shift: usize,
    padded: usize,
    window: Vec<f64>,
    /// Per mel bin: first FFT bin and the weights from there.
    filters: Vec<(usize, Vec<f64>)>,
    fft: Fft,
}

fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

impl Fbank {
    pub fn new(config: FbankConfig) -> Self {
        let rate = f64::from(config.sample_rate);
        let frame_length = (rate * config.frame_length_ms / 1000.0) as usize;
        let frame_shift = (rate * config.frame_shift_ms / 1000.0) as usize;
        let padded = frame_length.next_power_of_two();
        let n = frame_length as f64;
        let window = (0..frame_length)
            .map(|i| {
                let a = 2.0 * std::f64::consts::PI * i as f64 / (n - 1.0);
                match config.window {
                    WindowType::Hanning => 0.5 - 0.5 * a.cos(),
                    WindowType::Hamming => 0.54 - 0.46 * a.cos(),
                    WindowType::Povey => (0.5 - 0.5 * a.cos()).powf(0.85),
                    WindowType::Rectangular => 1.0,
                }
            })
            .collect();
        let nyquist = rate / 2.0;
        let high = if config.high_freq <= 0.0 { nyquist + config.high_freq } else { config.high_freq };
        let (mel_low, mel_high) = (mel(config.low_freq), mel(high));
        let delta = (mel_high - mel_low) / (config.num_mel_bins as f64 + 1.0);
        let bin_width = rate / padded as f64;
        // Kaldi builds the filters over padded/2 FFT bins (the Nyquist bin gets no weight).
        let filters = (0..config.num_mel_bins)
            .map(|b| {
                let left = mel_low + b as f64 * delta;
                let center = left + delta;
                let right = center + delta;
                let weights: Vec<f64> = (0..padded / 2)
                    .map(|i| {
                        let m = mel(bin_width * i as f64);
                        let up = (m - left) / (center - left);
                        let down = (right - m) / (right - center);
                        up.min(down).max(0.0)
                    })
                    .collect();
                let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = weights.iter().rposition(|&w| w > 0.0).map_or(first, |l| l + 1);
                (first, weights[first..last.max(first)].to_vec())
            })
            .collect();
        Self { frame_length, frame_shift, padded, window, filters, fft: Fft::new(padded), config }
    }

    pub fn config(&self) -> &FbankConfig {
        &self.config
    }

    /// Frames produced for `samples` input samples (`snip_edges`).
    pub fn num_frames(&self, samples: usize) -> usize {
        if samples < self.frame_length { 0 } else { 1 + (samples - self.frame_length) / self.frame_shift }
    }

    /// Samples needed for `frames` frames.
    pub fn samples_for(&self, frames: usize) -> usize {
        if frames == 0 { 0 } else { self.frame_length + (frames - 1) * self.frame_shift }
    }

    pub fn frame_shift(&self) -> usize {
        self.frame_shift
    }

    /// Log-mel features `[frames][num_mel_bins]`, row-major.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let frames = self.num_frames(samples.len());
        let bins = self.config.num_mel_bins;
        let mut out = Vec::with_capacity(frames * bins);
        let mut re = vec![0.0f64; self.padded];
        let mut im = vec![0.0f64; self.padded];
        let mut power = vec![0.0f64; self.padded / 2 + 1];
        let pre = self.config.preemphasis;
        for f in 0..frames {
            let frame = &samples[f * self.frame_shift..f * self.frame_shift + self.frame_length];
            let mean = frame.iter().map(|&v| f64::from(v)).sum::<f64>() / self.frame_length as f64;
            for i in 0..self.frame_length {
                let x = f64::from(frame[i]) - mean;
                let prev = if i == 0 { x } else { f64::from(frame[i - 1]) - mean };
                re[i] = (x - pre * prev) * self.window[i];
                im[i] = 0.0;
            }
            re[self.frame_length..].iter_mut().for_each(|v| *v = 0.0);
            im[self.frame_length..].iter_mut().for_each(|v| *v = 0.0);
            self.fft.run(&mut re, &mut im);
            for (k, p) in power.iter_mut().enumerate() {
                *p = re[k] * re[k] + im[k] * im[k];
            }
            for (first, weights) in &self.filters {
                let energy: f64 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                out.push(energy.max(f64::from(f32::EPSILON)).ln() as f32);
            }
        }
        out
    }
}

/// In-place iterative radix-2 complex FFT of a fixed power-of-two size.
struct Fft {
    n: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl Fft {
    fn new(n: usize) -> Self {
        let angles = (0..n / 2).map(|k| -2.0 * std::f64::consts::PI * k as f64 / n as f64);
        let (cos, sin) = angles.map(|a| (a.cos(), a.sin())).unzip();
        Self { n, cos, sin }
    }

    fn run(&self, re: &mut [f64], im: &mut [f64]) {
        let n = self.n;
        let mut j = 0;
        for i in 1..n {
            let mut bit = n >> 1;
            while j & bit != 0 {
                j ^= bit;
                bit >>= 1;
            }
            j |= bit;
            if i < j {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let (c, s) = (self.cos[k * step], self.sin[k * step]);
                    let (a, b) = (start + k, start + k + len / 2);
                    let tr = re[b] * c - im[b] * s;
                    let ti = re[b] * s + im[b] * c;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len <<= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_a_direct_dft() {
        let n = 16;
        let fft = Fft::new(n);
        let x: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) % 5) as f64 - 2.0).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        fft.run(&mut re, &mut im);
        for k in 0..n {
            let (mut r, mut i) = (0.0, 0.0);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                r += v * a.cos();
                i += v * a.sin();
            }
            assert!((re[k] - r).abs() < 1e-9 && (im[k] - i).abs() < 1e-9);
        }
    }

    #[test]
    fn frame_counts_follow_snip_edges() {
        let f = Fbank::new(FbankConfig::default());
        assert_eq!(f.num_frames(399), 0);
        assert_eq!(f.num_frames(400), 1);
        assert_eq!(f.num_frames(16_000), 98);
        assert_eq!(f.samples_for(800), 400 + 799 * 160);
    }
}
