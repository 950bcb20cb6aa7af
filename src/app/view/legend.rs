//! Colour bars: what a pane's colours mean. Each map pane gets one under it with the colormap,
//! the raw values its ends stand for and how they were chosen (the normalisation), the threshold
//! below which nothing is drawn, and the value under the cursor.

use super::*;

/// What a pane's colours stand for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scale {
    /// One model's map: 0 and 1 of the colormap are the raw values `range` (None: no map yet),
    /// chosen by `normalisation` (None: each window's own min-max, as the spectrogram maps are).
    Map { range: Option<(f32, f32)>, normalisation: Option<Normalisation> },
    /// B's normalised map minus A's: 0.5 of the colormap is equal, 1 is B's alone.
    Difference { a: String, b: String },
}

impl Scale {
    /// The readout for a colormap position `v` (the drawn value, in [0, 1]).
    pub(super) fn describe(&self, v: f32) -> String {
        match self {
            Scale::Map { range: Some((lo, hi)), .. } => format!("{v:.2} of the range: {} raw", short_value(lo + v * (hi - lo))),
            Scale::Map { range: None, .. } => format!("{v:.2}"),
            Scale::Difference { a, b } => {
                let d = 2.0 * v - 1.0;
                match d {
                    d if d > 0.005 => format!("{b} higher by {d:.2}"),
                    d if d < -0.005 => format!("{a} higher by {:.2}", -d),
                    _ => "equal".to_owned(),
                }
            }
        }
    }
}

fn normalisation_text(n: Option<Normalisation>) -> &'static str {
    match n {
        Some(Normalisation::Frame) => "0-1: this frame's min-max",
        Some(Normalisation::Clip) => "0-1: min-max over the clip",
        Some(Normalisation::Smooth) => "0-1: each slice's min-max, blended in time",
        None => "0-1: each window's min-max",
    }
}

/// The colour bar, `width` points wide: the colormap (dimmed below the threshold, which is not
/// drawn), the ends' values, the threshold and, when the cursor is over the pane, its value.
pub(super) fn colour_bar(ui: &mut Ui, width: f32, colormap: Colormap, threshold: f32, scale: &Scale, cursor: Option<f32>) {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 10.0), Sense::hover());
    let painter = ui.painter_at(rect.expand(4.0));
    const CELLS: usize = 64;
    let cell = rect.width() / CELLS as f32;
    for i in 0..CELLS {
        let v = (i as f32 + 0.5) / CELLS as f32;
        let [r, g, b] = colormap.eval(v);
        let mut colour = Color32::from_rgb(r, g, b);
        if v < threshold {
            colour = colour.gamma_multiply(0.25);
        }
        let x = rect.left() + cell * i as f32;
        painter.rect_filled(Rect::from_x_y_ranges(x..=x + cell + 0.5, rect.y_range()), 0.0, colour);
    }
    let x_of = |v: f32| rect.left() + rect.width() * v.clamp(0.0, 1.0);
    if threshold > 0.0 {
        painter.vline(x_of(threshold), rect.y_range(), Stroke::new(1.5, Color32::WHITE));
    }
    if let Some(v) = cursor {
        let x = x_of(v);
        painter.add(egui::Shape::convex_polygon(
            vec![egui::pos2(x, rect.top()), egui::pos2(x - 4.0, rect.top() - 4.0), egui::pos2(x + 4.0, rect.top() - 4.0)],
            Color32::WHITE,
            Stroke::NONE,
        ));
    }
    let hover = match scale {
        Scale::Map { normalisation, .. } => {
            format!("{}; values below the threshold ({threshold:.2}) are not drawn", normalisation_text(*normalisation))
        }
        Scale::Difference { .. } => "B's map minus A's, each normalised to 0-1 first: blue where A is higher, red where B is".to_owned(),
    };
    response.on_hover_text(hover);
    let small = |text: String| egui::RichText::new(text).small();
    ui.horizontal(|ui| {
        ui.set_width(width);
        let (left, middle, right) = match scale {
            Scale::Map { range: Some((lo, hi)), normalisation } => {
                (short_value(*lo), normalisation_text(*normalisation).to_owned(), short_value(*hi))
            }
            Scale::Map { range: None, normalisation } => ("0".to_owned(), normalisation_text(*normalisation).to_owned(), "1".to_owned()),
            Scale::Difference { a, b } => (format!("{a} higher"), "equal".to_owned(), format!("{b} higher")),
        };
        ui.label(small(left));
        let readout = match cursor {
            Some(v) => format!("cursor: {}", scale.describe(v)),
            None if threshold > 0.0 && matches!(scale, Scale::Map { .. }) => format!("{middle}; threshold {threshold:.2}"),
            None => middle,
        };
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(small(right));
            ui.add(egui::Label::new(small(readout)).truncate());
        });
    });
}
