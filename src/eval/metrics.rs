//! Localisation scores of one patch map against one box: the pointing game, the area under the
//! ROC curve of thresholding the map, and the consensus IoU of sound-source localisation papers
//! (Senocak et al. 2018) with its success curve.
//!
//! Maps live on the patch grid of the model's crop; a cell covers `cell` pixels of the crop. The
//! box is given in crop pixels.

/// The map's maximum and whether it falls on the box: the cell with the largest value (the first
/// one on ties) must overlap the box, which is the finest a patch map can point.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Pointing {
    pub hit: bool,
    /// Centre of the maximal cell, crop pixels.
    pub point: [f32; 2],
}

/// Overlap area (pixels) of cell `(row, col)` with `bx`, both clipped to the crop.
fn overlap(row: usize, col: usize, cell: [f32; 2], bx: [f32; 4], crop: f32) -> f32 {
    let (x0, y0) = (col as f32 * cell[0], row as f32 * cell[1]);
    let (x1, y1) = ((x0 + cell[0]).min(crop), (y0 + cell[1]).min(crop));
    let w = (x1.min(bx[2].min(crop)) - x0.max(bx[0].max(0.0))).max(0.0);
    let h = (y1.min(bx[3].min(crop)) - y0.max(bx[1].max(0.0))).max(0.0);
    w * h
}

/// The pointing game's chance level for one box: the fraction of cells that overlap it (a map
/// whose maximum falls on a uniformly random cell hits this often).
pub fn pointing_chance(rows: usize, cols: usize, cell: [f32; 2], bx: [f32; 4], crop: f32) -> f64 {
    let hits = (0..rows * cols).filter(|&i| overlap(i / cols, i % cols, cell, bx, crop) > 0.0).count();
    hits as f64 / (rows * cols).max(1) as f64
}

/// The pointing game on a `rows x cols` map.
pub fn pointing(map: &[f32], rows: usize, cols: usize, cell: [f32; 2], bx: [f32; 4], crop: f32) -> Pointing {
    let best =
        map.iter().take(rows * cols).enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0;
    let (row, col) = (best / cols.max(1), best % cols.max(1));
    Pointing { hit: overlap(row, col, cell, bx, crop) > 0.0, point: [(col as f32 + 0.5) * cell[0], (row as f32 + 0.5) * cell[1]] }
}

/// The area under the ROC curve of the map as a per-pixel detector of the box: every threshold
/// marks the pixels whose cell value exceeds it, against the pixels inside the box. Computed
/// exactly as the Mann-Whitney statistic over pixels (ties count one half), with each cell's
/// pixels split into inside and outside by area. `None` when the box covers all of the crop or
/// none of it.
pub fn box_auc(map: &[f32], rows: usize, cols: usize, cell: [f32; 2], bx: [f32; 4], crop: f32) -> Option<f64> {
    let cells: Vec<(f32, f64, f64)> = (0..rows * cols)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            let area = f64::from(((c as f32 + 1.0) * cell[0]).min(crop) - c as f32 * cell[0])
                * f64::from(((r as f32 + 1.0) * cell[1]).min(crop) - r as f32 * cell[1]);
            let inside = f64::from(overlap(r, c, cell, bx, crop)).min(area);
            (map[i], inside, area - inside)
        })
        .collect();
    let positive: f64 = cells.iter().map(|c| c.1).sum();
    let negative: f64 = cells.iter().map(|c| c.2).sum();
    if positive <= 0.0 || negative <= 0.0 {
        return None;
    }
    let mut sum = 0.0;
    for &(v, p, _) in &cells {
        for &(u, _, n) in &cells {
            if v > u {
                sum += p * n;
            } else if v == u {
                sum += 0.5 * p * n;
            }
        }
    }
    Some(sum / (positive * negative))
}

/// Consensus IoU (Senocak et al. 2018, "Learning to Localize Sound Source in Visual Scenes"),
/// with the box as the consensus map (one annotator): the map is taken per crop pixel (each pixel
/// has its cell's value), the pixels above the median value (numpy's
/// `sort(pred.flatten())[n // 2]`, as their evaluation code takes it) are the predicted region
/// P, and cIoU = |P ∩ B| / (|B| + |P \ B|).
pub fn ciou(map: &[f32], rows: usize, cols: usize, cell: [f32; 2], bx: [f32; 4], crop: f32) -> f64 {
    let side = crop.round().max(1.0) as usize;
    let value = |x: usize, y: usize| {
        let r = ((y as f32 / cell[1]) as usize).min(rows.saturating_sub(1));
        let c = ((x as f32 / cell[0]) as usize).min(cols.saturating_sub(1));
        map.get(r * cols + c).copied().unwrap_or(0.0)
    };
    let mut sorted: Vec<f32> = (0..side * side).map(|i| value(i % side, i / side)).collect();
    sorted.sort_by(f32::total_cmp);
    let threshold = sorted[sorted.len() / 2];
    region_ciou(|x, y| value(x, y) > threshold, bx, crop)
}

/// cIoU of a predicted region given per crop pixel (`predicted(x, y)`) against box `bx`.
pub fn region_ciou(predicted: impl Fn(usize, usize) -> bool, bx: [f32; 4], crop: f32) -> f64 {
    let side = crop.round().max(1.0) as usize;
    let (mut hit, mut in_box, mut outside) = (0usize, 0usize, 0usize);
    for y in 0..side {
        for x in 0..side {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside = px >= bx[0] && px < bx[2] && py >= bx[1] && py < bx[3];
            let p = predicted(x, y);
            in_box += usize::from(inside);
            hit += usize::from(inside && p);
            outside += usize::from(!inside && p);
        }
    }
    let denominator = in_box + outside;
    if denominator == 0 { 0.0 } else { hit as f64 / denominator as f64 }
}

/// The baselines sound-source localisation papers report beside a method, as predicted regions:
/// the whole frame, and a centre prior (the centred disc of half the crop's area).
pub fn baseline_cious(bx: [f32; 4], crop: f32) -> (f64, f64) {
    let whole = region_ciou(|_, _| true, bx, crop);
    let radius2 = f64::from(crop * crop) / (2.0 * std::f64::consts::PI);
    let centre = f64::from(crop) / 2.0;
    let disc = region_ciou(
        |x, y| {
            let (dx, dy) = (x as f64 + 0.5 - centre, y as f64 + 0.5 - centre);
            dx * dx + dy * dy <= radius2
        },
        bx,
        crop,
    );
    (whole, disc)
}

/// The success curve over clips' cIoUs as those papers read it: the fraction of clips with
/// cIoU >= 0.5, and the area under the fraction with cIoU >= t for t = 0, 0.05, ..., 1
/// (trapezoids).
pub fn success_curve(cious: &[f64]) -> (f64, f64) {
    if cious.is_empty() {
        return (0.0, 0.0);
    }
    let at = |t: f64| cious.iter().filter(|&&c| c >= t - 1e-12).count() as f64 / cious.len() as f64;
    let curve: Vec<f64> = (0..=20).map(|i| at(f64::from(i) * 0.05)).collect();
    let auc = curve.windows(2).map(|w| 0.5 * (w[0] + w[1]) * 0.05).sum();
    (at(0.5), auc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciou_matches_the_definition_on_pixels() {
        // 4x4 cells of 8 px over a 32 px crop; the box covers cell (1, 2) exactly.
        let bx = [16.0, 8.0, 24.0, 16.0];
        let mut map = vec![0.0; 16];
        map[6] = 1.0;
        assert_eq!(ciou(&map, 4, 4, [8.0, 8.0], bx, 32.0), 1.0, "the hot cell is the box");
        // A map hot on the box and one more cell: P is twice the box, cIoU = 64 / (64 + 64).
        map[0] = 1.0;
        assert!((ciou(&map, 4, 4, [8.0, 8.0], bx, 32.0) - 0.5).abs() < 1e-12);
        // Naive: half the crop above the median (a ramp over columns), a box across two columns.
        let ramp: Vec<f32> = (0..16).map(|i| (i % 4) as f32).collect();
        let bx = [12.0, 0.0, 20.0, 32.0];
        // Above the median value 2 (sorted[512] of 1024 pixels): column 3 (x 24..32), 256 px, none in the box.
        assert_eq!(ciou(&ramp, 4, 4, [8.0, 8.0], bx, 32.0), 0.0);
        let (whole, centre) = baseline_cious([0.0, 0.0, 16.0, 32.0], 32.0);
        assert!((whole - 0.5).abs() < 1e-12, "half the frame: {whole}");
        assert!(centre > 0.3 && centre < 0.6, "{centre}");
    }

    #[test]
    fn the_success_curve_counts_clips_above_each_threshold() {
        let (at_05, auc) = success_curve(&[1.0, 0.5, 0.0]);
        assert!((at_05 - 2.0 / 3.0).abs() < 1e-12);
        // Fractions: 1 at t = 0, 2/3 for 0 < t <= 0.5, 1/3 above: area 0.05 * (0.5 * (1 + 2/3)) + 9 * 0.05 * 2/3 + 0.05 * 0.5 * (2/3 + 1/3) + 9 * 0.05 / 3.
        let want = 0.05 * (0.5 * (1.0 + 2.0 / 3.0)) + 9.0 * 0.05 * (2.0 / 3.0) + 0.05 * 0.5 * (2.0 / 3.0 + 1.0 / 3.0) + 9.0 * 0.05 / 3.0;
        assert!((auc - want).abs() < 1e-12, "{auc} vs {want}");
        assert_eq!(success_curve(&[]), (0.0, 0.0));
    }

    #[test]
    fn a_map_peaked_on_the_box_scores_one() {
        // 4x4 cells of 8 px over a 32 px crop; the box covers cell (1, 2) exactly.
        let mut map = vec![0.0; 16];
        map[6] = 1.0;
        let bx = [16.0, 8.0, 24.0, 16.0];
        let p = pointing(&map, 4, 4, [8.0, 8.0], bx, 32.0);
        assert!(p.hit);
        assert_eq!(p.point, [20.0, 12.0]);
        assert_eq!(box_auc(&map, 4, 4, [8.0, 8.0], bx, 32.0), Some(1.0));
        assert_eq!(pointing_chance(4, 4, [8.0, 8.0], bx, 32.0), 1.0 / 16.0);
        // Peaked elsewhere: a miss and an AUC below one half.
        let mut away = vec![0.5; 16];
        away[0] = 1.0;
        away[6] = 0.0;
        assert!(!pointing(&away, 4, 4, [8.0, 8.0], bx, 32.0).hit);
        assert_eq!(box_auc(&away, 4, 4, [8.0, 8.0], bx, 32.0), Some(0.0));
    }

    #[test]
    fn a_flat_map_scores_one_half_and_a_full_box_has_no_auc() {
        let flat = vec![0.3; 16];
        let auc = box_auc(&flat, 4, 4, [8.0, 8.0], [3.0, 5.0, 20.0, 13.0], 32.0).unwrap();
        assert!((auc - 0.5).abs() < 1e-12);
        assert_eq!(box_auc(&flat, 4, 4, [8.0, 8.0], [-5.0, -5.0, 40.0, 40.0], 32.0), None);
    }

    #[test]
    fn auc_matches_a_naive_per_pixel_count() {
        // A 3x3 map of 5 px cells over a 15 px crop, a box with partial cells.
        let map = [0.1, 0.7, 0.3, 0.7, 0.9, 0.2, 0.0, 0.4, 0.4];
        let bx = [3.0, 2.0, 11.0, 9.0];
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for y in 0..15 {
            for x in 0..15 {
                let v = map[(y / 5) * 3 + x / 5];
                let inside = (x as f32) >= bx[0] && (x as f32) < bx[2] && (y as f32) >= bx[1] && (y as f32) < bx[3];
                if inside { pos.push(v) } else { neg.push(v) }
            }
        }
        let mut naive = 0.0;
        for &p in &pos {
            for &n in &neg {
                naive += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        naive /= (pos.len() * neg.len()) as f64;
        let auc = box_auc(&map, 3, 3, [5.0, 5.0], bx, 15.0).unwrap();
        assert!((auc - naive).abs() < 1e-9, "{auc} vs naive {naive}");
    }
}
