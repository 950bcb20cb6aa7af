//! What the app remembers between runs ([`Settings`]), how it was started ([`AppOptions`]),
//! and where its shipped assets are.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisSettings;
use crate::media::output::AudioDevice;
use crate::model::device::DeviceChoice;
use crate::render::OverlayStyle;

/// Where the shipped models and demo clips are: `$MBTSCOPE_ASSETS`; else, for an installed copy
/// (scripts/install.sh), `share/mbtscope/assets` beside the binary's `bin/`; else the source
/// tree's (`cargo run`, `cargo install --path .`).
pub fn assets_dir() -> PathBuf {
    find_assets(std::env::var_os("MBTSCOPE_ASSETS"), std::env::current_exe().ok())
}

fn find_assets(variable: Option<std::ffi::OsString>, exe: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = variable {
        return PathBuf::from(dir);
    }
    let installed = exe.as_deref().and_then(|e| e.parent()?.parent()).map(|prefix| prefix.join("share/mbtscope/assets"));
    match installed {
        Some(dir) if dir.join("models").is_dir() => dir,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets"),
    }
}

pub fn demo_clip() -> PathBuf {
    assets_dir().join("demo/test_00000.mp4")
}

/// Model folders under `assets/models`, sorted (bottleneck before vanilla).
pub fn shipped_models() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(assets_dir().join("models"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join(crate::weights::native::WEIGHTS_FILE).exists()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewMode {
    /// The first selected model alone.
    Single,
    /// Both models side by side on the same frame.
    SideBySide,
    /// The second model's map minus the first's.
    Difference,
}

/// Exports drawn for a figure: `--upscale`, `--truth-box`, `--labels-below`, `--caption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FigureOptions {
    pub upscale: u32,
    pub truth_box: bool,
    pub labels_below: bool,
    pub caption: bool,
}

impl Default for FigureOptions {
    fn default() -> Self {
        Self { upscale: 1, truth_box: false, labels_below: false, caption: false }
    }
}

/// What persists between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub style: OverlayStyle,
    pub analysis: AnalysisSettings,
    pub view: ViewMode,
    pub volume: f32,
    pub muted: bool,
    pub speed: f64,
    /// Model folders, the first two analysed (A and B).
    pub models: Vec<PathBuf>,
    pub show_overlay: bool,
    /// The inspector on the right (explanation settings, labels, bottleneck tokens).
    pub show_inspector: bool,
    /// How exports are drawn for a figure (as `mbtscope export`'s flags of the same names).
    pub figure: FigureOptions,
    /// Where File > Export writes, when the user picked a folder.
    pub export_dir: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            style: OverlayStyle::default(),
            analysis: AnalysisSettings::default(),
            view: ViewMode::SideBySide,
            volume: 1.0,
            muted: false,
            speed: 1.0,
            models: shipped_models(),
            show_overlay: true,
            show_inspector: true,
            figure: FigureOptions::default(),
            export_dir: None,
        }
    }
}

/// How the app was started.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    pub clip: Option<PathBuf>,
    pub audio: AudioDevice,
    pub device: DeviceChoice,
    /// Save a screenshot here once the first window is analysed, then quit (tests).
    pub screenshot: Option<PathBuf>,
    /// Do not read or write the on-disk analysis cache.
    pub no_cache: bool,
    /// Ignore persisted settings.
    pub fresh: bool,
    /// Where File > Export writes, before any folder the user picked (default
    /// `$MBTSCOPE_EXPORT_DIR`, else `~/mbtscope-exports`).
    pub export_dir: Option<PathBuf>,
    /// Benchmark: once the first heatmap is shown, play this many seconds, write a JSON report of
    /// the UI frame rate and the player's statistics to the path, then quit.
    pub play_report: Option<(f64, PathBuf)>,
    /// With `play_report`: stay paused and repaint continuously (the cost of a repaint).
    pub play_still: bool,
    /// Start on the dataset browser with this `analyze` results file (and labels CSV).
    pub results: Option<(PathBuf, Option<PathBuf>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_come_from_the_variable_then_the_install_prefix_then_the_source_tree() {
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets");
        let prefix = std::env::temp_dir().join(format!("mbtscope-assets-test-{}", std::process::id()));
        let exe = prefix.join("bin/mbtscope");
        assert_eq!(find_assets(Some("/x".into()), Some(exe.clone())), PathBuf::from("/x"));
        assert_eq!(find_assets(None, Some(exe.clone())), source, "nothing installed yet");
        std::fs::create_dir_all(prefix.join("share/mbtscope/assets/models")).unwrap();
        assert_eq!(find_assets(None, Some(exe)), prefix.join("share/mbtscope/assets"));
        assert_eq!(find_assets(None, None), source);
        std::fs::remove_dir_all(&prefix).unwrap();
    }
}
