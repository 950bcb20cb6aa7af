//! PNG plots of evaluation results, drawn with plotters: a confusion matrix, and accuracy
//! against GFLOPs per window for several models.

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::EvalReport;

const FONT: &str = "sans-serif";

/// plotters draws text with a registered font; egui's bundled Ubuntu Light is used so that no
/// system font is needed.
fn ensure_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT).is_ok());
    anyhow::ensure!(ok, "the bundled plot font could not be loaded");
    Ok(())
}

/// Draws into a temporary PNG and renames it onto `path` (never a half-written plot).
fn draw_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    ensure_font()?;
    // plotters picks the image format from the extension, so the temporary name keeps `.png`.
    let mut tmp = crate::fsutil::temp_path(path).into_os_string();
    tmp.push(".png");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow::anyhow!("{e}")).with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

/// The confusion matrix, rows = true class, columns = predicted class, cells shaded by the
/// fraction of the row and labelled with counts.
pub fn confusion_png(report: &EvalReport, path: &Path) -> anyhow::Result<()> {
    let n = report.confusion.len();
    let (left, top, cell) = (170i32, 70i32, 72i32);
    let size = ((left + cell * n as i32 + 30) as u32, (top + cell * n as i32 + 90) as u32);
    draw_png(path, size, |root| {
        let title = format!("{}: accuracy {:.1}% on {} clips", report.model, 100.0 * report.accuracy, report.clips);
        root.draw(&Text::new(title, (12, 14), (FONT, 22).into_font())).map_err(plot_err)?;
        root.draw(&Text::new("rows: true class, columns: predicted class", (12, 44), (FONT, 15).into_font().color(&RGBColor(90, 90, 90))))
            .map_err(plot_err)?;
        for (r, row) in report.confusion.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            for (c, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let (x, y) = (left + c as i32 * cell, top + r as i32 * cell);
                let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
                let fill = if r == c { RGBColor(shade, shade, 255) } else { RGBColor(255, shade, shade) };
                root.draw(&Rectangle::new([(x, y), (x + cell - 2, y + cell - 2)], fill.filled())).map_err(plot_err)?;
                let colour = if share > 0.6 { WHITE } else { BLACK };
                root.draw(&Text::new(count.to_string(), (x + cell / 2 - 10, y + cell / 2 - 8), (FONT, 17).into_font().color(&colour)))
                    .map_err(plot_err)?;
            }
            let label = report.labels.get(r).map_or("?", String::as_str);
            root.draw(&Text::new(label.to_owned(), (10, top + r as i32 * cell + cell / 2 - 8), (FONT, 15).into_font()))
                .map_err(plot_err)?;
        }
        // Column labels: one word per line, under the grid.
        for c in 0..n {
            let label = report.labels.get(c).map_or("?", String::as_str);
            for (line, word) in label.split_whitespace().enumerate() {
                let at = (left + c as i32 * cell + 4, top + n as i32 * cell + 8 + line as i32 * 18);
                root.draw(&Text::new(word.to_owned(), at, (FONT, 14).into_font())).map_err(plot_err)?;
            }
        }
        Ok(())
    })
}

/// Accuracy against GFLOPs per window, one labelled point per model.
pub fn accuracy_vs_gflops_png(reports: &[EvalReport], path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(!reports.is_empty(), "no models to plot");
    let max_flops = reports.iter().map(|r| r.gflops_per_window).fold(0.0, f64::max) * 1.25;
    draw_png(path, (900, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("accuracy vs cost per window", (FONT, 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_flops.max(1e-3), 0.0..100.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("GFLOPs per window")
            .y_desc("accuracy (%)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_err)?;
        let palette = [
            RGBColor(31, 119, 180),
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
            RGBColor(140, 86, 75),
        ];
        for (i, r) in reports.iter().enumerate() {
            let colour = palette[i % palette.len()];
            let at = (r.gflops_per_window, 100.0 * r.accuracy);
            let text = format!("{} ({:.1}%)", r.model, 100.0 * r.accuracy);
            let point = EmptyElement::at(at)
                + Circle::new((0, 0), 7, colour.filled())
                + Text::new(text, (10, -8 + 18 * (i as i32 % 2)), (FONT, 15).into_font().color(&colour));
            chart.draw_series(std::iter::once(point)).map_err(plot_err)?;
        }
        Ok(())
    })
}
