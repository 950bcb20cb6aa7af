//! Under the frames: the transport, the strip of each window's top label, and the spectrogram
//! with its map.

use super::*;

pub(super) fn fmt_time(t: f64) -> String {
    let t = t.max(0.0);
    format!("{}:{:05.2}", (t / 60.0).floor() as u64, t % 60.0)
}

pub(super) fn transport(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let duration = app.duration();
    ui.horizontal(|ui| {
        let playing = app.player().is_some_and(crate::media::player::Player::is_playing);
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
        if let Some(fps) = app.player().map(|p| p.info().frame_rate).filter(|f| *f > 0.0) {
            // The frame on screen (from its own time, which the position may be between), from 0.
            let shown = app.current_frame().map_or(t, |f| f.pts.secs());
            let last = (duration * fps).round().max(1.0) as u64 - 1;
            ui.label(format!("frame {} / {last}", ((shown * fps).round() as u64).min(last)))
                .on_hover_text("the frame on screen and the last frame, counted from 0 (as `export --frames` counts them)");
        }
        let loop_ab = app.session.as_ref().map(|s| s.loop_ab).unwrap_or_default();
        let fmt_end = |t: Option<f64>| t.map_or_else(|| "-".to_owned(), fmt_time);
        if loop_ab != crate::app::LoopAb::default() {
            ui.label(format!("loop {} - {}", fmt_end(loop_ab.a), fmt_end(loop_ab.b)))
                .on_hover_text("A-B loop: [ sets A, ] sets B at the playhead; playing past B goes on from A");
            if ui.small_button("x").on_hover_text("no A-B loop (Backspace)").clicked() {
                commands.push(Command::ClearLoop);
            }
        }
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

pub(super) fn class_colour(c: usize) -> Color32 {
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
pub(super) fn label_strip(app: &MbtApp, ui: &mut Ui) {
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
pub(super) fn spectrogram_panel(app: &MbtApp, ui: &mut Ui) {
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
pub(super) fn spectrogram_image(
    spec: &crate::app::ClipSpectrogram,
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
