//! The overlay shader (shaders/heatmap.wgsl, drawn through wgpu) against the CPU compositor the
//! exporter uses: same colormap tables, upsampling, threshold and blending.

use mbtscope::render::gpu::{FrameRef, render_offscreen};
use mbtscope::render::{Colormap, Heat, OverlayStyle, overlay_frame};

fn device() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter =
        pollster(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).expect("no wgpu adapter (install mesa-vulkan-drivers)");
    pollster(adapter.request_device(&wgpu::DeviceDescriptor::default())).expect("no wgpu device")
}

fn pollster<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut context) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[test]
fn shader_and_cpu_compositor_draw_the_same_pixels() {
    let (device, queue) = device();
    let (w, h) = (96u32, 64u32);
    // A frame with gradients, so that blending errors would show.
    let frame: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8]
        })
        .collect();
    let heat = Heat { width: 6, height: 4, values: (0..24).map(|i| ((i * 7) % 24) as f32 / 23.0).collect() };
    let crop = [0.125, 0.0, 0.875, 1.0];
    for (colormap, smooth, opacity, threshold) in [
        (Colormap::Turbo, true, 0.6, 0.15),
        (Colormap::Viridis, false, 1.0, 0.0),
        (Colormap::Inferno, true, 0.35, 0.5),
        (Colormap::Jet, false, 0.8, 0.3),
    ] {
        let style = OverlayStyle { colormap, smooth, opacity, threshold, ..OverlayStyle::default() };
        let gpu =
            render_offscreen(&device, &queue, &FrameRef { key: 1, width: w, height: h, rgb: &frame }, Some(&heat), crop, &style).unwrap();
        let mut cpu = frame.clone();
        overlay_frame(&mut cpu, w, h, &heat, crop, &style);
        let diffs: Vec<u8> = gpu.iter().zip(&cpu).map(|(a, b)| a.abs_diff(*b)).collect();
        let max = diffs.iter().copied().max().unwrap();
        let off = diffs.chunks(3).filter(|d| d.iter().any(|&v| v > 1)).count();
        // Tolerance: byte rounding (1) everywhere; a value that lands on a colormap-table or
        // threshold boundary may take the neighbouring entry in float arithmetic, in at most
        // 0.5% of pixels.
        assert!(off as f64 <= 0.005 * f64::from(w * h), "{colormap:?}: {off} pixels differ by more than 1 (max {max})");
        // Outside the crop the frame is untouched.
        assert_eq!(&gpu[..3], &frame[..3]);
    }
}

/// The overlay shader branches on none of its parameters. lavapipe (the software Vulkan the app
/// meets without a GPU) specialises a shader on the uniform values its control flow depends
/// on, and in Mesa 22.3 compiled that specialisation again on every repaint: about 6 ms of LLVM
/// work a repaint, measured with strace (PROT_EXEC mprotects) and the play report's repaint
/// time. Parameters are applied with `select` instead.
#[test]
fn the_overlay_shader_has_no_control_flow() {
    use wgpu::naga::{Block, Statement};
    fn branches(block: &Block) -> Vec<String> {
        let mut found = Vec::new();
        for statement in block {
            match statement {
                Statement::If { accept, reject, .. } => {
                    found.push("if".to_owned());
                    found.extend(branches(accept));
                    found.extend(branches(reject));
                }
                Statement::Switch { .. } => found.push("switch".to_owned()),
                Statement::Loop { .. } => found.push("loop".to_owned()),
                Statement::Block(inner) => found.extend(branches(inner)),
                // An early return is control flow too, unless it ends the function.
                Statement::Return { .. } if !std::ptr::eq(statement, block.last().unwrap()) => found.push("early return".to_owned()),
                _ => {}
            }
        }
        found
    }
    let module = wgpu::naga::front::wgsl::parse_str(mbtscope::render::gpu::SHADER).expect("heatmap.wgsl parses");
    let mut all = Vec::new();
    for (_, function) in module.functions.iter() {
        for b in branches(&function.body) {
            all.push(format!("{b} in {}", function.name.as_deref().unwrap_or("?")));
        }
    }
    for entry in &module.entry_points {
        for b in branches(&entry.function.body) {
            all.push(format!("{b} in {}", entry.name));
        }
    }
    assert!(all.is_empty(), "control flow in shaders/heatmap.wgsl: {all:?}");
}
