//! `mbtscope synth`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;

use super::SynthArgs;
use mbtscope::synth::{self, SynthConfig};

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.size >= 32 && args.size <= 1024, "--size must be between 32 and 1024");
    anyhow::ensure!(args.duration >= 1.0 && args.duration <= 60.0, "--duration must be between 1 and 60 seconds");
    if let Some(n) = args.objects {
        if args.task != synth::Task::Sync {
            return Err(super::BadArgument("--objects applies only to --task sync".into()).into());
        }
        if !(2..=synth::MAX_SYNC_OBJECTS).contains(&n) {
            let max = synth::MAX_SYNC_OBJECTS;
            return Err(super::BadArgument(format!("--objects {n}: must be 2 to {max}, one per distinct on/off pattern")).into());
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let labels = synth::labels().join("\n") + "\n";
    let labels_path = args.out.join("labels.txt");
    if !labels_path.exists() {
        mbtscope::fsutil::write_atomic(&labels_path, labels.as_bytes(), false)
            .with_context(|| format!("cannot write {}", labels_path.display()))?;
    }
    let config = SynthConfig {
        width: args.size,
        height: args.size,
        duration: args.duration,
        task: args.task,
        objects: args.objects,
        ..SynthConfig::default()
    };
    let split = args.split.name();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get)).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let skipped = AtomicUsize::new(0);
    let started = Instant::now();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= args.clips {
                        return;
                    }
                    let name = synth::clip_name(split, index);
                    let mut stems = vec![name.clone()];
                    if args.twins {
                        stems.push(synth::twin_name(&name));
                    }
                    let written =
                        |stem: &String| args.out.join(format!("{stem}.mp4")).exists() && args.out.join(format!("{stem}.json")).exists();
                    let seed = synth::clip_seed(args.seed, split, index);
                    let result = if stems.iter().all(written) {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    } else if args.twins {
                        synth::write_twins(&args.out, &name, &config, seed, true).map(drop)
                    } else {
                        synth::write_clip(&args.out, &name, &config, seed, true).map(drop)
                    };
                    if let Err(e) = result
                        && let Ok(mut f) = failures.lock()
                    {
                        f.push(format!("{name}: {e}"));
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(50) || n == args.clips {
                        eprint!("\r{n}/{} clips ({:.1} clips/s)", args.clips, n as f64 / started.elapsed().as_secs_f64());
                    }
                }
            });
        }
    });
    eprintln!();
    let failures = failures.into_inner().unwrap_or_default();
    mbtscope::outln!(
        "{} clips in {} ({} already there), {:.1} s",
        args.clips - failures.len(),
        args.out.display(),
        skipped.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        anyhow::bail!("{} clips failed:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(())
}
