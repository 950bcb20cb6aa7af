//! Per-model metrics over a results file and its ground truth: accuracy, mAP for multi-label
//! sets, the confusion matrix, and the clips where the models disagree.
//!
//! A clip's scores are the mean over its windows of the probabilities the results kept (each
//! window's top k; a class outside a window's top k counts 0 there), as Scenic averages the views
//! of a clip. With top k below the number of classes, mAP is therefore computed from the top k
//! only: every class a clip never had in its top k ranks last for that clip.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::analysis::report::{Results, WindowOut};

use super::labels::GroundTruth;

/// A clip's scores for `classes` classes from its windows.
pub fn clip_scores(windows: &[WindowOut], classes: usize) -> Vec<f64> {
    let mut scores = vec![0.0; classes];
    let tops: Vec<Vec<(usize, f32)>> = windows.iter().map(|w| w.top.iter().map(|l| (l.class, l.probability)).collect()).collect();
    accumulate_scores(&mut scores, tops.iter().map(Vec::as_slice));
    scores
}

/// Sets `scores` (zeroed, one per class) to the mean over `windows` of each window's top
/// (class, probability) pairs; a class outside a window's top counts 0 there.
pub fn accumulate_scores<'a>(scores: &mut [f64], windows: impl ExactSizeIterator<Item = &'a [(usize, f32)]>) {
    let n = windows.len().max(1) as f64;
    for top in windows {
        for &(class, probability) in top {
            if let Some(s) = scores.get_mut(class) {
                *s += f64::from(probability);
            }
        }
    }
    scores.iter_mut().for_each(|s| *s /= n);
}

/// The index of the largest score (the first of equals).
pub fn top1(scores: &[f64]) -> Option<usize> {
    scores
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, &s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        })
        .map(|(i, _)| i)
}

/// Average precision of `scores` against `positives` (same length): the mean, over the
/// positives, of the precision among the clips scored at least as high (ties ranked
/// pessimistically: a tied negative comes first). None without positives.
pub fn average_precision(scores: &[f64], positives: &[bool]) -> Option<f64> {
    let total = positives.iter().filter(|&&p| p).count();
    if total == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(positives[a].cmp(&positives[b])));
    let (mut hits, mut sum) = (0usize, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        if positives[i] {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    Some(sum / total as f64)
}

/// One model's metrics over the labelled clips.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetrics {
    pub name: String,
    /// Clips with results and a ground-truth row.
    pub labelled: usize,
    /// The share of labelled clips whose top class is among their labels.
    pub accuracy: f64,
    /// Mean over classes with at least one positive clip of the average precision.
    pub map: Option<f64>,
    /// `confusion[truth][predicted]` over single-label clips.
    pub confusion: Vec<Vec<usize>>,
}

/// A clip on which the models' top classes differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Disagreement {
    pub clip: PathBuf,
    /// Each model's top class and its score.
    pub top: Vec<(usize, f64)>,
    pub truth: Option<Vec<usize>>,
}

/// Each model's metrics (with ground truth) and the clips where the models disagree.
pub fn evaluate(results: &Results, truth: Option<&GroundTruth>) -> (Vec<ModelMetrics>, Vec<Disagreement>) {
    let mut metrics = Vec::new();
    let mut tops: Vec<Vec<Option<(usize, f64)>>> = vec![Vec::new(); results.clips.len()];
    for (m, model) in results.models.iter().enumerate() {
        let classes = model.labels.len();
        let mut labelled = 0;
        let mut correct = 0;
        let mut confusion = vec![vec![0usize; classes]; classes];
        let mut all_scores: Vec<Vec<f64>> = Vec::new();
        let mut all_truth: Vec<&Vec<usize>> = Vec::new();
        for (c, clip) in results.clips.iter().enumerate() {
            let Some(windows) = clip.models.get(m) else { continue };
            let scores = clip_scores(windows, classes);
            let top = top1(&scores);
            tops[c].push(top.map(|t| (t, scores[t])));
            let Some(labels) = truth.and_then(|t| t.clips.get(&clip.clip)) else { continue };
            labelled += 1;
            if let Some(t) = top {
                correct += usize::from(labels.contains(&t));
                if let [single] = labels.as_slice()
                    && let Some(row) = confusion.get_mut(*single)
                {
                    row[t] += 1;
                }
            }
            all_scores.push(scores);
            all_truth.push(labels);
        }
        if truth.is_none() {
            continue;
        }
        let aps: Vec<f64> = (0..classes)
            .filter_map(|k| {
                let scores: Vec<f64> = all_scores.iter().map(|s| s[k]).collect();
                let positives: Vec<bool> = all_truth.iter().map(|t| t.contains(&k)).collect();
                average_precision(&scores, &positives)
            })
            .collect();
        metrics.push(ModelMetrics {
            name: model.name.clone(),
            labelled,
            accuracy: if labelled > 0 { correct as f64 / labelled as f64 } else { 0.0 },
            map: (!aps.is_empty()).then(|| aps.iter().sum::<f64>() / aps.len() as f64),
            confusion,
        });
    }
    let disagreements = results
        .clips
        .iter()
        .zip(tops)
        .filter(|(_, top)| top.len() > 1 && top.iter().any(|t| t.map(|t| t.0) != top[0].map(|t| t.0)))
        .map(|(clip, top)| Disagreement {
            clip: clip.clip.clone(),
            top: top.into_iter().map(|t| t.unwrap_or((0, 0.0))).collect(),
            truth: truth.and_then(|t| t.clips.get(&clip.clip).cloned()),
        })
        .collect();
    (metrics, disagreements)
}

/// The report `mbtscope report` and `merge --labels` print, as Markdown.
pub fn markdown(results: &Results, truth: Option<&GroundTruth>) -> String {
    let (metrics, disagreements) = evaluate(results, truth);
    let mut out = String::new();
    let failed = results.failures.len();
    let _ = writeln!(out, "{} clips analysed, {failed} failed; {} models\n", results.clips.len(), results.models.len());
    let labels = |m: usize| &results.models[m].labels;
    let name = |m: usize, c: usize| crate::analysis::label_name(labels(m), c);
    if let Some(truth) = truth {
        let _ = writeln!(out, "| model | labelled clips | accuracy (top 1) | mAP |\n|---|---|---|---|");
        for m in &metrics {
            let map = m.map.map_or_else(|| "n/a".into(), |v| format!("{:.3}", v));
            let _ = writeln!(out, "| {} | {} | {:.1}% | {map} |", m.name, m.labelled, m.accuracy * 100.0);
        }
        let _ = writeln!(
            out,
            "\nmAP ranks clips by the mean over windows of the top {} probabilities kept per window{}.",
            results.top_k,
            if truth.multi_label { " (multi-label ground truth)" } else { "" }
        );
        for (i, m) in metrics.iter().enumerate() {
            let used: Vec<usize> = (0..m.confusion.len())
                .filter(|&k| m.confusion[k].iter().sum::<usize>() > 0 || m.confusion.iter().any(|r| r[k] > 0))
                .collect();
            if used.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\nConfusion matrix of {} (rows: truth, columns: top 1; single-label clips):\n", m.name);
            if used.len() > 20 {
                let mut pairs: Vec<(usize, usize, usize)> = used
                    .iter()
                    .flat_map(|&t| used.iter().map(move |&p| (t, p)))
                    .filter(|(t, p)| t != p)
                    .map(|(t, p)| (m.confusion[t][p], t, p))
                    .filter(|x| x.0 > 0)
                    .collect();
                pairs.sort_by_key(|p| std::cmp::Reverse(p.0));
                let _ = writeln!(
                    out,
                    "{} classes occur; the 20 most frequent confusions:\n\n| truth | predicted | clips |\n|---|---|---|",
                    used.len()
                );
                for (n, t, p) in pairs.into_iter().take(20) {
                    let _ = writeln!(out, "| {} | {} | {n} |", name(i, t), name(i, p));
                }
                continue;
            }
            let _ = writeln!(out, "| truth \\ predicted | {} |", used.iter().map(|&k| name(i, k)).collect::<Vec<_>>().join(" | "));
            let _ = writeln!(out, "|---|{}", "---|".repeat(used.len()));
            for &t in &used {
                let row: Vec<String> = used.iter().map(|&p| m.confusion[t][p].to_string()).collect();
                let _ = writeln!(out, "| {} | {} |", name(i, t), row.join(" | "));
            }
        }
    }
    if results.models.len() > 1 {
        let _ = writeln!(out, "\nClips where the models disagree: {} of {}\n", disagreements.len(), results.clips.len());
        if !disagreements.is_empty() {
            let models: Vec<&str> = results.models.iter().map(|m| m.name.as_str()).collect();
            let _ = writeln!(out, "| clip | {} | truth |\n|---|{}---|", models.join(" | "), "---|".repeat(models.len()));
            for d in &disagreements {
                let tops: Vec<String> = d.top.iter().enumerate().map(|(m, &(c, p))| format!("{} {:.0}%", name(m, c), p * 100.0)).collect();
                let truth = d.truth.as_ref().map_or_else(|| "-".into(), |t| t.iter().map(|&c| name(0, c)).collect::<Vec<_>>().join(", "));
                let _ = writeln!(out, "| {} | {} | {truth} |", d.clip.display(), tops.join(" | "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a naive reference: AP as the area under the precision-recall steps, computed by
    /// sweeping every threshold.
    #[test]
    fn average_precision_matches_a_threshold_sweep() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let positives = [true, false, true, false, false, true];
        let ap = average_precision(&scores, &positives).unwrap();
        // Precision at each positive: 1/1, 2/3, 3/6.
        assert!((ap - (1.0 + 2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12, "{ap}");
        assert_eq!(average_precision(&scores, &[false; 6]), None);
        assert_eq!(average_precision(&[0.1, 0.9], &[false, true]), Some(1.0));
        // A tie between a positive and a negative ranks the negative first.
        assert_eq!(average_precision(&[0.5, 0.5], &[true, false]), Some(0.5));
    }
}
