//! Native file dialogs (rfd: the XDG desktop portal, else zenity, on Linux; the system's own
//! elsewhere), each on its own thread so that the window keeps drawing and playing while one is
//! open. On a desktop with neither, mbtscope's own path dialog opens instead and says why; the
//! menus also take typed paths.

use std::path::{Path, PathBuf};

use super::task::Task;

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
    /// An `analyze` results file for the dataset browser.
    OpenResults,
    /// A labels CSV for the open results.
    GroundTruth,
    /// A clip whose audio model A hears instead (a what-if).
    SwapAudio,
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
            Self::OpenResults => "Open analysis results (JSON or Parquet)",
            Self::GroundTruth => "Ground truth (CSV: clip,label)",
            Self::SwapAudio => "A clip whose audio model A hears instead",
        }
    }

    fn wants_folder(self) -> bool {
        matches!(self, Self::ModelFolder | Self::ImportOut | Self::ExportFolder)
    }
}

/// Video containers FFmpeg opens that the file picker offers first.
pub const CLIP_EXTENSIONS: &[&str] = &["mp4", "m4v", "mkv", "mov", "webm", "avi", "mpg", "mpeg", "ts", "flv", "ogv"];

/// A system dialog that answers sooner than this without a path did not open at all (nobody
/// cancels a dialog that fast): rfd found neither an XDG desktop portal nor zenity.
const FAILED_WITHIN: std::time::Duration = std::time::Duration::from_millis(400);

/// An answer from a system dialog's thread: the purpose, the path (None: cancelled or failed),
/// how long the dialog was up, and the folder it started in.
type Answer = (Purpose, Option<PathBuf>, std::time::Duration, Option<PathBuf>);

/// At most one dialog open at a time; its answer arrives through [`Dialogs::poll`]. Where the
/// system has no file dialog, mbtscope's own ([`PathDialog`]) opens instead and says why.
pub struct Dialogs {
    /// The system dialog now open, on its own thread.
    system: Option<(Purpose, Task<Answer>)>,
    /// The built-in dialog, while it is open.
    pub builtin: Option<PathDialog>,
    /// Set once a system dialog failed: later requests go straight to the built-in one.
    system_failed: bool,
}

impl Default for Dialogs {
    fn default() -> Self {
        Self { system: None, builtin: None, system_failed: !system_dialog_available() }
    }
}

/// Whether a system file dialog can open at all: rfd needs the desktop portal (over the D-Bus
/// session bus) or zenity.
fn system_dialog_available() -> bool {
    if cfg!(not(target_os = "linux")) {
        return true;
    }
    let zenity = std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("zenity").is_file()));
    zenity || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

const NO_SYSTEM_DIALOG: &str = "no system file dialog (neither an XDG desktop portal nor zenity answered), so mbtscope's own is used";

impl Dialogs {
    /// Uses the built-in dialog from now on, whatever the system offers (for desktops whose
    /// dialog misbehaves, and for tests).
    pub fn use_builtin_only(&mut self) {
        self.system_failed = true;
    }

    /// The dialog now open, if any.
    pub fn open(&self) -> Option<Purpose> {
        self.system.as_ref().map(|(purpose, _)| *purpose).or(self.builtin.as_ref().map(|d| d.purpose))
    }

    /// Opens a dialog for `purpose` starting in `start` (a folder, or a file whose folder is
    /// used). Does nothing while another dialog is open.
    pub fn request(&mut self, purpose: Purpose, start: Option<&Path>, ctx: &egui::Context) {
        if self.open().is_some() {
            return;
        }
        let start = start.and_then(|p| if p.is_dir() { Some(p.to_owned()) } else { p.parent().filter(|d| d.is_dir()).map(Path::to_owned) });
        if self.system_failed {
            self.builtin = Some(PathDialog::new(purpose, start, NO_SYSTEM_DIALOG));
            return;
        }
        let ctx = ctx.clone();
        let fallback = start.clone();
        let spawned = Task::spawn(
            "file-dialog",
            move || ctx.request_repaint(),
            move |_| {
                let opened = std::time::Instant::now();
                let mut dialog = rfd::FileDialog::new().set_title(purpose.title());
                if let Some(dir) = &start {
                    dialog = dialog.set_directory(dir);
                }
                dialog = match purpose {
                    Purpose::OpenClip | Purpose::SwapAudio => dialog.add_filter("video", CLIP_EXTENSIONS).add_filter("any file", &["*"]),
                    Purpose::ImportConfig => dialog.add_filter("JSON", &["json"]).add_filter("any file", &["*"]),
                    Purpose::ImportLabels => dialog.add_filter("text", &["txt"]).add_filter("any file", &["*"]),
                    Purpose::OpenResults => dialog.add_filter("results", &["parquet", "json"]).add_filter("any file", &["*"]),
                    Purpose::GroundTruth => dialog.add_filter("CSV", &["csv"]).add_filter("any file", &["*"]),
                    _ => dialog,
                };
                let picked = if purpose.wants_folder() { dialog.pick_folder() } else { dialog.pick_file() };
                (purpose, picked, opened.elapsed(), start)
            },
        );
        match spawned {
            Ok(task) => self.system = Some((purpose, task)),
            Err(e) => self.builtin = Some(PathDialog::new(purpose, fallback, &format!("the system file dialog could not start ({e})"))),
        }
    }

    /// Draws the built-in dialog if it is open, and returns the path picked in whichever dialog
    /// just closed (`None` while one is open, or when it was cancelled).
    pub fn poll(&mut self, ctx: &egui::Context) -> Option<(Purpose, PathBuf)> {
        if let Some(dialog) = &mut self.builtin {
            match dialog.show(ctx) {
                PathDialogState::Open => {}
                PathDialogState::Cancelled => self.builtin = None,
                PathDialogState::Picked(path) => {
                    let purpose = dialog.purpose;
                    self.builtin = None;
                    return Some((purpose, path));
                }
            }
        }
        let answer = self.system.as_mut()?.1.poll()?;
        let asked = self.system.take().map(|(purpose, _)| purpose);
        let (purpose, picked, took, start) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                log::warn!("{e}; using the built-in dialog");
                self.system_failed = true;
                let purpose = asked?;
                self.builtin = Some(PathDialog::new(purpose, None, &format!("the system file dialog failed ({e})")));
                return None;
            }
        };
        if picked.is_none() && took < FAILED_WITHIN {
            log::warn!("the system file dialog did not open; using the built-in one");
            self.system_failed = true;
            self.builtin = Some(PathDialog::new(purpose, start, NO_SYSTEM_DIALOG));
            return None;
        }
        Some((purpose, picked?))
    }
}

/// What the built-in dialog did this frame.
enum PathDialogState {
    Open,
    Cancelled,
    Picked(PathBuf),
}

/// mbtscope's own path dialog, for desktops without a system one: a folder listing to walk and
/// a path to type.
pub struct PathDialog {
    pub purpose: Purpose,
    /// The folder listed.
    pub dir: PathBuf,
    /// The path in the text field (what OK picks).
    pub typed: String,
    /// Why this dialog and not the system's.
    why: String,
    error: Option<String>,
}

impl PathDialog {
    fn new(purpose: Purpose, start: Option<PathBuf>, why: &str) -> Self {
        let dir = start
            .or_else(|| std::env::current_dir().ok())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let typed = if purpose.wants_folder() { dir.display().to_string() } else { String::new() };
        Self { purpose, dir, typed, why: why.to_owned(), error: None }
    }

    /// The listed folder's subfolders and (unless a folder is wanted) files, sorted, hidden
    /// ones left out.
    fn entries(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
        let read = std::fs::read_dir(&self.dir).map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        for entry in read.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if !self.purpose.wants_folder() {
                files.push(path);
            }
        }
        dirs.sort();
        files.sort();
        // Clips first when a clip is wanted.
        if self.purpose == Purpose::OpenClip {
            files.sort_by_key(|p| !p.extension().is_some_and(|e| CLIP_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str())));
        }
        Ok((dirs, files))
    }

    fn show(&mut self, ctx: &egui::Context) -> PathDialogState {
        let mut state = PathDialogState::Open;
        let mut open = true;
        let mut go_to: Option<PathBuf> = None;
        egui::Window::new(self.purpose.title()).open(&mut open).collapsible(false).default_width(520.0).show(ctx, |ui| {
            ui.label(egui::RichText::new(&self.why).weak());
            ui.horizontal(|ui| {
                if ui.button("Up").clicked()
                    && let Some(parent) = self.dir.parent()
                {
                    go_to = Some(parent.to_owned());
                }
                ui.label(self.dir.display().to_string());
            });
            egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| match self.entries() {
                Ok((dirs, files)) => {
                    for d in dirs {
                        let name = d.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                        let response = ui.selectable_label(self.typed == d.display().to_string(), format!("[folder] {name}"));
                        if response.double_clicked() {
                            go_to = Some(d.clone());
                        } else if response.clicked() {
                            if self.purpose.wants_folder() {
                                self.typed = d.display().to_string();
                            } else {
                                go_to = Some(d.clone());
                            }
                        }
                    }
                    for f in files {
                        let name = f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                        let response = ui.selectable_label(self.typed == f.display().to_string(), name);
                        if response.clicked() {
                            self.typed = f.display().to_string();
                        }
                        if response.double_clicked() {
                            state = PathDialogState::Picked(f.clone());
                        }
                    }
                }
                Err(e) => {
                    ui.colored_label(egui::Color32::YELLOW, e);
                }
            });
            ui.separator();
            let response = ui.add(egui::TextEdit::singleline(&mut self.typed).desired_width(f32::INFINITY).hint_text("or type a path"));
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if let Some(e) = &self.error {
                ui.colored_label(egui::Color32::YELLOW, e);
            }
            ui.horizontal(|ui| {
                if ui.button("OK").clicked() || enter {
                    let path = PathBuf::from(self.typed.trim());
                    let wanted = if self.purpose.wants_folder() { "a folder" } else { "a file" };
                    let fits = if self.purpose == Purpose::ImportOut {
                        !path.is_file()
                    } else if self.purpose.wants_folder() {
                        path.is_dir()
                    } else {
                        path.is_file()
                    };
                    if self.typed.trim().is_empty() {
                        self.error = Some(format!("type or pick {wanted}"));
                    } else if path.is_dir() && !self.purpose.wants_folder() {
                        go_to = Some(path);
                    } else if fits {
                        state = PathDialogState::Picked(path);
                    } else {
                        self.error = Some(format!("{} is not {wanted}", path.display()));
                    }
                }
                if ui.button("Cancel").clicked() {
                    state = PathDialogState::Cancelled;
                }
            });
        });
        if let Some(dir) = go_to {
            if self.purpose.wants_folder() {
                self.typed = dir.display().to_string();
            }
            self.dir = dir;
            self.error = None;
        }
        if !open {
            state = PathDialogState::Cancelled;
        }
        state
    }
}
