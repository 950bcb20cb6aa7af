//! `mbtscope train`

use std::time::Instant;

use anyhow::Context as _;

use super::TrainArgs;
use mbtscope::model::{MbtConfig, device};
use mbtscope::train::{self, TrainOptions};
use mbtscope::weights::native;
use mbtscope::weights::params::{ParamSource, RandomInit};

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {}", args.config.display()))?;
    let parsed = MbtConfig::parse_scenic_json(&text).with_context(|| format!("bad model config: {}", args.config.display()))?;
    for field in &parsed.ignored {
        eprintln!("warning: ignoring unknown config field `{field}`");
    }
    let config = parsed.config;
    let existing = args.out.join(native::WEIGHTS_FILE).exists();
    if existing && !args.resume && !args.force {
        anyhow::bail!("{} already holds a model (use --resume to continue it or --force to replace it)", args.out.display());
    }
    let labels = native::read_labels(&args.data.join("labels.txt"))?;
    anyhow::ensure!(labels.len() == config.num_classes, "{} labels in the data, {} classes in the config", labels.len(), config.num_classes);
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let started = Instant::now();
    let examples = train::load_examples(&args.data, &config, "train_")?;
    eprintln!("{} training clips prepared in {:.1} s", examples.len(), started.elapsed().as_secs_f64());
    let mut resumed;
    let mut random = RandomInit::new(args.seed);
    let init: &mut dyn ParamSource = if args.resume && existing {
        resumed = native::load_dir(&args.out)?.params;
        &mut resumed
    } else {
        &mut random
    };
    let options = TrainOptions { steps: args.steps, batch_size: args.batch, learning_rate: args.lr, warmup_steps: args.warmup, seed: args.seed, flip: true };
    let (mut loss_sum, mut acc_sum, mut count) = (0.0f32, 0.0f32, 0usize);
    let model = train::train(&config, init, &examples, &options, &selected.device, |r| {
        loss_sum += r.loss;
        acc_sum += r.accuracy;
        count += 1;
        if (r.step + 1) % 10 == 0 || r.step + 1 == options.steps {
            eprintln!(
                "step {:5}/{}  loss {:.4}  accuracy {:5.1}%  lr {:.2e}  {:.1} s",
                r.step + 1,
                options.steps,
                loss_sum / count as f32,
                100.0 * acc_sum / count as f32,
                r.learning_rate,
                started.elapsed().as_secs_f64()
            );
            (loss_sum, acc_sum, count) = (0.0, 0.0, 0);
        }
    })?;
    let params = model.export_params().map_err(anyhow::Error::msg)?;
    native::save_dir(&args.out, &config, &params, &labels, true)?;
    println!("saved {} after {} steps ({:.1} s)", args.out.display(), options.steps, started.elapsed().as_secs_f64());
    Ok(())
}
