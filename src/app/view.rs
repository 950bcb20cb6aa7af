//! Drawing the app: menus, the frame views with their heatmaps, the transport and timeline, the
//! spectrogram, the labels and the bottleneck panel.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, Rect, Sense, Stroke, Ui, Vec2};

use super::command::Command;
use super::dialog::Purpose;
use super::{Layout, MbtApp, ModelResults, TokenPick, ViewMode};
use crate::analysis::{Method, WindowResult, fnv1a, label_name};
use crate::explain::maps::{RgbMap, SpectrogramMap};
use crate::media::video::VideoFrame;
use crate::render::gpu::{FrameRef, OverlayRenderer};
use crate::render::{
    Colormap, Heat, MapSpan, Normalisation, OverlayStyle, blend_pixel, crop_rect, difference, heat_at, normalise, rgb_slices,
};

/// Draws the window from `app` and pushes what the user asked for onto `commands`; returns what
/// the layout measured.
pub fn draw(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) -> Layout {
    // Panels leave their background to the window's clear colour (the same panel colour): on a
    // software rasteriser every full-window fill costs frame rate.
    let side = egui::Frame::side_top_panel(ui.style()).fill(Color32::TRANSPARENT);
    let central = egui::Frame::central_panel(ui.style()).fill(Color32::TRANSPARENT);
    egui::Panel::top("menu").frame(side).show(ui, |ui| menu_bar(app, ui, commands));
    egui::Panel::bottom("status").frame(side).show(ui, |ui| status_bar(app, ui, commands));
    let inspector = egui::Panel::right("inspector").frame(side).default_size(380.0).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            explanation_settings(app, ui, commands);
            ui.separator();
            labels_panel(app, ui);
            ui.separator();
            bottleneck_panel(app, ui, commands);
        });
    });
    let transport_panel = egui::Panel::bottom("transport").frame(side).show(ui, |ui| {
        transport(app, ui, commands);
        label_strip(app, ui);
        spectrogram_panel(app, ui);
    });
    let frames = egui::CentralPanel::default().frame(central).show(ui, |ui| frame_views(app, ui));
    let ctx = ui.ctx().clone();
    import_window(app, &ctx, commands);
    Layout {
        rects: super::ViewRects {
            frames: frames.response.rect,
            transport: transport_panel.response.rect,
            inspector: inspector.response.rect,
        },
        view_pixels: frames.inner,
    }
}

/// Keyboard shortcuts and dropped files, as commands.
pub fn input(app: &MbtApp, ctx: &egui::Context, commands: &mut Vec<Command>) {
    let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_owned()).collect());
    if let Some(path) = dropped.into_iter().next() {
        commands.push(if path.is_dir() && path.join(crate::weights::native::WEIGHTS_FILE).exists() {
            Command::MakeModelA(path)
        } else {
            Command::OpenClip(path)
        });
    }
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    if ctx.input_mut(|i| i.consume_shortcut(&OPEN_SHORTCUT)) {
        commands.push(Command::PickPath(Purpose::OpenClip, app.clip().map(std::path::Path::to_owned)));
    }
    let t = app.position();
    let keys = [
        (egui::Key::Space, Command::TogglePlay),
        (egui::Key::ArrowLeft, Command::Seek(t - 5.0)),
        (egui::Key::ArrowRight, Command::Seek(t + 5.0)),
        (egui::Key::Comma, Command::Step(-1)),
        (egui::Key::Period, Command::Step(1)),
        (egui::Key::Home, Command::Seek(0.0)),
        (egui::Key::End, Command::Seek(app.duration())),
    ];
    for (key, command) in keys {
        if ctx.input(|i| i.key_pressed(key)) {
            commands.push(command);
        }
    }
}

/// File > Open a clip.
pub const OPEN_SHORTCUT: egui::KeyboardShortcut = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);

/// One text field of the import form.
type FormField = fn(&mut crate::app::ImportForm) -> &mut String;

/// Models > Import a Scenic checkpoint: the checkpoint, its config, optional class names and
/// the folder to write, each typed or picked; the import runs in the background and the model
/// becomes A when it succeeds.
fn import_window(app: &MbtApp, ctx: &egui::Context, commands: &mut Vec<Command>) {
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

fn menu_bar(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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
            let id = egui::Id::unique("open-path");
            let mut text: String = ui.data_mut(|d| d.get_temp(id).unwrap_or_default());
            let response = ui.text_edit_singleline(&mut text);
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.data_mut(|d| d.insert_temp(id, text.clone()));
            if (ui.button("Open").clicked() || enter) && !text.trim().is_empty() {
                commands.push(Command::OpenClip(PathBuf::from(text.trim())));
                ui.close();
            }
            if ui.button("Open the demo clip").clicked() {
                commands.push(Command::OpenClip(super::demo_clip()));
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
            let dir = super::export::export_dir(app);
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
            let shipped = super::shipped_models();
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
            let id = egui::Id::unique("model-path");
            let mut text: String = ui.data_mut(|d| d.get_temp(id).unwrap_or_default());
            let response = ui.text_edit_singleline(&mut text);
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.data_mut(|d| d.insert_temp(id, text.clone()));
            if (ui.button("Load").clicked() || enter) && !text.trim().is_empty() {
                commands.push(Command::LoadModelFolder(PathBuf::from(text.trim())));
                ui.close();
            }
            ui.separator();
            if ui.button("Import a Scenic checkpoint…").clicked() {
                commands.push(Command::EditImport(super::ImportForm { shown: true, ..app.ui.import.clone() }));
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
        });
        if let Some(clip) = app.clip() {
            let name = clip.file_name().map_or_else(|| clip.display().to_string(), |n| n.to_string_lossy().into_owned());
            ui.label(egui::RichText::new(name).weak()).on_hover_text(clip.display().to_string());
        }
    });
}

fn status_bar(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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

fn explanation_settings(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.heading("Explanation");
    let mut analysis = app.settings.analysis;
    egui::ComboBox::from_label("method").selected_text(super::method_name(analysis.method)).show_ui(ui, |ui| {
        ui.selectable_value(&mut analysis.method, Method::Rollout, super::method_name(Method::Rollout));
        ui.selectable_value(&mut analysis.method, Method::Relevance, super::method_name(Method::Relevance));
    });
    if analysis.method == Method::Relevance {
        let labels = app.analysis.models.first().map(|m| m.labels.clone()).unwrap_or_default();
        let name =
            |c: Option<usize>| c.map_or_else(|| "top prediction".to_owned(), |c| labels.get(c).cloned().unwrap_or_else(|| c.to_string()));
        egui::ComboBox::from_label("class").selected_text(name(analysis.class)).show_ui(ui, |ui| {
            ui.selectable_value(&mut analysis.class, None, "top prediction");
            for c in 0..labels.len().min(64) {
                ui.selectable_value(&mut analysis.class, Some(c), name(Some(c)));
            }
        });
    }
    use crate::model::mbt::HeadFusion;
    egui::ComboBox::from_label("head fusion").selected_text(format!("{:?}", analysis.rollout.head_fusion).to_lowercase()).show_ui(
        ui,
        |ui| {
            for f in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min] {
                ui.selectable_value(&mut analysis.rollout.head_fusion, f, format!("{f:?}").to_lowercase());
            }
        },
    );
    ui.add(egui::Slider::new(&mut analysis.rollout.discard_ratio, 0.0..=0.95).text("discard ratio"));
    // The deepest open model sets the range; a model with fewer layers starts at its last layer
    // instead (the worker fits the settings to each model and says so below), and the setting
    // itself stays as chosen.
    let layers = app.analysis.models.iter().filter_map(|m| m.config.as_ref()).map(|c| c.num_layers).max().unwrap_or(12);
    let top = layers.max(analysis.rollout.start_layer + 1) - 1;
    ui.add(egui::Slider::new(&mut analysis.rollout.start_layer, 0..=top).text("start layer"));
    if analysis != app.settings.analysis {
        commands.push(Command::SetAnalysis(analysis));
    }
    for m in app.analysis.models.iter().filter(|m| !m.adjusted.is_empty()) {
        ui.colored_label(Color32::YELLOW, format!("{}: {}; fitted for this model only", m.name, m.adjusted.join("; ").replace('_', " ")))
            .on_hover_text("This model cannot use the setting as chosen; the nearest setting it has is used for it, and the other models keep the chosen one.");
    }
    ui.separator();
    let mut style = app.settings.style;
    egui::ComboBox::from_label("colormap").selected_text(style.colormap.name()).show_ui(ui, |ui| {
        for c in Colormap::ALL {
            ui.selectable_value(&mut style.colormap, c, c.name());
        }
    });
    egui::ComboBox::from_label("normalise").selected_text(super::normalisation_name(style.normalisation)).show_ui(ui, |ui| {
        for n in [Normalisation::Frame, Normalisation::Clip, Normalisation::Smooth] {
            ui.selectable_value(&mut style.normalisation, n, super::normalisation_name(n));
        }
    });
    egui::ComboBox::from_label("time span")
        .selected_text(super::span_name(style.span))
        .show_ui(ui, |ui| {
            for span in [MapSpan::Slice, MapSpan::Window] {
                ui.selectable_value(&mut style.span, span, super::span_name(span));
            }
        })
        .response
        .on_hover_text("The map of the tubelet the frame falls in, or of the whole model window (its tubelets summed)");
    ui.add(egui::Slider::new(&mut style.opacity, 0.0..=1.0).text("opacity"));
    ui.add(egui::Slider::new(&mut style.threshold, 0.0..=1.0).text("threshold"));
    ui.checkbox(&mut style.smooth, "smooth upsampling");
    if style != app.settings.style {
        commands.push(Command::SetStyle(style));
    }
}

/// The rgb heatmap of model `m` at `t` (or of the selected bottleneck token).
fn rgb_heat(app: &MbtApp, m: &ModelResults, t: f64) -> Option<Heat> {
    let frames = m.config.as_ref()?.dataset_configs.num_frames;
    let token = app.token();
    fn pick(token: Option<TokenPick>, r: &WindowResult) -> Option<&RgbMap> {
        match token {
            Some(TokenPick { layer, token }) => r.bottleneck.get(layer)?.rgb_maps.get(token)?.as_ref(),
            None => r.rgb.as_ref(),
        }
    }
    let slices = rgb_slices(m.results.iter().flatten().filter_map(|r| Some(r.timed(pick(token, r)?))), frames, app.settings.style.span);
    heat_at(&slices, t, app.settings.style.normalisation)
}

struct OverlayCallback {
    id: u64,
    frame: Arc<VideoFrame>,
    frame_key: u64,
    heat: Option<(Heat, u64)>,
    crop: [f32; 4],
    style: OverlayStyle,
}

impl egui_wgpu::CallbackTrait for OverlayCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<OverlayRenderer>() {
            let frame = FrameRef { key: self.frame_key, width: self.frame.width, height: self.frame.height, rgb: &self.frame.rgb };
            renderer.update(device, queue, self.id, &frame, self.heat.as_ref().map(|(h, k)| (h, *k)), self.crop, &self.style);
        }
        Vec::new()
    }

    fn paint(&self, _info: egui::PaintCallbackInfo, pass: &mut wgpu::RenderPass<'static>, resources: &egui_wgpu::CallbackResources) {
        if let Some(renderer) = resources.get::<OverlayRenderer>() {
            renderer.paint(pass, self.id);
        }
    }
}

fn heat_key(h: &Heat) -> u64 {
    let bytes: Vec<u8> = h.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    fnv1a(&bytes) ^ (h.width as u64) << 48
}

/// The frame views; returns the pixel size of one ((0, 0) with no frame yet).
fn frame_views(app: &MbtApp, ui: &mut Ui) -> (u32, u32) {
    let Some((session, frame)) = app.session.as_ref().and_then(|s| Some((s, s.current_frame.clone()?))) else {
        ui.centered_and_justified(|ui| {
            ui.label(app.ui.message.clone().unwrap_or_else(|| "Opening...".into()));
        });
        return app.ui.layout.view_pixels;
    };
    let t = app.position();
    // The frame may be scaled for the screen; crops and boxes are in the clip's own pixels.
    let (native_w, native_h) = (session.player.info().width, session.player.info().height);
    let mut views: Vec<(String, Option<Heat>, Option<[f32; 4]>)> = Vec::new();
    let heat_for = |i: usize| {
        app.analysis.models.get(i).and_then(|m| {
            let heat = rgb_heat(app, m, t)?;
            let crop = crop_rect(m.crop.as_ref()?, native_w, native_h);
            Some((heat, crop))
        })
    };
    let name = |i: usize| {
        let Some(m) = app.analysis.models.get(i) else { return "no model".to_owned() };
        let layer = |p: TokenPick| m.results.iter().flatten().next().and_then(|r| r.bottleneck.get(p.layer)).map(|l| l.layer);
        match (session.token, m.config.as_ref().is_some_and(|c| c.use_bottleneck)) {
            (Some(p), true) => format!("{} - bottleneck token {} of layer {}", m.name, p.token, layer(p).unwrap_or(p.layer)),
            (Some(_), false) => format!("{} (no bottleneck tokens)", m.name),
            (None, _) => m.name.clone(),
        }
    };
    match app.settings.view {
        ViewMode::Single => {
            let h = heat_for(0);
            views.push((format!("A: {}", name(0)), h.as_ref().map(|x| x.0.clone()), h.map(|x| x.1)));
        }
        ViewMode::SideBySide => {
            for i in 0..app.analysis.models.len().clamp(1, 2) {
                let h = heat_for(i);
                views.push((format!("{}: {}", ["A", "B"][i], name(i)), h.as_ref().map(|x| x.0.clone()), h.map(|x| x.1)));
            }
        }
        ViewMode::Difference => {
            let (a, b) = (heat_for(0), heat_for(1));
            let d = a.as_ref().zip(b.as_ref()).and_then(|(a, b)| difference(&a.0, &b.0));
            views.push((format!("difference: {} - {} (0.5 = equal)", name(1), name(0)), d, a.map(|x| x.1)));
        }
    }
    let available = ui.available_size();
    let count = views.len() as f32;
    let aspect = frame.width as f32 / frame.height.max(1) as f32;
    let width = ((available.x - 8.0 * (count - 1.0)) / count).min((available.y - 24.0) * aspect).max(16.0);
    let size = Vec2::new(width, width / aspect);
    let pixels = size * ui.ctx().pixels_per_point();
    let mut style = app.settings.style;
    if app.settings.view == ViewMode::Difference {
        style.threshold = 0.0;
    }
    ui.horizontal(|ui| {
        for (i, (title, heat, crop)) in views.into_iter().enumerate() {
            ui.vertical(|ui| {
                ui.label(title);
                let (rect, _) = ui.allocate_exact_size(size, Sense::click());
                let heat = heat.filter(|_| app.settings.show_overlay).map(|h| {
                    let k = heat_key(&h);
                    (h, k)
                });
                let callback = OverlayCallback {
                    id: i as u64,
                    frame: frame.clone(),
                    frame_key: session.frame_key,
                    heat,
                    crop: crop.unwrap_or([0.0, 0.0, 1.0, 1.0]),
                    style,
                };
                ui.painter().add(egui_wgpu::Callback::new_paint_callback(rect, callback));
                if let Some(truth) = &session.truth {
                    draw_truth_box(ui, rect, truth, t, native_w, native_h);
                }
            });
        }
    });
    (pixels.x.ceil() as u32, pixels.y.ceil() as u32)
}

/// The sounding object's ground-truth box, when the clip has a sidecar.
fn draw_truth_box(ui: &Ui, rect: Rect, truth: &crate::synth::ClipTruth, t: f64, w: u32, h: u32) {
    let Some(b) = truth.sounding_box(t) else { return };
    let (sx, sy) = (rect.width() / w as f32, rect.height() / h as f32);
    let r = Rect::from_min_max(rect.min + Vec2::new(b[0] * sx, b[1] * sy), rect.min + Vec2::new(b[2] * sx, b[3] * sy));
    ui.painter().rect_stroke(r, 2.0, Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Outside);
}

fn fmt_time(t: f64) -> String {
    let t = t.max(0.0);
    format!("{}:{:05.2}", (t / 60.0).floor() as u64, t % 60.0)
}

fn transport(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let duration = app.duration();
    ui.horizontal(|ui| {
        let playing = app.player().is_some_and(super::super::media::player::Player::is_playing);
        if ui.button(if playing { "Pause" } else { "Play" }).on_hover_text("Space").clicked() {
            commands.push(Command::TogglePlay);
        }
        if ui.button("<").on_hover_text("one frame back (,)").clicked() {
            commands.push(Command::Step(-1));
        }
        if ui.button(">").on_hover_text("one frame on (.)").clicked() {
            commands.push(Command::Step(1));
        }
        let mut t = app.position();
        ui.label(format!("{} / {}", fmt_time(t), fmt_time(duration)));
        ui.style_mut().spacing.slider_width = (ui.available_width() - 420.0).max(100.0);
        let response = ui.add(egui::Slider::new(&mut t, 0.0..=duration.max(0.001)).show_value(false)).on_hover_text("playback position");
        if response.changed() {
            commands.push(Command::Seek(t));
        }
        ui.style_mut().spacing.slider_width = 80.0;
        let mut speed = app.settings.speed;
        egui::ComboBox::from_label("speed").selected_text(format!("{speed}x")).width(60.0).show_ui(ui, |ui| {
            for s in [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0] {
                ui.selectable_value(&mut speed, s, format!("{s}x"));
            }
        });
        if speed != app.settings.speed {
            commands.push(Command::SetSpeed(speed));
        }
        let mut volume = app.settings.volume;
        let mut muted = app.settings.muted;
        ui.checkbox(&mut muted, "mute");
        ui.add(egui::Slider::new(&mut volume, 0.0..=2.0).text("volume"));
        if volume != app.settings.volume || muted != app.settings.muted {
            commands.push(Command::SetVolume { volume, muted });
        }
    });
}

fn class_colour(c: usize) -> Color32 {
    let palette = [
        Color32::from_rgb(228, 26, 28),
        Color32::from_rgb(55, 126, 184),
        Color32::from_rgb(77, 175, 74),
        Color32::from_rgb(152, 78, 163),
        Color32::from_rgb(255, 127, 0),
        Color32::from_rgb(200, 200, 51),
        Color32::from_rgb(166, 86, 40),
        Color32::from_rgb(247, 129, 191),
    ];
    palette[c % palette.len()]
}

/// The top label of each window along the clip, per model, with the playhead.
fn label_strip(app: &MbtApp, ui: &mut Ui) {
    let duration = app.duration().max(1e-3);
    let t = app.position();
    for m in &app.analysis.models {
        ui.horizontal(|ui| {
            ui.add_sized([90.0, 14.0], egui::Label::new(egui::RichText::new(&m.name).small()).truncate());
            let (rect, response) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 14.0), Sense::click());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, Color32::from_gray(40));
            let x = |s: f64| rect.left() + rect.width() * (s / duration).clamp(0.0, 1.0) as f32;
            let mut hover = None;
            for (span, result) in m.windows.iter().zip(&m.results) {
                let Some(r) = result else { continue };
                let (c, p) = r.top(1)[0];
                let cell = Rect::from_x_y_ranges(x(r.audio_start.max(0.0))..=x(r.audio_end), rect.y_range());
                painter.rect_filled(cell.shrink(0.5), 0.0, class_colour(c).gamma_multiply(0.4 + 0.6 * p));
                if response.hovered() && ui.input(|i| i.pointer.hover_pos()).is_some_and(|pos| cell.contains(pos)) {
                    hover = Some(format!("{:.1} s: {} ({:.0}%)", span.centre, label_name(&m.labels, c), p * 100.0));
                }
            }
            painter.vline(x(t), rect.y_range(), Stroke::new(2.0, Color32::WHITE));
            if let Some(text) = hover {
                response.on_hover_text(text);
            }
        });
    }
}

/// The clip's spectrogram over model A's window at the playhead, with that window's
/// spectrogram map (or the selected token's) and the playhead.
fn spectrogram_panel(app: &MbtApp, ui: &mut Ui) {
    // Only while a clip is open is its audio being decoded.
    let Some(session) = &app.session else { return };
    let Some(spec) = session.spectrogram.clone() else {
        ui.label(if session.spectrogram_pending() {
            "spectrogram: decoding audio..."
        } else {
            "spectrogram: the clip has no sound to show"
        });
        return;
    };
    let t = app.position();
    let window = app.analysis.models.first().and_then(|m| m.window_at(t).cloned());
    let (start, end) = window.as_ref().map_or((t - 1.0, t + 1.0), |w| (w.audio_start, w.audio_end));
    let map: Option<SpectrogramMap> = window.as_ref().and_then(|w| match session.token {
        Some(p) => w.bottleneck.get(p.layer)?.spectrogram_maps.get(p.token)?.clone(),
        None => w.spectrogram.clone(),
    });
    let key = fnv1a(
        format!(
            "{start}{end}{:?}{:?}{}{:?}",
            app.settings.style,
            session.token,
            app.settings.show_overlay,
            window.as_ref().map(|w| w.index)
        )
        .as_bytes(),
    ) ^ (map.is_some() as u64);
    let id = egui::Id::unique("spectrogram-texture");
    let cached: Option<(u64, egui::TextureHandle)> = ui.data(|d| d.get_temp(id));
    let texture = match cached {
        Some((k, tex)) if k == key => tex,
        _ => {
            let image = spectrogram_image(&spec, start, end, map.as_ref().filter(|_| app.settings.show_overlay), &app.settings.style);
            let tex = ui.ctx().load_texture("spectrogram", image, egui::TextureOptions::LINEAR);
            ui.data_mut(|d| d.insert_temp(id, (key, tex.clone())));
            tex
        }
    };
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(format!("spectrogram {:.2}-{:.2} s", start, end)).small());
    });
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 110.0), Sense::hover());
    ui.painter().image(texture.id(), rect, Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), Color32::WHITE);
    let x = rect.left() + rect.width() * ((t - start) / (end - start).max(1e-6)).clamp(0.0, 1.0) as f32;
    ui.painter().vline(x, rect.y_range(), Stroke::new(2.0, Color32::WHITE));
}

/// Grey log-mel frames `[start, end)` (low frequencies at the bottom) with `map` blended over.
fn spectrogram_image(
    spec: &super::ClipSpectrogram,
    start: f64,
    end: f64,
    map: Option<&SpectrogramMap>,
    style: &OverlayStyle,
) -> egui::ColorImage {
    let first = (start * 100.0).round() as i64;
    let frames = (((end - start) * 100.0).round() as usize).max(1);
    let mel = spec.mel;
    let column = |f: i64| -> Option<&[f32]> {
        (f >= 0 && (f as usize) < spec.frames).then(|| &spec.values[f as usize * mel..(f as usize + 1) * mel])
    };
    let (lo, hi) = spec.range;
    let heat = map.map(|m| {
        // Map rows are time, columns mel; the image has time across and mel upwards.
        let values = normalise(&m.values, None);
        let mut v = vec![0.0; m.time * m.mel];
        for ti in 0..m.time {
            for mi in 0..m.mel {
                v[(m.mel - 1 - mi) * m.time + ti] = values[ti * m.mel + mi];
            }
        }
        Heat { width: m.time, height: m.mel, values: v }
    });
    let mut pixels = Vec::with_capacity(frames * mel);
    for y in 0..mel {
        for x in 0..frames {
            let value = column(first + x as i64).map_or(lo, |c| c[mel - 1 - y]);
            let g = (255.0 * (value - lo) / (hi - lo).max(1e-6)).clamp(0.0, 255.0) as u8;
            let h = heat.as_ref().map(|h| h.sample((x as f32 + 0.5) / frames as f32, (y as f32 + 0.5) / mel as f32, style.smooth));
            let [r, g, b] = blend_pixel([g, g, g], h, style);
            pixels.push(Color32::from_rgb(r, g, b));
        }
    }
    egui::ColorImage::new([frames, mel], pixels)
}

fn labels_panel(app: &MbtApp, ui: &mut Ui) {
    ui.heading("Labels");
    let t = app.position();
    if let Some(truth) = app.session.as_ref().and_then(|s| s.truth.as_ref()) {
        ui.label(format!("ground truth: {} (white box: the sounding object)", truth.label_name));
    }
    for m in &app.analysis.models {
        ui.label(egui::RichText::new(&m.name).strong());
        match m.window_at(t) {
            Some(r) => {
                for (c, p) in r.top(5) {
                    ui.horizontal(|ui| {
                        ui.add(egui::ProgressBar::new(p).desired_width(120.0).fill(class_colour(c)).text(format!("{:.1}%", p * 100.0)));
                        ui.label(label_name(&m.labels, c));
                    });
                }
                let shares: Vec<String> =
                    r.cross_modal.iter().map(|(m, s)| format!("{m}: {:.0}% from the other modality", s * 100.0)).collect();
                ui.label(egui::RichText::new(shares.join("; ")).small());
                if let Some(c) = r.explained_class {
                    ui.label(egui::RichText::new(format!("relevance explains: {}", label_name(&m.labels, c))).small());
                }
            }
            None => {
                ui.label("analysing this window...");
            }
        }
    }
}

fn bottleneck_panel(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.heading("Bottleneck tokens");
    let t = app.position();
    let Some((mi, m)) = app.analysis.models.iter().enumerate().find(|(_, m)| m.config.as_ref().is_some_and(|c| c.use_bottleneck)) else {
        ui.label("No loaded model has bottleneck tokens.");
        return;
    };
    let Some(r) = m.window_at(t) else {
        ui.label("analysing this window...");
        return;
    };
    ui.label(format!("{} (model {}): token norm now; click one to see its attention", m.name, ["A", "B"][mi.min(1)]));
    let token = app.token();
    let mut picked = token;
    for (li, layer) in r.bottleneck.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!("layer {}", layer.layer));
            let max = layer.norm.iter().copied().fold(1e-6, f32::max);
            for (k, &n) in layer.norm.iter().enumerate() {
                let v = (n / max).clamp(0.0, 1.0);
                let [cr, cg, cb] = Colormap::Viridis.eval(v);
                let selected = picked == Some(TokenPick { layer: li, token: k });
                let button =
                    egui::Button::new(egui::RichText::new(format!("{k}")).color(if v > 0.6 { Color32::BLACK } else { Color32::WHITE }))
                        .fill(Color32::from_rgb(cr, cg, cb))
                        .stroke(if selected { Stroke::new(2.0, Color32::WHITE) } else { Stroke::NONE })
                        .min_size(Vec2::new(26.0, 22.0));
                let received: Vec<String> =
                    layer.received.iter().map(|(m, v)| format!("{m}: {:.3}", v.get(k).copied().unwrap_or(0.0))).collect();
                if ui.add(button).on_hover_text(format!("norm {n:.2}; attention received {}", received.join(", "))).clicked() {
                    picked = if selected { None } else { Some(TokenPick { layer: li, token: k }) };
                }
            }
        });
    }
    if token.is_some() && ui.button("show the classification maps again").clicked() {
        picked = None;
    }
    if picked != token {
        commands.push(Command::PickToken(picked));
    }
    // Token norms over the clip for the selected (or first) fusion layer.
    let layer_index = token.map_or(0, |p| p.layer);
    let series: Vec<Vec<[f64; 2]>> = {
        let n = r.bottleneck.get(layer_index).map_or(0, |l| l.norm.len());
        (0..n)
            .map(|k| {
                m.results
                    .iter()
                    .flatten()
                    .filter_map(|w| Some([w.centre, f64::from(*w.bottleneck.get(layer_index)?.norm.get(k)?)]))
                    .collect()
            })
            .collect()
    };
    let layer_name = r.bottleneck.get(layer_index).map_or(0, |l| l.layer);
    ui.label(format!("token norms over the clip, layer {layer_name}"));
    egui_plot::Plot::new("bottleneck-plot").height(140.0).allow_scroll(false).show(ui, |plot| {
        for (k, points) in series.into_iter().enumerate() {
            plot.line(egui_plot::Line::new(format!("token {k}"), egui_plot::PlotPoints::from(points)));
        }
        plot.vline(egui_plot::VLine::new("playhead", t));
    });
}

/// File > Export the clip: which frames, as what, then a progress bar with Cancel.
fn clip_export_menu(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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
    if ui.button("Export the clip").clicked() {
        let format = if jpg { crate::export::ImageFormat::Jpg } else { crate::export::ImageFormat::Png };
        commands.push(Command::ExportClip { frames, format, images, video });
        ui.close();
    }
}
