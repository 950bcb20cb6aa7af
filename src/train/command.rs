//! `mbtscope train`, shared by `mbtscope` and the headless trainer `mbtscope-train`
//! (src/bin/mbtscope-train.rs), which links no FFmpeg and so runs where it is missing (a lent GPU
//! machine). The caller passes the function that reads clips from disk.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use crate::model::{MbtConfig, device};
use crate::synth::{self, SynthConfig};
use crate::train::{self, Example, FreshClips, TrainData, TrainOptions};
use crate::weights::native;
use crate::weights::params::{ParamSource, RandomInit};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Folder of `train_*.mp4` clips with `.json` sidecars and `labels.txt` (from `synth`).
    /// Repeat it to train on several folders at once (their labels must agree), for example
    /// both tasks.
    #[arg(long, required_unless_present = "fresh", conflicts_with = "fresh")]
    pub data: Vec<std::path::PathBuf>,
    /// Train on new clips of this task drawn from the generator at every step (as `synth`
    /// would write them, without the MP4 round trip), instead of clips on disk: no clip is
    /// seen twice, so the model cannot memorise its training set. Several tasks, comma
    /// separated, are taken in turn, clip by clip: `sync,pairs` half and half, `sync,sync,pairs`
    /// two `sync` clips to one `pairs` clip.
    #[arg(long, value_delimiter = ',')]
    pub fresh: Vec<synth::Task>,
    /// With `--fresh sync`: objects per clip (2 to 6; default three or four, as `synth`).
    #[arg(long, requires = "fresh")]
    pub objects: Option<usize>,
    /// Also train each modality's classification token on its own (its cross-entropy, with
    /// this weight, averaged over the modalities, added to the prediction's): each stream must
    /// then find the label itself. 0: the prediction's loss alone, as Scenic trains MBT.
    #[arg(long, default_value_t = 0.0)]
    pub modality_loss: f64,
    /// Weight of a self-supervised loss that aligns the streams in time: every video and audio
    /// patch token predicts, through linear heads used only in training, how loud the audio is
    /// in its own time slice (read off the input spectrogram; no labels or boxes), and so does
    /// bottleneck token k for slice k where there is one per slice. The classification loss
    /// alone gives no first-order signal for that alignment, which the `sync` task needs. 0: off.
    #[arg(long, default_value_t = 0.0)]
    pub sync_loss: f64,
    /// Before the first step, write a route for time alignment into a mid-fusion model: one
    /// head per fusion layer that takes the audio of time slice k to bottleneck token k and
    /// that token to the video tokens of slice k (bottleneck fusion), or the audio and video
    /// tokens of slice k to each other (vanilla fusion); codes in the position embeddings (and
    /// the bottleneck tokens) and that head's query and key weights. The architecture stays
    /// Scenic's; training adjusts the route like any weight.
    #[arg(long)]
    pub time_route: bool,
    /// Start from this model folder's weights instead of a random initialisation (a curriculum:
    /// the same architecture trained on another task). Ignored when resuming.
    #[arg(long)]
    pub init: Option<std::path::PathBuf>,
    /// Scenic-style MODEL.json (its `dataset_configs` set the input geometry).
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Output model folder, written at every checkpoint and when training ends.
    #[arg(long)]
    pub out: std::path::PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Save the model to OUT every this many steps (0: only at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate (Adam), after a linear warm-up, then cosine decay.
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Put each clip and its counterfactual twin (`NAME_twin`, from `synth --twins`) in the
    /// same batch, flipped alike, so that every batch holds pairs of clips with the same
    /// pictures and different labels.
    #[arg(long)]
    pub pair_twins: bool,
    /// Continue from the last checkpoint in OUT, at the step it reached (the optimizer state
    /// starts afresh; data order and schedule continue).
    #[arg(long)]
    pub resume: bool,
    /// Replace an existing model in OUT.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t = device::DeviceChoice::Auto)]
    pub device: device::DeviceChoice,
}

/// Written next to the model: how far training got, with the options it ran under.
const STATE_FILE: &str = "train_state.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct TrainState {
    step: usize,
    options: TrainOptions,
    /// The generator's settings, one per task, when training on fresh clips (`--fresh`).
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    fresh: Vec<SynthConfig>,
}

/// Reads `fresh` as a list, or as the one setting (or none) that states written before tasks
/// could be mixed hold.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<SynthConfig>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Many(Vec<SynthConfig>),
        One(Option<SynthConfig>),
    }
    Ok(match serde::Deserialize::deserialize(deserializer)? {
        Stored::Many(many) => many,
        Stored::One(one) => one.into_iter().collect(),
    })
}

fn read_state(dir: &Path) -> anyhow::Result<Option<TrainState>> {
    let path = dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("bad training state {}", path.display()))?))
}

fn save(dir: &Path, config: &MbtConfig, model: &crate::model::Mbt, labels: &[String], state: &TrainState) -> anyhow::Result<()> {
    let params = model.export_params().map_err(anyhow::Error::msg)?;
    native::save_dir(dir, config, &params, labels, true)?;
    let json = serde_json::to_vec_pretty(state)?;
    crate::fsutil::write_atomic(&dir.join(STATE_FILE), &json, true)
        .with_context(|| format!("cannot write {}", dir.join(STATE_FILE).display()))?;
    Ok(())
}

/// Reads the `train_*` clips of a `--data` folder for a model (see [`train::load_examples`]).
pub type ClipLoader = fn(&Path, &MbtConfig) -> anyhow::Result<Vec<Example>>;

/// Runs `train` as its flags say, reading `--data` folders with `load_clips`.
pub fn run(args: TrainArgs, load_clips: ClipLoader) -> anyhow::Result<()> {
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
        modality_loss: args.modality_loss,
        sync_loss: args.sync_loss,
        time_route: args.time_route,
    };
    for (flag, weight) in [("--modality-loss", args.modality_loss), ("--sync-loss", args.sync_loss)] {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(crate::BadArgument(format!("{flag} {weight}: must be 0 or more")).into());
        }
    }
    let fresh = fresh_config(&args, &config)?;
    let state = if args.resume && existing { read_state(&args.out)? } else { None };
    if let Some(state) = &state {
        let mut saved = state.options.clone();
        saved.start_step = 0;
        anyhow::ensure!(
            saved == TrainOptions { start_step: 0, ..options.clone() } && state.fresh == fresh,
            "{} was trained with other options ({}); resume with the same ones",
            args.out.display(),
            serde_json::to_string(&state.options)?
        );
        if state.step >= options.steps {
            crate::outln!("{} has already finished {} steps", args.out.display(), state.step);
            return Ok(());
        }
        options.start_step = state.step;
        eprintln!("resuming at step {}", state.step);
    }
    let labels = match args.data.first() {
        Some(first) => native::read_labels(&first.join("labels.txt"))?,
        None => synth::labels(),
    };
    anyhow::ensure!(
        labels.len() == config.num_classes,
        "{} labels in the data, {} classes in the config",
        labels.len(),
        config.num_classes
    );
    for dir in args.data.iter().skip(1) {
        let other = native::read_labels(&dir.join("labels.txt"))?;
        if other != labels {
            return Err(
                crate::BadArgument(format!("--data {} has other labels than --data {}", dir.display(), args.data[0].display())).into()
            );
        }
    }
    let selected = device::select(args.device);
    eprintln!("device: {}", selected.description);
    let started = Instant::now();
    let mut examples = Vec::new();
    for dir in &args.data {
        examples.extend(load_clips(dir, &config)?);
    }
    let fresh_clips = if fresh.is_empty() {
        eprintln!("{} training clips prepared in {:.1} s", examples.len(), started.elapsed().as_secs_f64());
        None
    } else {
        Some(FreshClips::mixed(fresh.clone(), &config, args.seed)?)
    };
    let data = match &fresh_clips {
        Some(clips) => {
            let tasks: Vec<String> = args.fresh.iter().map(|t| format!("`{t}`")).collect();
            eprintln!("training on fresh {} clips from the generator", tasks.join(" and "));
            TrainData::Fresh(clips)
        }
        None => TrainData::Clips(&examples),
    };
    let mut resumed;
    let mut random = RandomInit::new(args.seed);
    let init: &mut dyn ParamSource = if state.is_some() {
        resumed = native::load_dir(&args.out)?.params;
        &mut resumed
    } else if let Some(dir) = &args.init {
        let start = native::load_dir(dir)?;
        if start.config != config {
            return Err(
                crate::BadArgument(format!("--init {} is another architecture than {}", dir.display(), args.config.display())).into()
            );
        }
        eprintln!("starting from the weights in {}", dir.display());
        resumed = start.params;
        &mut resumed
    } else {
        &mut random
    };
    let (mut loss_sum, mut acc_sum, mut count) = (0.0f32, 0.0f32, 0usize);
    // The video, audio and bottleneck tokens' time-alignment errors.
    let mut sync_sums = [0.0f32; 3];
    let total = options.steps;
    let report = |r: train::StepReport| {
        loss_sum += r.loss;
        acc_sum += r.accuracy;
        for (sum, value) in sync_sums.iter_mut().zip([r.sync_loss, r.sync_audio, r.sync_bottleneck]) {
            *sum += value.unwrap_or(0.0);
        }
        count += 1;
        if (r.step + 1).is_multiple_of(10) || r.step + 1 == total {
            let elapsed = started.elapsed().as_secs_f64();
            let mean = |sum: f32| sum / count as f32;
            let mut sync = if r.sync_loss.is_some() { format!("  sync {:.3}", mean(sync_sums[0])) } else { String::new() };
            if r.sync_audio.is_some() {
                sync += &format!(" (audio {:.3}", mean(sync_sums[1]));
                if r.sync_bottleneck.is_some() {
                    sync += &format!(", bottleneck {:.3}", mean(sync_sums[2]));
                }
                sync += ")";
            }
            eprintln!(
                "step {:5}/{}  loss {:.4}  accuracy {:5.1}%{sync}  lr {:.2e}  {:.1} s",
                r.step + 1,
                total,
                loss_sum / count as f32,
                100.0 * acc_sum / count as f32,
                r.learning_rate,
                elapsed
            );
            (loss_sum, acc_sum, sync_sums, count) = (0.0, 0.0, [0.0; 3], 0);
        }
    };
    let checkpoint = |model: &crate::model::Mbt, step: usize| {
        save(&args.out, &config, model, &labels, &TrainState { step, options: options.clone(), fresh: fresh.clone() })?;
        eprintln!("checkpoint: step {step} saved to {}", args.out.display());
        Ok(())
    };
    let model = train::train(&config, init, data, &options, &selected.device, report, checkpoint)?;
    save(&args.out, &config, &model, &labels, &TrainState { step: options.steps, options: options.clone(), fresh })?;
    crate::outln!("saved {} after {} steps ({:.1} s)", args.out.display(), options.steps, started.elapsed().as_secs_f64());
    Ok(())
}

/// The generator's settings for `--fresh`, one per task: its clips at the model's input size, as
/// `synth` makes them by default (`--objects` sets the `sync` clips' objects).
fn fresh_config(args: &TrainArgs, config: &MbtConfig) -> anyhow::Result<Vec<SynthConfig>> {
    if let Some(n) = args.objects {
        if !args.fresh.contains(&synth::Task::Sync) {
            return Err(crate::BadArgument("--objects applies only to --fresh sync".into()).into());
        }
        if !(2..=synth::MAX_SYNC_OBJECTS).contains(&n) {
            let max = synth::MAX_SYNC_OBJECTS;
            return Err(crate::BadArgument(format!("--objects {n}: must be 2 to {max}, one per distinct on/off pattern")).into());
        }
    }
    let d = &config.dataset_configs;
    let side = d.min_resize.max(d.crop_size) as u32;
    Ok(args
        .fresh
        .iter()
        .map(|&task| {
            let objects = args.objects.filter(|_| task == synth::Task::Sync);
            SynthConfig { width: side, height: side, task, objects, ..SynthConfig::default() }
        })
        .collect())
}
