//! Native file dialogs (rfd: the XDG desktop portal, else zenity, on Linux; the system's own
//! elsewhere), each on its own thread so that the window keeps drawing and playing while one is
//! open. Every dialog has a typed-path alternative in the menus for desktops with neither.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

/// What a picked path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    OpenClip,
    ModelFolder,
    ImportCheckpoint,
    ImportConfig,
    ImportLabels,
    ImportOut,
    ExportFolder,
}

impl Purpose {
    fn title(self) -> &'static str {
        match self {
            Self::OpenClip => "Open a clip",
            Self::ModelFolder => "Load a model folder",
            Self::ImportCheckpoint => "Scenic checkpoint (flax MessagePack)",
            Self::ImportConfig => "Scenic model config (JSON)",
            Self::ImportLabels => "Class names (one per line)",
            Self::ImportOut => "Folder for the imported model",
            Self::ExportFolder => "Export folder",
        }
    }

    fn wants_folder(self) -> bool {
        matches!(self, Self::ModelFolder | Self::ImportOut | Self::ExportFolder)
    }
}

/// Video containers FFmpeg opens that the file picker offers first.
pub const CLIP_EXTENSIONS: &[&str] = &["mp4", "m4v", "mkv", "mov", "webm", "avi", "mpg", "mpeg", "ts", "flv", "ogv"];

/// At most one dialog open at a time; its answer arrives through [`Dialogs::poll`].
pub struct Dialogs {
    tx: Sender<(Purpose, Option<PathBuf>)>,
    rx: Receiver<(Purpose, Option<PathBuf>)>,
    open: Option<Purpose>,
}

impl Default for Dialogs {
    fn default() -> Self {
        let (tx, rx) = channel();
        Self { tx, rx, open: None }
    }
}

impl Dialogs {
    /// The dialog now open, if any.
    pub fn open(&self) -> Option<Purpose> {
        self.open
    }

    /// Opens a dialog for `purpose` starting in `start` (a folder, or a file whose folder is
    /// used). Does nothing while another dialog is open.
    pub fn request(&mut self, purpose: Purpose, start: Option<&Path>, ctx: &egui::Context) {
        if self.open.is_some() {
            return;
        }
        let start = start.and_then(|p| if p.is_dir() { Some(p.to_owned()) } else { p.parent().filter(|d| d.is_dir()).map(Path::to_owned) });
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("file-dialog".into()).spawn(move || {
            let mut dialog = rfd::FileDialog::new().set_title(purpose.title());
            if let Some(dir) = start {
                dialog = dialog.set_directory(dir);
            }
            dialog = match purpose {
                Purpose::OpenClip => dialog.add_filter("video", CLIP_EXTENSIONS).add_filter("any file", &["*"]),
                Purpose::ImportConfig => dialog.add_filter("JSON", &["json"]).add_filter("any file", &["*"]),
                Purpose::ImportLabels => dialog.add_filter("text", &["txt"]).add_filter("any file", &["*"]),
                _ => dialog,
            };
            let picked = if purpose.wants_folder() { dialog.pick_folder() } else { dialog.pick_file() };
            let _ = tx.send((purpose, picked));
            ctx.request_repaint();
        });
        if spawned.is_ok() {
            self.open = Some(purpose);
        }
    }

    /// The path picked in the dialog that just closed (`None` while it is open, or when it was
    /// cancelled).
    pub fn poll(&mut self) -> Option<(Purpose, PathBuf)> {
        let (purpose, picked) = self.rx.try_recv().ok()?;
        self.open = None;
        Some((purpose, picked?))
    }
}
