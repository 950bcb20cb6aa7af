//! The frame views: each model's heatmap over the frame (WGSL through an egui_wgpu paint
//! callback) and the ground-truth box.

use super::*;

/// The rgb heatmap of model `m` at `t` (or of the selected bottleneck token).
pub(super) fn rgb_heat(app: &MbtApp, m: &ModelResults, t: f64) -> Option<Heat> {
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

/// The frame views; returns the pixel size of one ((0, 0) with no frame yet).
pub(super) fn frame_views(app: &MbtApp, ui: &mut Ui) -> (u32, u32) {
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
pub(super) fn draw_truth_box(ui: &Ui, rect: Rect, truth: &crate::synth::ClipTruth, t: f64, w: u32, h: u32) {
    let Some(b) = truth.sounding_box(t) else { return };
    let (sx, sy) = (rect.width() / w as f32, rect.height() / h as f32);
    let r = Rect::from_min_max(rect.min + Vec2::new(b[0] * sx, b[1] * sy), rect.min + Vec2::new(b[2] * sx, b[3] * sy));
    ui.painter().rect_stroke(r, 2.0, Stroke::new(1.5, Color32::WHITE), egui::StrokeKind::Outside);
}
