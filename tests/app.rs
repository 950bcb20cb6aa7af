//! The real binary under Xvfb: it opens the demo clip with the shipped models, waits for the
//! first analysed window, saves a screenshot of its window and quits; the screenshot shows the
//! frame with a heatmap over it.

use std::path::Path;
use std::process::Command;

#[test]
fn the_app_opens_the_demo_clip_and_shows_a_heatmap_under_xvfb() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    assert!(assets.join("models/bottleneck/model.safetensors").exists(), "the shipped models are missing from assets/models");
    let out = crate::scratch("app-screenshot");
    let shot = out.join("window.png");
    // A remembered 800x600 window, where eframe keeps it: --fresh must ignore it.
    let storage = out.join("data/mbtscope");
    std::fs::create_dir_all(&storage).unwrap();
    let remembered = "(normal_geometry:(outer_position_pixels:Some((x:0.0,y:0.0)),scale_factor:1.0,inner_size_points:(x:800.0,y:600.0)),fullscreen:false,maximized:false)";
    std::fs::write(storage.join("app.ron"), format!("{{\n    \"window\": \"{remembered}\",\n}}\n")).unwrap();
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_mbtscope"))
        .args(["--fresh", "--no-cache", "--audio-device", "none", "--screenshot"])
        .arg(&shot)
        .env("XDG_CONFIG_HOME", &out)
        .env("XDG_DATA_HOME", out.join("data"))
        .output()
        .expect("xvfb-run is needed (package xvfb)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the app failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("screenshot:"), "{stdout}");
    let image = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    assert_eq!((image.width(), image.height()), (1400, 900), "--fresh opens the default window size");
    assert!(std::fs::read_to_string(storage.join("app.ron")).unwrap().contains(remembered), "--fresh left the remembered settings alone");
    // The frame view sits at the top left; a heatmap adds saturated colours (turbo's reds,
    // yellows, cyans) that the demo clip's dim background never has, so count strongly
    // saturated pixels there.
    let saturated = (40..600)
        .flat_map(|y| (10..600).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = image.get_pixel(x, y).0;
            let (max, min) = (p.iter().copied().max().unwrap(), p.iter().copied().min().unwrap());
            max > 150 && max - min > 120
        })
        .count();
    assert!(saturated > 500, "no heatmap visible in the frame view ({saturated} saturated pixels)");
}
