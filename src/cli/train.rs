//! `mbtscope train`

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use super::TrainArgs;
use mbtscope::model::{MbtConfig, device};
use mbtscope::train::{self, TrainOptions};
use mbtscope::weights::native;
use mbtscope::weights::params::{ParamSource, RandomInit};

/// Written next to the model: how far training got, with the options it ran under.
const STATE_FILE: &str = "train_state.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct TrainState {
    step: usize,
    options: TrainOptions,
}

fn read_state(dir: &Path) -> anyhow::Result<Option<TrainState>> {
    let path = dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("bad training state {}", path.display()))?))
}

fn save(dir: &Path, config: &MbtConfig, model: &mbtscope::model::Mbt, labels: &[String], state: &TrainState) -> anyhow::Result<()> {
    let params = model.export_params().map_err(anyhow::Error::msg)?;
    native::save_dir(dir, config, &params, labels, true)?;
    let json = serde_json::to_vec_pretty(state)?;
    mbtscope::fsutil::write_atomic(&dir.join(STATE_FILE), &json, true)
        .with_context(|| format!("cannot write {}", dir.join(STATE_FILE).display()))?;
    Ok(())
}

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
    let mut options = TrainOptions {
        steps: args.steps,
        batch_size: args.batch,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        seed: args.seed,
        flip: true,
        checkpoint_every: args.checkpoint_every,
        start_step: 0,
        pair_twins: args.pair_twins,
    };
    let state = if args.resume && existing { read_state(&args.out)? } else { None };
    if let Some(state) = &state {
        let mut saved = state.options.clone();
        saved.start_step = 0;
        anyhow::ensure!(
            saved == TrainOptions { start_step: 0, ..options.clone() },
            "{} was trained with other options ({}); resume with the same ones",
            args.out.display(),
            serde_json::to_string(&state.options)?
        );
        if state.step >= options.steps {
            mbtscope::outln!("{} has already finished {} steps", args.out.display(), state.step);
            return Ok(());
        }
        options.start_step = state.step;
        eprintln!("resuming at step {}", state.step);
    }
    let labels = native::read_labels(&args.data[0].join("labels.txt"))?;
    anyhow::ensure!(
        labels.len() == config.num_classes,
        "{} labels in the data, {} classes in the config",
        labels.len(),
        config.num_classes
    );
    for dir in &args.data[1..] {
        let other = native::read_labels(&dir.join("labels.txt"))?;
        if other != labels {
            return Err(
                super::BadArgument(format!("--data {} has other labels than --data {}", dir.display(), args.data[0].display())).into()
            );
        }
    }
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let started = Instant::now();
    let mut examples = Vec::new();
    for dir in &args.data {
        examples.extend(train::load_examples(dir, &config, "train_")?);
    }
    eprintln!("{} training clips prepared in {:.1} s", examples.len(), started.elapsed().as_secs_f64());
    let mut resumed;
    let mut random = RandomInit::new(args.seed);
    let init: &mut dyn ParamSource = if state.is_some() {
        resumed = native::load_dir(&args.out)?.params;
        &mut resumed
    } else if let Some(dir) = &args.init {
        let start = native::load_dir(dir)?;
        if start.config != config {
            return Err(
                super::BadArgument(format!("--init {} is another architecture than {}", dir.display(), args.config.display())).into()
            );
        }
        eprintln!("starting from the weights in {}", dir.display());
        resumed = start.params;
        &mut resumed
    } else {
        &mut random
    };
    let (mut loss_sum, mut acc_sum, mut count) = (0.0f32, 0.0f32, 0usize);
    let total = options.steps;
    let report = |r: train::StepReport| {
        loss_sum += r.loss;
        acc_sum += r.accuracy;
        count += 1;
        if (r.step + 1).is_multiple_of(10) || r.step + 1 == total {
            let elapsed = started.elapsed().as_secs_f64();
            eprintln!(
                "step {:5}/{}  loss {:.4}  accuracy {:5.1}%  lr {:.2e}  {:.1} s",
                r.step + 1,
                total,
                loss_sum / count as f32,
                100.0 * acc_sum / count as f32,
                r.learning_rate,
                elapsed
            );
            (loss_sum, acc_sum, count) = (0.0, 0.0, 0);
        }
    };
    let checkpoint = |model: &mbtscope::model::Mbt, step: usize| {
        save(&args.out, &config, model, &labels, &TrainState { step, options: options.clone() })?;
        eprintln!("checkpoint: step {step} saved to {}", args.out.display());
        Ok(())
    };
    let model = train::train(&config, init, &examples, &options, &selected.device, report, checkpoint)?;
    save(&args.out, &config, &model, &labels, &TrainState { step: options.steps, options: options.clone() })?;
    mbtscope::outln!("saved {} after {} steps ({:.1} s)", args.out.display(), options.steps, started.elapsed().as_secs_f64());
    Ok(())
}
