//! Under the frames: the transport, the strip of each window's top label, and the spectrogram
//! with its map.

use super::*;
use crate::features::Counterfactual;

pub(super) fn fmt_time(t: f64) -> String {
    let t = t.max(0.0);
    format!("{}:{:05.2}", (t / 60.0).floor() as u64, t % 60.0)
}

pub(super) fn transport(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let duration = app.duration();
    // Wrapped, so that a narrow window puts the speed and volume on a second line instead of
    // cutting them off.
    ui.horizontal_wrapped(|ui| {
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
        // What is left of this row (a wrapped layout's available width is the whole row's).
        // The speed and volume controls take about 470 points and are composite widgets that
        // cannot wrap themselves: when they do not fit beside the position slider, they start
        // the next row.
        const CONTROLS: f32 = 470.0;
        let room = ui.max_rect().right() - ui.cursor().min.x;
        let one_row = room - CONTROLS >= 100.0;
        ui.style_mut().spacing.slider_width = if one_row { room - CONTROLS } else { (room - 16.0).max(60.0) };
        let response = ui.add(egui::Slider::new(&mut t, 0.0..=duration.max(0.001)).show_value(false)).on_hover_text("playback position");
        if response.changed() {
            commands.push(Command::Seek(t));
        }
        if !one_row {
            ui.end_row();
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

/// Colour `c` of the label strip's classes.
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

/// The top label of each window along the clip, per model, with the playhead. A click seeks.
pub(super) fn label_strip(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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
            if let Some(pos) = response.interact_pointer_pos().filter(|_| response.clicked()) {
                commands.push(Command::Seek(duration * f64::from((pos.x - rect.left()) / rect.width())));
            }
            response.on_hover_text(hover.unwrap_or_else(|| "click to seek there".to_owned()));
        });
    }
}

/// The whole clip's spectrogram as a thin strip under the label strip, with model A's window at
/// the playhead outlined and the playhead; a click seeks.
pub(super) fn clip_strip(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let Some(spec) = app.session.as_ref().and_then(|s| s.spectrogram.clone()) else { return };
    let duration = app.duration().max(1e-3);
    let t = app.position();
    ui.horizontal(|ui| {
        ui.add_sized([90.0, 22.0], egui::Label::new(egui::RichText::new("audio").small()));
        let (rect, response) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 22.0), Sense::click());
        let id = egui::Id::unique("clip-spectrogram-texture");
        let key =
            fnv1a(format!("{}{}{}", spec.frames, spec.mel, app.clip().map(|c| c.display().to_string()).unwrap_or_default()).as_bytes());
        let cached: Option<(u64, egui::TextureHandle)> = ui.data(|d| d.get_temp(id));
        let texture = match cached {
            Some((k, tex)) if k == key => tex,
            _ => {
                let image = overview_image(&spec, 2048, 32);
                let tex = ui.ctx().load_texture("clip-spectrogram", image, egui::TextureOptions::LINEAR);
                ui.data_mut(|d| d.insert_temp(id, (key, tex.clone())));
                tex
            }
        };
        let painter = ui.painter_at(rect);
        painter.image(texture.id(), rect, Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), Color32::WHITE);
        let x = |s: f64| rect.left() + rect.width() * (s / duration).clamp(0.0, 1.0) as f32;
        if let Some(w) = app.analysis.models.first().and_then(|m| m.window_at(t)) {
            let window = Rect::from_x_y_ranges(x(w.audio_start)..=x(w.audio_end), rect.y_range());
            painter.rect_stroke(window, 0.0, Stroke::new(1.5, Color32::from_rgb(255, 220, 0)), egui::StrokeKind::Inside);
        }
        painter.vline(x(t), rect.y_range(), Stroke::new(2.0, Color32::WHITE));
        if let Some(pos) = response.interact_pointer_pos().filter(|_| response.clicked()) {
            commands.push(Command::Seek(duration * f64::from((pos.x - rect.left()) / rect.width())));
        }
        response.on_hover_text("the whole clip's sound; yellow: model A's window at the playhead; click to seek");
    });
}

/// The whole clip's spectrogram in at most `columns` x `rows` grey pixels (each pixel the mean of
/// the frames and mel bins it covers; low frequencies at the bottom), within any texture limit.
fn overview_image(spec: &crate::app::ClipSpectrogram, columns: usize, rows: usize) -> egui::ColorImage {
    let (w, h) = (spec.frames.clamp(1, columns), spec.mel.clamp(1, rows));
    let (lo, hi) = spec.range;
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        // Row y from the top covers these mel bins, counted from the top.
        let (m0, m1) = (y * spec.mel / h, ((y + 1) * spec.mel / h).max(y * spec.mel / h + 1));
        for x in 0..w {
            let (f0, f1) = (x * spec.frames / w, ((x + 1) * spec.frames / w).max(x * spec.frames / w + 1));
            let (mut sum, mut n) = (0.0f32, 0usize);
            for f in f0..f1.min(spec.frames) {
                for m in m0..m1.min(spec.mel) {
                    sum += spec.values[f * spec.mel + (spec.mel - 1 - m)];
                    n += 1;
                }
            }
            let v = if n == 0 { lo } else { sum / n as f32 };
            let g = (255.0 * (v - lo) / (hi - lo).max(1e-6)).clamp(0.0, 255.0) as u8;
            pixels.push(Color32::from_gray(g));
        }
    }
    egui::ColorImage::new([w, h], pixels)
}

/// The audio the models heard at the playhead: the clip's spectrogram over each model's window
/// (A, or A and B side by side, or one row with B's map minus A's), with that window's
/// spectrogram map (or the selected token's), frequency and time axes and the playhead. A click
/// seeks.
pub(super) fn spectrogram_panel(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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
    let window_of = |i: usize| app.analysis.models.get(i).and_then(|m| m.window_at(t).cloned());
    let map_of = |w: &WindowResult| -> Option<SpectrogramMap> {
        match session.token {
            Some(p) => w.bottleneck.get(p.layer)?.spectrogram_maps.get(p.token)?.clone(),
            None => w.spectrogram.clone(),
        }
    };
    let span_of = |w: Option<&WindowResult>| w.map_or((t - 1.0, t + 1.0), |w| (w.audio_start, w.audio_end));
    let name = |i: usize| app.analysis.models.get(i).map_or_else(|| "no model".to_owned(), |m| m.name.clone());
    let mut style = app.settings.style;
    let mut rows: Vec<SpectrogramRow> = Vec::new();
    let heard = |i: usize| app.analysis.models.get(i).and(app.settings.analysis.counterfactual.clone()).filter(|_| i == 1);
    match app.settings.view {
        ViewMode::Single | ViewMode::SideBySide => {
            let count = if app.settings.view == ViewMode::Single { 1 } else { app.analysis.models.len().clamp(1, 2) };
            for i in 0..count {
                let w = window_of(i);
                let heat = w.as_ref().and_then(map_of).map(|m| spectrogram_heat(&m));
                rows.push(SpectrogramRow {
                    name: format!("{}: {}", ["A", "B"][i], name(i)),
                    span: span_of(w.as_ref()),
                    heat,
                    heard: heard(i),
                });
            }
        }
        ViewMode::Difference => {
            let (a, b) = (window_of(0), window_of(1));
            let heat = |w: &Option<WindowResult>| w.as_ref().and_then(map_of).map(|m| spectrogram_heat(&m));
            let same_span = a.as_ref().zip(b.as_ref()).is_some_and(|(a, b)| (a.audio_start, a.audio_end) == (b.audio_start, b.audio_end));
            let diff = heat(&a).zip(heat(&b)).filter(|_| same_span).and_then(|(a, b)| difference(&a, &b));
            rows.push(SpectrogramRow { name: format!("{} - {}", name(1), name(0)), span: span_of(a.as_ref()), heat: diff, heard: None });
            style.threshold = 0.0;
            style.colormap = Colormap::RdBu;
        }
    }
    // Rows shrink with the window, so that the frames keep most of a small one.
    let window_height = ui.ctx().content_rect().height();
    let height = if rows.len() > 1 { (window_height * 0.065).clamp(24.0, 60.0) } else { (window_height * 0.11).clamp(36.0, 96.0) };
    let (first, last) = rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| (a.min(r.span.0), b.max(r.span.1)));
    ui.label(
        egui::RichText::new(format!(
            "spectrogram {first:.2}-{last:.2} s: the audio of each model's window at the playhead (click to seek)"
        ))
        .small(),
    );
    for (i, SpectrogramRow { name: mut row, span: (start, end), heat, mut heard }) in rows.into_iter().enumerate() {
        let heat = heat.filter(|_| app.settings.show_overlay);
        // Swapped-in audio is drawn from that clip's spectrogram; until it is decoded (or when
        // it has none) the row stays dark and says why.
        let swapped = match &heard {
            Some(Counterfactual::Swap(path)) => Some(path.as_path()),
            _ => None,
        };
        let spec = match session.spectrogram_of(swapped) {
            Ok(own) => own,
            Err(why) => {
                row = format!("{row} ({why})");
                heard = Some(Counterfactual::Mute);
                spec.clone()
            }
        };
        let key =
            fnv1a(format!("{start}{end}{style:?}{:?}{heard:?}{:?}", heat.as_ref().map(frames::heat_key), Arc::as_ptr(&spec)).as_bytes());
        let id = egui::Id::unique("spectrogram-texture").with(i);
        let cached: Option<(u64, egui::TextureHandle)> = ui.data(|d| d.get_temp(id));
        let texture = match cached {
            Some((k, tex)) if k == key => tex,
            _ => {
                let image = spectrogram_image(&spec, start, end, heat.as_ref(), &style, heard);
                let tex = ui.ctx().load_texture(format!("spectrogram-{i}"), image, egui::TextureOptions::LINEAR);
                ui.data_mut(|d| d.insert_temp(id, (key, tex.clone())));
                tex
            }
        };
        ui.horizontal(|ui| {
            const GUTTER: f32 = 64.0;
            ui.allocate_exact_size(Vec2::new(GUTTER, height + 12.0), Sense::hover());
            let (rect, response) = ui.allocate_exact_size(Vec2::new(ui.available_width(), height), Sense::click());
            let painter = ui.painter();
            painter.image(texture.id(), rect, Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), Color32::WHITE);
            let text_colour = ui.visuals().weak_text_color();
            let font = egui::FontId::proportional(10.0);
            // Frequency: the mel scale of the display's filter bank (20 Hz to 8 kHz), low at the bottom.
            let mel = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
            let (lo, hi) = (mel(20.0), mel(8000.0));
            for (f, text) in [(500.0, "500 Hz"), (2000.0, "2 kHz"), (8000.0, "8 kHz")] {
                let y = rect.bottom() - rect.height() * ((mel(f) - lo) / (hi - lo)) as f32;
                painter.hline(rect.left() - 4.0..=rect.left(), y, Stroke::new(1.0, text_colour));
                // Labels only where the row is tall enough to hold them apart.
                if height >= 40.0 {
                    painter.text(egui::pos2(rect.left() - 6.0, y), egui::Align2::RIGHT_CENTER, text, font.clone(), text_colour);
                }
            }
            // Time: a tick every 0.5 s, labelled each second.
            let x_of = |s: f64| rect.left() + rect.width() * ((s - start) / (end - start).max(1e-6)) as f32;
            let mut s = (start * 2.0).ceil() / 2.0;
            while s <= end + 1e-9 {
                let x = x_of(s);
                painter.vline(x, rect.bottom()..=rect.bottom() + 3.0, Stroke::new(1.0, text_colour));
                if (s - s.round()).abs() < 1e-6 {
                    painter.text(
                        egui::pos2(x, rect.bottom() + 2.0),
                        egui::Align2::CENTER_TOP,
                        format!("{} s", s.round() as i64),
                        font.clone(),
                        text_colour,
                    );
                }
                s += 0.5;
            }
            painter.vline(x_of(t).clamp(rect.left(), rect.right()), rect.y_range(), Stroke::new(2.0, Color32::WHITE));
            // The row's model, on a dark tab in the image's corner.
            let galley = painter.layout_no_wrap(row, font.clone(), Color32::WHITE);
            let tab = Rect::from_min_size(rect.left_top(), galley.size() + Vec2::new(6.0, 2.0));
            painter.rect_filled(tab, 0.0, Color32::from_black_alpha(170));
            painter.galley(tab.min + Vec2::new(3.0, 1.0), galley, Color32::WHITE);
            if let Some(pos) = response.interact_pointer_pos().filter(|_| response.clicked()) {
                commands.push(Command::Seek(start + (end - start) * f64::from((pos.x - rect.left()) / rect.width())));
            }
            response.on_hover_text("click to seek there");
        });
        ui.add_space(12.0);
    }
    // What the spectrogram maps' colours mean (each map normalised over its own window); in a
    // short window the frames need the room more.
    if app.settings.show_overlay && window_height >= 700.0 {
        ui.horizontal(|ui| {
            ui.add_space(64.0);
            let scale = if app.settings.view == ViewMode::Difference {
                legend::Scale::Difference { a: "A".into(), b: "B".into() }
            } else {
                legend::Scale::Map { range: None, normalisation: None }
            };
            ui.vertical(|ui| {
                legend::colour_bar(ui, (ui.available_width() * 0.5).max(120.0), style.colormap, style.threshold, &scale, None);
            });
        });
    }
}

/// One spectrogram row: its model, the time span it shows, its map, and what the model heard
/// instead of the clip's audio (a what-if).
struct SpectrogramRow {
    name: String,
    span: (f64, f64),
    heat: Option<Heat>,
    heard: Option<Counterfactual>,
}

/// A spectrogram map as a heat in the image's orientation: time across, low frequencies at the
/// bottom, normalised over the window.
fn spectrogram_heat(m: &SpectrogramMap) -> Heat {
    // Map rows are time, columns mel.
    let values = normalise(&m.values, None);
    let mut v = vec![0.0; m.time * m.mel];
    for ti in 0..m.time {
        for mi in 0..m.mel {
            v[(m.mel - 1 - mi) * m.time + ti] = values[ti * m.mel + mi];
        }
    }
    Heat { width: m.time, height: m.mel, values: v }
}

/// Grey log-mel frames `[start, end)` (low frequencies at the bottom) with `heat` blended over;
/// with a counterfactual, what the model heard instead: the track from `shift` seconds earlier,
/// silence (the clip's quietest value), or noise (drawn flat at the window's mean level; its
/// exact spectrum is not computed for display).
pub(super) fn spectrogram_image(
    spec: &crate::app::ClipSpectrogram,
    start: f64,
    end: f64,
    heat: Option<&Heat>,
    style: &OverlayStyle,
    heard: Option<Counterfactual>,
) -> egui::ColorImage {
    let source = heard.as_ref().map_or(start, |c| c.source_start(crate::media::Timestamp::from_secs(start)).secs());
    let first = (source * 100.0).round() as i64;
    let frames = (((end - start) * 100.0).round() as usize).max(1);
    let mel = spec.mel;
    let column = |f: i64| -> Option<&[f32]> {
        (f >= 0 && (f as usize) < spec.frames).then(|| &spec.values[f as usize * mel..(f as usize + 1) * mel])
    };
    let (lo, hi) = spec.range;
    let flat = match heard {
        Some(Counterfactual::Mute) => Some(lo),
        Some(Counterfactual::Noise) => {
            let values: Vec<f32> = (0..frames as i64).filter_map(|x| column(first + x)).flatten().copied().collect();
            Some(values.iter().sum::<f32>() / values.len().max(1) as f32)
        }
        _ => None,
    };
    let mut pixels = Vec::with_capacity(frames * mel);
    for y in 0..mel {
        for x in 0..frames {
            let value = flat.unwrap_or_else(|| column(first + x as i64).map_or(lo, |c| c[mel - 1 - y]));
            let g = (255.0 * (value - lo) / (hi - lo).max(1e-6)).clamp(0.0, 255.0) as u8;
            let h = heat.map(|h| h.sample((x as f32 + 0.5) / frames as f32, (y as f32 + 0.5) / mel as f32, style.smooth));
            let [r, g, b] = blend_pixel([g, g, g], h, style);
            pixels.push(Color32::from_rgb(r, g, b));
        }
    }
    egui::ColorImage::new([frames, mel], pixels)
}
