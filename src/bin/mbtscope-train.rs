//! `mbtscope-train`: `mbtscope train` on fresh generated clips (`--fresh`), in a binary that links
//! neither FFmpeg nor the desktop app, for a GPU machine that has neither: it needs only glibc,
//! a Vulkan loader and a GPU driver. Training on clips from disk (`--data`) needs FFmpeg to decode
//! them, so it is `mbtscope train`'s alone. See scripts/gpu-pack.sh.

use std::process::ExitCode;

use clap::Parser as _;
use mbtscope::train::command::{self, TrainArgs};

/// Train MBT on clips drawn from the generator at every step (`mbtscope train --fresh`).
#[derive(Debug, clap::Parser)]
#[command(name = "mbtscope-train", version)]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn main() -> ExitCode {
    mbtscope::runner::keep_freed_memory();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    // Clips on disk need FFmpeg to decode: refused before anything else reads `--data`.
    let result = match args.train.data.first() {
        Some(dir) => Err(mbtscope::BadArgument(format!(
            "--data {}: mbtscope-train reads no clips (it links no FFmpeg); use --fresh, or `mbtscope train`",
            dir.display()
        ))
        .into()),
        None => command::run(args.train, |dir, _| anyhow::bail!("{}: mbtscope-train reads no clips", dir.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<mbtscope::BadArgument>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}
