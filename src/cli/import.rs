//! `mbtscope import-scenic`

use anyhow::Context as _;
use burn::prelude::Device;

use super::ImportArgs;
use mbtscope::model::MbtConfig;
use mbtscope::weights::{self, flax, native};

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let parsed = MbtConfig::parse_scenic_json(&text)
        .with_context(|| format!("bad model config: {}", args.config.display()))?;
    for field in &parsed.ignored {
        eprintln!("warning: ignoring unknown config field `{field}`");
    }
    let mut config = parsed.config;
    let params = flax::read_checkpoint(&args.checkpoint)
        .with_context(|| format!("cannot import checkpoint {}", args.checkpoint.display()))?;
    let notes = weights::derive_geometry(&mut config, &params, &parsed.dataset_fields)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("checkpoint does not fit the config: {}", args.checkpoint.display()))?;
    if !parsed.has_dataset_configs {
        eprintln!("note: no dataset_configs given; using Scenic's AudioSet input settings where the checkpoint does not say otherwise");
    }
    for note in &notes {
        eprintln!("note: {note}");
    }
    // Building the model on the CPU checks every leaf's name and shape, and that none is left.
    mbtscope::runner::build(&config, params.clone(), &Device::flex())
        .with_context(|| format!("checkpoint does not match the config: {}", args.checkpoint.display()))?;
    let labels = weights::labels_for(config.num_classes, args.labels.as_deref()).map_err(anyhow::Error::msg)?;
    native::save_dir(&args.out, &config, &params, &labels, args.force)?;
    let count: usize = params.tensors.values().map(|t| t.numel()).sum();
    println!(
        "imported {} tensors ({count} parameters) into {}",
        params.tensors.len(),
        args.out.display()
    );
    Ok(())
}
