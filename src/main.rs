//! The `mbtscope` command line.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

fn main() -> ExitCode {
    mbtscope::runner::keep_freed_memory();
    quiet_vulkan_device_select();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<cli::PartialFailure>().is_some() {
                ExitCode::from(3)
            } else if err.downcast_ref::<cli::BadArgument>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Mesa's Vulkan device-select layer tries a Wayland connection whenever a Vulkan instance is
/// made, and without `XDG_RUNTIME_DIR` libwayland prints "error: XDG_RUNTIME_DIR is invalid or
/// not set in the environment." to stderr, which reads as mbtscope's own error. Without that
/// folder no Wayland compositor can be reached anyway, so the layer is switched off (wgpu picks
/// the adapter itself).
fn quiet_vulkan_device_select() {
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| std::path::Path::new(d).is_dir());
    if runtime_dir.is_none() && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
