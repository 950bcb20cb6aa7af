//! The "What the model sees" window: model A's input for the window at the playhead, as the
//! model received it, with its statistics ([`crate::app::preview`]).

use super::*;
use crate::app::preview::{InputPreview, Stats};

pub(super) fn preview_window(app: &MbtApp, ctx: &egui::Context, commands: &mut Vec<Command>) {
    let state = &app.ui.preview;
    if !state.shown {
        return;
    }
    let mut open = true;
    egui::Window::new("What the model sees").open(&mut open).default_size([560.0, 620.0]).vscroll(true).show(ctx, |ui| {
        let model = app.analysis.models.first().map_or_else(|| "no model".to_owned(), |m| m.name.clone());
        match &state.result {
            None => {
                ui.label("reading the window's input...");
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, format!("cannot read the input: {e}"));
            }
            Some(Ok(p)) => {
                if state.task.is_some() {
                    ui.label(egui::RichText::new("updating to the playhead's window...").small());
                }
                contents(ui, &model, p);
            }
        }
    });
    if !open {
        commands.push(Command::ToggleInputPreview);
    }
}

fn contents(ui: &mut Ui, model: &str, p: &InputPreview) {
    let step = p.frames.windows(2).next().map_or(0.0, |w| w[1].0 - w[0].0);
    ui.label(format!("model A ({model}), window {} of {}", p.window + 1, p.windows));
    ui.label(
        egui::RichText::new(format!(
            "{} frames {step:.3} s apart, frames {}-{} of the clip; each {}x{} resized to {}x{}, then the {}x{} centre crop at ({}, {}); values {}",
            p.frames.len(),
            p.frames.first().map_or(0, |f| f.1),
            p.frames.last().map_or(0, |f| f.1),
            p.clip_size.0,
            p.clip_size.1,
            p.resized.0,
            p.resized.1,
            p.crop,
            p.crop,
            p.crop_offset.0,
            p.crop_offset.1,
            if p.zero_centering { "scaled to [-1, 1] (zero-centred)" } else { "scaled to [0, 1]" },
        ))
        .small(),
    );
    // The frames, four to a row.
    let side = ((ui.available_width() - 24.0) / 4.0).clamp(48.0, 160.0);
    egui::Grid::new("preview-frames").spacing([4.0, 2.0]).show(ui, |ui| {
        for (k, (pixels, (secs, number))) in p.pixels.iter().zip(&p.frames).enumerate() {
            ui.vertical(|ui| {
                let id = format!("preview-frame-{}-{}-{k}", p.window, p.frames.first().map_or(0, |f| f.1));
                let texture = texture(ui, &id, p.crop, p.crop, || pixels.chunks(3).map(|c| Color32::from_rgb(c[0], c[1], c[2])).collect());
                ui.image((texture.id(), Vec2::splat(side)));
                ui.label(egui::RichText::new(format!("{k}: frame {number}, {secs:.2} s")).small());
            });
            if k % 4 == 3 {
                ui.end_row();
            }
        }
    });
    ui.separator();
    let (mean, std) = p.spec_norm;
    ui.label(format!("spectrogram {:.2}-{:.2} s: {} frames of 10 ms x {} mel bins", p.audio.0, p.audio.1, p.time, p.mel));
    ui.label(
        egui::RichText::new(format!("log-mel (Kaldi fbank, 25 ms Hann windows), then (x - {mean}) / {std}; low frequencies at the bottom"))
            .small(),
    );
    let id = format!("preview-spectrogram-{}-{:.3}", p.window, p.audio.0);
    let (lo, hi) = (p.spec_stats.min, p.spec_stats.max);
    let texture = texture(ui, &id, p.time, p.mel, || {
        let mut pixels = Vec::with_capacity(p.time * p.mel);
        for y in 0..p.mel {
            for x in 0..p.time {
                let v = p.spectrogram[x * p.mel + (p.mel - 1 - y)];
                let [r, g, b] = Colormap::Inferno.eval((v - lo) / (hi - lo).max(1e-6));
                pixels.push(Color32::from_rgb(r, g, b));
            }
        }
        pixels
    });
    let width = ui.available_width().min(540.0);
    ui.image((texture.id(), Vec2::new(width, (width * p.mel as f32 / p.time.max(1) as f32).clamp(60.0, 200.0))));
    ui.separator();
    egui::Grid::new("preview-stats").striped(true).num_columns(6).show(ui, |ui| {
        for head in ["input", "shape", "min", "max", "mean", "std"] {
            ui.strong(head);
        }
        ui.end_row();
        let row = |ui: &mut Ui, name: &str, shape: String, s: &Stats| {
            ui.label(name);
            ui.label(shape);
            for v in [s.min, s.max, s.mean, s.std] {
                ui.label(format!("{v:.4}"));
            }
            ui.end_row();
        };
        row(ui, "rgb", format!("{} x {} x {} x 3", p.frames.len(), p.crop, p.crop), &p.rgb_stats);
        row(ui, "spectrogram", format!("{} x {}", p.time, p.mel), &p.spec_stats);
    });
}

/// A texture made once per `id` (the preview's images change only with the window).
fn texture(ui: &Ui, id: &str, width: usize, height: usize, pixels: impl FnOnce() -> Vec<Color32>) -> egui::TextureHandle {
    let key = egui::Id::unique("preview-texture").with(id);
    if let Some(t) = ui.data(|d| d.get_temp::<egui::TextureHandle>(key)) {
        return t;
    }
    let image = egui::ColorImage::new([width.max(1), height.max(1)], pixels());
    let t = ui.ctx().load_texture(id, image, egui::TextureOptions::NEAREST);
    ui.data_mut(|d| d.insert_temp(key, t.clone()));
    t
}
