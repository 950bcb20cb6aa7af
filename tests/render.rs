//! The overlay shader (shaders/heatmap.wgsl, drawn through wgpu) against the CPU compositor the
//! exporter uses: same colormap tables, upsampling, threshold and blending.

use mbtscope::render::gpu::{FrameRef, render_offscreen};
use mbtscope::render::{Colormap, Heat, OverlayStyle, overlay_frame};

fn device() -> (wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = pollster(instance.request_adapter(&wgpu::RequestAdapterOptions::default())).expect("no wgpu adapter (install mesa-vulkan-drivers)");
    pollster(adapter.request_device(&wgpu::DeviceDescriptor::default())).expect("no wgpu device")
}

fn pollster<F: std::future::Future>(future: F) -> F::Output {
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
    let frame: Vec<u8> = (0..w * h).flat_map(|i| {
        let (x, y) = (i % w, i / w);
        [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8]
    }).collect();
    let heat = Heat {
        width: 6,
        height: 4,
        values: (0..24).map(|i| ((i * 7) % 24) as f32 / 23.0).collect(),
    };
    let crop = [0.125, 0.0, 0.875, 1.0];
    for (colormap, smooth, opacity, threshold) in
        [(Colormap::Turbo, true, 0.6, 0.15), (Colormap::Viridis, false, 1.0, 0.0), (Colormap::Inferno, true, 0.35, 0.5), (Colormap::Jet, false, 0.8, 0.3)]
    {
        let style = OverlayStyle { colormap, smooth, opacity, threshold, ..OverlayStyle::default() };
        let gpu = render_offscreen(&device, &queue, &FrameRef { key: 1, width: w, height: h, rgb: &frame }, Some(&heat), crop, &style).unwrap();
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
