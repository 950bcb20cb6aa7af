//! The frame views: each model's heatmap over the frame (WGSL through an egui_wgpu paint
//! callback) and the ground-truth box.

use super::*;

/// The rgb heatmap of model `m` at `t` (or of the selected bottleneck token), with the raw values
/// its 0 and 1 stand for.
pub(super) fn rgb_heat(app: &MbtApp, m: &ModelResults, t: f64) -> Option<(Heat, Option<(f32, f32)>)> {
    let frames = m.config.as_ref()?.dataset_configs.num_frames;
    let token = app.token();
    fn pick(token: Option<TokenPick>, r: &WindowResult) -> Option<&RgbMap> {
        match token {
            Some(TokenPick { layer, token }) => r.bottleneck.get(layer)?.rgb_maps.get(token)?.as_ref(),
            None => r.rgb.as_ref(),
        }
    }
    let slices = rgb_slices(m.results.iter().flatten().filter_map(|r| Some(r.timed(pick(token, r)?))), frames, app.settings.style.span);
    let normalisation = app.settings.style.normalisation;
    Some((heat_at(&slices, t, normalisation)?, raw_range_at(&slices, t, normalisation)))
}

/// Which window of model `m` the map at `t` comes from and, for a one-tubelet span, which of its
/// time slices, as clip frame numbers ("window 2 of 4: frames 48-95, tubelet 3 of 4: 72-83").
pub(super) fn window_text(m: &ModelResults, t: f64, fps: f64, span: MapSpan) -> Option<String> {
    let index = crate::analysis::nearest_window(m.windows.iter().map(|w| w.centre), t)?;
    let head = format!("window {} of {}", index + 1, m.windows.len());
    let Some(r) = m.results.get(index)?.as_ref() else { return Some(format!("{head}: analysing")) };
    let frame = |secs: f64| (secs * fps).round().max(0.0) as i64;
    let mut text = format!("{head}: frames {}-{}", frame(r.first_frame), frame(r.last_frame));
    let num_frames = m.config.as_ref()?.dataset_configs.num_frames;
    let ranges: &[std::ops::Range<usize>] = r.rgb.as_ref().map_or(&[], |map| &map.frames);
    match span {
        MapSpan::Window => text.push_str(", the whole window"),
        MapSpan::Slice if !ranges.is_empty() => {
            let step = if num_frames > 1 { (r.last_frame - r.first_frame) / (num_frames - 1) as f64 } else { 0.0 };
            let at = |k: usize| r.first_frame + step * k as f64;
            let middle = |range: &std::ops::Range<usize>| (at(range.start) + at(range.end.saturating_sub(1))) / 2.0;
            let (s, range) = ranges.iter().enumerate().min_by(|a, b| (middle(a.1) - t).abs().total_cmp(&(middle(b.1) - t).abs()))?;
            let last = frame(at(range.end.saturating_sub(1)));
            text.push_str(&format!(", tubelet {} of {}: frames {}-{last}", s + 1, ranges.len(), frame(at(range.start))));
        }
        MapSpan::Slice => {}
    }
    Some(text)
}

pub(super) struct OverlayCallback {
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

pub(super) fn heat_key(h: &Heat) -> u64 {
    let bytes: Vec<u8> = h.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    fnv1a(&bytes) ^ (h.width as u64) << 48
}

/// One frame pane: its title, which window and tubelet it shows, the map with the crop it covers
/// (`[u0, v0, u1, v1]` of the frame), and what its colours stand for.
struct Pane {
    title: String,
    detail: Option<String>,
    heat: Option<Heat>,
    crop: Option<[f32; 4]>,
    scale: legend::Scale,
}

/// The frame views, each with its colour bar; returns the pixel size of one ((0, 0) with no
/// frame yet).
pub(super) fn frame_views(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) -> (u32, u32) {
    let Some((session, frame)) = app.session.as_ref().and_then(|s| Some((s, s.current_frame.clone()?))) else {
        ui.centered_and_justified(|ui| {
            ui.label(app.ui.message.clone().unwrap_or_else(|| "Opening...".into()));
        });
        return app.ui.layout.view_pixels;
    };
    let t = app.position();
    let zoom = app.ui.zoom;
    let style_now = app.settings.style;
    // The frame may be scaled for the screen; crops and boxes are in the clip's own pixels.
    let info = session.player.info();
    let (native_w, native_h, fps) = (info.width, info.height, info.frame_rate);
    let crop_of = |i: usize| app.analysis.models.get(i).and_then(|m| Some(crop_rect(m.crop.as_ref()?, native_w, native_h)));
    let heat_for = |i: usize| app.analysis.models.get(i).and_then(|m| rgb_heat(app, m, t));
    let detail = |i: usize| app.analysis.models.get(i).and_then(|m| window_text(m, t, fps, style_now.span));
    let name = |i: usize| {
        let Some(m) = app.analysis.models.get(i) else { return "no model".to_owned() };
        let layer = |p: TokenPick| m.results.iter().flatten().next().and_then(|r| r.bottleneck.get(p.layer)).map(|l| l.layer);
        match (session.token, m.config.as_ref().is_some_and(|c| c.use_bottleneck)) {
            (Some(p), true) => format!("{} - bottleneck token {} of layer {}", m.name, p.token, layer(p).unwrap_or(p.layer)),
            (Some(_), false) => format!("{} (no bottleneck tokens)", m.name),
            (None, _) => m.name.clone(),
        }
    };
    let map_pane = |i: usize, title: String| {
        let h = heat_for(i);
        Pane {
            title,
            detail: detail(i),
            crop: crop_of(i),
            scale: legend::Scale::Map { range: h.as_ref().and_then(|x| x.1), normalisation: Some(style_now.normalisation) },
            heat: h.map(|x| x.0),
        }
    };
    let mut panes = Vec::new();
    match app.settings.view {
        ViewMode::Single => panes.push(map_pane(0, format!("A: {}", name(0)))),
        ViewMode::SideBySide => {
            for i in 0..app.analysis.models.len().clamp(1, 2) {
                panes.push(map_pane(i, format!("{}: {}", ["A", "B"][i], name(i))));
            }
        }
        ViewMode::Difference => {
            let (a, b) = (heat_for(0), heat_for(1));
            panes.push(Pane {
                title: format!("difference: {} - {}", name(1), name(0)),
                detail: detail(0),
                heat: a.zip(b).and_then(|(a, b)| difference(&a.0, &b.0)),
                crop: crop_of(0),
                scale: legend::Scale::Difference { a: format!("A ({})", name(0)), b: format!("B ({})", name(1)) },
            });
        }
    }
    let available = ui.available_size();
    let count = panes.len() as f32;
    let aspect = frame.width as f32 / frame.height.max(1) as f32;
    // The title, the window line, and the colour bar with its labels.
    const CHROME: f32 = 76.0;
    let width = ((available.x - 8.0 * (count - 1.0)) / count).min((available.y - CHROME) * aspect).max(16.0);
    let size = Vec2::new(width, width / aspect);
    let pixels = size * ui.ctx().pixels_per_point();
    let mut style = style_now;
    if app.settings.view == ViewMode::Difference {
        style.threshold = 0.0;
        style.colormap = Colormap::RdBu;
    }
    ui.horizontal(|ui| {
        for (i, pane) in panes.into_iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(width);
                ui.add(egui::Label::new(pane.title).truncate());
                ui.add(egui::Label::new(egui::RichText::new(pane.detail.unwrap_or_default()).small()).truncate());
                let (pane_rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
                // Zoomed in, the frame is drawn larger than the pane and clipped to it.
                let rect = zoom.frame_rect(pane_rect);
                zoom_input(ui, &response, pane_rect, zoom, commands);
                let painter = ui.painter_at(pane_rect);
                let crop = pane.crop.unwrap_or([0.0, 0.0, 1.0, 1.0]);
                let heat = pane.heat.filter(|_| app.settings.show_overlay);
                // The drawn value under the cursor, inside the crop the model saw.
                let cursor = response.hover_pos().zip(heat.as_ref()).and_then(|(pos, h)| {
                    let (u, v) = ((pos.x - rect.left()) / rect.width(), (pos.y - rect.top()) / rect.height());
                    let (mu, mv) = ((u - crop[0]) / (crop[2] - crop[0]), (v - crop[1]) / (crop[3] - crop[1]));
                    ((0.0..=1.0).contains(&mu) && (0.0..=1.0).contains(&mv)).then(|| h.sample(mu, mv, style.smooth))
                });
                let callback = OverlayCallback {
                    id: i as u64,
                    frame: frame.clone(),
                    frame_key: session.frame_key,
                    heat: heat.map(|h| {
                        let k = heat_key(&h);
                        (h, k)
                    }),
                    crop,
                    style,
                };
                painter.add(egui_wgpu::Callback::new_paint_callback(rect, callback));
                draw_crop(&painter, rect, crop);
                if let Some(truth) = &session.truth {
                    let model = app.analysis.models.get(if app.settings.view == ViewMode::SideBySide { i } else { 0 });
                    if style.span == MapSpan::Window
                        && let Some(r) = model.and_then(|m| m.window_at(t))
                    {
                        draw_truth_path(&painter, rect, truth, r, (native_w, native_h), fps);
                    }
                    draw_truth_box(&painter, rect, truth, t, native_w, native_h);
                }
                if zoom.scale > 1.0 {
                    let text = format!("{:.1}x (double-click or 0: whole frame)", zoom.scale);
                    let at = pane_rect.right_top() + Vec2::new(-4.0, 4.0);
                    let galley = painter.layout_no_wrap(text, egui::FontId::proportional(11.0), Color32::WHITE);
                    let tab = Rect::from_min_size(at - Vec2::new(galley.size().x + 6.0, 0.0), galley.size() + Vec2::new(6.0, 2.0));
                    painter.rect_filled(tab, 2.0, Color32::from_black_alpha(160));
                    painter.galley(tab.min + Vec2::new(3.0, 1.0), galley, Color32::WHITE);
                }
                legend::colour_bar(ui, width, style.colormap, style.threshold, &pane.scale, cursor);
            });
        }
    });
    // Zoomed in, frames are decoded larger (never above the clip's own size) to show detail.
    let pixels = pixels * zoom.scale;
    (pixels.x.ceil() as u32, pixels.y.ceil() as u32)
}

/// Zoom and pan from the pointer over a pane: the scroll wheel zooms about the cursor, a drag
/// pans, a double-click shows the whole frame again. Both panes share one view, so they stay
/// in step.
fn zoom_input(ui: &Ui, response: &egui::Response, pane: Rect, zoom: crate::app::FrameZoom, commands: &mut Vec<Command>) {
    if response.double_clicked() && zoom != crate::app::FrameZoom::default() {
        commands.push(Command::SetZoom(crate::app::FrameZoom::default()));
        return;
    }
    if response.dragged() {
        let delta = response.drag_delta();
        if delta != Vec2::ZERO && zoom.scale > 1.0 {
            commands.push(Command::SetZoom(zoom.panned(delta, pane)));
        }
        return;
    }
    let scroll = if response.hovered() { ui.input(|i| i.smooth_scroll_delta.y) } else { 0.0 };
    if scroll != 0.0
        && let Some(pos) = response.hover_pos()
    {
        commands.push(Command::SetZoom(zoom.zoomed((scroll / 200.0).exp(), pos, pane)));
    }
}

/// The part of the frame the model saw (its centre crop), outlined when it is not the whole frame.
fn draw_crop(painter: &egui::Painter, rect: Rect, crop: [f32; 4]) {
    if crop[0] <= 0.001 && crop[1] <= 0.001 && crop[2] >= 0.999 && crop[3] >= 0.999 {
        return;
    }
    let at = |u: f32, v: f32| rect.min + Vec2::new(u * rect.width(), v * rect.height());
    let r = Rect::from_min_max(at(crop[0], crop[1]), at(crop[2], crop[3]));
    let colour = Color32::from_rgba_unmultiplied(255, 220, 0, 200);
    let corners = [r.left_top(), r.right_top(), r.right_bottom(), r.left_bottom(), r.left_top()];
    painter.extend(egui::Shape::dashed_line(&corners, Stroke::new(1.5, colour), 6.0, 4.0));
    painter.text(r.left_top() + Vec2::new(4.0, 2.0), egui::Align2::LEFT_TOP, "model's crop", egui::FontId::proportional(11.0), colour);
}

/// For a whole-window map: the sounding object's box on every third frame of the window, faint,
/// so that a map spread along the object's path reads as the hit it is.
fn draw_truth_path(painter: &egui::Painter, rect: Rect, truth: &crate::synth::ClipTruth, r: &WindowResult, (w, h): (u32, u32), fps: f64) {
    let (sx, sy) = (rect.width() / w as f32, rect.height() / h as f32);
    let step = 3.0 / fps.max(1.0);
    let mut at = r.first_frame;
    while at <= r.last_frame + 1e-6 {
        if let Some(b) = truth.sounding_box(at) {
            let r = Rect::from_min_max(rect.min + Vec2::new(b[0] * sx, b[1] * sy), rect.min + Vec2::new(b[2] * sx, b[3] * sy));
            painter.rect_stroke(r, 2.0, Stroke::new(1.0, Color32::from_white_alpha(70)), egui::StrokeKind::Outside);
        }
        at += step;
    }
}

/// The sounding object's ground-truth box, when the clip has a sidecar.
pub(super) fn draw_truth_box(painter: &egui::Painter, rect: Rect, truth: &crate::synth::ClipTruth, t: f64, w: u32, h: u32) {
    let Some(b) = truth.sounding_box(t) else { return };
    let (sx, sy) = (rect.width() / w as f32, rect.height() / h as f32);
    let r = Rect::from_min_max(rect.min + Vec2::new(b[0] * sx, b[1] * sy), rect.min + Vec2::new(b[2] * sx, b[3] * sy));
    painter.rect_stroke(r, 2.0, Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Outside);
}
