//! The command line as clap declares it: every subcommand's flags with their help, defaults and
//! parsers. One long file of declarations, kept together so that the flags read as a whole.

use std::path::PathBuf;

use mbtscope::analysis::Method;
use mbtscope::model::device::DeviceChoice;
use mbtscope::model::mbt::HeadFusion;
use mbtscope::render::{Colormap, MapSpan, Normalisation};

use super::BadArgument;
pub use mbtscope::train::command::TrainArgs;

#[derive(Debug, clap::Parser)]
#[command(
    name = "mbtscope",
    version,
    about = "Look inside the Multimodal Bottleneck Transformer (MBT)",
    long_about = "Look inside the Multimodal Bottleneck Transformer (MBT).\n\nWithout a command, opens the \
app on CLIP (default: the bundled demo clip). Keys: Space or K play/pause, Left/Right 5 s, Shift+Left/Right \
1 s, J/L 10 s, comma/period one frame, Home/End, [ and ] an A-B loop (Backspace clears it), F1 or ? \
all shortcuts.",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub app: AppArgs,
}

#[derive(Debug, clap::Args)]
pub struct AppArgs {
    /// A clip to open in the app (default: the bundled demo clip).
    pub clip: Option<PathBuf>,
    /// Sound output: the system default, a device id such as `pulse`, or `none`.
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Where the models run: a real GPU shares the window's wgpu device; a software adapter
    /// means the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Save a PNG screenshot of the window once the first window is analysed, then quit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Neither read nor write the analysis cache (~/.cache/mbtscope/analysis).
    #[arg(long)]
    pub no_cache: bool,
    /// Start from default settings (ignore and do not save the remembered ones).
    #[arg(long)]
    pub fresh: bool,
    /// Benchmark: play from the first heatmap for --play-seconds, write the UI frame rate,
    /// dropped frames and A/V offset to this JSON file, then quit.
    #[arg(long)]
    pub play_report: Option<PathBuf>,
    #[arg(long, default_value_t = 60.0)]
    pub play_seconds: f64,
    /// Benchmark, with --play-report: stay paused at the start and repaint as fast as possible
    /// for --play-seconds, which measures what one repaint of the window costs.
    #[arg(long, requires = "play_report")]
    pub play_still: bool,
    /// Open the dataset browser on an `analyze` results file (JSON or Parquet): a table of its
    /// clips with each model's top label, confidence and cross-modal shares; a click opens the
    /// clip with the stored results. Without CLIP, no clip is opened until then.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// With --results: ground truth, one clip per row (`clip,label` or `clip,"label1,label2"`),
    /// as `report --labels` takes it.
    #[arg(long, requires = "results")]
    pub labels: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run a model on the exact tensors of a JAX pipeline: IN.npz -> logits and attention maps.
    Infer(InferArgs),
    /// Import a Scenic/Flax MBT checkpoint into an mbtscope model folder.
    ImportScenic(ImportArgs),
    /// Print the forward cost of a model configuration per layer and in total.
    Flops(FlopsArgs),
    /// Describe a clip and the model windows over it (frames, audio span, input shapes).
    Probe(ProbeArgs),
    /// Generate the procedural audio-visual benchmark (H.264 + AAC clips with ground truth).
    Synth(SynthArgs),
    /// Train a model on clips made by `synth` (burn autodiff, Adam, cosine schedule).
    Train(TrainArgs),
    /// Score models on clips made by `synth`: accuracy, confusion, GFLOPs, and how often the
    /// explanations point at the sounding object (pointing game, AUC), with PNG plots.
    Eval(EvalArgs),
    /// Analyse clips headlessly: per window, the top labels, bottleneck activity, cross-modal
    /// shares and compact explanation maps, as JSON.
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// Write annotated frames (PNG/JPEG) and videos (MP4 with the clip's audio): the heatmap and
    /// top labels of one model, or two side by side.
    #[command(after_help = EXPORT_HELP)]
    Export(ExportArgs),
    /// Play a clip without a window: sound through the audio device, the clock and A/V
    /// statistics printed twice a second.
    Play(PlayArgs),
    /// Combine `analyze` results files (the shards of one run) into one, refusing duplicate
    /// clips and files of other models or settings; with --labels, print the report.
    Merge(MergeArgs),
    /// Print per-model accuracy, mAP (multi-label ground truth), the confusion matrix and the
    /// clips where the models disagree, for an `analyze` results file.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The results files to combine.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The merged results file.
    #[arg(long)]
    pub out: PathBuf,
    /// Ground truth, one clip per row: `clip,label` or `clip,"label1,label2"` (clips by path,
    /// file name or stem; labels by the models' label names). Prints the report after merging.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// An `analyze` (or `merge`) results file.
    pub file: PathBuf,
    /// Ground truth (see `merge --labels`); without it only the disagreements are reported.
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output folder (created); clips are `<split>_<index>.mp4` with a `.json` sidecar, plus
    /// `labels.txt`. Clips already there are kept, so an interrupted run can be resumed.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of clips.
    #[arg(long)]
    pub clips: usize,
    /// Base seed; the same seed, split and index always give the same clip.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = SplitArg::Train)]
    pub split: SplitArg,
    /// Frame width and height in pixels.
    #[arg(long, default_value_t = 112)]
    pub size: u32,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 4.0)]
    pub duration: f64,
    /// `pairs`: the sound's timbre names a pair of classes and one object on screen is of that
    /// pair. `sync`: the timbre is random and the sounding object is the one lit in exactly the
    /// tubelets where the sound plays (audio-visual correspondence only).
    #[arg(long, default_value_t = mbtscope::synth::Task::Pairs)]
    pub task: mbtscope::synth::Task,
    /// Also write each clip's counterfactual twin, `<name>_twin`: the same scene and motion
    /// with another object sounding. Each sidecar names the other clip under `twin`.
    #[arg(long)]
    pub twins: bool,
    /// How many objects each `sync` clip shows, 2 to 6 (default: three or four, drawn per
    /// clip). Two make the easier first stage of a curriculum.
    #[arg(long)]
    pub objects: Option<usize>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Folder of clips with `.json` sidecars (from `synth`).
    #[arg(long)]
    pub data: PathBuf,
    /// A model folder; repeat to compare several on the same clips.
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// Only clips whose names start with this (the split).
    #[arg(long, default_value = "test_")]
    pub prefix: String,
    /// Write every number, per model and per clip, as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write `confusion_<model>.png` and `accuracy_vs_gflops.png` into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Clips per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Skip gradient-weighted relevance (one extra autodiff pass per batch).
    #[arg(long)]
    pub no_relevance: bool,
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Run the models on an altered input: `mute` (silence), `noise` (white noise of the
    /// window's own loudness), `shift=SECONDS` (the track moved later by that much; negative:
    /// earlier), `swap=PATH` (that clip's audio at the same times; silence after it ends) or
    /// `blank-video` (every frame mid-grey, the sound kept).
    #[arg(long, value_parser = parse_counterfactual)]
    pub counterfactual: Option<mbtscope::features::Counterfactual>,
    /// Replace existing JSON and plot files.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

fn parse_counterfactual(text: &str) -> Result<mbtscope::features::Counterfactual, String> {
    mbtscope::features::Counterfactual::parse(text)
}

const ANALYZE_HELP: &str = "\
Output: one JSON document (format \"mbtscope-analysis/1\"): the settings, the models with their
labels, and per clip and model every window with `top` (label, class, probability), `cross_modal`
(share of each modality's explanation that comes from the other), `bottleneck` (per fusion layer,
each token's norm and the attention each modality pays it) and `maps` (rgb [slices, rows, cols]
and spectrogram [time, mel], each stored as min, max and base64 bytes: value = min + byte / 255 *
(max - min)). Clips that failed are listed under `failures`.

OUT is rewritten (atomically) after each clip, by one run at a time: a second run into the same
OUT refuses while the first runs. Running again with the same models and settings skips the
clips already in OUT, and retries failed ones; other settings need --force.

Exit status: 0 every clip analysed; 1 nothing could be done (bad model, unreadable OUT, no clips,
OUT being written by another run); 2 bad arguments (also numbers that do not fit a model, such as
--start-layer past its last layer or a --class it does not have); 3 some clips failed (the others
are in OUT).";

const EXPORT_HELP: &str = "\
Frames are written as OUT/<clip stem>_<frame index, 6 digits>.<format>, each a copy of the frame
per model (side by side with --compare) with its heatmap, title and top labels. A frame's index is
its time at the clip's frame rate: frames FFmpeg cannot decode are reported and missing, and the
others keep their indices (the video repeats the frame before a missing one).

Files are written under a temporary name and renamed, so no file is ever half-written. OUT keeps
a hidden manifest of the export's settings per clip and format: running the same export again
resumes it (frames already there are kept); another export of the clip in the same format refuses
to replace frames unless --force, which removes them all first. One export of a clip and format
writes into a folder at a time; a second refuses while the first runs. The video is refused if it
exists, unless --force.

Exit status: 0 done; 1 failed (the message names the file and the problem); 2 bad arguments (also
numbers that do not fit a model).";

/// How the explanation maps are computed (the app's explanation settings).
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// Attention rollout from the classification tokens, or gradient-weighted relevance.
    #[arg(long, value_enum, default_value_t = Method::Rollout)]
    pub method: Method,
    /// The class relevance explains (default: each window's top prediction).
    #[arg(long)]
    pub class: Option<usize>,
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Run the models on an altered input, as `eval --counterfactual` does: `mute` (silence),
    /// `noise` (white noise of the window's own loudness), `shift=SECONDS` (the track moved
    /// later by that much; negative: earlier), `swap=PATH` (that clip's audio at the same times;
    /// silence after it ends) or `blank-video` (every frame mid-grey, the sound kept). The
    /// output's settings name it.
    #[arg(long, value_parser = parse_counterfactual)]
    pub counterfactual: Option<mbtscope::features::Counterfactual>,
}

/// Attention rollout's settings, shared by every command that computes rollout.
#[derive(Debug, Clone, clap::Args)]
pub struct RolloutArgs {
    /// How rollout fuses attention heads.
    #[arg(long, value_enum, default_value_t = HeadFusion::Mean)]
    pub head_fusion: HeadFusion,
    /// Fraction of each layer's fused attention to drop before rollout, in [0, 1) (never a
    /// token's own CLS).
    #[arg(long, default_value_t = 0.0, value_parser = parse_ratio)]
    pub discard_ratio: f32,
    /// First layer included in the rollout.
    #[arg(long, default_value_t = 0)]
    pub start_layer: usize,
}

impl RolloutArgs {
    /// The rollout options, keeping layer `raw_layer`'s joint matrix when given.
    pub fn options(&self, raw_layer: Option<usize>) -> mbtscope::explain::RolloutOptions {
        mbtscope::explain::RolloutOptions {
            head_fusion: self.head_fusion,
            discard_ratio: self.discard_ratio,
            start_layer: self.start_layer,
            raw_layer,
        }
    }
}

impl ExplainArgs {
    /// The flags that contradict each other: `--class` picks the class relevance explains, and
    /// rollout has none.
    pub fn check(&self) -> Result<(), BadArgument> {
        match (self.method, self.class) {
            (Method::Rollout, Some(class)) => {
                Err(BadArgument(format!("--class {class} needs --method relevance: attention rollout explains no particular class")))
            }
            _ => Ok(()),
        }
    }

    pub fn settings(&self) -> mbtscope::analysis::AnalysisSettings {
        mbtscope::analysis::AnalysisSettings {
            method: self.method,
            class: self.class,
            rollout: self.rollout.options(None),
            counterfactual: self.counterfactual.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A clip, a folder whose video files (mp4, mkv, mov, webm, avi) are analysed one by one, or
    /// a `.txt` list of clips, one path per line (relative paths from the list's folder; blank
    /// lines and lines starting with `#` are skipped).
    pub input: PathBuf,
    /// A model folder; repeat to analyse with several (for example vanilla and bottleneck).
    #[arg(long, required = true)]
    pub model: Vec<PathBuf>,
    /// The JSON results file.
    #[arg(long)]
    pub out: PathBuf,
    /// Labels kept per window (at least 1, at most the model's classes).
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    pub top_k: usize,
    /// Leave out the rgb and spectrogram maps (smaller output).
    #[arg(long)]
    pub no_maps: bool,
    /// Print one JSON object per line on stdout (events: clip, failed, done) instead of a
    /// progress bar.
    #[arg(long)]
    pub json: bool,
    /// Start OUT afresh even if it holds results of other settings.
    #[arg(long)]
    pub force: bool,
    /// Neither read nor write the analysis cache the app shares (~/.cache/mbtscope/analysis).
    #[arg(long)]
    pub no_cache: bool,
    /// Analyse only shard K of N (from 0) of the clips sorted by path: clip i belongs to shard
    /// i mod N. `from-env` takes K and N from a Slurm job array (SLURM_ARRAY_TASK_ID less
    /// SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX, with --shards N). Combine the shards' files with `mbtscope merge`.
    #[arg(long, value_name = "K/N|from-env")]
    pub shard: Option<String>,
    /// The number of shards, for `--shard from-env` (required with JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "N", requires = "shard")]
    pub shards: Option<usize>,
    #[command(flatten)]
    pub explain: ExplainArgs,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The clip.
    pub clip: PathBuf,
    /// The model whose heatmap and labels are drawn.
    #[arg(long)]
    pub model: PathBuf,
    /// A second model drawn side by side on the right (same frame, same settings).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Frames: `all`, `START:END` (frame indices, END exclusive; either may be left out),
    /// `1.5s:3s` (seconds), or `N,M,...`.
    #[arg(long, default_value = "all", value_parser = parse_frames)]
    pub frames: mbtscope::export::FrameSelection,
    #[arg(long, value_enum, default_value_t = FormatArg::Png)]
    pub format: FormatArg,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = 92, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Folder for the frame images.
    #[arg(long, required_unless_present = "video")]
    pub out: Option<PathBuf>,
    /// Also (or only) write an annotated MP4 (H.264 + AAC) of the frames with the clip's audio.
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Replace existing frames of another export, and an existing video.
    #[arg(long)]
    pub force: bool,
    /// Labels drawn per model (at least 1; --no-labels draws none).
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    pub top_k: usize,
    /// Draw no title, labels or time, only the heatmap.
    #[arg(long)]
    pub no_labels: bool,
    /// Scale the frames by this factor (1 to 16) before drawing; the map is sampled at the new
    /// size, so it stays smooth (224-pixel frames are small in a paper).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub upscale: u32,
    /// Outline the sounding object's box from the clip's sidecar (`CLIP.json`, as `synth` writes).
    #[arg(long)]
    pub truth_box: bool,
    /// Put the model's name and labels in a strip under the frame instead of over it.
    #[arg(long)]
    pub labels_below: bool,
    /// A strip under the frame with the colour bar (the map's raw range and the threshold) and
    /// the settings: method and options, normalisation, threshold, time span, counterfactual.
    #[arg(long)]
    pub caption: bool,
    #[command(flatten)]
    pub style: StyleArgs,
    #[command(flatten)]
    pub explain: ExplainArgs,
    /// Neither read nor write the analysis cache the app shares (~/.cache/mbtscope/analysis).
    #[arg(long)]
    pub no_cache: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

fn parse_frames(text: &str) -> Result<mbtscope::export::FrameSelection, String> {
    mbtscope::export::FrameSelection::parse(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Png,
    Jpg,
}

/// The overlay's look (the app's View settings).
#[derive(Debug, Clone, clap::Args)]
pub struct StyleArgs {
    #[arg(long, value_enum, default_value_t = Colormap::Turbo)]
    pub colormap: Colormap,
    /// Weight of the colormap over the frame at the map's maximum, 0 to 1.
    #[arg(long, default_value_t = 0.6, value_parser = parse_unit)]
    pub opacity: f32,
    /// Normalised values below this are not drawn, 0 to 1.
    #[arg(long, default_value_t = 0.15, value_parser = parse_unit)]
    pub threshold: f32,
    /// Per frame, over the clip, or per frame blended over time (no flicker).
    #[arg(long, value_enum, default_value_t = Normalisation::Frame)]
    pub normalisation: Normalisation,
    /// Show the patches (nearest upsampling) instead of a smooth map.
    #[arg(long)]
    pub nearest: bool,
    /// Each frame shows its time slice of the window's map, or the whole window's map (its
    /// slices summed).
    #[arg(long, value_enum, default_value_t = MapSpan::Slice)]
    pub span: MapSpan,
}

fn parse_unit(text: &str) -> Result<f32, String> {
    let v: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not in [0, 1]")) }
}

impl StyleArgs {
    pub fn overlay(&self) -> mbtscope::render::OverlayStyle {
        mbtscope::render::OverlayStyle {
            colormap: self.colormap,
            opacity: self.opacity,
            threshold: self.threshold,
            smooth: !self.nearest,
            normalisation: self.normalisation,
            span: self.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    Train,
    Val,
    Test,
}

impl SplitArg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// A video file FFmpeg can read.
    pub clip: PathBuf,
    /// Scenic-style MODEL.json for the window geometry (default: MBT-B on AudioSet).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How many windows to compute inputs for.
    #[arg(long, default_value_t = 3)]
    pub windows: usize,
}

#[derive(Debug, clap::Args)]
pub struct PlayArgs {
    /// A video file FFmpeg can read.
    pub clip: PathBuf,
    /// Output device: the system default, an ALSA/backend device id such as `pulse` or `hw:0,0`,
    /// or `none` to play silently on a wall clock.
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Playback speed, 0.25 to 2.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Volume, 0 to 2.
    #[arg(long, default_value_t = 1.0)]
    pub volume: f32,
    /// Start here (seconds).
    #[arg(long)]
    pub start: Option<f64>,
    /// Stop after this many seconds of wall time.
    #[arg(long)]
    pub seconds: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// Model folder (model.json, model.safetensors, labels.txt).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs: `rgb` [B,T,H,W,3] and/or `spectrogram` [B,time,mel,3] or [B,time,mel], float32,
    /// already normalised.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Output .npz: `logits` [B,classes], `encoded`, `attn/layer{l}/{rgb|spectrogram|combined}`
    /// [B,heads,q,k] and `attn_layout/...` rows of (kind, modality, start, len).
    #[arg(long)]
    pub out: PathBuf,
    /// Attention to keep: every head, or heads fused on the device (mean, max, min) to save
    /// memory on large models; `none` keeps no attention.
    #[arg(long, value_enum, default_value_t = HeadsArg::All)]
    pub heads: HeadsArg,
    /// Where the model runs: a hardware GPU through wgpu if there is one (auto), wgpu on any
    /// adapter (gpu), or burn's Flex CPU backend (cpu).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Also compute attention rollout over the joint token graph and the bottleneck-token
    /// activity, and write them as `rollout/...` and `bottleneck/...` arrays.
    #[arg(long)]
    pub rollout: bool,
    #[command(flatten)]
    pub rollout_options: RolloutArgs,
    /// Also compute gradient-weighted relevance (Chefer et al. 2021) through autodiff and write
    /// `relevance/joint` `[B,N,N]`, `relevance/cls_<modality>` or `relevance/gap` `[B,N]` and
    /// `relevance/classes` `[B]`.
    #[arg(long)]
    pub relevance: bool,
    /// The class relevance explains (default: each example's top prediction).
    #[arg(long)]
    pub class: Option<usize>,
    /// Also write layer L's joint attention matrix as `rollout/raw_layer{L}`.
    #[arg(long)]
    pub raw_layer: Option<usize>,
    /// Number of top classes to print per example.
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    pub top: usize,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

fn parse_ratio(text: &str) -> Result<f32, String> {
    let v: f32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not in [0, 1)")) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HeadsArg {
    All,
    Mean,
    Max,
    Min,
    None,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The checkpoint file written by flax.training.checkpoints (MessagePack).
    pub checkpoint: PathBuf,
    /// Scenic's config.model fields as JSON (optionally with `dataset_configs`).
    #[arg(long)]
    pub config: PathBuf,
    /// One class name per line; defaults to AudioSet's 527 names when the model has 527
    /// classes, numbered names otherwise.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace files in OUT if they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct FlopsArgs {
    /// Scenic-style MODEL.json (with `dataset_configs` for the input sizes) or a model folder.
    #[arg(long, conflicts_with = "model")]
    pub config: Option<PathBuf>,
    /// A model folder (reads its model.json).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// A count of at least one.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}
