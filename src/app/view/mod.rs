//! Drawing the app: panels read the app and push [`Command`]s, and never change it.
//! [`draw`] lays out the menu and status bars ([`menu`]), the inspector on the right
//! ([`inspector`]), the transport, label strip and spectrogram below ([`timeline`]) and the frame
//! views ([`frames`]); [`input`] turns keys and dropped files into commands.

mod browser;
mod frames;
mod inspector;
mod legend;
mod menu;
mod preview;
mod timeline;

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, Rect, Sense, Stroke, Ui, Vec2};

use super::command::Command;
use super::dialog::Purpose;
use super::{Layout, MbtApp, ModelResults, TokenPick, ViewMode};
use crate::analysis::{AnalysisSettings, Method, WindowResult, fnv1a, label_name};
use crate::explain::maps::{RgbMap, SpectrogramMap};
use crate::media::video::VideoFrame;
use crate::render::gpu::{FrameRef, OverlayRenderer};
use crate::render::{
    Colormap, Heat, MapSpan, Normalisation, OverlayStyle, blend_pixel, crop_rect, difference, heat_at, normalise, raw_range_at, rgb_slices,
    short_value,
};

use frames::frame_views;
use inspector::{bottleneck_panel, explanation_settings, labels_panel};
pub use menu::OPEN_SHORTCUT;
use menu::{import_window, menu_bar, status_bar};
use timeline::{clip_strip, label_strip, spectrogram_panel, transport};

/// Draws the window from `app` and pushes what the user asked for onto `commands`; returns what
/// the layout measured.
pub fn draw(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) -> Layout {
    // Panels leave their background to the window's clear colour (the same panel colour): on a
    // software rasteriser every full-window fill costs frame rate.
    let side = egui::Frame::side_top_panel(ui.style()).fill(Color32::TRANSPARENT);
    let central = egui::Frame::central_panel(ui.style()).fill(Color32::TRANSPARENT);
    egui::Panel::top("menu").frame(side).show(ui, |ui| menu_bar(app, ui, commands));
    egui::Panel::bottom("status").frame(side).show(ui, |ui| status_bar(app, ui, commands));
    if app.ui.page == super::Page::Results {
        let page = egui::CentralPanel::default().frame(central).show(ui, |ui| browser::results_page(app, ui, commands));
        let ctx = ui.ctx().clone();
        import_window(app, &ctx, commands);
        shortcuts_window(app, &ctx, commands);
        // The clip's views are not drawn: the last layout's frame size stays for decoding.
        return Layout {
            rects: super::ViewRects { frames: page.response.rect, ..super::ViewRects::default() },
            view_pixels: app.ui.layout.view_pixels,
        };
    }
    // The inspector takes at most 40% of the window's width, so that the frames and the
    // transport keep room in a small window; it folds away to a strip (View menu, or I).
    let window_width = ui.available_width();
    let inspector = if app.settings.show_inspector {
        egui::Panel::right("inspector").frame(side).default_size(380.0_f32.min(window_width * 0.4)).max_size(window_width * 0.4).show(
            ui,
            |ui| {
                inspector_contents(app, ui, commands);
            },
        )
    } else {
        egui::Panel::right("inspector-folded").frame(side).resizable(false).exact_size(28.0).show(ui, |ui| {
            if ui.button("«").on_hover_text("show the inspector (I)").clicked() {
                commands.push(Command::ShowInspector(true));
            }
        })
    };
    let transport_panel = egui::Panel::bottom("transport").frame(side).show(ui, |ui| {
        transport(app, ui, commands);
        label_strip(app, ui, commands);
        clip_strip(app, ui, commands);
        spectrogram_panel(app, ui, commands);
    });
    let frames = egui::CentralPanel::default().frame(central).show(ui, |ui| frame_views(app, ui, commands));
    let ctx = ui.ctx().clone();
    import_window(app, &ctx, commands);
    shortcuts_window(app, &ctx, commands);
    preview::preview_window(app, &ctx, commands);
    Layout {
        rects: super::ViewRects {
            frames: frames.response.rect,
            transport: transport_panel.response.rect,
            inspector: inspector.response.rect,
        },
        view_pixels: frames.inner,
    }
}

/// The inspector: the explanation settings, the labels and the bottleneck tokens, scrolling.
fn inspector_contents(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        explanation_settings(app, ui, commands);
        ui.separator();
        labels_panel(app, ui);
        ui.separator();
        bottleneck_panel(app, ui, commands);
    });
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
    if ctx.input(|i| i.key_pressed(egui::Key::F1) || i.key_pressed(egui::Key::Questionmark)) {
        commands.push(Command::ToggleShortcuts);
    }
    if app.ui.show_shortcuts && ctx.input(|i| i.key_pressed(egui::Key::Escape)) {
        commands.push(Command::ToggleShortcuts);
    }
    // The transport's keys belong to the clip's page.
    if app.ui.page == super::Page::Results {
        return;
    }
    let t = app.position();
    // Shift: finer seeks, as in mpv (Shift+Left/Right 1 s).
    if ctx.input(|i| i.modifiers.shift) {
        for (key, step) in [(egui::Key::ArrowLeft, -1.0), (egui::Key::ArrowRight, 1.0)] {
            if ctx.input(|i| i.key_pressed(key)) {
                commands.push(Command::Seek(t + step));
            }
        }
        return;
    }
    let keys = [
        (egui::Key::Space, Command::TogglePlay),
        (egui::Key::ArrowLeft, Command::Seek(t - 5.0)),
        (egui::Key::ArrowRight, Command::Seek(t + 5.0)),
        // J/K/L as on video sites: 10 s back, play/pause, 10 s on.
        (egui::Key::J, Command::Seek(t - 10.0)),
        (egui::Key::K, Command::TogglePlay),
        (egui::Key::L, Command::Seek(t + 10.0)),
        (egui::Key::Comma, Command::Step(-1)),
        (egui::Key::Period, Command::Step(1)),
        (egui::Key::Home, Command::Seek(0.0)),
        (egui::Key::End, Command::Seek(app.duration())),
        // The A-B loop, as in mpv and VLC.
        (egui::Key::OpenBracket, Command::SetLoopA),
        (egui::Key::CloseBracket, Command::SetLoopB),
        (egui::Key::Backspace, Command::ClearLoop),
        (egui::Key::I, Command::ShowInspector(!app.settings.show_inspector)),
        (egui::Key::P, Command::ToggleInputPreview),
        (egui::Key::Num0, Command::SetZoom(super::FrameZoom::default())),
    ];
    for (key, command) in keys {
        if ctx.input(|i| i.key_pressed(key)) {
            commands.push(command);
        }
    }
}

/// Every keyboard shortcut, in the order they are listed (F1 or ? shows them).
pub const SHORTCUTS: [(&str, &str); 21] = [
    ("Space, K", "play / pause (at the end: play from the start)"),
    ("Left / Right", "5 s back / on"),
    ("Shift+Left / Right", "1 s back / on"),
    ("J / L", "10 s back / on"),
    (", / .", "one frame back / on (pauses)"),
    ("Home / End", "the start / the end"),
    ("[", "A-B loop: A at the playhead"),
    ("]", "A-B loop: B at the playhead"),
    ("Backspace", "no A-B loop"),
    ("I", "show / hide the inspector on the right"),
    ("P", "show / hide what the model sees (model A's input at the playhead)"),
    ("Ctrl+O", "open a clip"),
    ("F1, ?", "show / hide these shortcuts"),
    ("Esc", "hide these shortcuts"),
    ("drop a file", "open it (a clip, or a model folder as model A)"),
    ("click a bottleneck token", "its maps instead of the classification tokens'"),
    ("scroll / drag / double-click on a frame", "zoom about the cursor / pan / the whole frame again"),
    ("0 key", "the whole frame again (no zoom)"),
    ("click the label strip, the audio strip or the spectrogram", "seek there"),
    ("View menu", "A alone, side by side, or the difference"),
    ("Explanation > Reset to defaults", "the method, rollout and map settings as a fresh start has them"),
];

/// The shortcuts overlay.
fn shortcuts_window(app: &MbtApp, ctx: &egui::Context, commands: &mut Vec<Command>) {
    if !app.ui.show_shortcuts {
        return;
    }
    let mut open = true;
    egui::Window::new("Keyboard shortcuts").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        egui::Grid::new("shortcuts").num_columns(2).striped(true).show(ui, |ui| {
            for (keys, what) in SHORTCUTS {
                ui.strong(keys);
                ui.label(what);
                ui.end_row();
            }
        });
    });
    if !open {
        commands.push(Command::ToggleShortcuts);
    }
}
