//! `analyze`'s results as Parquet (`--out x.parquet`): one row per (clip, model, window), with
//! the run's settings, models, shard, failures and clips as JSON in the file's key-value
//! metadata (key `mbtscope`). DuckDB, polars and pandas read it as it is.
//!
//! Columns (nullable where a window may lack the value):
//! - `clip`, `model` (the model folder's name), `window` (index in the clip);
//! - `start`, `end` (the window's span in seconds, as its audio covers it), `centre`,
//!   `first_frame`, `last_frame` (seconds); `clip_duration`, `clip_seconds` (the clip's length
//!   and the time spent analysing it, all models);
//! - `top1` (label name), `top1_probability`; `top_labels`, `top_classes`,
//!   `top_probabilities` (the top k, best first); `explained_class` (relevance only);
//! - `cross_modal_rgb`, `cross_modal_spectrogram` (the share of each modality's explanation that
//!   comes from the other one);
//! - `bottleneck_layers`, and per those layers `bottleneck_norm`, `bottleneck_received_rgb`,
//!   `bottleneck_received_spectrogram` (lists of lists, one list per layer, one value per token);
//! - `rgb_map`, `spectrogram_map`: the maps quantised to bytes as the JSON's `base64` holds them
//!   (`value = min + byte / 255 * (max - min)`), with `*_map_shape`, `*_map_min`, `*_map_max`,
//!   and `rgb_map_frames` (the window frames each slice covers, as start, end pairs in a row).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow_array::builder::{BinaryBuilder, Float32Builder, Float64Builder, ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::table::{ListedClip, ListedWindow, Listing};
use crate::analysis::report::{BottleneckOut, ClipResult, Failure, Label, Maps, ModelInfo, Results, WindowOut};
use crate::analysis::{AnalysisSettings, CompactMap, Shard};

/// The metadata key that holds [`Header`].
pub const METADATA_KEY: &str = "mbtscope";

/// Everything of a results file but its windows.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    settings: AnalysisSettings,
    top_k: usize,
    maps: bool,
    models: Vec<ModelInfo>,
    #[serde(default)]
    shard: Option<Shard>,
    clips: Vec<ClipInfo>,
    failures: Vec<Failure>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClipInfo {
    clip: PathBuf,
    duration: f64,
    seconds: f64,
}

type FloatLists = ListBuilder<ListBuilder<Float32Builder>>;

/// The column builders, in column order.
#[derive(Default)]
struct Columns {
    clip: StringBuilder,
    model: StringBuilder,
    window: UInt32Builder,
    start: Float64Builder,
    end: Float64Builder,
    centre: Float64Builder,
    first_frame: Float64Builder,
    last_frame: Float64Builder,
    clip_duration: Float64Builder,
    clip_seconds: Float64Builder,
    top1: StringBuilder,
    top1_probability: Float32Builder,
    top_labels: ListBuilder<StringBuilder>,
    top_classes: ListBuilder<UInt32Builder>,
    top_probabilities: ListBuilder<Float32Builder>,
    explained_class: UInt32Builder,
    cross_modal_rgb: Float32Builder,
    cross_modal_spectrogram: Float32Builder,
    bottleneck_layers: ListBuilder<UInt32Builder>,
    bottleneck_norm: FloatLists,
    bottleneck_received_rgb: FloatLists,
    bottleneck_received_spectrogram: FloatLists,
    rgb_map: BinaryBuilder,
    rgb_map_shape: ListBuilder<UInt32Builder>,
    rgb_map_min: Float32Builder,
    rgb_map_max: Float32Builder,
    rgb_map_frames: ListBuilder<UInt32Builder>,
    spectrogram_map: BinaryBuilder,
    spectrogram_map_shape: ListBuilder<UInt32Builder>,
    spectrogram_map_min: Float32Builder,
    spectrogram_map_max: Float32Builder,
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn push_lists(builder: &mut FloatLists, lists: impl Iterator<Item = Option<Vec<f32>>>) {
    for list in lists {
        match list {
            Some(values) => {
                builder.values().values().append_slice(&values);
                builder.values().append(true);
            }
            None => builder.values().append(false),
        }
    }
    builder.append(true);
}

fn push_map(
    map: Option<&CompactMap>,
    bytes: &mut BinaryBuilder,
    shape: &mut ListBuilder<UInt32Builder>,
    min: &mut Float32Builder,
    max: &mut Float32Builder,
) -> anyhow::Result<()> {
    match map {
        Some(m) => {
            bytes.append_value(BASE64.decode(&m.base64).context("a map's base64 does not decode")?);
            shape.values().extend(m.shape.iter().map(|&n| Some(u32_of(n))));
            shape.append(true);
            min.append_value(m.min);
            max.append_value(m.max);
        }
        None => {
            bytes.append_null();
            shape.append(false);
            min.append_null();
            max.append_null();
        }
    }
    Ok(())
}

impl Columns {
    fn push(&mut self, clip: &ClipResult, model: &str, w: &WindowOut) -> anyhow::Result<()> {
        self.clip.append_value(clip.clip.to_string_lossy());
        self.model.append_value(model);
        self.window.append_value(u32_of(w.index));
        self.start.append_value(w.audio_start);
        self.end.append_value(w.audio_end);
        self.centre.append_value(w.centre);
        self.first_frame.append_value(w.first_frame);
        self.last_frame.append_value(w.last_frame);
        self.clip_duration.append_value(clip.duration);
        self.clip_seconds.append_value(clip.seconds);
        self.top1.append_option(w.top.first().map(|l| l.label.as_str()));
        self.top1_probability.append_option(w.top.first().map(|l| l.probability));
        for l in &w.top {
            self.top_labels.values().append_value(&l.label);
            self.top_classes.values().append_value(u32_of(l.class));
            self.top_probabilities.values().append_value(l.probability);
        }
        self.top_labels.append(true);
        self.top_classes.append(true);
        self.top_probabilities.append(true);
        self.explained_class.append_option(w.explained_class.map(u32_of));
        self.cross_modal_rgb.append_option(w.cross_modal.get("rgb").copied());
        self.cross_modal_spectrogram.append_option(w.cross_modal.get("spectrogram").copied());
        self.bottleneck_layers.values().extend(w.bottleneck.iter().map(|b| Some(u32_of(b.layer))));
        self.bottleneck_layers.append(true);
        push_lists(&mut self.bottleneck_norm, w.bottleneck.iter().map(|b| Some(b.norm.clone())));
        push_lists(&mut self.bottleneck_received_rgb, w.bottleneck.iter().map(|b| b.received.get("rgb").cloned()));
        push_lists(&mut self.bottleneck_received_spectrogram, w.bottleneck.iter().map(|b| b.received.get("spectrogram").cloned()));
        let maps = w.maps.as_ref();
        push_map(
            maps.and_then(|m| m.rgb.as_ref()),
            &mut self.rgb_map,
            &mut self.rgb_map_shape,
            &mut self.rgb_map_min,
            &mut self.rgb_map_max,
        )?;
        match maps {
            Some(m) => {
                self.rgb_map_frames.values().extend(m.rgb_frames.iter().flat_map(|f| [Some(u32_of(f[0])), Some(u32_of(f[1]))]));
                self.rgb_map_frames.append(true);
            }
            None => self.rgb_map_frames.append(false),
        }
        push_map(
            maps.and_then(|m| m.spectrogram.as_ref()),
            &mut self.spectrogram_map,
            &mut self.spectrogram_map_shape,
            &mut self.spectrogram_map_min,
            &mut self.spectrogram_map_max,
        )
    }

    fn finish(mut self) -> anyhow::Result<RecordBatch> {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("clip", Arc::new(self.clip.finish())),
            ("model", Arc::new(self.model.finish())),
            ("window", Arc::new(self.window.finish())),
            ("start", Arc::new(self.start.finish())),
            ("end", Arc::new(self.end.finish())),
            ("centre", Arc::new(self.centre.finish())),
            ("first_frame", Arc::new(self.first_frame.finish())),
            ("last_frame", Arc::new(self.last_frame.finish())),
            ("clip_duration", Arc::new(self.clip_duration.finish())),
            ("clip_seconds", Arc::new(self.clip_seconds.finish())),
            ("top1", Arc::new(self.top1.finish())),
            ("top1_probability", Arc::new(self.top1_probability.finish())),
            ("top_labels", Arc::new(self.top_labels.finish())),
            ("top_classes", Arc::new(self.top_classes.finish())),
            ("top_probabilities", Arc::new(self.top_probabilities.finish())),
            ("explained_class", Arc::new(self.explained_class.finish())),
            ("cross_modal_rgb", Arc::new(self.cross_modal_rgb.finish())),
            ("cross_modal_spectrogram", Arc::new(self.cross_modal_spectrogram.finish())),
            ("bottleneck_layers", Arc::new(self.bottleneck_layers.finish())),
            ("bottleneck_norm", Arc::new(self.bottleneck_norm.finish())),
            ("bottleneck_received_rgb", Arc::new(self.bottleneck_received_rgb.finish())),
            ("bottleneck_received_spectrogram", Arc::new(self.bottleneck_received_spectrogram.finish())),
            ("rgb_map", Arc::new(self.rgb_map.finish())),
            ("rgb_map_shape", Arc::new(self.rgb_map_shape.finish())),
            ("rgb_map_min", Arc::new(self.rgb_map_min.finish())),
            ("rgb_map_max", Arc::new(self.rgb_map_max.finish())),
            ("rgb_map_frames", Arc::new(self.rgb_map_frames.finish())),
            ("spectrogram_map", Arc::new(self.spectrogram_map.finish())),
            ("spectrogram_map_shape", Arc::new(self.spectrogram_map_shape.finish())),
            ("spectrogram_map_min", Arc::new(self.spectrogram_map_min.finish())),
            ("spectrogram_map_max", Arc::new(self.spectrogram_map_max.finish())),
        ];
        // Every column nullable, so that files with and without maps (or relevance's explained
        // class) have one schema and read together.
        Ok(RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(name, array)| (name, array, true)))?)
    }
}

/// `results` as the bytes of a Parquet file.
pub fn encode(results: &Results) -> anyhow::Result<Vec<u8>> {
    let mut names: Vec<&str> = results.models.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("two models are named {} (their folders' names): rename one to tell their rows apart", w[0]);
    }
    let mut columns = Columns::default();
    for clip in &results.clips {
        for (model, windows) in results.models.iter().zip(&clip.models) {
            for w in windows {
                columns.push(clip, &model.name, w)?;
            }
        }
    }
    let batch = columns.finish()?;
    let header = Header {
        format: results.format.clone(),
        settings: results.settings.clone(),
        top_k: results.top_k,
        maps: results.maps,
        models: results.models.clone(),
        shard: results.shard,
        clips: results.clips.iter().map(|c| ClipInfo { clip: c.clip.clone(), duration: c.duration, seconds: c.seconds }).collect(),
        failures: results.failures.iter().map(|f| Failure { clip: f.clip.clone(), error: f.error.clone() }).collect(),
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new(METADATA_KEY.to_owned(), serde_json::to_string(&header)?)]))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(bytes)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a ArrayRef> {
    batch.column_by_name(name).with_context(|| format!("no column {name}"))
}

fn strings(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<String>>> {
    let a = column(batch, name)?.as_string_opt::<i32>().with_context(|| format!("column {name} is not text"))?;
    Ok(a.iter().map(|v| v.map(str::to_owned)).collect())
}

fn f64s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<f64>>> {
    Ok(column(batch, name)?.as_primitive_opt::<Float64Type>().with_context(|| format!("column {name} is not f64"))?.iter().collect())
}

fn f32s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<f32>>> {
    Ok(column(batch, name)?.as_primitive_opt::<Float32Type>().with_context(|| format!("column {name} is not f32"))?.iter().collect())
}

fn u32s(batch: &RecordBatch, name: &str) -> anyhow::Result<Vec<Option<u32>>> {
    Ok(column(batch, name)?.as_primitive_opt::<UInt32Type>().with_context(|| format!("column {name} is not u32"))?.iter().collect())
}

fn lists<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a ListArray> {
    column(batch, name)?.as_list_opt::<i32>().with_context(|| format!("column {name} is not a list"))
}

/// Row `i` of a list column, or None where it is null.
fn row(list: &ListArray, i: usize) -> Option<ArrayRef> {
    list.is_valid(i).then(|| list.value(i))
}

fn u32_row(list: &ListArray, i: usize) -> Option<Vec<usize>> {
    row(list, i).and_then(|a| a.as_primitive_opt::<UInt32Type>().map(|a| a.iter().map(|v| v.unwrap_or(0) as usize).collect()))
}

fn f32_row(a: &ArrayRef) -> Option<Vec<f32>> {
    a.as_primitive_opt::<Float32Type>().map(|a| a.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
}

/// Per layer, the inner lists of row `i` (None for a null inner list).
fn nested_row(list: &ListArray, i: usize) -> Vec<Option<Vec<f32>>> {
    let Some(inner) = row(list, i) else { return Vec::new() };
    let Some(inner) = inner.as_list_opt::<i32>() else { return Vec::new() };
    (0..inner.len()).map(|j| row(inner, j).and_then(|a| f32_row(&a))).collect()
}

/// The map of row `i` from its columns.
fn map_at(batch: &RecordBatch, prefix: &str, i: usize) -> anyhow::Result<Option<CompactMap>> {
    let bytes =
        column(batch, &format!("{prefix}_map"))?.as_binary_opt::<i32>().with_context(|| format!("column {prefix}_map is not binary"))?;
    if !bytes.is_valid(i) {
        return Ok(None);
    }
    let shape = u32_row(lists(batch, &format!("{prefix}_map_shape"))?, i).unwrap_or_default();
    let min = f32s(batch, &format!("{prefix}_map_min"))?[i].unwrap_or(0.0);
    let max = f32s(batch, &format!("{prefix}_map_max"))?[i].unwrap_or(0.0);
    Ok(Some(CompactMap { shape, min, max, base64: BASE64.encode(bytes.value(i)) }))
}

/// Opens a Parquet results file: its reader and the header in its metadata.
fn open(path: &Path) -> anyhow::Result<(ParquetRecordBatchReaderBuilder<std::fs::File>, Header)> {
    let what = || not_ours(path);
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).with_context(what)?;
    let header = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == METADATA_KEY))
        .and_then(|k| k.value.clone())
        .with_context(|| format!("{}: no `{METADATA_KEY}` metadata", what()))?;
    let header: Header = serde_json::from_str(&header).with_context(|| format!("{}: bad `{METADATA_KEY}` metadata", what()))?;
    Ok((builder, header))
}

fn not_ours(path: &Path) -> String {
    format!("{} is not an mbtscope Parquet results file", path.display())
}

/// Reads the windows of `builder`'s batches, keyed by clip and model.
fn read_windows(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<std::fs::File>,
    header: &Header,
) -> anyhow::Result<BTreeMap<(String, usize), Vec<WindowOut>>> {
    let model_index: BTreeMap<&str, usize> = header.models.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    let mut windows: BTreeMap<(String, usize), Vec<WindowOut>> = BTreeMap::new();
    for batch in builder.build().with_context(|| not_ours(path))? {
        let batch = batch.with_context(|| not_ours(path))?;
        read_batch(&batch, &model_index, &mut windows).with_context(|| not_ours(path))?;
    }
    Ok(windows)
}

/// Reads a Parquet results file written by [`encode`].
pub fn read(path: &Path) -> anyhow::Result<Results> {
    let (builder, header) = open(path)?;
    let mut windows = read_windows(path, builder, &header)?;
    let clips = header
        .clips
        .into_iter()
        .map(|info| {
            let key = info.clip.to_string_lossy().into_owned();
            let models = (0..header.models.len()).map(|m| windows.remove(&(key.clone(), m)).unwrap_or_default()).collect();
            ClipResult { clip: info.clip, duration: info.duration, seconds: info.seconds, models }
        })
        .collect();
    if let Some(((clip, _), _)) = windows.into_iter().next() {
        anyhow::bail!("{}: rows for {clip}, which its metadata does not list", not_ours(path));
    }
    Ok(Results {
        format: header.format,
        settings: header.settings,
        top_k: header.top_k,
        maps: header.maps,
        models: header.models,
        shard: header.shard,
        clips,
        failures: header.failures,
    })
}

/// Reads `clip`'s windows in full, maps included, from rows `rows` of a Parquet results file
/// (the first to the last of the clip's rows, as [`read_listing`] found them; other clips' rows
/// among them are skipped), without reading the rest of the file's maps.
pub fn read_clip(path: &Path, clip: &Path, rows: std::ops::Range<usize>) -> anyhow::Result<(Vec<ModelInfo>, ClipResult)> {
    use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
    let (builder, header) = open(path)?;
    let selection = RowSelection::from(vec![RowSelector::skip(rows.start), RowSelector::select(rows.len())]);
    let mut windows = read_windows(path, builder.with_row_selection(selection), &header)?;
    let key = clip.to_string_lossy().into_owned();
    let info = header.clips.iter().find(|c| c.clip == clip).with_context(|| format!("{}: no clip {key}", path.display()))?;
    let models: Vec<Vec<WindowOut>> = (0..header.models.len()).map(|m| windows.remove(&(key.clone(), m)).unwrap_or_default()).collect();
    anyhow::ensure!(
        models.iter().any(|w| !w.is_empty()),
        "{}: rows {rows:?} hold no window of {key} (was the file replaced?)",
        path.display()
    );
    Ok((header.models, ClipResult { clip: info.clip.clone(), duration: info.duration, seconds: info.seconds, models }))
}

/// The columns [`read_listing`] reads.
const LISTING_COLUMNS: [&str; 8] =
    ["clip", "model", "window", "centre", "top_classes", "top_probabilities", "cross_modal_rgb", "cross_modal_spectrogram"];

/// Reads what the dataset browser's table shows: the header, and per row the clip, model,
/// window, top classes and cross-modal shares, without the maps and bottleneck columns.
pub fn read_listing(path: &Path) -> anyhow::Result<Listing> {
    let (builder, header) = open(path)?;
    let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), LISTING_COLUMNS);
    let model_index: BTreeMap<&str, usize> = header.models.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    let clip_index: std::collections::HashMap<&str, usize> =
        header.clips.iter().enumerate().filter_map(|(i, c)| Some((c.clip.to_str()?, i))).collect();
    let mut clips: Vec<ListedClip> =
        header.clips.iter().map(|c| ListedClip { clip: c.clip.clone(), duration: c.duration, windows: Vec::new(), rows: None }).collect();
    let mut row_number = 0usize;
    for batch in builder.with_projection(mask).build().with_context(|| not_ours(path))? {
        let batch = batch.with_context(|| not_ours(path))?;
        let at = |i: usize| format!("{}, row {}", not_ours(path), row_number + i);
        let (clip, model, window, centre) =
            (strings(&batch, "clip")?, strings(&batch, "model")?, u32s(&batch, "window")?, f64s(&batch, "centre")?);
        let (classes, probs) = (lists(&batch, "top_classes")?, lists(&batch, "top_probabilities")?);
        let (cross_rgb, cross_spec) = (f32s(&batch, "cross_modal_rgb")?, f32s(&batch, "cross_modal_spectrogram")?);
        for i in 0..batch.num_rows() {
            let (Some(clip), Some(model)) = (&clip[i], &model[i]) else { anyhow::bail!("{}: no clip or model", at(i)) };
            let c = *clip_index.get(clip.as_str()).with_context(|| format!("{}: clip {clip} is not in the metadata", at(i)))?;
            let m = *model_index.get(model.as_str()).with_context(|| format!("{}: model {model} is not in the metadata", at(i)))?;
            let top_classes = u32_row(classes, i).unwrap_or_default();
            let top_probs = row(probs, i).and_then(|a| f32_row(&a)).unwrap_or_default();
            anyhow::ensure!(top_classes.len() == top_probs.len(), "{}: top-k lists of different lengths", at(i));
            let listed = &mut clips[c];
            let r = row_number + i;
            listed.rows = Some(listed.rows.clone().map_or(r..r + 1, |rows| rows.start.min(r)..rows.end.max(r + 1)));
            listed.windows.push(ListedWindow {
                model: m,
                window: window[i].unwrap_or(0) as usize,
                centre: centre[i].with_context(|| format!("{}: no window centre", at(i)))?,
                top: top_classes.into_iter().zip(top_probs).collect(),
                cross_modal: [cross_rgb[i], cross_spec[i]],
            });
        }
        row_number += batch.num_rows();
    }
    Ok(Listing {
        settings: header.settings,
        top_k: header.top_k,
        maps: header.maps,
        models: header.models,
        clips,
        failures: header.failures,
    })
}

fn read_batch(
    batch: &RecordBatch,
    model_index: &BTreeMap<&str, usize>,
    windows: &mut BTreeMap<(String, usize), Vec<WindowOut>>,
) -> anyhow::Result<()> {
    let n = batch.num_rows();
    let (clip, model, window) = (strings(batch, "clip")?, strings(batch, "model")?, u32s(batch, "window")?);
    let (start, end, centre) = (f64s(batch, "start")?, f64s(batch, "end")?, f64s(batch, "centre")?);
    let (first, last) = (f64s(batch, "first_frame")?, f64s(batch, "last_frame")?);
    let (labels, classes, probs) = (lists(batch, "top_labels")?, lists(batch, "top_classes")?, lists(batch, "top_probabilities")?);
    let explained = u32s(batch, "explained_class")?;
    let (cross_rgb, cross_spec) = (f32s(batch, "cross_modal_rgb")?, f32s(batch, "cross_modal_spectrogram")?);
    let layers = lists(batch, "bottleneck_layers")?;
    let (norm, rec_rgb, rec_spec) =
        (lists(batch, "bottleneck_norm")?, lists(batch, "bottleneck_received_rgb")?, lists(batch, "bottleneck_received_spectrogram")?);
    let frames = lists(batch, "rgb_map_frames")?;
    for i in 0..n {
        let (Some(clip), Some(model)) = (&clip[i], &model[i]) else { anyhow::bail!("row {i} has no clip or model") };
        let m = *model_index.get(model.as_str()).with_context(|| format!("row {i}: model {model} is not in the metadata"))?;
        let top_labels: Vec<String> = row(labels, i)
            .and_then(|a| a.as_string_opt::<i32>().map(|a| a.iter().map(|v| v.unwrap_or_default().to_owned()).collect()))
            .unwrap_or_default();
        let top_classes = u32_row(classes, i).unwrap_or_default();
        let top_probs = row(probs, i).and_then(|a| f32_row(&a)).unwrap_or_default();
        anyhow::ensure!(
            top_labels.len() == top_classes.len() && top_classes.len() == top_probs.len(),
            "row {i}: top-k lists of different lengths"
        );
        let top = top_labels
            .into_iter()
            .zip(top_classes)
            .zip(top_probs)
            .map(|((label, class), probability)| Label { label, class, probability })
            .collect();
        let mut cross_modal = BTreeMap::new();
        if let Some(v) = cross_rgb[i] {
            cross_modal.insert("rgb".to_owned(), v);
        }
        if let Some(v) = cross_spec[i] {
            cross_modal.insert("spectrogram".to_owned(), v);
        }
        let layer_ids = u32_row(layers, i).unwrap_or_default();
        let (norms, rgb, spec) = (nested_row(norm, i), nested_row(rec_rgb, i), nested_row(rec_spec, i));
        let bottleneck = layer_ids
            .iter()
            .enumerate()
            .map(|(j, &layer)| {
                let mut received = BTreeMap::new();
                if let Some(Some(v)) = rgb.get(j) {
                    received.insert("rgb".to_owned(), v.clone());
                }
                if let Some(Some(v)) = spec.get(j) {
                    received.insert("spectrogram".to_owned(), v.clone());
                }
                BottleneckOut { layer, norm: norms.get(j).cloned().flatten().unwrap_or_default(), received }
            })
            .collect();
        let maps = u32_row(frames, i).map(|f| -> anyhow::Result<Maps> {
            Ok(Maps {
                rgb: map_at(batch, "rgb", i)?,
                rgb_frames: f.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
                spectrogram: map_at(batch, "spectrogram", i)?,
            })
        });
        let (Some(start), Some(end), Some(centre), Some(first), Some(last)) = (start[i], end[i], centre[i], first[i], last[i]) else {
            anyhow::bail!("row {i}: a window time is missing")
        };
        windows.entry((clip.clone(), m)).or_default().push(WindowOut {
            index: window[i].unwrap_or(0) as usize,
            centre,
            first_frame: first,
            last_frame: last,
            audio_start: start,
            audio_end: end,
            top,
            explained_class: explained[i].map(|c| c as usize),
            cross_modal,
            bottleneck,
            maps: maps.transpose()?,
        });
    }
    Ok(())
}
