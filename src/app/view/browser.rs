//! The dataset browser's page: the results file's clips as a table that sorts (click a column's
//! header; again to reverse; `^` and `v` mark the column and direction), filters and searches, drawn row by row only where the scroll
//! area shows rows, so that 100,000 clips scroll as smoothly as ten. A click on a row opens its
//! clip with the stored results; the selected row's windows are listed below the table, each
//! opening the clip at that window.

use egui::{Align2, Color32, FontId, Rect, Sense, Ui, Vec2};

use super::Command;
use crate::app::dialog::Purpose;
use crate::app::{MbtApp, Page};
use crate::dataset::table::{Query, ResultsTable, Show, SortBy};

const ROW_HEIGHT: f32 = 20.0;

/// One column of the table: its header, width, what it sorts by and its tooltip.
struct Column {
    title: String,
    width: f32,
    sort: SortBy,
    tip: &'static str,
}

fn columns(table: &ResultsTable) -> Vec<Column> {
    let mut out = vec![Column { title: "clip".into(), width: 250.0, sort: SortBy::Clip, tip: "the clip's file name" }];
    for (m, info) in table.models.iter().enumerate() {
        let tag = model_tag(m);
        out.push(Column {
            title: format!("{tag}: {}", info.name),
            width: 150.0,
            sort: SortBy::Label(m),
            tip: "the model's top label over the clip's windows (the mean of each window's top-k probabilities)",
        });
        out.push(Column {
            title: format!("{tag} conf."),
            width: 62.0,
            sort: SortBy::Confidence(m),
            tip: "the top label's mean probability",
        });
        out.push(Column {
            title: format!("{tag} ok"),
            width: 50.0,
            sort: SortBy::Correct(m),
            tip: "whether the top label is in the ground truth",
        });
        out.push(Column {
            title: format!("{tag} x-rgb"),
            width: 58.0,
            sort: SortBy::CrossModal(m, 0),
            tip: "the share of the rgb explanation that comes from the spectrogram (mean over windows)",
        });
        out.push(Column {
            title: format!("{tag} x-spec"),
            width: 58.0,
            sort: SortBy::CrossModal(m, 1),
            tip: "the share of the spectrogram explanation that comes from the video (mean over windows)",
        });
    }
    out.push(Column { title: "truth".into(), width: 150.0, sort: SortBy::Truth, tip: "the labels CSV's labels for the clip" });
    out.push(Column { title: "disagree".into(), width: 64.0, sort: SortBy::Disagree, tip: "whether the models' top labels differ" });
    out
}

fn model_tag(m: usize) -> String {
    match m {
        0 => "A".into(),
        1 => "B".into(),
        m => format!("M{}", m + 1),
    }
}

fn share(v: Option<f32>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.0}%", v * 100.0))
}

/// The page: the file's summary and controls, the table, and the selected row's windows.
pub(super) fn results_page(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    let browser = &app.browser;
    if let Some(message) = &browser.message {
        ui.colored_label(Color32::YELLOW, message);
    }
    let Some(table) = browser.table.as_deref() else {
        if browser.loading() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("reading the results file…");
            });
        } else {
            ui.label("No results open. File > Open results… reads a file written by `mbtscope analyze --out` (JSON or Parquet).");
            if ui.button("Open results…").clicked() {
                commands.push(Command::PickPath(Purpose::OpenResults, None));
            }
        }
        return;
    };
    summary(app, table, ui, commands);
    controls(app, table, ui, commands);
    ui.separator();
    let detail_height = if browser.selected.is_some() { 130.0 } else { 0.0 };
    let table_height = (ui.available_height() - detail_height).max(ROW_HEIGHT * 4.0);
    ui.allocate_ui(Vec2::new(ui.available_width(), table_height), |ui| rows(app, table, ui, commands));
    if let Some(row) = browser.selected {
        ui.separator();
        windows(table, row, ui, commands);
    }
}

fn summary(app: &MbtApp, table: &ResultsTable, ui: &mut Ui, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        let name = table.path.file_name().map_or_else(|| table.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        ui.strong(name).on_hover_text(table.path.display().to_string());
        ui.label(format!(
            "{} clips, {} shown · {} · top {}{}",
            table.clips.len(),
            app.browser.view.len(),
            crate::app::method_name(table.settings.method),
            table.top_k,
            if table.maps { " · with maps" } else { " · no maps (analyzed with --no-maps)" }
        ));
        if !table.failures.is_empty() {
            ui.colored_label(Color32::YELLOW, format!("{} failed", table.failures.len())).on_hover_text(
                table.failures.iter().take(10).map(|f| format!("{}: {}", f.clip.display(), f.error)).collect::<Vec<_>>().join("\n"),
            );
        }
        ui.separator();
        match &table.truth_file {
            Some(csv) => {
                let accuracy: Vec<String> = (0..table.models.len())
                    .filter_map(|m| table.accuracy(m).map(|(a, n)| format!("{} {:.1}% of {n}", model_tag(m), a * 100.0)))
                    .collect();
                ui.label(format!("ground truth: {} · accuracy {}", csv.display(), accuracy.join(", ")));
            }
            None => {
                ui.label("no ground truth");
            }
        }
        if ui.button("Ground truth…").on_hover_text("a labels CSV: clip,label or clip,\"label1,label2\"").clicked() {
            commands.push(Command::PickPath(Purpose::GroundTruth, table.path.parent().map(std::path::Path::to_owned)));
        }
        if app.browser.loading() || app.browser.opening() {
            ui.spinner();
        }
    });
}

fn controls(app: &MbtApp, table: &ResultsTable, ui: &mut Ui, commands: &mut Vec<Command>) {
    let query = &app.browser.query;
    let mut next = query.clone();
    ui.horizontal(|ui| {
        let show = ui.label("show");
        let name = |s: Show| match s {
            Show::All => "all clips".to_owned(),
            Show::Disagree => "where the models disagree".to_owned(),
            Show::AnyWrong => "where a model is wrong".to_owned(),
            Show::Wrong(m) => format!("where {} is wrong", model_tag(m)),
            Show::Right(m) => format!("where {} is right", model_tag(m)),
        };
        let combo = egui::ComboBox::from_id_salt("results-show").selected_text(name(query.show)).width(200.0).show_ui(ui, |ui| {
            let mut options = vec![Show::All, Show::Disagree];
            if table.truth_file.is_some() {
                options.push(Show::AnyWrong);
                options.extend((0..table.models.len()).flat_map(|m| [Show::Wrong(m), Show::Right(m)]));
            }
            for option in options {
                ui.selectable_value(&mut next.show, option, name(option));
            }
        });
        combo.response.labelled_by(show.id);
        let search = ui.label("search");
        ui.add(egui::TextEdit::singleline(&mut next.search).hint_text("clip or label words").desired_width(220.0)).labelled_by(search.id);
        if !next.search.is_empty() && ui.small_button("clear").clicked() {
            next.search.clear();
        }
    });
    if next != *query {
        commands.push(Command::SetResultsQuery(next));
    }
}

/// The header and the visible rows.
fn rows(app: &MbtApp, table: &ResultsTable, ui: &mut Ui, commands: &mut Vec<Command>) {
    let columns = columns(table);
    let width: f32 = columns.iter().map(|c| c.width).sum();
    let query = &app.browser.query;
    egui::ScrollArea::horizontal().id_salt("results-h").show(ui, |ui| {
        ui.set_min_width(width);
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            for c in &columns {
                let arrow = match (query.sort == c.sort, query.descending) {
                    // The default fonts have no arrows.
                    (true, false) => " ^",
                    (true, true) => " v",
                    (false, _) => "",
                };
                let button = egui::Button::new(egui::RichText::new(format!("{}{arrow}", c.title)).strong()).frame(false);
                if ui.add_sized([c.width, ROW_HEIGHT], button).on_hover_text(c.tip).clicked() {
                    let descending = if query.sort == c.sort { !query.descending } else { false };
                    commands.push(Command::SetResultsQuery(Query { sort: c.sort, descending, ..query.clone() }));
                }
            }
        });
        let view = &app.browser.view;
        egui::ScrollArea::vertical().id_salt("results-v").auto_shrink([false, false]).show_rows(ui, ROW_HEIGHT, view.len(), |ui, range| {
            ui.spacing_mut().item_spacing.y = 0.0;
            for (i, &row) in view[range.clone()].iter().enumerate() {
                draw_row(app, table, &columns, row, range.start + i, width, ui, commands);
            }
        });
    });
}

#[expect(clippy::too_many_arguments, reason = "one row's drawing needs the table, its columns and where it is")]
fn draw_row(
    app: &MbtApp,
    table: &ResultsTable,
    columns: &[Column],
    row: usize,
    position: usize,
    width: f32,
    ui: &mut Ui,
    commands: &mut Vec<Command>,
) {
    let clip = &table.clips[row];
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, ROW_HEIGHT), Sense::click());
    // Rows carry their clip's name for screen readers and tests.
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("row {}", clip.name)));
    let visuals = ui.visuals();
    let fill = if app.browser.selected == Some(row) {
        visuals.selection.bg_fill
    } else if response.hovered() {
        visuals.widgets.hovered.weak_bg_fill
    } else if position % 2 == 1 {
        visuals.faint_bg_color
    } else {
        Color32::TRANSPARENT
    };
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, fill);
    let font = FontId::proportional(13.0);
    let text_colour = visuals.text_color();
    let mut cells: Vec<(String, Color32)> = vec![(clip.name.clone(), text_colour)];
    for (m, p) in clip.models.iter().enumerate() {
        cells.push((table.label(m, p.class), text_colour));
        cells.push((if p.class.is_some() { format!("{:.1}%", p.confidence * 100.0) } else { "-".into() }, text_colour));
        cells.push(match p.correct {
            Some(true) => ("right".into(), Color32::from_rgb(90, 200, 110)),
            Some(false) => ("wrong".into(), Color32::from_rgb(235, 90, 80)),
            None => ("".into(), text_colour),
        });
        cells.push((share(p.cross_modal[0]), text_colour));
        cells.push((share(p.cross_modal[1]), text_colour));
    }
    cells.push((clip.truth.as_ref().map_or_else(String::new, |t| t.join(", ")), text_colour));
    cells.push(if clip.disagree { ("yes".into(), Color32::from_rgb(240, 180, 60)) } else { (String::new(), text_colour) });
    let mut x = rect.left();
    for (c, (text, colour)) in columns.iter().zip(cells) {
        let cell = Rect::from_min_size(egui::pos2(x, rect.top()), Vec2::new(c.width, ROW_HEIGHT)).shrink2(Vec2::new(4.0, 0.0));
        painter.with_clip_rect(cell).text(cell.left_center(), Align2::LEFT_CENTER, text, font.clone(), colour);
        x += c.width;
    }
    if response.clicked() {
        commands.push(Command::OpenResultRow { row, window: None });
    }
    response.on_hover_ui_at_pointer(|ui| {
        ui.label(format!("{}\nclick: open it at window {} with the stored results", clip.clip.display(), table.telling_window(row)));
    });
}

/// The selected row's windows, each with every model's top label, and a button that opens the
/// clip there.
fn windows(table: &ResultsTable, row: usize, ui: &mut Ui, commands: &mut Vec<Command>) {
    let Some(clip) = table.clips.get(row) else { return };
    ui.label(format!("{}: windows", clip.name));
    egui::ScrollArea::vertical().id_salt("results-windows").max_height(100.0).show(ui, |ui| {
        let Some(first) = clip.models.first() else { return };
        for (j, w) in first.windows.iter().enumerate() {
            ui.horizontal(|ui| {
                if ui.small_button(format!("open window {} ({:.2} s)", w.window, w.centre)).clicked() {
                    commands.push(Command::OpenResultRow { row, window: Some(w.window) });
                }
                for (m, p) in clip.models.iter().enumerate() {
                    if let Some(pw) = p.windows.get(j) {
                        ui.label(format!("{}: {} {:.0}%", model_tag(m), table.label(m, pw.class), pw.probability * 100.0));
                    }
                }
            });
        }
    });
}

/// The tabs between the clip and the results, in the menu bar (only once results are open).
pub(super) fn page_tabs(app: &MbtApp, ui: &mut Ui, commands: &mut Vec<Command>) {
    if app.browser.table.is_none() && !app.browser.loading() {
        return;
    }
    ui.separator();
    for (page, name) in [(Page::Clip, "Clip"), (Page::Results, "Results")] {
        if ui.selectable_label(app.ui.page == page, name).clicked() && app.ui.page != page {
            commands.push(Command::ShowPage(page));
        }
    }
    ui.separator();
}
