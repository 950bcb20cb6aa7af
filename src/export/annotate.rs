//! Annotated frames: a clip frame with a model's heatmap and its top labels drawn in, alone or
//! side by side with a second model. The app's export and `mbtscope export` both draw through
//! [`compose`], so the same settings give the same pixels.

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _};

use crate::render::{Heat, OverlayStyle, overlay_frame};

/// What is drawn into one model's copy of the frame.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Shown above the labels (the model's name).
    pub title: String,
    /// The map at this frame, normalised; `None` draws the frame alone.
    pub heat: Option<Heat>,
    /// Where the model's crop lies in the frame, `[u0, v0, u1, v1]` in [0, 1].
    pub crop: [f32; 4],
    /// Top labels with probabilities, best first.
    pub labels: Vec<(String, f32)>,
    /// The sounding object's box on this frame, `[u0, v0, u1, v1]` in [0, 1] (a sidecar's
    /// ground truth), drawn with [`AnnotateStyle::truth_box`].
    pub truth: Option<[f32; 4]>,
    /// The raw map values the colormap's ends stand for, for the caption's colour bar.
    pub range: Option<(f32, f32)>,
    /// The settings line of the caption ([`AnnotateStyle::caption`]).
    pub caption: String,
}

/// How annotated frames look. The fields after `time` are left out of an export's manifest while
/// they are at their defaults, so that exports made before they existed still resume.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AnnotateStyle {
    pub overlay: OverlayStyle,
    /// Draw the title and labels box.
    pub labels: bool,
    /// Draw the time in the bottom-left corner.
    pub time: bool,
    /// Scale the frame by this integer factor before drawing (the map is sampled at the new
    /// size, so it stays smooth): small clips become figures a paper can use.
    #[serde(skip_serializing_if = "is_one")]
    pub upscale: u32,
    /// Outline the ground truth's box when the panel has one.
    #[serde(skip_serializing_if = "is_false")]
    pub truth_box: bool,
    /// Put the title and labels in a strip under the frame instead of over it.
    #[serde(skip_serializing_if = "is_false")]
    pub labels_below: bool,
    /// A strip under the frame with the colour bar (its raw range and threshold) and the
    /// settings line.
    #[serde(skip_serializing_if = "is_false")]
    pub caption: bool,
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl Default for AnnotateStyle {
    fn default() -> Self {
        Self {
            overlay: OverlayStyle::default(),
            labels: true,
            time: true,
            upscale: 1,
            truth_box: false,
            labels_below: false,
            caption: false,
        }
    }
}

/// A packed RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbFrame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// The frame once per panel, side by side (left to right), each with its heatmap and labels,
/// and under it the strip of labels and caption when the style asks for them. `rgb` is the
/// clip frame (`width x height`, packed RGB) at time `t` seconds.
pub fn compose(rgb: &[u8], width: u32, height: u32, t: f64, panels: &[Panel], style: &AnnotateStyle) -> RgbFrame {
    let scale = style.upscale.clamp(1, 16);
    let (width, height, base) = if scale > 1 { upscaled(rgb, width, height, scale) } else { (width, height, rgb.to_vec()) };
    let n = panels.len().max(1) as u32;
    let out_width = width * n;
    let font = font();
    let empty = [Panel::default()];
    let panels = if panels.is_empty() { &empty[..] } else { panels };
    let px = text_px(height);
    let line = px * 1.25;
    let below_rows = if style.labels && style.labels_below { panels.iter().map(|p| p.labels.len() + 1).max().unwrap_or(0) } else { 0 };
    let caption_rows = if style.caption { 3 } else { 0 };
    // Even, so that a video of the frames keeps even dimensions (H.264's 4:2:0).
    let rows = below_rows + caption_rows;
    let strip = if rows > 0 && font.is_some() { ((rows as f32 * line + px) / 2.0).ceil() as u32 * 2 } else { 0 };
    let out_height = height + strip;
    let mut out = vec![0u8; (out_width * out_height * 3) as usize];
    for (p, panel) in panels.iter().enumerate() {
        let mut copy = base.clone();
        copy.resize((width * out_height * 3) as usize, 24);
        if let Some(heat) = &panel.heat {
            overlay_frame(&mut copy[..(width * height * 3) as usize], width, height, heat, panel.crop, &style.overlay);
        }
        let mut canvas = Canvas { rgb: &mut copy, width, height: out_height };
        if style.truth_box
            && let Some(b) = panel.truth
        {
            let thick = (height as f32 / 160.0).max(1.5);
            let (x0, y0, x1, y1) = (b[0] * width as f32, b[1] * height as f32, b[2] * width as f32, b[3] * height as f32);
            for (x, y, w, h) in
                [(x0, y0, x1 - x0, thick), (x0, y1 - thick, x1 - x0, thick), (x0, y0, thick, y1 - y0), (x1 - thick, y0, thick, y1 - y0)]
            {
                canvas.fill(x, y, w, h, [255, 255, 255], 0.95);
            }
        }
        if let Some(font) = font {
            if style.labels && !style.labels_below {
                draw_labels(&mut canvas, font, panel, px);
            }
            if style.time {
                let px = px * 0.85;
                let text = format!("{t:.2} s");
                let w = canvas.text_width(font, px, &text);
                let pad = px * 0.3;
                let y = height as f32 - px * 1.3 - pad;
                canvas.fill(pad, y, w + 2.0 * pad, px * 1.3, [0, 0, 0], 0.55);
                canvas.text(font, 2.0 * pad, y + px * 0.15, px, &text, [255, 255, 255]);
            }
            let mut y = height as f32 + px * 0.5;
            if below_rows > 0 {
                y = draw_labels_below(&mut canvas, font, panel, y, px);
            }
            if style.caption {
                draw_caption(&mut canvas, font, panel, y, px, &style.overlay);
            }
        }
        let x0 = p as u32 * width;
        for y in 0..out_height {
            let src = (y * width * 3) as usize..((y + 1) * width * 3) as usize;
            let dst = ((y * out_width + x0) * 3) as usize;
            out[dst..dst + (width * 3) as usize].copy_from_slice(&copy[src]);
        }
    }
    RgbFrame { width: out_width, height: out_height, rgb: out }
}

/// The frame scaled by `scale` (bilinear).
fn upscaled(rgb: &[u8], width: u32, height: u32, scale: u32) -> (u32, u32, Vec<u8>) {
    let Some(image) = image::RgbImage::from_raw(width, height, rgb.to_vec()) else { return (width, height, rgb.to_vec()) };
    let (w, h) = (width * scale, height * scale);
    let big = image::imageops::resize(&image, w, h, image::imageops::FilterType::Triangle);
    (w, h, big.into_raw())
}

/// The title and labels as lines of text from `y` down; returns where the next line starts.
fn draw_labels_below(canvas: &mut Canvas<'_>, font: &FontRef<'_>, panel: &Panel, mut y: f32, px: f32) -> f32 {
    let line = px * 1.25;
    let pad = px * 0.5;
    if !panel.title.is_empty() {
        canvas.text(font, pad, y, px, &panel.title, [255, 230, 120]);
        y += line;
    }
    let bar = (canvas.width as f32 * 0.25).min(px * 8.0);
    for (name, p) in &panel.labels {
        canvas.fill(pad, y + px * 0.2, bar, px * 0.8, [70, 70, 70], 1.0);
        canvas.fill(pad, y + px * 0.2, bar * p.clamp(0.0, 1.0), px * 0.8, [70, 130, 220], 1.0);
        canvas.text(font, pad * 2.0 + bar, y, px, &format!("{:.1}%  {name}", p * 100.0), [255, 255, 255]);
        y += line;
    }
    y
}

/// The caption: the colour bar with its raw ends and the threshold, then the settings line.
fn draw_caption(canvas: &mut Canvas<'_>, font: &FontRef<'_>, panel: &Panel, y: f32, px: f32, overlay: &OverlayStyle) {
    let pad = px * 0.5;
    let width = canvas.width as f32 - 2.0 * pad;
    let cells = width.max(1.0) as usize;
    for i in 0..cells {
        let v = (i as f32 + 0.5) / cells as f32;
        let colour = overlay.colormap.eval(v);
        let alpha = if v < overlay.threshold { 0.3 } else { 1.0 };
        canvas.fill(pad + i as f32, y, 1.0, px * 0.8, colour, alpha);
    }
    if overlay.threshold > 0.0 {
        canvas.fill(pad + width * overlay.threshold - 1.0, y - px * 0.1, 2.0, px, [255, 255, 255], 1.0);
    }
    let small = px * 0.85;
    let y = y + px * 1.0;
    let (lo, hi) =
        panel.range.map_or(("0".to_owned(), "1".to_owned()), |(lo, hi)| (crate::render::short_value(lo), crate::render::short_value(hi)));
    canvas.text(font, pad, y, small, &lo, [220, 220, 220]);
    let w = canvas.text_width(font, small, &hi);
    canvas.text(font, pad + width - w, y, small, &hi, [220, 220, 220]);
    // The settings line, shrunk to fit the panel's width.
    let text = &panel.caption;
    let full = canvas.text_width(font, small, text).max(1.0);
    let fitted = if full > width { small * width / full } else { small };
    canvas.text(font, pad, y + px * 1.1, fitted, text, [200, 200, 200]);
}

/// The Ubuntu Light font egui ships, parsed once.
fn font() -> Option<&'static FontRef<'static>> {
    static FONT: std::sync::OnceLock<Option<FontRef<'static>>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).ok()).as_ref()
}

/// Text size for a frame height: readable on small clips, not huge on 1080p.
fn text_px(height: u32) -> f32 {
    (height as f32 / 24.0).clamp(9.0, 36.0)
}

fn draw_labels(canvas: &mut Canvas<'_>, font: &FontRef<'_>, panel: &Panel, px: f32) {
    if panel.title.is_empty() && panel.labels.is_empty() {
        return;
    }
    let line = px * 1.25;
    let pad = px * 0.35;
    let rows: Vec<String> = panel.labels.iter().map(|(name, p)| format!("{name} {:.0}%", p * 100.0)).collect();
    let widest = std::iter::once(canvas.text_width(font, px, &panel.title))
        .chain(rows.iter().map(|r| canvas.text_width(font, px, r)))
        .fold(0.0f32, f32::max);
    let box_w = (widest + 2.0 * pad).min(canvas.width as f32 - pad);
    let count = rows.len() + usize::from(!panel.title.is_empty());
    canvas.fill(pad, pad, box_w, count as f32 * line + pad, [0, 0, 0], 0.55);
    let mut y = pad * 1.5;
    if !panel.title.is_empty() {
        canvas.text(font, 2.0 * pad, y, px, &panel.title, [255, 230, 120]);
        y += line;
    }
    for ((_, p), row) in panel.labels.iter().zip(&rows) {
        // A probability bar behind the label.
        canvas.fill(2.0 * pad - pad * 0.5, y + px * 0.05, (box_w - 2.0 * pad) * p.clamp(0.0, 1.0), px * 1.05, [70, 130, 220], 0.6);
        canvas.text(font, 2.0 * pad, y, px, row, [255, 255, 255]);
        y += line;
    }
}

struct Canvas<'a> {
    rgb: &'a mut [u8],
    width: u32,
    height: u32,
}

impl Canvas<'_> {
    fn blend(&mut self, x: i64, y: i64, colour: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 3) as usize;
        for (dst, &src) in self.rgb[i..i + 3].iter_mut().zip(&colour) {
            let v = f32::from(*dst) * (1.0 - alpha) + f32::from(src) * alpha;
            *dst = v.round().clamp(0.0, 255.0) as u8;
        }
    }

    fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, colour: [u8; 3], alpha: f32) {
        let (x0, y0) = (x.round() as i64, y.round() as i64);
        let (x1, y1) = ((x + w).round() as i64, (y + h).round() as i64);
        for yy in y0.max(0)..y1.min(i64::from(self.height)) {
            for xx in x0.max(0)..x1.min(i64::from(self.width)) {
                self.blend(xx, yy, colour, alpha);
            }
        }
    }

    fn text_width(&self, font: &FontRef<'_>, px: f32, text: &str) -> f32 {
        layout(font, px, text).last().map_or(0.0, |(id, x)| x + font.as_scaled(PxScale::from(px)).h_advance(id))
    }

    /// Draws `text` with its top-left corner at `(x, y)`, clipped to the canvas.
    fn text(&mut self, font: &FontRef<'_>, x: f32, y: f32, px: f32, text: &str, colour: [u8; 3]) {
        let baseline = y + font.as_scaled(PxScale::from(px)).ascent();
        for (id, caret) in layout(font, px, text) {
            let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(x + caret, baseline));
            let Some(outlined) = font.outline_glyph(glyph) else { continue };
            let (x0, y0) = (outlined.px_bounds().min.x as i64, outlined.px_bounds().min.y as i64);
            outlined.draw(|gx, gy, c| self.blend(x0 + i64::from(gx), y0 + i64::from(gy), colour, c.clamp(0.0, 1.0)));
        }
    }
}

/// Each glyph of `text` with its pen position from the start of the line (advance and kerning).
fn layout<'a>(font: &'a FontRef<'_>, px: f32, text: &'a str) -> impl Iterator<Item = (ab_glyph::GlyphId, f32)> + 'a {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = 0.0;
    let mut previous = None;
    text.chars().map(move |ch| {
        let id = scaled.glyph_id(ch);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let at = caret;
        caret += scaled.h_advance(id);
        previous = Some(id);
        (id, at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(width: u32, height: u32) -> Vec<u8> {
        vec![100; (width * height * 3) as usize]
    }

    #[test]
    fn side_by_side_doubles_the_width_and_draws_each_heat_in_its_half() {
        let (w, h) = (64, 48);
        // A map hot in its left column only.
        let heat = Heat { width: 2, height: 1, values: vec![1.0, 0.0] };
        let panel = Panel { heat: Some(heat), crop: [0.0, 0.0, 1.0, 1.0], ..Panel::default() };
        let style = AnnotateStyle { labels: false, time: false, ..AnnotateStyle::default() };
        let plain = Panel { crop: [0.0, 0.0, 1.0, 1.0], ..Panel::default() };
        let out = compose(&grey(w, h), w, h, 0.0, &[panel, plain], &style);
        assert_eq!((out.width, out.height), (2 * w, h));
        let px = |x: u32, y: u32| {
            let i = ((y * out.width + x) * 3) as usize;
            [out.rgb[i], out.rgb[i + 1], out.rgb[i + 2]]
        };
        // Left half, left edge: the colormap's hot end blended in; right edge: below threshold.
        assert_ne!(px(2, 24), [100, 100, 100]);
        assert_eq!(px(w - 2, 24), [100, 100, 100]);
        // Right half has no heat.
        assert_eq!(px(w + 2, 24), [100, 100, 100]);
    }

    #[test]
    fn upscale_truth_box_labels_below_and_caption() {
        let (w, h) = (64, 48);
        let heat = Heat { width: 2, height: 1, values: vec![1.0, 0.0] };
        let panel = Panel {
            heat: Some(heat),
            crop: [0.0, 0.0, 1.0, 1.0],
            truth: Some([0.5, 0.25, 0.75, 0.75]),
            title: "bottleneck".into(),
            labels: vec![("drum ball".into(), 0.8)],
            range: Some((0.001, 0.02)),
            caption: "attention rollout".into(),
        };
        let plain = AnnotateStyle { time: false, labels: false, upscale: 3, ..AnnotateStyle::default() };
        let out = compose(&grey(w, h), w, h, 0.0, std::slice::from_ref(&panel), &plain);
        assert_eq!((out.width, out.height), (3 * w, 3 * h), "upscaled, no strip");
        let px = |out: &RgbFrame, x: u32, y: u32| {
            let i = ((y * out.width + x) * 3) as usize;
            [out.rgb[i], out.rgb[i + 1], out.rgb[i + 2]]
        };
        assert_eq!(px(&out, 150, 100), [100, 100, 100], "no box unless asked for");
        let boxed = AnnotateStyle { truth_box: true, ..plain };
        let out = compose(&grey(w, h), w, h, 0.0, std::slice::from_ref(&panel), &boxed);
        // The box's left edge at x = 0.5 * 192 = 96, from y = 36 to 108.
        assert!(px(&out, 97, 70).iter().all(|&c| c > 240), "the box's edge is white: {:?}", px(&out, 97, 70));
        let full = AnnotateStyle { labels: true, labels_below: true, caption: true, ..boxed };
        let out = compose(&grey(w, h), w, h, 0.0, &[panel], &full);
        assert!(out.height > 3 * h && out.height.is_multiple_of(2), "an even strip under the frame: {}", out.height);
        // Nothing over the picture but the heat and the box: its top-right corner stays grey.
        assert_eq!(px(&out, 3 * w - 2, 2), [100, 100, 100]);
        // The colour bar's hot end (turbo's dark red) sits in the strip.
        let hot = crate::render::Colormap::Turbo.eval(0.995);
        let strip_has = |c: [u8; 3]| (3 * h..out.height).any(|y| (0..out.width).any(|x| px(&out, x, y) == c));
        assert!(strip_has(hot), "no colour bar in the strip");
    }

    #[test]
    fn labels_are_drawn_inside_the_top_left_box_only() {
        let (w, h) = (240, 160);
        let panel =
            Panel { title: "bottleneck".into(), labels: vec![("drum ball".into(), 0.8), ("bell star".into(), 0.1)], ..Panel::default() };
        let style = AnnotateStyle { time: false, ..AnnotateStyle::default() };
        let out = compose(&grey(w, h), w, h, 0.0, &[panel], &style);
        let changed = |x0: u32, x1: u32, y0: u32, y1: u32| {
            (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| out.rgb[((y * w + x) * 3) as usize] != 100).count()
        };
        // Text px = 160 / 24 ~ 6.7 -> clamped to 9: three lines of 11 px plus padding.
        assert!(changed(0, w / 2, 0, 40) > 200, "no label box drawn");
        assert_eq!(changed(0, w, 60, h), 0, "drawing outside the label box");
        // Text pixels: the box darkens the grey to about 45 and the bars stay below 70 in red,
        // so red above 120 is (antialiased) white or yellow text.
        let bright = out.rgb.chunks(3).filter(|p| p[0] > 120).count();
        assert!(bright > 20, "no text drawn ({bright} bright pixels)");
    }
}
