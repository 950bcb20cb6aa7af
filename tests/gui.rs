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
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what} (the app says: {:?}; the analysis: {:?})",
            harness.state().ui.message,
            harness.state().analysis.status
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The app at 1400x900 on the demo clip, analysing on the CPU without cache or saved settings.
fn app(audio: AudioDevice, export_dir: std::path::PathBuf) -> Harness<'static, MbtApp> {
    let options =
        AppOptions { audio, device: DeviceChoice::Cpu, no_cache: true, fresh: true, export_dir: Some(export_dir), ..AppOptions::default() };
    Harness::builder().with_size(egui::vec2(1400.0, 900.0)).wgpu().build_eframe(|cc| MbtApp::new(cc, options))
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
    let mut harness = app(AudioDevice::Disabled, out.clone());
    // Opened on the demo clip, with the shipped models analysing it.
    step_until(&mut harness, "the first analysed window", |app| {
        app.analysis.models.first().is_some_and(|m| m.window_at(app.position()).is_some())
    });
    assert!(harness.state().clip().unwrap().ends_with("assets/demo/test_00000.mp4"));
    assert!(
        harness.state().ui.message.as_deref().unwrap_or("").contains("wall clock"),
        "no audio device: the app says it plays on a wall clock"
    );

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
    step_until(&mut harness, "the frame at 4 s", |app| app.current_frame().is_some_and(|f| (f.pts.secs() - 4.0).abs() < 0.1));
    step_until(&mut harness, "the window at 4 s", |app| app.analysis.models.iter().all(|m| m.window_at(4.0).is_some()));

    // Side by side: two frame views, both with heatmaps.
    harness.state_mut().settings.view = ViewMode::SideBySide;
    harness.run_steps(3);
    let image = harness.render().expect("render");
    image.save(out.join("side_by_side.png")).unwrap();
    let half = image.width() / 2;
    assert!(harness.state().analysis.models.len() == 2, "two shipped models");
    let (left, right) = (saturated(&image, 0, half - 200, 40, 600), saturated(&image, half - 200, image.width() - 380, 40, 600));
    assert!(left > 300 && right > 300, "heatmaps in both views: {left} and {right} saturated pixels");

    // Snapshots of the main views once every window is analysed (so the label strip and the
    // token plot are complete). Only the views are compared, not the status bar (its timings vary).
    step_until(&mut harness, "every window", |app| app.analysis.models.iter().all(|m| m.done() == m.windows.len()));
    harness.run_steps(3);
    let image = harness.render().expect("render");
    let rects = harness.state().ui.layout.rects;
    for (name, rect) in [("frames_side_by_side", rects.frames), ("transport_spectrogram", rects.transport), ("inspector", rects.inspector)]
    {
        assert_view_snapshot(&image, rect, name);
    }

    // Click a bottleneck token: the views now show its attention.
    harness.get_all_by_label("2").next().expect("a token button").click();
    harness.run_steps(3);
    assert!(harness.state().token().is_some(), "clicking a token selects it");
    harness.render().expect("render").save(out.join("token.png")).unwrap();

    // Export the current frame from the File menu: what `mbtscope export` draws for the same
    // frame (side by side, the classification-token maps, each window's map as a whole).
    harness.state_mut().session.as_mut().unwrap().token = None;
    harness.state_mut().settings.style.span = mbtscope::render::MapSpan::Window;
    harness.get_by_label("File").click();
    harness.run_steps(2);
    let exported = export_current_frame(&mut harness, &out);
    assert_eq!(exported.len(), 1, "one exported frame: {exported:?} ({:?})", harness.state().ui.export_message);
    let frame = image::open(&exported[0]).unwrap().to_rgb8();
    assert_eq!((frame.width(), frame.height()), (448, 224), "side by side");
    let index = (harness.state().current_frame().unwrap().pts.secs() * 25.0).round() as usize;
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
    step_until(&mut harness, "the clip export", |app| app.tasks.clip_export.is_none());
    let message = harness.state().ui.export_message.clone().unwrap_or_default();
    assert!(message.starts_with("wrote 200 frames"), "{message}");
    let video = out.join("test_00000_annotated.mp4");
    assert!(video.exists(), "{message}");
    assert_eq!(
        std::fs::read_dir(out.join("test_00000_frames"))
            .unwrap()
            .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
            .count(),
        200
    );

    // Import a Scenic checkpoint from the Models menu: it becomes model A and is analysed.
    // (Regression: a model with fewer windows than the others used to crash the worker, which
    // indexed every model's results by the first model's window.)
    harness.get_by_label("Models").click();
    harness.run_steps(2);
    harness.get_by_label("Import a Scenic checkpoint…").click();
    harness.run_steps(2);
    assert!(harness.state().ui.import.shown, "the import form opens");
    let fixture = crate::fixtures().join("mbt/bottleneck_mid_token");
    let imported = out.join("imported");
    {
        let form = &mut harness.state_mut().ui.import;
        form.set_checkpoint(&fixture.join("checkpoint.msgpack"));
        form.config = fixture.join("config.json").display().to_string();
        form.out = imported.display().to_string();
    }
    harness.run_steps(1);
    harness.get_by_label("Import").click();
    harness.run_steps(1);
    step_until(&mut harness, "the import", |app| !app.importing());
    let message = harness.state().ui.import.message.clone().unwrap_or_default();
    assert!(message.starts_with("imported"), "{message}");
    assert_eq!(harness.state().settings.models.first(), Some(&imported), "the imported model is A");
    assert!(imported.join(mbtscope::weights::native::WEIGHTS_FILE).exists());
    harness.render().expect("render").save(out.join("import.png")).unwrap();
    step_until(&mut harness, "the imported model's first window", |app| {
        app.analysis.models.first().is_some_and(|m| m.name == "imported" && m.done() > 0)
    });
    // Importing again into the same folder refuses to overwrite, and says so.
    harness.get_by_label("Import").click();
    harness.run_steps(1);
    step_until(&mut harness, "the second import", |app| !app.importing());
    let message = harness.state().ui.import.message.clone().unwrap_or_default();
    assert!(message.starts_with("import failed") && message.contains("exists"), "{message}");
}

/// Clicks the open File menu's "Export the current frame (PNG)", waits for the export, and
/// returns the frame images in `out` (the export folder).
fn export_current_frame(harness: &mut Harness<'_, MbtApp>, out: &std::path::Path) -> Vec<std::path::PathBuf> {
    harness.get_by_label("Export the current frame (PNG)").click();
    harness.run_steps(2);
    step_until(harness, "the frame export", |app| app.tasks.save.is_none());
    std::fs::read_dir(out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("test_00000_"))
        .collect()
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

/// Regression (the clock froze after the end): in the app, on the audio clock (PulseAudio's null
/// sink in CI), press Space to play past the end of the demo clip: it stops there and shows
/// Play; Space again starts over and the clock moves.
#[test]
fn play_past_the_end_then_space_twice_and_the_clock_moves() {
    let _turn = crate::sound_device_turn();
    let device = std::env::var("MBTSCOPE_TEST_AUDIO_DEVICE").unwrap_or_else(|_| "pulse".into());
    let mut harness = app(AudioDevice::Named(device), crate::scratch("gui-end"));
    step_until(&mut harness, "the clip", |app| app.player().is_some() && app.current_frame().is_some());
    match harness.state().ui.message.as_deref() {
        None => {}
        // The sound server failed for real under the test suite's load: the player reopened the
        // device or went on by the wall clock, and the clock must behave all the same.
        Some(why) if why.contains("reopened") || why.contains("wall clock") => eprintln!("the device failed for real: {why}"),
        Some(other) => panic!("plays on the audio clock: {other}"),
    }
    let duration = harness.state().duration();
    harness.state_mut().seek(duration - 0.6);
    harness.run_steps(2);
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(harness.state().player().unwrap().is_playing());
    step_until(&mut harness, "the end of the clip", |app| !app.player().unwrap().is_playing());
    harness.run_steps(2);
    assert!((harness.state().position() - duration).abs() < 1e-6, "stopped at the end");
    harness.get_by_label("Play"); // the button says Play again
    // The second Space: it starts over from the beginning.
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(harness.state().player().unwrap().is_playing());
    let wanted = harness.state().position();
    assert!(wanted < 0.5, "play after the end starts over, not at {wanted}");
    let started = Instant::now();
    step_until(&mut harness, "the clock to move after starting over", |app| app.position() > wanted + 0.5);
    assert!(started.elapsed() < Duration::from_secs(5), "the clock took {:?} to move 0.5 s", started.elapsed());
    harness.get_by_label("Pause");
}

/// The menus keep their text fields usable with the mouse (a click inside does not close the
/// menu); a path that cannot be opened leaves the open clip as it was and says why; and without
/// a system file dialog the built-in one picks a clip.
#[test]
fn menus_take_typed_paths_a_bad_clip_keeps_the_open_one_and_the_builtin_dialog_opens_clips() {
    let work = crate::scratch("gui-open");
    let mut harness = app(AudioDevice::Disabled, work.clone());
    step_until(&mut harness, "the first analysed window", |app| {
        app.analysis.models.first().is_some_and(|m| m.window_at(app.position()).is_some())
    });
    let demo = harness.state().clip().unwrap().to_owned();

    // Type a path into the File menu's field: clicking it keeps the menu open.
    let bad = work.join("not_a_video.mp4");
    std::fs::write(&bad, b"this is text, not a video").unwrap();
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("or type its path:"); // the menu is open
    let field = harness.get_all_by_role(egui::accesskit::Role::TextInput).next().expect("the path field");
    field.click();
    harness.run_steps(2);
    harness.get_by_label("Open the demo clip"); // still open after the click inside
    harness.get_all_by_role(egui::accesskit::Role::TextInput).next().unwrap().type_text(&bad.display().to_string());
    harness.run_steps(1);
    // Typing went to the field, not to the player's shortcuts (Space would have started playing).
    assert!(!harness.state().player().unwrap().is_playing());
    harness.get_by_label("Open").click();
    harness.run_steps(3);
    let message = harness.state().ui.message.clone().unwrap_or_default();
    assert!(message.contains("not_a_video.mp4") && message.contains("stays open"), "{message}");
    assert_eq!(harness.state().clip(), Some(demo.as_path()), "the open clip is kept");
    assert!(
        harness.state().player().is_some() && harness.state().analysis.models.first().is_some_and(|m| m.done() > 0),
        "its player and analysis too"
    );

    // The built-in dialog (as on a desktop without a portal or zenity) opens a clip.
    let copy = work.join("copy.mp4");
    std::fs::copy(&demo, &copy).unwrap();
    harness.state_mut().ui.dialogs.use_builtin_only();
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label_contains("Open a clip").click();
    harness.run_steps(3);
    assert!(harness.state().ui.dialogs.builtin.is_some(), "the built-in dialog is open");
    harness.get_by_label_contains("neither an XDG desktop portal nor zenity"); // it says why
    pick_in_builtin_dialog(&mut harness, &work, "copy.mp4");
    assert_eq!(harness.state().clip(), Some(copy.as_path()));
    assert!(harness.state().ui.dialogs.builtin.is_none());
}

/// Picks `name` in folder `dir` of the built-in file dialog, which must be open, and presses OK.
fn pick_in_builtin_dialog(harness: &mut Harness<'_, MbtApp>, dir: &std::path::Path, name: &str) {
    harness.state_mut().ui.dialogs.builtin.as_mut().unwrap().dir = dir.to_owned();
    harness.run_steps(2);
    harness.get_by_label(name).click();
    harness.run_steps(1);
    harness.get_by_label("OK").click();
    harness.run_steps(3);
}

/// The transport's keys as in mpv and on video sites: Shift+Left/Right 1 s, J/L 10 s (clamped
/// to the clip), K play/pause; the frame number on screen shows next to the time.
#[test]
fn shift_arrows_and_j_k_l_seek_and_play_and_the_frame_number_shows() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-keys"));
    step_until(&mut harness, "the clip", |app| app.player().is_some() && app.current_frame().is_some());
    harness.state_mut().seek(4.0);
    step_until(&mut harness, "the frame at 4 s", |app| app.current_frame().is_some_and(|f| (f.pts.secs() - 4.0).abs() < 0.1));
    let at = |harness: &Harness<'_, MbtApp>, t: f64| (harness.state().position() - t).abs() < 1e-3;
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowRight);
    harness.step();
    assert!(at(&harness, 5.0), "Shift+Right: {}", harness.state().position());
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowLeft);
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowLeft);
    harness.step();
    assert!(at(&harness, 3.0), "Shift+Left twice: {}", harness.state().position());
    harness.key_press(egui::Key::J);
    harness.step();
    assert!(at(&harness, 0.0), "J clamps at the start: {}", harness.state().position());
    harness.key_press(egui::Key::L);
    harness.step();
    assert!(at(&harness, harness.state().duration().min(10.0)), "L: {}", harness.state().position());
    harness.key_press(egui::Key::Home);
    harness.step();
    step_until(&mut harness, "the first frame", |app| app.current_frame().is_some_and(|f| f.pts.secs() < 0.05));
    harness.run_steps(2);
    let fps = harness.state().player().unwrap().info().frame_rate;
    let last = (harness.state().duration() * fps).round() as u64 - 1;
    harness.get_by_label(&format!("frame 0 / {last}"));
    harness.key_press(egui::Key::K);
    harness.step();
    assert!(harness.state().player().unwrap().is_playing(), "K plays");
    harness.key_press(egui::Key::K);
    harness.step();
    assert!(!harness.state().player().unwrap().is_playing(), "K pauses");
}

/// The A-B loop as in mpv and VLC: `[` sets A and `]` sets B at the playhead, the transport says
/// so, playing past B goes on from A (and keeps playing), Backspace clears it.
#[test]
fn brackets_set_an_a_b_loop_that_playback_keeps_to() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-loop"));
    step_until(&mut harness, "the clip", |app| app.player().is_some() && app.current_frame().is_some());
    harness.state_mut().seek(1.0);
    harness.step();
    harness.key_press(egui::Key::OpenBracket);
    harness.step();
    harness.state_mut().seek(1.6);
    harness.step();
    harness.key_press(egui::Key::CloseBracket);
    harness.run_steps(2);
    let span = harness.state().session.as_ref().unwrap().loop_ab.span();
    assert_eq!(span, Some((1.0, 1.6)), "[ at 1.0 s, ] at 1.6 s");
    harness.get_by_label("loop 0:01.00 - 0:01.60");
    harness.key_press(egui::Key::Space);
    harness.step();
    // Play for two and a half loops' length (the wall clock: no audio device), then the
    // playhead must still be inside the loop, and playing.
    let start = Instant::now();
    let mut wrapped = false;
    let mut last = harness.state().position();
    while start.elapsed() < Duration::from_millis(1500) {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
        let t = harness.state().position();
        wrapped |= t < last - 0.3;
        last = t;
        assert!((0.99..1.7).contains(&t), "the playhead left the loop: {t}");
    }
    assert!(wrapped, "playback went back from B to A");
    assert!(harness.state().player().unwrap().is_playing(), "the loop keeps playing");
    harness.key_press(egui::Key::Backspace);
    harness.step();
    assert_eq!(harness.state().session.as_ref().unwrap().loop_ab, mbtscope::app::LoopAb::default(), "Backspace clears the loop");
    harness.key_press(egui::Key::Space);
    harness.step();
}

/// F1 and ? show the keyboard shortcuts, Escape (or F1 again) hides them.
#[test]
fn f1_and_question_mark_show_the_shortcuts() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-help"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    harness.key_press(egui::Key::F1);
    harness.run_steps(2);
    assert!(harness.state().ui.show_shortcuts);
    harness.get_by_label("Keyboard shortcuts");
    for (keys, what) in mbtscope::app::SHORTCUTS {
        harness.get_by_label(keys);
        harness.get_by_label(what);
    }
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert!(!harness.state().ui.show_shortcuts, "Escape hides them");
    assert!(harness.query_by_label("Keyboard shortcuts").is_none());
    harness.key_press(egui::Key::Questionmark);
    harness.run_steps(2);
    assert!(harness.state().ui.show_shortcuts, "? shows them");
    harness.key_press(egui::Key::F1);
    harness.run_steps(2);
    assert!(!harness.state().ui.show_shortcuts, "F1 again hides them");
}

/// "Reset to defaults" puts the explanation settings and the map style back as a fresh start
/// has them.
#[test]
fn reset_to_defaults_restores_the_explanation_settings() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-reset"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    let settings = &mut harness.state_mut().settings;
    settings.analysis.method = mbtscope::analysis::Method::Relevance;
    settings.analysis.rollout.discard_ratio = 0.9;
    settings.analysis.rollout.start_layer = 3;
    settings.style.opacity = 0.2;
    settings.style.span = mbtscope::render::MapSpan::Window;
    harness.run_steps(2);
    harness.get_by_label("Reset to defaults").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.analysis, mbtscope::analysis::AnalysisSettings::default());
    assert_eq!(harness.state().settings.style, mbtscope::render::OverlayStyle::default());
}

/// I, the View menu's checkbox and the panel's own button fold the inspector away and back; a
/// small window keeps the frames and the whole transport on screen.
#[test]
fn the_inspector_folds_away_and_a_small_window_keeps_the_transport() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-fold"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    harness.run_steps(2);
    harness.get_by_label("Labels");
    harness.key_press(egui::Key::I);
    harness.run_steps(2);
    assert!(!harness.state().settings.show_inspector, "I hides the inspector");
    assert!(harness.query_by_label("Labels").is_none());
    let folded = harness.state().ui.layout.rects.frames.width();
    harness.get_by_label("«").click();
    harness.run_steps(2);
    assert!(harness.state().settings.show_inspector, "its strip's button shows it again");
    assert!(harness.state().ui.layout.rects.frames.width() < folded - 200.0, "the frames gave the inspector its room back");
    harness.get_by_label("»").click();
    harness.run_steps(2);
    assert!(!harness.state().settings.show_inspector, "its own button hides it");
    harness.key_press(egui::Key::I);
    harness.run_steps(2);
    assert!(harness.state().settings.show_inspector, "I shows it again");

    // At 800x500 the inspector takes at most 40% of the width, and every transport control is
    // inside the window.
    harness.set_size(egui::vec2(800.0, 500.0));
    harness.run_steps(3);
    let rects = harness.state().ui.layout.rects;
    assert!(rects.inspector.width() <= 0.4 * 800.0 + 16.0, "inspector {:?}", rects.inspector);
    assert!(rects.frames.height() > 120.0, "frames {:?}", rects.frames);
    for control in ["Play", "mute", "volume", "speed"] {
        for node in harness.get_all_by_label(control) {
            let rect = node.rect();
            assert!(rect.max.x <= 800.0 && rect.max.y <= 500.0 && rect.min.x < rects.inspector.min.x, "{control} at {rect:?}");
        }
    }
}

/// Each pane has a colour bar whose ends are the map's raw range and whose readout follows the
/// cursor; the difference view's says which model is higher; the window line names the window
/// and tubelet; clicks on the label strip and the spectrogram seek.
#[test]
fn colour_bars_window_lines_and_seeking_clicks() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-scales"));
    step_until(&mut harness, "the first analysed windows", |app| app.analysis.models.iter().all(|m| m.window_at(0.0).is_some()));
    harness.run_steps(3);
    assert_eq!(harness.query_all_by_label_contains("0-1: this frame's min-max").count(), 2, "a colour bar under each pane");
    assert_eq!(
        harness.query_all_by_label_contains("window 1 of 4: frames 0-45, tubelet 1 of 4: frames 0-9").count(),
        2,
        "a window line over each pane"
    );
    // The raw range at the bar's ends: the map's own minimum and maximum.
    let (_, high) = {
        let window = harness.state().analysis.models[0].window_at(0.0).unwrap();
        mbtscope::render::value_range(mbtscope::render::slice_plane(window.rgb.as_ref().unwrap(), 0))
    };
    let shown = format!("{high:.4}").trim_end_matches('0').trim_end_matches('.').to_owned();
    assert!(harness.query_by_label(&shown).is_some(), "the bar's top end reads {shown}");

    // The cursor over pane A's centre: a readout of the drawn value there.
    let frames = harness.state().ui.layout.rects.frames;
    harness.hover_at(egui::pos2(frames.left() + frames.width() / 4.0, frames.center().y));
    harness.run_steps(2);
    harness.get_by_label_contains("cursor: 0.");
    harness.get_by_label_contains(" of the range: ");
    harness.remove_cursor();

    // The labels panel's percentages sit beside their bars; the bottleneck panel explains
    // Scenic's extra token.
    assert_eq!(
        harness.query_all_by_label_contains("%").count(),
        12,
        "five labels for each of the two models, and their cross-modal shares"
    );
    harness.get_by_label_contains("5 tokens for n_bottlenecks = 4");
    harness.get_by_label("token 4");

    harness.state_mut().settings.view = ViewMode::Difference;
    harness.run_steps(3);
    harness.get_by_label("A (bottleneck) higher");
    harness.get_by_label("B (vanilla) higher");

    // A click three quarters along the label strip seeks to three quarters of the clip; one in
    // the spectrogram seeks within the window it shows.
    harness.state_mut().settings.view = ViewMode::SideBySide;
    harness.run_steps(3);
    let transport = harness.state().ui.layout.rects.transport;
    let duration = harness.state().duration();
    // The strip's row name (the labels panel names the model too).
    let strip = harness.get_all_by_label("bottleneck").map(|n| n.rect()).find(|r| transport.contains_rect(*r)).expect("the label strip");
    let strip_left = strip.right() + 8.0;
    let x = strip_left + (transport.right() - strip_left) * 0.75;
    harness.event(egui::Event::PointerMoved(egui::pos2(x, strip.center().y)));
    click_here(&mut harness, egui::pos2(x, strip.center().y));
    let t = harness.state().position();
    assert!((t - 0.75 * duration).abs() < 0.25, "label strip click: at {t} of {duration}");
    // The whole clip's audio strip: a click halfway seeks to the middle.
    let audio = harness.get_all_by_label("audio").map(|n| n.rect()).find(|r| transport.contains_rect(*r)).expect("the audio strip");
    click_here(&mut harness, egui::pos2(strip_left + (transport.right() - strip_left) * 0.5, audio.center().y));
    let t = harness.state().position();
    assert!((t - 0.5 * duration).abs() < 0.25, "audio strip click: at {t} of {duration}");
    harness.state_mut().seek(0.0);
    step_until(&mut harness, "the window at 0 s", |app| app.position() < 0.05);
    // Model A's spectrogram row starts right under the panel's heading line.
    let heading = harness.get_by_label_contains("the audio of each model's window at the playhead").rect();
    let y = heading.bottom() + 20.0;
    click_here(&mut harness, egui::pos2(transport.right() - 10.0, y));
    let t = harness.state().position();
    assert!((1.6..2.0).contains(&t), "spectrogram click at the right end of window 1 (0-1.93 s): {t}");
}

fn click_here(harness: &mut Harness<'_, MbtApp>, pos: egui::Pos2) {
    harness.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        harness.event(egui::Event::PointerButton { pos, button: egui::PointerButton::Primary, pressed, modifiers: egui::Modifiers::NONE });
        harness.run_steps(1);
    }
    harness.run_steps(2);
}

/// The rollout settings are greyed out for relevance, which does not use them, and say so.
#[test]
fn rollout_settings_are_disabled_for_relevance() {
    use egui_kittest::kittest::NodeT as _;
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-method"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    harness.run_steps(2);
    // A slider and its text are two nodes with the label.
    let disabled = |harness: &Harness<'_, MbtApp>, label: &str| harness.get_all_by_label(label).all(|n| n.accesskit_node().is_disabled());
    assert!(!disabled(&harness, "start layer"));
    harness.state_mut().settings.analysis.method = mbtscope::analysis::Method::Relevance;
    harness.run_steps(2);
    assert!(disabled(&harness, "start layer") && disabled(&harness, "discard ratio"), "rollout settings greyed out for relevance");
    harness.get_by_label("class");
}

/// The what-if control runs model A again on altered audio: the views then compare A before
/// and after, and Reset to defaults brings the clip's own audio and model B back.
#[test]
fn what_if_compares_model_a_before_and_after_muting() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-what-if"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    harness.run_steps(2);
    harness.get_by_label("what if").click();
    harness.run_steps(2);
    harness.get_by_label("audio muted").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings.analysis.counterfactual, Some(mbtscope::features::Counterfactual::Mute));
    step_until(&mut harness, "both analyses of the first window", |app| app.analysis.models.iter().all(|m| m.window_at(0.0).is_some()));
    let models = &harness.state().analysis.models;
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["bottleneck", "bottleneck, audio muted"]);
    let (before, after) = (models[0].window_at(0.0).unwrap(), models[1].window_at(0.0).unwrap());
    assert_ne!(before.probabilities, after.probabilities, "silence changes what the model says");
    harness.run_steps(2);
    harness.get_by_label("A: bottleneck");
    harness.get_by_label("B: bottleneck, audio muted");
    harness.get_by_label("Reset to defaults").click();
    harness.run_steps(2);
    let names: Vec<String> = harness.state().analysis.models.iter().map(|m| m.name.clone()).collect();
    assert_eq!(names, ["bottleneck", "vanilla"]);
}

/// What if model A heard another clip: "another clip's audio ..." opens a file dialog, the
/// clip picked there is heard instead (the frames stay), the spectrogram row shows that clip's
/// audio, and a file that vanished is refused with a message.
#[test]
fn what_if_swaps_in_another_clips_audio_picked_in_a_dialog() {
    let work = crate::scratch("gui-what-if-swap");
    let mut harness = app(AudioDevice::Disabled, work.clone());
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    let donor = work.join("donor.mp4");
    std::fs::copy(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/test_00001.mp4"), &donor).unwrap();
    harness.state_mut().ui.dialogs.use_builtin_only();
    harness.run_steps(2);
    harness.get_by_label("what if").click();
    harness.run_steps(2);
    harness.get_by_label("another clip's audio ...").click();
    harness.run_steps(3);
    assert!(harness.state().ui.dialogs.builtin.is_some(), "the dialog is open");
    pick_in_builtin_dialog(&mut harness, &work, "donor.mp4");
    assert_eq!(harness.state().settings.analysis.counterfactual, Some(mbtscope::features::Counterfactual::Swap(donor.clone())));
    step_until(&mut harness, "both analyses of the first window", |app| app.analysis.models.iter().all(|m| m.window_at(0.0).is_some()));
    let models = &harness.state().analysis.models;
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["bottleneck", "bottleneck, audio from donor.mp4"]);
    let (before, after) = (models[0].window_at(0.0).unwrap(), models[1].window_at(0.0).unwrap());
    assert_ne!(before.probabilities, after.probabilities, "another sound changes what the model says");
    step_until(&mut harness, "the swapped-in spectrogram", |app| {
        app.session.as_ref().is_some_and(|s| s.swapped.as_ref().is_some_and(|w| w.spectrogram.is_some()))
    });
    harness.run_steps(2);
    harness.get_by_label("B: bottleneck, audio from donor.mp4");
    let session = harness.state().session.as_ref().unwrap();
    let (own, swapped) = (session.spectrogram_of(None).unwrap(), session.spectrogram_of(Some(&donor)).unwrap());
    assert_ne!(own.values, swapped.values, "the row shows the audio model A heard");
    // A file that is gone by the time it is swapped in: a message, and the what-if stays.
    let ctx = harness.ctx.clone();
    harness.state_mut().apply(mbtscope::app::Command::SwapAudio(work.join("gone.mp4")), &ctx);
    harness.run_steps(2);
    assert!(
        harness.state().ui.message.as_deref().is_some_and(|m| m.contains("gone.mp4: no such file")),
        "{:?}",
        harness.state().ui.message
    );
    assert_eq!(harness.state().settings.analysis.counterfactual, Some(mbtscope::features::Counterfactual::Swap(donor)));
}

/// P opens "What the model sees": model A's input for the window at the playhead (the sampled
/// frames after resizing and cropping, the normalised spectrogram and their statistics), the
/// same input the analysis gives the model; it follows the playhead to the next window.
#[test]
fn what_the_model_sees_shows_model_a_input_and_follows_the_playhead() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-preview"));
    step_until(&mut harness, "the models' windows", |app| app.analysis.models.first().is_some_and(|m| !m.windows.is_empty()));
    harness.key_press(egui::Key::P);
    step_until(&mut harness, "the preview", |app| app.ui.preview.result.is_some());
    harness.run_steps(2);
    harness.get_by_label("model A (bottleneck), window 1 of 4");
    harness.get_by_label("16 x 112 x 112 x 3");
    harness.get_by_label_contains("frames 0-45 of the clip; each 224x224 resized to 112x112");
    // The preview's input is the analysis's: the same bytes and spectrogram.
    let preview = harness.state().ui.preview.result.clone().unwrap().unwrap();
    let config = harness.state().analysis.models[0].config.clone().unwrap();
    let clip = harness.state().clip().unwrap().to_owned();
    let mut features = mbtscope::features::ClipFeatures::open(&clip, &config, mbtscope::features::FbankConfig::default()).unwrap();
    let window = features.windows(None)[0].clone();
    let input = features.window_input(&window).unwrap();
    let rgb = input.rgb.iter().map(|&v| f64::from(v)).sum::<f64>() / input.rgb.len() as f64;
    assert!((f64::from(preview.rgb_stats.mean) - rgb).abs() < 1e-4, "{} against {rgb}", preview.rgb_stats.mean);
    assert_eq!(preview.spectrogram, input.spectrogram);
    // Seeking into the third window brings its input.
    harness.state_mut().seek(4.5);
    step_until(&mut harness, "the third window's preview", |app| {
        app.ui.preview.result.as_ref().is_some_and(|r| r.as_ref().is_ok_and(|p| p.window == 2))
    });
    harness.key_press(egui::Key::P);
    harness.run_steps(2);
    assert!(harness.query_by_label("What the model sees").is_none(), "P closes it");
}

/// The preset picker names the settings in force and sets them: the best one in eval is
/// relevance over the window; changing a setting by hand makes it "custom".
#[test]
fn presets_set_the_method_and_span_and_name_the_current_one() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-presets"));
    step_until(&mut harness, "the clip", |app| app.player().is_some());
    harness.run_steps(2);
    let current = |harness: &Harness<'_, MbtApp>| {
        let settings = &harness.state().settings;
        mbtscope::app::preset_of(&settings.analysis, settings.style.span).map(|p| p.name)
    };
    assert_eq!(current(&harness), Some("plain rollout (Abnar & Zuidema)"), "the default is the plain rollout");
    harness.get_by_label("preset").click();
    harness.run_steps(2);
    harness.get_by_label("best in eval: relevance over the window").click();
    harness.run_steps(2);
    let settings = &harness.state().settings;
    assert_eq!(settings.analysis.method, mbtscope::analysis::Method::Relevance);
    assert_eq!(settings.style.span, mbtscope::render::MapSpan::Window);
    assert_eq!(current(&harness), Some("best in eval: relevance over the window"));
    harness.state_mut().settings.style.span = mbtscope::render::MapSpan::Slice;
    harness.run_steps(2);
    assert_eq!(current(&harness), None, "changed by hand: custom");
    harness.get_by_label("preset").click();
    harness.run_steps(2);
    harness.get_by_label("tuned rollout: from layer 3, 90% discarded").click();
    harness.run_steps(2);
    let rollout = harness.state().settings.analysis.rollout;
    assert_eq!((rollout.start_layer, rollout.discard_ratio), (3, 0.9));
}

/// The scroll wheel zooms both frame views about the cursor, a drag pans them, 0 shows the
/// whole frame again.
#[test]
fn scroll_zooms_drag_pans_and_double_click_resets_the_frames() {
    let mut harness = app(AudioDevice::Disabled, crate::scratch("gui-zoom"));
    step_until(&mut harness, "the first analysed windows", |app| app.analysis.models.iter().all(|m| m.window_at(0.0).is_some()));
    harness.run_steps(3);
    let frames = harness.state().ui.layout.rects.frames;
    // Over pane A, a quarter of the way across the frame views.
    let at = egui::pos2(frames.left() + frames.width() * 0.2, frames.center().y);
    harness.hover_at(at);
    for _ in 0..6 {
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 120.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        harness.run_steps(1);
    }
    harness.run_steps(10);
    let zoom = harness.state().ui.zoom;
    assert!(zoom.scale > 1.5, "scrolling zoomed in: {zoom:?}");
    // A drag to the right moves the view left (the centre to a smaller u).
    let before = harness.state().ui.zoom.centre;
    harness.drag_at(at);
    harness.run_steps(1);
    harness.hover_at(at + egui::vec2(60.0, 0.0));
    harness.run_steps(1);
    harness.drop_at(at + egui::vec2(60.0, 0.0));
    harness.run_steps(2);
    let after = harness.state().ui.zoom.centre;
    assert!(after[0] < before[0], "panned: {before:?} -> {after:?}");
    // (A double-click resets too; checked by hand under Xvfb with xdotool, since the harness's
    // injected clicks do not register as one.)
    harness.key_press(egui::Key::Num0);
    harness.run_steps(2);
    assert_eq!(harness.state().ui.zoom, mbtscope::app::FrameZoom::default(), "0: the whole frame");
}

/// The File menu's figure options reach the app's own exports: the frame comes out upscaled
/// with the strip of labels and caption under it.
#[test]
fn the_app_exports_a_figure_with_the_chosen_options() {
    let out = crate::scratch("gui-figure");
    let mut harness = app(AudioDevice::Disabled, out.clone());
    step_until(&mut harness, "every window", |app| {
        !app.analysis.models.is_empty() && app.analysis.models.iter().all(|m| !m.windows.is_empty() && m.done() == m.windows.len())
    });
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("caption").click();
    harness.run_steps(1);
    harness.get_by_label("labels below").click();
    harness.run_steps(1);
    harness.get_by_label("truth box").click();
    harness.run_steps(1);
    harness.state_mut().settings.figure.upscale = 2;
    harness.run_steps(1);
    let figure = harness.state().settings.figure;
    assert!(figure.caption && figure.labels_below && figure.truth_box, "{figure:?}");
    let exported = export_current_frame(&mut harness, &out);
    assert_eq!(exported.len(), 1, "{exported:?} ({:?})", harness.state().ui.export_message);
    let frame = image::open(&exported[0]).unwrap().to_rgb8();
    assert_eq!(frame.width(), 2 * 448, "side by side at twice the size");
    assert!(frame.height() > 2 * 224, "a strip under the frames: {}", frame.height());
}
