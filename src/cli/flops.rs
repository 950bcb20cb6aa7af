//! `mbtscope flops`

use anyhow::{Context as _, bail};

use super::FlopsArgs;
use mbtscope::model::{MbtConfig, flops};
use mbtscope::weights::native::CONFIG_FILE;

pub fn run(args: FlopsArgs) -> anyhow::Result<()> {
    let path = match (args.config, args.model) {
        (Some(p), _) if p.is_dir() => p.join(CONFIG_FILE),
        (Some(p), _) => p,
        (None, Some(dir)) => dir.join(CONFIG_FILE),
        (None, None) => bail!("give --config MODEL.json or --model DIR"),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = MbtConfig::parse_scenic_json(&text).with_context(|| format!("bad model config: {}", path.display()))?;
    for field in &parsed.ignored {
        eprintln!("warning: ignoring unknown config field `{field}`");
    }
    let config = parsed.config;
    let report = flops::count(&config);
    mbtscope::outln!("input embedding: {:.3} GFLOPs", report.embedding / 1e9);
    for layer in &report.layers {
        let passes: Vec<String> = layer.passes.iter().map(|(name, tokens, f)| format!("{name} {tokens} tokens {:.3}", f / 1e9)).collect();
        mbtscope::outln!("layer {:2}: {:.3} GFLOPs ({})", layer.layer, layer.total() / 1e9, passes.join(", "));
    }
    mbtscope::outln!("head: {:.6} GFLOPs", report.head / 1e9);
    mbtscope::outln!("total GFLOPs: {:.3}", report.total() / 1e9);
    Ok(())
}
