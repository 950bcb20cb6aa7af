//! The menu bar (File, Models, View), the status bar and the checkpoint-import window.

use super::*;

/// File > Open a clip.
pub const OPEN_SHORTCUT: egui::KeyboardShortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);

/// One text field of the import form.
pub(super) type FormField = fn(&mut crate::app::ImportForm) -> &mut String;

/// Models > Import a Scenic checkpoint: the checkpoint, its config, optional class names and
/// the folder to write, each typed or picked; the import runs in the background and the model
/// becomes A when it succeeds.
pub(super) fn import_window(app: &MbtApp, ctx: &egui::Context, commands: &mut Vec<Command>) {
    let mut form = app.ui.import.clone();
    let mut shown = form.shown;
    egui::Window::new("Import a Scenic checkpoint").open(&mut shown).collapsible(false).resizable(true).default_width(560.0).show(
        ctx,
        |ui| {
            let running = app.importing();
            egui::Grid::new("import-fields").num_columns(3).show(ui, |ui| {
                let rows: [(&str, Purpose, FormField); 4] = [
                    ("checkpoint", Purpose::ImportCheckpoint, |f| &mut f.checkpoint),
                    ("config JSON", Purpose::ImportConfig, |f| &mut f.config),
                    ("class names (optional)", Purpose::ImportLabels, |f| &mut f.labels),
                    ("write the model to", Purpose::ImportOut, |f| &mut f.out),
                ];
                for (label, purpose, field) in rows {
                    ui.label(label);
                    let before = field(&mut form).clone();
                    let mut text = before.clone();
                    ui.add_enabled_ui(!running, |ui| ui.add_sized([380.0, 20.0], egui::TextEdit::singleline(&mut text)));
                    if text != before {
                        if purpose == Purpose::ImportCheckpoint {
                            form.set_checkpoint(std::path::Path::new(&text));
                        } else {
                            *field(&mut form) = text;
                        }
                    }
                    if ui.add_enabled(!running && app.ui.dialogs.open().is_none(), egui::Button::new("Browse…")).clicked() {
                        let start = PathBuf::from(field(&mut form).trim());
                        commands.push(Command::PickPath(purpose, (!start.as_os_str().is_empty()).then_some(start)));
                    }
                    ui.end_row();
                }
            });
            ui.checkbox(&mut form.replace, "replace a model already in that folder");
            ui.horizontal(|ui| {
                if ui.add_enabled(!running, egui::Button::new("Import")).clicked() {
                    commands.push(Command::StartImport);
                }
                if running {
                    ui.spinner();
                }
            });
            if let Some(message) = &form.message {
                ui.label(message);
            }
        },
    );
    form.shown = shown;
    if form != app.ui.import {
        // Before the import starts, so that it reads the fields as edited.
        commands.insert(0, Command::EditImport(form));
    }
}

pub(super) fn menu_bar(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    // Menus hold text fields and option controls, so a click inside one keeps it open (egui's
    // default closes it on any click); every action button closes its menu itself.
    let config = egui::containers::menu::MenuConfig::new().close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside);
    egui::MenuBar::new().config(config).ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.add(egui::Button::new("Open a clip…").shortcut_text(ui.ctx().format_shortcut(&OPEN_SHORTCUT))).clicked() {
                commands.push(Command::PickPath(Purpose::OpenClip, app.clip().map(std::path::Path::to_owned)));
                ui.close();
            }
            ui.label("or type its path:");
            if let Some(path) = typed_path(ui, "open-path", "Open") {
                commands.push(Command::OpenClip(path));
                ui.close();
            }
            if ui.button("Open the demo clip").clicked() {
                commands.push(Command::OpenClip(crate::app::demo_clip()));
                ui.close();
            }
            ui.separator();
            if ui.button("Open results…").on_hover_text("a results file of `mbtscope analyze --out` (JSON or Parquet)").clicked() {
                let start = app.browser.table.as_ref().and_then(|t| t.path.parent().map(std::path::Path::to_owned));
                commands.push(Command::PickPath(Purpose::OpenResults, start));
                ui.close();
            }
            ui.label("or type the results file's path:");
            if let Some(path) = typed_path(ui, "results-path", "Open results") {
                commands.push(Command::OpenResults(path));
                ui.close();
            }
            ui.separator();
            ui.label("Recent:");
            for path in &app.settings.recent {
                if ui.button(path.display().to_string()).clicked() {
                    commands.push(Command::OpenClip(path.clone()));
                    ui.close();
                }
            }
            ui.separator();
            let dir = crate::app::export::export_dir(app);
            if ui.button("Export folder…").on_hover_text(format!("now {}", dir.display())).clicked() {
                commands.push(Command::PickPath(Purpose::ExportFolder, Some(dir)));
                ui.close();
            }
            if ui.button("Export the current frame (PNG)").clicked() {
                commands.push(Command::ExportFrame);
                ui.close();
            }
            clip_export_menu(app, ui, commands);
            ui.separator();
            if ui.button("Export predictions and maps (JSON)").clicked() {
                commands.push(Command::ExportJson);
                ui.close();
            }
        });
        ui.menu_button("Models", |ui| {
            ui.label("Analysed: the first two (A and B).");
            let shipped = crate::app::shipped_models();
            for dir in shipped.iter().chain(app.settings.models.iter().filter(|m| !shipped.contains(m))).cloned().collect::<Vec<_>>() {
                let position = app.settings.models.iter().position(|m| m == &dir);
                let tag = match position {
                    Some(0) => "A",
                    Some(1) => "B",
                    _ => " ",
                };
                if ui.button(format!("[{tag}] {}", dir.display())).on_hover_text("make this model A").clicked() {
                    commands.push(Command::MakeModelA(dir));
                    ui.close();
                }
            }
            ui.separator();
            if ui.button("Load a model folder…").clicked() {
                commands.push(Command::PickPath(Purpose::ModelFolder, app.settings.models.first().cloned()));
                ui.close();
            }
            ui.label("or type its path:");
            if let Some(path) = typed_path(ui, "model-path", "Load") {
                commands.push(Command::LoadModelFolder(path));
                ui.close();
            }
            ui.separator();
            if ui.button("Import a Scenic checkpoint…").clicked() {
                commands.push(Command::EditImport(crate::app::ImportForm { shown: true, ..app.ui.import.clone() }));
                ui.close();
            }
        });
        ui.menu_button("View", |ui| {
            for (mode, name) in
                [(ViewMode::Single, "model A"), (ViewMode::SideBySide, "A and B side by side"), (ViewMode::Difference, "difference B - A")]
            {
                if ui.radio(app.settings.view == mode, name).clicked() {
                    commands.push(Command::SetView(mode));
                }
            }
            let mut shown = app.settings.show_overlay;
            if ui.checkbox(&mut shown, "heatmap overlay").changed() {
                commands.push(Command::ShowOverlay(shown));
            }
            if ui.button("What the model sees (P)").clicked() {
                commands.push(Command::ToggleInputPreview);
                ui.close();
            }
            let mut inspector = app.settings.show_inspector;
            if ui.checkbox(&mut inspector, "inspector panel (I)").changed() {
                commands.push(Command::ShowInspector(inspector));
            }
        });
        browser::page_tabs(app, ui, commands);
        if let Some(clip) = app.clip() {
            let name = clip.file_name().map_or_else(|| clip.display().to_string(), |n| n.to_string_lossy().into_owned());
            ui.label(egui::RichText::new(name).weak()).on_hover_text(clip.display().to_string());
        }
    });
}

pub(super) fn status_bar(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let (done, total) = app.analysis.progress();
        if total > 0 && done < total {
            ui.add(egui::ProgressBar::new(done as f32 / total as f32).desired_width(160.0).text(format!("{done}/{total} windows")));
        }
        ui.label(&app.analysis.status);
        ui.separator();
        ui.label(format!("model device: {}", app.analysis.device_description));
        if let Some(p) = app.player() {
            ui.separator();
            match p.clock_source() {
                crate::media::player::ClockSource::Audio { device, .. } => ui.label(format!("sound: {device}")),
                crate::media::player::ClockSource::Wall { .. } => ui.colored_label(Color32::YELLOW, "no sound (wall clock)"),
            };
            let s = p.stats();
            ui.label(format!("A/V {:+.1} ms, dropped {}", s.av_offset_ms, s.dropped_frames));
        }
    });
    if let Some(m) = &app.ui.message {
        ui.colored_label(Color32::YELLOW, m);
    }
    if let Some(task) = &app.tasks.clip_export {
        let (done, total) = task.progress();
        ui.horizontal(|ui| {
            let fraction = done as f32 / total.max(1) as f32;
            ui.add(egui::ProgressBar::new(fraction).desired_width(160.0).text(format!("exporting: {done} of {total} frames")));
            if ui.button("Cancel").clicked() {
                commands.push(Command::CancelExport);
            }
        });
    }
    if let Some(m) = &app.ui.export_message {
        ui.label(m);
    }
}

/// File > Export the clip: which frames, as what, then a progress bar with Cancel.
pub(super) fn clip_export_menu(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    if app.tasks.clip_export.is_some() {
        ui.label("An export is running (progress and Cancel in the status bar).");
        return;
    }
    ui.label("Export the clip, as the view shows it (A, or A and B side by side):");
    let id = egui::Id::unique("export-frames");
    let (mut frames, mut jpg, mut images, mut video): (String, bool, bool, bool) =
        ui.data_mut(|d| d.get_temp(id).unwrap_or_else(|| ("all".to_owned(), false, true, true)));
    ui.horizontal(|ui| {
        ui.label("frames:");
        ui.text_edit_singleline(&mut frames).on_hover_text("all, START:END (frame indices), 1.5s:3s, or N,M,...");
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut images, "images");
        ui.radio_value(&mut jpg, false, "PNG");
        ui.radio_value(&mut jpg, true, "JPEG");
        ui.checkbox(&mut video, "annotated MP4 with sound");
    });
    ui.data_mut(|d| d.insert_temp(id, (frames.clone(), jpg, images, video)));
    figure_options(app, ui, commands);
    if ui.button("Export the clip").clicked() {
        let format = if jpg { crate::export::ImageFormat::Jpg } else { crate::export::ImageFormat::Png };
        commands.push(Command::ExportClip { frames, format, images, video });
        ui.close();
    }
}

/// How exports are drawn for a figure (this frame's export and the clip's), as `mbtscope
/// export`'s flags of the same names.
pub(super) fn figure_options(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let mut figure = app.settings.figure;
    ui.horizontal(|ui| {
        ui.label("for a figure:");
        ui.add(egui::DragValue::new(&mut figure.upscale).range(1..=8).prefix("x"))
            .on_hover_text("upscale: frames this many times larger, the map sampled at that size (--upscale)");
        ui.checkbox(&mut figure.truth_box, "truth box").on_hover_text("outline the sounding object from the clip's sidecar (--truth-box)");
        ui.checkbox(&mut figure.labels_below, "labels below").on_hover_text("name and labels in a strip under the frame (--labels-below)");
        ui.checkbox(&mut figure.caption, "caption")
            .on_hover_text("the colour bar with the map's raw range and threshold, and the settings (--caption)");
    });
    if figure != app.settings.figure {
        commands.push(Command::SetFigure(figure));
    }
}

/// A menu's path field (kept between frames under `id`) with its `button`: the path typed, once
/// the button is clicked or Enter pressed.
fn typed_path(ui: &mut Ui, id: &str, button: &str) -> Option<PathBuf> {
    let id = egui::Id::unique(id);
    let mut text: String = ui.data_mut(|d| d.get_temp(id).unwrap_or_default());
    let response = ui.text_edit_singleline(&mut text);
    let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    ui.data_mut(|d| d.insert_temp(id, text.clone()));
    ((ui.button(button).clicked() || enter) && !text.trim().is_empty()).then(|| PathBuf::from(text.trim()))
}
