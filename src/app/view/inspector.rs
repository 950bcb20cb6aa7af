//! The right-hand panel: the explanation settings, the labels, and the bottleneck tokens.

use super::*;

pub(super) fn explanation_settings(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading("Explanation");
        if ui
            .small_button("Reset to defaults")
            .on_hover_text("method, class, head fusion, discard ratio and start layer, and the map's colours, normalisation, time span, opacity, threshold and smoothing as a fresh start has them")
            .clicked()
        {
            commands.push(Command::ResetExplanation);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.small_button("»").on_hover_text("hide this panel (I)").clicked() {
                commands.push(Command::ShowInspector(false));
            }
        });
    });
    preset_picker(app, ui, commands);
    let mut analysis = app.settings.analysis.clone();
    egui::ComboBox::from_label("method")
        .selected_text(crate::app::method_name(analysis.method))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut analysis.method, Method::Rollout, crate::app::method_name(Method::Rollout));
            ui.selectable_value(&mut analysis.method, Method::Relevance, crate::app::method_name(Method::Relevance));
        })
        .response
        .on_hover_text(
            "Attention rollout (Abnar & Zuidema 2020): the attention maps multiplied through the layers from the classification tokens; class-agnostic, set by head fusion, discard ratio and start layer.\nGradient-weighted relevance (Chefer et al. 2021): attention weighted by its gradient for one class; set by the class alone.",
        );
    if analysis.method == Method::Relevance {
        let labels = app.analysis.models.first().map(|m| m.labels.clone()).unwrap_or_default();
        let name =
            |c: Option<usize>| c.map_or_else(|| "top prediction".to_owned(), |c| labels.get(c).cloned().unwrap_or_else(|| c.to_string()));
        egui::ComboBox::from_label("class")
            .selected_text(name(analysis.class))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut analysis.class, None, "top prediction");
                for c in 0..labels.len().min(64) {
                    ui.selectable_value(&mut analysis.class, Some(c), name(Some(c)));
                }
            })
            .response
            .on_hover_text(
                "Relevance only: the class whose evidence the maps show (each window's top prediction, or one class throughout)",
            );
    }
    // The rollout settings do nothing for relevance: shown, but greyed out.
    let rollout = analysis.method == Method::Rollout;
    let rollout_only = if rollout { "" } else { " (rollout only: relevance does not use it)" };
    use crate::model::mbt::HeadFusion;
    ui.add_enabled_ui(rollout, |ui| {
        egui::ComboBox::from_label("head fusion")
            .selected_text(format!("{:?}", analysis.rollout.head_fusion).to_lowercase())
            .show_ui(ui, |ui| {
                for f in [HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min] {
                    ui.selectable_value(&mut analysis.rollout.head_fusion, f, format!("{f:?}").to_lowercase());
                }
            })
            .response
            .on_hover_text(format!("How each layer's attention heads become one map: their mean, maximum or minimum{rollout_only}"))
            .on_disabled_hover_text(format!("How each layer's heads become one map{rollout_only}"));
        ui.add(egui::Slider::new(&mut analysis.rollout.discard_ratio, 0.0..=0.95).text("discard ratio"))
            .on_hover_text("The share of each fused attention map's weakest entries set to 0 before the product (keeps the strong paths)")
            .on_disabled_hover_text(format!("The share of weak attention dropped{rollout_only}"));
    });
    // The deepest open model sets the range; a model with fewer layers starts at its last layer
    // instead (the worker fits the settings to each model and says so below), and the setting
    // itself stays as chosen.
    let layers = app.analysis.models.iter().filter_map(|m| m.config.as_ref()).map(|c| c.num_layers).max().unwrap_or(12);
    let top = layers.max(analysis.rollout.start_layer + 1) - 1;
    ui.add_enabled(rollout, egui::Slider::new(&mut analysis.rollout.start_layer, 0..=top).text("start layer"))
        .on_hover_text("The first layer whose attention enters the product (0: all of them)")
        .on_disabled_hover_text(format!("The first layer in the product{rollout_only}"));
    what_if(app, ui, &mut analysis, commands);
    if analysis != app.settings.analysis {
        commands.push(Command::SetAnalysis(analysis));
    }
    for m in app.analysis.models.iter().filter(|m| !m.adjusted.is_empty()) {
        ui.colored_label(Color32::YELLOW, format!("{}: {}; fitted for this model only", m.name, m.adjusted.join("; ").replace('_', " ")))
            .on_hover_text("This model cannot use the setting as chosen; the nearest setting it has is used for it, and the other models keep the chosen one.");
    }
    ui.separator();
    let mut style = app.settings.style;
    egui::ComboBox::from_label("colormap")
        .selected_text(style.colormap.name())
        .show_ui(ui, |ui| {
            for c in Colormap::ALL {
                ui.selectable_value(&mut style.colormap, c, c.name());
            }
        })
        .response
        .on_hover_text("The colours of a single map, both methods (the difference view always uses the diverging rdbu)");
    egui::ComboBox::from_label("normalise")
        .selected_text(crate::app::normalisation_name(style.normalisation))
        .show_ui(ui, |ui| {
            for n in [Normalisation::Frame, Normalisation::Clip, Normalisation::Smooth] {
                ui.selectable_value(&mut style.normalisation, n, crate::app::normalisation_name(n));
            }
        })
        .response
        .on_hover_text("Which values the colormap's ends stand for: this frame's map min-max, min-max over the whole clip, or per frame blended between time slices; the colour bar shows the range");
    egui::ComboBox::from_label("time span")
        .selected_text(crate::app::span_name(style.span))
        .show_ui(ui, |ui| {
            for span in [MapSpan::Slice, MapSpan::Window] {
                ui.selectable_value(&mut style.span, span, crate::app::span_name(span));
            }
        })
        .response
        .on_hover_text("The map of the tubelet the frame falls in, or of the whole model window (its tubelets summed)");
    ui.add(egui::Slider::new(&mut style.opacity, 0.0..=1.0).text("opacity")).on_hover_text("The heatmap's weight over the frame");
    ui.add(egui::Slider::new(&mut style.threshold, 0.0..=1.0).text("threshold"))
        .on_hover_text("Normalised values below this are not drawn (the colour bar dims them); the difference view draws everything");
    ui.checkbox(&mut style.smooth, "smooth upsampling")
        .on_hover_text("Bilinear upsampling of the patch map; off, each patch shows as a square (the model's token grid)");
    if style != app.settings.style {
        commands.push(Command::SetStyle(style));
    }
}

pub(super) fn labels_panel(app: &MbtApp, ui: &mut Ui) {
    ui.heading("Labels");
    let t = app.position();
    if let Some(truth) = app.session.as_ref().and_then(|s| s.truth.as_ref()) {
        ui.label(format!("ground truth: {} (white box: the sounding object)", truth.label_name));
    }
    // The models side by side, so that the bottleneck panel's plot stays on screen.
    let models = &app.analysis.models;
    if models.is_empty() {
        return;
    }
    ui.columns(models.len().min(2), |columns| {
        for (ui, m) in columns.iter_mut().zip(models) {
            model_labels(ui, m, t);
        }
    });
    for m in models.iter().skip(2) {
        model_labels(ui, m, t);
    }
}

/// One model's top five labels at `t` with their probabilities, and its cross-modal shares.
fn model_labels(ui: &mut Ui, m: &ModelResults, t: f64) {
    ui.add(egui::Label::new(egui::RichText::new(&m.name).strong()).truncate());
    let Some(r) = m.window_at(t) else {
        ui.label("analysing this window...");
        return;
    };
    for (rank, (c, p)) in r.top(5).into_iter().enumerate() {
        ui.horizontal(|ui| {
            // The percentage beside the bar, where a short bar cannot hide it; bars in neutral
            // colours, which no object on screen shares (the top one in the theme's accent).
            let fill = if rank == 0 { ui.visuals().selection.bg_fill } else { Color32::from_gray(130) };
            ui.add(egui::ProgressBar::new(p).desired_width(36.0).desired_height(8.0).fill(fill));
            ui.add_sized([38.0, 14.0], egui::Label::new(egui::RichText::new(format!("{:.1}%", p * 100.0)).small()));
            ui.add(egui::Label::new(label_name(&m.labels, c)).truncate());
        });
    }
    let shares: Vec<String> = r.cross_modal.iter().map(|(m, s)| format!("{m}: {:.0}% from the other modality", s * 100.0)).collect();
    ui.label(egui::RichText::new(shares.join("; ")).small());
    if let Some(c) = r.explained_class {
        ui.label(egui::RichText::new(format!("relevance explains: {}", label_name(&m.labels, c))).small());
    }
}

pub(super) fn bottleneck_panel(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
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
    ui.label(format!("{} (model {}): each token's L2 norm in this window; click one to see its attention", m.name, ["A", "B"][mi.min(1)]))
        .on_hover_text("Colour: the norm over the layer's largest (viridis: dark low, yellow high); hover a token for its norm and the attention it receives from each modality's tokens");
    if let Some(c) = m.config.as_ref().filter(|c| c.bottleneck_tokens() > c.n_bottlenecks) {
        ui.label(
            egui::RichText::new(format!(
                "{} tokens for n_bottlenecks = {}: Scenic's code makes its bottleneck parameter one token longer with a token classifier, and released checkpoints carry it; the extra token (the last) is used like the others",
                c.bottleneck_tokens(),
                c.n_bottlenecks
            ))
            .small(),
        );
    }
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
                        .stroke(if selected { Stroke::new(2.5, Color32::WHITE) } else { Stroke::new(2.0, token_colour(k)) })
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
    ui.label(format!("token norms (L2) over the clip, layer {layer_name}; x: window centre, s"));
    egui_plot::Plot::new("bottleneck-plot")
        .height(140.0)
        .allow_scroll(false)
        .legend(egui_plot::Legend::default().position(egui_plot::Corner::RightTop))
        .show(ui, |plot| {
            for (k, points) in series.into_iter().enumerate() {
                plot.line(egui_plot::Line::new(format!("token {k}"), egui_plot::PlotPoints::from(points)).color(token_colour(k)));
            }
            plot.vline(egui_plot::VLine::new("playhead", t).color(Color32::WHITE));
        });
}

/// Token `k`'s colour: its line in the norm plot and its button's outline.
fn token_colour(k: usize) -> Color32 {
    let palette = [
        Color32::from_rgb(230, 97, 1),
        Color32::from_rgb(94, 60, 153),
        Color32::from_rgb(0, 158, 115),
        Color32::from_rgb(204, 121, 167),
        Color32::from_rgb(86, 180, 233),
        Color32::from_rgb(240, 228, 66),
        Color32::from_rgb(213, 94, 0),
        Color32::from_rgb(0, 114, 178),
    ];
    palette[k % palette.len()]
}

/// The what-if control: what the models hear. With altered audio the views compare model A
/// before (the clip's audio) and after, side by side or as a difference.
fn what_if(app: &MbtApp, ui: &mut Ui, analysis: &mut AnalysisSettings, commands: &mut Vec<Command>) {
    use crate::features::Counterfactual as C;
    ui.horizontal(|ui| {
        let current = analysis.counterfactual.clone();
        // The shift's size and the swapped-in clip are kept while another choice is made, so
        // that they come back.
        let (shift_id, swap_id) = (egui::Id::unique("what-if-shift"), egui::Id::unique("what-if-swap"));
        let mut shift: f64 = ui.data(|d| d.get_temp(shift_id)).unwrap_or(0.5);
        let mut donor: Option<PathBuf> = ui.data(|d| d.get_temp(swap_id));
        match &current {
            Some(C::Shift(s)) => shift = *s,
            Some(C::Swap(p)) => donor = Some(p.clone()),
            _ => {}
        }
        let mut choice = current.clone();
        let mut pick_donor = false;
        egui::ComboBox::from_label("what if")
            .selected_text(crate::app::what_if_name(current.as_ref()))
            .show_ui(ui, |ui| {
                for option in [None, Some(C::Mute), Some(C::Noise), Some(C::Shift(shift))] {
                    let name = match option {
                        Some(C::Shift(_)) => "audio shifted by ...".to_owned(),
                        ref other => crate::app::what_if_name(other.as_ref()),
                    };
                    ui.selectable_value(&mut choice, option, name);
                }
                let swapping = matches!(choice, Some(C::Swap(_)));
                if ui.selectable_label(swapping, "another clip's audio ...").clicked() {
                    match &donor {
                        Some(p) => choice = Some(C::Swap(p.clone())),
                        None => pick_donor = true,
                    }
                }
                ui.selectable_value(&mut choice, Some(C::BlankVideo), crate::app::what_if_name(Some(&C::BlankVideo)));
            })
            .response
            .on_hover_text(
                "Run model A again on an altered input and compare: side by side shows it before (the clip's own) and after, the difference view after minus before. Muted: silence; noise: white noise as loud as the window's audio; shifted: the track moved later by that many seconds (earlier when negative); another clip's audio: that file's sound at the same times (silence after it ends); video blanked: every frame mid-grey, the sound kept. The same as `analyze --counterfactual` and `export --counterfactual`.",
            );
        if let Some(C::Shift(_)) = choice {
            let response = ui.add(egui::DragValue::new(&mut shift).range(-5.0..=5.0).speed(0.05).suffix(" s")).on_hover_text("seconds; negative: earlier");
            if response.changed() || choice != current {
                if shift.abs() < 0.01 {
                    shift = if shift < 0.0 { -0.01 } else { 0.01 };
                }
                choice = Some(C::Shift((shift * 100.0).round() / 100.0));
            }
        }
        if let Some(C::Swap(p)) = &choice
            && ui.button("other clip ...").on_hover_text(format!("Now: {}. Pick another clip whose audio model A hears", p.display())).clicked()
        {
            pick_donor = true;
        }
        if pick_donor {
            commands.push(Command::PickPath(Purpose::SwapAudio, donor.clone().or_else(|| app.clip().map(std::path::Path::to_owned))));
        }
        ui.data_mut(|d| {
            d.insert_temp(shift_id, shift);
            if let Some(p) = donor {
                d.insert_temp(swap_id, p);
            }
        });
        analysis.counterfactual = choice;
    });
    if analysis.counterfactual.is_some() && app.settings.models.len() > 1 {
        ui.label(egui::RichText::new("comparing model A before and after; model B returns when the audio is the clip's own").small());
    }
}

/// The named presets: the current one by name ("custom" when the settings match none).
fn preset_picker(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let settings = &app.settings;
    let current = crate::app::preset_of(&settings.analysis, settings.style.span);
    let mut picked = None;
    egui::ComboBox::from_label("preset")
        .selected_text(current.as_ref().map_or("custom", |p| p.name))
        .width(250.0)
        .show_ui(ui, |ui| {
            for preset in crate::app::presets() {
                if ui.selectable_label(current.as_ref() == Some(&preset), preset.name).on_hover_text(preset.note).clicked() {
                    picked = Some(preset);
                }
            }
        })
        .response
        .on_hover_text(current.as_ref().map_or("The settings below match no preset", |p| p.note));
    if let Some(p) = picked {
        // The what-if stays as chosen: a preset sets how the maps are made, not what is heard.
        commands.push(Command::SetAnalysis(AnalysisSettings {
            counterfactual: settings.analysis.counterfactual.clone(),
            ..p.analysis.clone()
        }));
        commands.push(Command::SetStyle(OverlayStyle { span: p.span, ..settings.style }));
    }
}
