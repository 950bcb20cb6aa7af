//! The dataset browser driven through egui_kittest: an `analyze` Parquet file of clips from
//! `synth` with ground truth (one label changed, so that model A is wrong there), sorted by a
//! header click, searched, filtered to A's mistakes, and a row clicked: its clip opens with the
//! stored results, which equal the file's, and no model runs. A file of 100,000 clips draws only
//! the rows on screen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use mbtscope::analysis::report::{ClipResult, FORMAT, Label, ModelInfo, Results, WindowOut};
use mbtscope::app::{AppOptions, MbtApp, Page};
use mbtscope::dataset::table::{Query, ResultsTable, Show, SortBy};
use mbtscope::media::output::AudioDevice;
use mbtscope::model::device::DeviceChoice;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models").join(name)
}

fn ok(output: &std::process::Output) {
    assert!(output.status.success(), "failed ({:?}):\n{}", output.status.code(), String::from_utf8_lossy(&output.stderr));
}

fn browser(results: &Path, labels: Option<&Path>) -> Harness<'static, MbtApp> {
    let options = AppOptions {
        audio: AudioDevice::Disabled,
        device: DeviceChoice::Cpu,
        no_cache: true,
        fresh: true,
        results: Some((results.to_owned(), labels.map(Path::to_owned))),
        ..AppOptions::default()
    };
    Harness::builder().with_size(egui::vec2(1400.0, 900.0)).wgpu().build_eframe(|cc| MbtApp::new(cc, options))
}

fn step_until(harness: &mut Harness<'_, MbtApp>, what: &str, done: impl Fn(&MbtApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what} (browser: {:?})",
            harness.state().browser.message
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn row_names(app: &MbtApp) -> Vec<String> {
    let table = app.browser.table.as_ref().unwrap();
    app.browser.view.iter().map(|&i| table.clips[i].name.clone()).collect()
}

#[test]
fn the_browser_sorts_searches_filters_and_opens_a_clip_with_its_stored_results() {
    let dir = crate::scratch("browser");
    let clips = dir.join("clips");
    let bin = env!("CARGO_BIN_EXE_mbtscope");
    ok(&std::process::Command::new(bin)
        .args(["synth", "--clips", "4", "--seed", "6", "--split", "test", "--duration", "2", "--out"])
        .arg(&clips)
        .output()
        .unwrap());
    let results = dir.join("results.parquet");
    ok(&std::process::Command::new(bin)
        .args(["analyze", "--device", "cpu", "--no-cache", "--top-k", "3", "--model"])
        .arg(shipped("bottleneck"))
        .arg("--model")
        .arg(shipped("vanilla"))
        .arg("--out")
        .arg(&results)
        .arg(&clips)
        .output()
        .unwrap());
    // The ground truth from the clips' sidecars, with clip 2's label replaced by another class,
    // so that model A's prediction there is wrong.
    let labels = mbtscope::weights::native::read_labels(&shipped("bottleneck").join("labels.txt")).unwrap();
    let mut csv = String::from("clip,label\n");
    for k in 0..4 {
        let truth = mbtscope::synth::read_truth(&clips.join(format!("test_{k:05}.json"))).unwrap();
        let label = if k == 2 { labels[(truth.label + 1) % labels.len()].clone() } else { truth.label_name.clone() };
        csv.push_str(&format!("test_{k:05}.mp4,{label}\n"));
    }
    let csv_path = dir.join("labels.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let mut harness = browser(&results, Some(&csv_path));
    step_until(&mut harness, "the table", |app| app.browser.table.is_some());
    assert_eq!(harness.state().ui.page, Page::Results);
    assert!(harness.state().session.is_none(), "no clip opens before a row is clicked");
    harness.run_steps(2);
    for k in 0..4 {
        harness.get_by_label(&format!("row test_{k:05}.mp4"));
    }
    let sorted = ["test_00000.mp4", "test_00001.mp4", "test_00002.mp4", "test_00003.mp4"];
    assert_eq!(row_names(harness.state()), sorted);

    // The clip column's header: a click sorts by it descending (it was ascending), another
    // ascending again; the confidence column sorts by A's confidence.
    harness.get_by_label_contains("clip ^").click();
    harness.run_steps(2);
    assert_eq!(row_names(harness.state()), sorted.iter().rev().copied().collect::<Vec<_>>());
    harness.get_by_label("A conf.").click();
    harness.run_steps(2);
    let table = harness.state().browser.table.clone().unwrap();
    let confidence: Vec<f32> = harness.state().browser.view.iter().map(|&i| table.clips[i].models[0].confidence).collect();
    assert!(confidence.windows(2).all(|w| w[0] <= w[1]), "ascending confidence: {confidence:?}");

    // Search by clip name, then clear it.
    harness.get_by_role(egui::accesskit::Role::TextInput).focus();
    harness.run_steps(1);
    harness.get_by_role(egui::accesskit::Role::TextInput).type_text("00003");
    harness.run_steps(2);
    assert_eq!(row_names(harness.state()), ["test_00003.mp4"]);
    harness.get_by_label("clear").click();
    harness.run_steps(2);
    assert_eq!(harness.state().browser.view.len(), 4);

    // Only A's mistakes: clip 2, whose ground truth was changed.
    assert_eq!(table.clips[2].models[0].correct, Some(false));
    harness.get_by_role(egui::accesskit::Role::ComboBox).click();
    harness.run_steps(2);
    harness.get_by_label("where A is wrong").click();
    harness.run_steps(2);
    assert_eq!(harness.state().browser.query.show, Show::Wrong(0));
    let wrong: Vec<String> = row_names(harness.state());
    assert!(wrong.contains(&"test_00002.mp4".to_owned()), "{wrong:?}");
    let expected_wrong: Vec<String> = table.clips.iter().filter(|c| c.models[0].correct == Some(false)).map(|c| c.name.clone()).collect();
    assert_eq!(wrong.len(), expected_wrong.len());

    // A click on the row opens its clip with the stored results: no model runs.
    harness.get_by_label("row test_00002.mp4").click();
    step_until(&mut harness, "the clip with its stored results", |app| {
        app.ui.page == Page::Clip && app.analysis.models.first().is_some_and(|m| m.done() > 0)
    });
    let app = harness.state();
    assert!(app.clip().unwrap().ends_with("clips/test_00002.mp4"));
    assert!(app.analysis.status.contains("nothing recomputed"), "{}", app.analysis.status);
    assert_eq!(app.analysis.received, 0, "the analysis worker sent no window");
    let stored = mbtscope::dataset::read_results(&results).unwrap();
    let clip = stored.clips.iter().find(|c| c.clip.ends_with("test_00002.mp4")).unwrap();
    for (m, windows) in clip.models.iter().enumerate() {
        let shown = &app.analysis.models[m];
        assert_eq!(shown.done(), windows.len(), "every stored window of model {m}");
        for w in windows {
            let r = shown.results[w.index].as_ref().unwrap();
            for l in &w.top {
                assert_eq!(r.probabilities[l.class], l.probability);
            }
            let rgb = w.maps.as_ref().unwrap().rgb.as_ref().unwrap();
            let step = (rgb.max - rgb.min) / 255.0;
            let values = rgb.decode().unwrap();
            let map = r.rgb.as_ref().unwrap();
            assert_eq!(map.values.len(), values.len());
            assert!(map.values.iter().zip(&values).all(|(a, b)| (a - b).abs() <= step), "maps as stored (to a quantisation step)");
            assert_eq!(r.cross_modal.len(), w.cross_modal.len());
        }
    }
    // It opened at the row's telling window.
    let window = table.telling_window(2);
    let centre = clip.models[0].iter().find(|w| w.index == window).unwrap().centre;
    assert!((app.position() - centre).abs() < 0.05, "at {} (window {window} is at {centre})", app.position());
    // Back on the results tab, the row is still selected; its window list opens another window.
    harness.get_by_label("Results").click();
    harness.run_steps(2);
    assert_eq!(harness.state().ui.page, Page::Results);
    assert_eq!(harness.state().browser.selected, Some(2));
    harness.get_by_label_contains("open window 0 (").click();
    step_until(&mut harness, "window 0", |app| app.ui.page == Page::Clip && !app.browser.opening());
    let first = clip.models[0][0].centre;
    assert!((harness.state().position() - first).abs() < 0.05);
    assert_eq!(harness.state().analysis.received, 0);
}

/// A results file of `n` clips, two models, one window each, without maps.
fn many_clips(n: usize) -> Results {
    let labels = mbtscope::weights::native::read_labels(&shipped("bottleneck").join("labels.txt")).unwrap();
    let model = |name: &str| ModelInfo { name: name.into(), dir: shipped(name), labels: labels.clone() };
    let window = |class: usize, p: f32| WindowOut {
        index: 0,
        centre: 1.0,
        first_frame: 0.0,
        last_frame: 2.0,
        audio_start: 0.0,
        audio_end: 2.0,
        top: vec![Label { label: labels[class].clone(), class, probability: p }],
        explained_class: None,
        cross_modal: [("rgb".to_owned(), 0.1), ("spectrogram".to_owned(), 0.2)].into_iter().collect(),
        bottleneck: Vec::new(),
        maps: None,
    };
    Results {
        format: FORMAT.into(),
        settings: Default::default(),
        top_k: 1,
        maps: false,
        models: vec![model("bottleneck"), model("vanilla")],
        shard: None,
        clips: (0..n)
            .map(|i| ClipResult {
                clip: PathBuf::from(format!("set/clip_{i:06}.mp4")),
                duration: 2.0,
                seconds: 0.0,
                models: vec![vec![window(i % 8, 0.5 + (i % 50) as f32 / 100.0)], vec![window((i / 3) % 8, 0.6)]],
            })
            .collect(),
        failures: Vec::new(),
    }
}

#[test]
fn a_hundred_thousand_clips_draw_only_the_rows_on_screen() {
    let dir = crate::scratch("browser-many");
    let path = dir.join("many.parquet");
    mbtscope::dataset::write_results(&path, &many_clips(100_000), false).unwrap();
    let table = ResultsTable::read(&path, None).unwrap();
    assert_eq!(table.clips.len(), 100_000);
    let disagree = table.view(&Query { show: Show::Disagree, ..Query::default() });
    let expected = (0..100_000).filter(|i| i % 8 != (i / 3) % 8).count();
    assert_eq!(disagree.len(), expected);
    let by_confidence = table.view(&Query { sort: SortBy::Confidence(0), descending: true, ..Query::default() });
    assert_eq!(table.clips[by_confidence[0]].models[0].confidence, 0.99);

    let mut harness = browser(&path, None);
    step_until(&mut harness, "the table", |app| app.browser.table.is_some());
    harness.run_steps(2);
    let drawn = harness.query_all_by_label_contains("row clip_").count();
    assert!((10..100).contains(&drawn), "{drawn} rows drawn of 100,000 (only those on screen)");
    harness.get_by_label("row clip_000000.mp4");
    // Sorted the other way round (a click on the clip header), the last clips are the rows
    // drawn instead.
    assert_eq!(harness.state().browser.view.len(), 100_000);
    harness.get_by_label_contains("clip ^").click();
    harness.run_steps(2);
    harness.get_by_label("row clip_099999.mp4");
    assert!(harness.query_by_label("row clip_000000.mp4").is_none());
    let drawn = harness.query_all_by_label_contains("row clip_").count();
    assert!((10..100).contains(&drawn), "{drawn} rows drawn after sorting");
}
