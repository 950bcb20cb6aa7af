//! The app driven through egui_kittest on the wgpu renderer (lavapipe in CI): open the demo
//! clip, play, seek, switch to side by side, click a bottleneck token, export a frame; the
//! rendered views are saved as images and checked for the heatmap.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use mbtscope::app::{AppOptions, MbtApp, ViewMode};
use mbtscope::media::output::AudioDevice;
use mbtscope::model::device::DeviceChoice;

/// Steps the harness until `done` holds (real time passes: playback and the worker run on
/// their own threads).
fn step_until(harness: &mut Harness<'_, MbtApp>, what: &str, done: impl Fn(&MbtApp) -> bool) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pixels with strongly saturated colour inside `[x0, x1) x [y0, y1)`: the heatmap's.
fn saturated(image: &image::RgbaImage, x0: u32, x1: u32, y0: u32, y1: u32) -> usize {
    (y0..y1.min(image.height()))
        .flat_map(|y| (x0..x1.min(image.width())).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = image.get_pixel(x, y).0;
            let (max, min) = (p[..3].iter().copied().max().unwrap(), p[..3].iter().copied().min().unwrap());
            max > 150 && max - min > 120
        })
        .count()
}

#[test]
fn open_play_seek_compare_pick_a_token_and_export() {
    let out = crate::scratch("gui");
    let options = AppOptions {
        audio: AudioDevice::Disabled,
        device: DeviceChoice::Cpu,
        no_cache: true,
        fresh: true,
        export_dir: Some(out.clone()),
        ..AppOptions::default()
    };
    let mut harness = Harness::builder().with_size(egui::vec2(1400.0, 900.0)).wgpu().build_eframe(|cc| MbtApp::new(cc, options));
    // Opened on the demo clip, with the shipped models analysing it.
    step_until(&mut harness, "the first analysed window", |app| app.models.first().is_some_and(|m| m.window_at(app.position()).is_some()));
    assert!(harness.state().clip.as_ref().unwrap().ends_with("assets/demo/test_00000.mp4"));
    assert!(harness.state().message.as_deref().unwrap_or("").contains("wall clock"), "no audio device: the app says it plays on a wall clock");

    // Play for a while, then pause with Space.
    harness.get_by_label("Play").click();
    step_until(&mut harness, "playback to advance", |app| app.position() > 0.5);
    harness.key_press(egui::Key::Space);
    harness.step();
    let paused_at = harness.state().position();
    std::thread::sleep(Duration::from_millis(200));
    harness.step();
    assert!((harness.state().position() - paused_at).abs() < 1e-6, "Space did not pause");

    // Seek with End and Home, and to the middle.
    harness.key_press(egui::Key::End);
    harness.step();
    assert!(harness.state().position() > harness.state().duration() - 0.1);
    harness.state_mut().seek(4.0);
    step_until(&mut harness, "the frame at 4 s", |app| app.current_frame.as_ref().is_some_and(|f| (f.pts.secs() - 4.0).abs() < 0.1));
    step_until(&mut harness, "the window at 4 s", |app| app.models.iter().all(|m| m.window_at(4.0).is_some()));

    // Side by side: two frame views, both with heatmaps.
    harness.state_mut().settings.view = ViewMode::SideBySide;
    harness.run_steps(3);
    let image = harness.render().expect("render");
    image.save(out.join("side_by_side.png")).unwrap();
    let half = image.width() / 2;
    assert!(harness.state().models.len() == 2, "two shipped models");
    let (left, right) = (saturated(&image, 0, half - 200, 40, 600), saturated(&image, half - 200, image.width() - 380, 40, 600));
    assert!(left > 300 && right > 300, "heatmaps in both views: {left} and {right} saturated pixels");

    // Snapshots of the main views once every window is analysed (so the label strip and the
    // token plot are complete). Only the views are compared, not the status bar (its timings vary).
    step_until(&mut harness, "every window", |app| app.models.iter().all(|m| m.done() == m.windows.len()));
    harness.run_steps(3);
    let image = harness.render().expect("render");
    let rects = harness.state().view_rects;
    for (name, rect) in [("frames_side_by_side", rects.frames), ("transport_spectrogram", rects.transport), ("inspector", rects.inspector)] {
        assert_view_snapshot(&image, rect, name);
    }

    // Click a bottleneck token: the views now show its attention.
    harness.get_all_by_label("2").next().expect("a token button").click();
    harness.run_steps(3);
    assert!(harness.state().token.is_some(), "clicking a token selects it");
    harness.render().expect("render").save(out.join("token.png")).unwrap();

    // Export the current frame from the File menu: what `mbtscope export` draws for the same
    // frame (side by side, the classification-token maps, each window's map as a whole).
    harness.state_mut().token = None;
    harness.state_mut().settings.style.span = mbtscope::render::MapSpan::Window;
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Export the current frame (PNG)").click();
    harness.run_steps(2);
    let exported: Vec<_> = std::fs::read_dir(&out).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("test_00000_")).collect();
    assert_eq!(exported.len(), 1, "one exported frame: {exported:?} ({:?})", harness.state().export_message);
    let frame = image::open(&exported[0]).unwrap().to_rgb8();
    assert_eq!((frame.width(), frame.height()), (448, 224), "side by side");
    let index = (harness.state().current_frame.as_ref().unwrap().pts.secs() * 25.0).round() as usize;
    let cli_dir = out.join("cli");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_mbtscope"))
        .args(["export", "--device", "cpu", "--no-cache", "--span", "window", "--frames", &index.to_string(), "--model"])
        .arg(shipped("bottleneck"))
        .arg("--compare")
        .arg(shipped("vanilla"))
        .arg("--out")
        .arg(&cli_dir)
        .arg(mbtscope::app::demo_clip())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let want = image::open(cli_dir.join(format!("test_00000_{index:06}.png"))).unwrap().to_rgb8();
    assert_eq!(want.dimensions(), frame.dimensions());
    // Same code, same CPU backend: the maps may differ only in float rounding between two runs,
    // which can move a pixel by one colormap step; allow 0.5% of pixels to differ by up to 8.
    let (mut differ, mut worst) = (0, 0);
    for (a, b) in frame.pixels().zip(want.pixels()) {
        let d = (0..3).map(|c| (i32::from(a[c]) - i32::from(b[c])).abs()).max().unwrap();
        differ += usize::from(d > 0);
        worst = worst.max(d);
    }
    let total = (frame.width() * frame.height()) as usize;
    assert!(differ * 200 <= total && worst <= 8, "GUI and CLI exports differ: {differ} of {total} pixels, by up to {worst}");

    // Export the whole clip (200 frames) with its video, in the background, from the File menu.
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Export the clip").click();
    harness.run_steps(1);
    step_until(&mut harness, "the clip export", |app| app.export_task.is_none());
    let message = harness.state().export_message.clone().unwrap_or_default();
    assert!(message.starts_with("wrote 200 frames"), "{message}");
    let video = out.join("test_00000_annotated.mp4");
    assert!(video.exists(), "{message}");
    assert_eq!(std::fs::read_dir(out.join("test_00000_frames")).unwrap().filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count(), 200);

    // Import a Scenic checkpoint from the Models menu: it becomes model A and is analysed.
    // (Regression: a model with fewer windows than the others used to crash the worker, which
    // indexed every model's results by the first model's window.)
    harness.get_by_label("Models").click();
    harness.run_steps(2);
    harness.get_by_label("Import a Scenic checkpoint…").click();
    harness.run_steps(2);
    assert!(harness.state().import.shown, "the import form opens");
    let fixture = crate::fixtures().join("mbt/bottleneck_mid_token");
    let imported = out.join("imported");
    {
        let form = &mut harness.state_mut().import;
        form.set_checkpoint(&fixture.join("checkpoint.msgpack"));
        form.config = fixture.join("config.json").display().to_string();
        form.out = imported.display().to_string();
    }
    harness.run_steps(1);
    harness.get_by_label("Import").click();
    harness.run_steps(1);
    step_until(&mut harness, "the import", |app| !app.import.running());
    let message = harness.state().import.message.clone().unwrap_or_default();
    assert!(message.starts_with("imported"), "{message}");
    assert_eq!(harness.state().settings.models.first(), Some(&imported), "the imported model is A");
    assert!(imported.join(mbtscope::weights::native::WEIGHTS_FILE).exists());
    harness.render().expect("render").save(out.join("import.png")).unwrap();
    step_until(&mut harness, "the imported model's first window", |app| app.models.first().is_some_and(|m| m.name == "imported" && m.done() > 0));
    // Importing again into the same folder refuses to overwrite, and says so.
    harness.get_by_label("Import").click();
    harness.run_steps(1);
    step_until(&mut harness, "the second import", |app| !app.import.running());
    let message = harness.state().import.message.clone().unwrap_or_default();
    assert!(message.starts_with("import failed") && message.contains("exists"), "{message}");
}

/// Compares the part of `image` inside `rect` (points; the harness draws at one pixel per
/// point) with `tests/snapshots/NAME.png`. The maps come from the CPU backend, whose float
/// rounding can move a pixel by one colormap step between machines, so up to 0.1% of the pixels
/// may exceed egui_kittest's default per-pixel colour threshold (0.6).
fn assert_view_snapshot(image: &image::RgbaImage, rect: egui::Rect, name: &str) {
    assert!(rect.is_positive(), "{name}: no view drawn ({rect:?})");
    let (x, y) = (rect.min.x.round() as u32, rect.min.y.round() as u32);
    let (w, h) = ((rect.width().round() as u32).min(image.width() - x), (rect.height().round() as u32).min(image.height() - y));
    let view = image::imageops::crop_imm(image, x, y, w, h).to_image();
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels((w * h / 1000) as usize);
    egui_kittest::image_snapshot_options(&view, name, &options);
}

fn shipped(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models").join(name)
}
