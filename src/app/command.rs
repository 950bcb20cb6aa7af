//! What the user asked for in one frame. Panels read the app and push commands; the app applies
//! them after drawing ([`super::MbtApp::apply`]), so that no drawing code changes the app or starts
//! work itself.

use std::path::PathBuf;

use super::dialog::Purpose;
use super::{ImportForm, Page, TokenPick, ViewMode};
use crate::analysis::AnalysisSettings;
use crate::dataset::table::Query;
use crate::export::ImageFormat;
use crate::render::OverlayStyle;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a clip (a failure leaves the open one as it was, and says why).
    OpenClip(PathBuf),
    /// Open a file dialog for `purpose`, starting near the path.
    PickPath(Purpose, Option<PathBuf>),
    /// Make the model in this folder A (and the one that was A, B), and analyse again.
    MakeModelA(PathBuf),
    /// A typed model folder: as [`Command::MakeModelA`], or a message when it is not one.
    LoadModelFolder(PathBuf),
    /// Exports go to this folder from now on.
    SetExportFolder(PathBuf),
    SetView(ViewMode),
    ShowOverlay(bool),
    /// Zoom and pan the frame views.
    SetZoom(super::FrameZoom),
    /// Show or hide the inspector on the right (I).
    ShowInspector(bool),
    /// How maps are drawn (no new analysis).
    SetStyle(OverlayStyle),
    /// What the models explain (a new analysis).
    SetAnalysis(AnalysisSettings),
    /// A what-if: model A hears this clip's audio instead of the open clip's (a file that is
    /// not there is refused with a message).
    SwapAudio(PathBuf),
    /// Play, or pause when playing (at the end, play starts over).
    TogglePlay,
    /// Seek to this many seconds (clamped to the clip).
    Seek(f64),
    /// The A-B loop's start at the playhead (`[`).
    SetLoopA,
    /// The A-B loop's end at the playhead (`]`).
    SetLoopB,
    /// No A-B loop (Backspace).
    ClearLoop,
    /// Show or hide the keyboard shortcuts (F1 or ?).
    ToggleShortcuts,
    /// Show or hide what the model sees: model A's input at the playhead (P).
    ToggleInputPreview,
    /// The explanation settings and the map style as a fresh start has them.
    ResetExplanation,
    /// Pause and step this many frames (negative: back).
    Step(i32),
    SetSpeed(f64),
    SetVolume {
        volume: f32,
        muted: bool,
    },
    /// Show a bottleneck token's maps, or (`None`) the classification tokens' again.
    PickToken(Option<TokenPick>),
    /// The frame on screen, annotated, as a PNG in the export folder.
    ExportFrame,
    /// The predictions and maps of the analysed windows as JSON in the export folder.
    ExportJson,
    /// The clip as the view shows it: `frames` as typed (`all`, `START:END`, `1.5s:3s`, `N,M,...`),
    /// as images, an annotated MP4, or both.
    ExportClip {
        frames: String,
        format: ImageFormat,
        images: bool,
        video: bool,
    },
    CancelExport,
    /// How exports are drawn for a figure.
    SetFigure(super::FigureOptions),
    /// The import form as edited (its fields, whether it is shown).
    EditImport(ImportForm),
    StartImport,
    /// Read an `analyze` results file (JSON or Parquet) into the dataset browser.
    OpenResults(PathBuf),
    /// Read the open results' ground truth from this labels CSV.
    OpenGroundTruth(PathBuf),
    /// Sort, filter or search the browser's table.
    SetResultsQuery(Query),
    /// Open the clip of the table's row `row` (an index into its clips) with its stored results,
    /// at `window` (None: the row's telling window, see `ResultsTable::telling_window`).
    OpenResultRow {
        row: usize,
        window: Option<usize>,
    },
    ShowPage(Page),
}
