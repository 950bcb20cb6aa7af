//! Counterfactual inputs: what the model would have made of the clip with other audio, or with no
//! picture. The transform acts on each window's audio before its spectrogram is computed, or on
//! its cropped frames, so the model input stays exactly as the real pipeline makes it; `eval`,
//! `analyze`, `export` and the app set it on a [`super::ClipFeatures`] the same way.

use std::path::{Path, PathBuf};

use crate::media::Timestamp;

/// How a window's audio (or picture) is altered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counterfactual {
    /// The frames replaced by uniform mid-grey (every pixel 128), the audio kept: what the model
    /// makes of the sound alone.
    #[serde(rename = "blank-video")]
    BlankVideo,
    /// Silence.
    Mute,
    /// White noise with the window's own loudness (RMS), the same for the same window.
    Noise,
    /// The track shifted later by this many seconds (earlier when negative): the model hears at
    /// time t what the clip plays at t - shift, silence where that is outside the clip.
    Shift(f64),
    /// Another clip's audio at the same times (silence where that clip has ended): does the
    /// model follow the sound it hears, or the picture? Caches key results on the file's
    /// identity too ([`crate::fsutil::file_identity`]), so an edited file is analysed afresh.
    Swap(PathBuf),
}

impl Counterfactual {
    /// Parses `mute`, `noise`, `shift=SECONDS`, `swap=PATH` or `blank-video`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text {
            "mute" => return Ok(Self::Mute),
            "noise" => return Ok(Self::Noise),
            "blank-video" => return Ok(Self::BlankVideo),
            _ => {}
        }
        if let Some(secs) = text.strip_prefix("shift=") {
            let secs: f64 = secs.trim_end_matches('s').parse().map_err(|_| format!("`{secs}` is not a number of seconds"))?;
            if !secs.is_finite() || secs == 0.0 || secs.abs() > 3600.0 {
                return Err(format!("shift={secs}: give a shift other than 0, within an hour"));
            }
            return Ok(Self::Shift(secs));
        }
        if let Some(path) = text.strip_prefix("swap=") {
            return Self::swap(Path::new(path));
        }
        Err(format!("`{text}` is not a counterfactual (expected mute, noise, shift=SECONDS, swap=PATH or blank-video)"))
    }

    /// The audio of the clip at `path` swapped in, which must be a file.
    pub fn swap(path: &Path) -> Result<Self, String> {
        if path.as_os_str().is_empty() {
            return Err("swap=PATH: give the clip whose audio is played instead".into());
        }
        if !path.is_file() {
            return Err(format!("swap={}: no such file", path.display()));
        }
        Ok(Self::Swap(path.to_owned()))
    }

    /// Where the audio of a window that starts at `start` is read from (a shift moves it).
    pub fn source_start(&self, start: Timestamp) -> Timestamp {
        match self {
            Self::Shift(secs) => start - Timestamp::from_secs(*secs),
            Self::Mute | Self::Noise | Self::BlankVideo | Self::Swap(_) => start,
        }
    }

    /// The file the window's audio is read from: the clip's own, or the swapped-in one.
    pub fn source_file<'a>(&'a self, clip: &'a Path) -> &'a Path {
        match self {
            Self::Swap(donor) => donor,
            _ => clip,
        }
    }

    /// Alters the window's samples (already read from [`Self::source_start`]) in place; `seed`
    /// makes the noise repeatable per window.
    pub fn apply(&self, samples: &mut [f32], seed: u64) {
        match self {
            Self::Mute => samples.fill(0.0),
            Self::Noise => {
                let rms = (samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / samples.len().max(1) as f64).sqrt();
                let mut rng = crate::synth::Rng::new(seed);
                // Uniform noise in [-a, a] has RMS a / sqrt(3).
                let amplitude = rms * 3f64.sqrt();
                for s in samples.iter_mut() {
                    *s = (rng.range(-amplitude, amplitude)) as f32;
                }
            }
            Self::Shift(_) | Self::BlankVideo | Self::Swap(_) => {}
        }
    }

    /// How the app and exports name it: "audio muted", "audio as noise", "audio shifted +0.5 s",
    /// "audio from other.mp4", "video blanked".
    pub fn description(&self) -> String {
        match self {
            Self::Mute => "audio muted".into(),
            Self::Noise => "audio as noise".into(),
            Self::Shift(secs) => format!("audio shifted {secs:+} s"),
            Self::Swap(donor) => format!(
                "audio from {}",
                donor.file_name().map_or_else(|| donor.display().to_string(), |n| n.to_string_lossy().into_owned())
            ),
            Self::BlankVideo => "video blanked".into(),
        }
    }

    /// Whether the frames are replaced (the audio then is the clip's own).
    pub fn blanks_video(&self) -> bool {
        *self == Self::BlankVideo
    }

    /// A short name for reports (`mute`, `noise`, `shift=0.5`, `swap=PATH`), which
    /// [`Self::parse`] reads back.
    pub fn name(&self) -> String {
        match self {
            Self::Mute => "mute".into(),
            Self::Noise => "noise".into(),
            Self::Shift(secs) => format!("shift={secs}"),
            Self::Swap(donor) => format!("swap={}", donor.display()),
            Self::BlankVideo => "blank-video".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counterfactuals_parse_and_alter_the_samples() {
        assert_eq!(Counterfactual::parse("mute"), Ok(Counterfactual::Mute));
        assert_eq!(Counterfactual::parse("shift=-1.5"), Ok(Counterfactual::Shift(-1.5)));
        assert_eq!(Counterfactual::parse("shift=2s"), Ok(Counterfactual::Shift(2.0)));
        assert!(Counterfactual::parse("shift=0").is_err());
        assert!(Counterfactual::parse("loud").unwrap_err().contains("mute, noise, shift"));
        assert_eq!(Counterfactual::parse("blank-video"), Ok(Counterfactual::BlankVideo));
        assert_eq!(serde_json::to_string(&Counterfactual::BlankVideo).unwrap(), "\"blank-video\"");
        assert!(Counterfactual::BlankVideo.blanks_video() && !Counterfactual::Mute.blanks_video());
        let tone: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let rms = |v: &[f32]| (v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        let mut noise = tone.clone();
        Counterfactual::Noise.apply(&mut noise, 7);
        // Same loudness within 2% (16k samples of uniform noise), and nothing like the tone.
        assert!((rms(&noise) / rms(&tone) - 1.0).abs() < 0.02, "{} vs {}", rms(&noise), rms(&tone));
        let correlation: f64 = noise.iter().zip(&tone).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
            / (rms(&noise) * rms(&tone) * tone.len() as f64);
        assert!(correlation.abs() < 0.05, "{correlation}");
        let mut again = tone.clone();
        Counterfactual::Noise.apply(&mut again, 7);
        assert_eq!(noise, again, "repeatable per seed");
        let mut muted = tone.clone();
        Counterfactual::Mute.apply(&mut muted, 0);
        assert!(muted.iter().all(|&s| s == 0.0));
        let start = Timestamp::from_secs(2.0);
        assert_eq!(Counterfactual::Shift(0.5).source_start(start), Timestamp::from_secs(1.5));
        assert_eq!(Counterfactual::Mute.source_start(start), start);
    }
}
