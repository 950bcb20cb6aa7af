//! Choosing where the model runs: burn-wgpu on a real GPU, burn's Flex CPU backend when the
//! only adapter is a software rasteriser (lavapipe is about 13x slower than Flex for matmul on a
//! 2-core machine), or whatever the user forces with `--device`.

use burn::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A hardware GPU through wgpu if there is one, else the CPU.
    #[default]
    Auto,
    /// wgpu, whatever adapter it finds (lavapipe included).
    Gpu,
    /// burn's Flex CPU backend.
    Cpu,
}

/// The chosen device and a sentence saying why, for logs and the UI.
pub struct SelectedDevice {
    pub device: Device,
    pub description: String,
}

/// What wgpu offers: the best adapter's name and type, without creating a device.
pub fn probe_adapter() -> Option<wgpu::AdapterInfo> {
    // The primary APIs only (Vulkan, Metal, DX12), as burn-wgpu uses; probing GL would open
    // display connections for nothing.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter =
        pollster_block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .ok()?;
    Some(adapter.get_info())
}

/// Minimal executor for wgpu's adapter request (which resolves immediately on native).
fn pollster_block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Thread(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

pub fn select(choice: DeviceChoice) -> SelectedDevice {
    match choice {
        DeviceChoice::Cpu => SelectedDevice { device: Device::flex(), description: "CPU (burn Flex), as requested".into() },
        DeviceChoice::Gpu => {
            let name = probe_adapter().map_or_else(|| "no adapter found".into(), |a| format!("{} ({:?})", a.name, a.device_type));
            SelectedDevice {
                device: Device::wgpu(DeviceKind::DefaultDevice),
                description: format!("GPU (burn-wgpu on {name}), as requested"),
            }
        }
        DeviceChoice::Auto => match probe_adapter() {
            Some(info) if info.device_type != wgpu::DeviceType::Cpu => SelectedDevice {
                device: Device::wgpu(DeviceKind::DefaultDevice),
                description: format!("GPU (burn-wgpu on {} via {:?})", info.name, info.backend),
            },
            Some(info) => SelectedDevice {
                device: Device::flex(),
                description: format!("CPU (burn Flex): the only wgpu adapter, {}, is a software renderer", info.name),
            },
            None => SelectedDevice { device: Device::flex(), description: "CPU (burn Flex): wgpu found no adapter".into() },
        },
    }
}
