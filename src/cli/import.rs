//! `mbtscope import-scenic`

use super::ImportArgs;
use mbtscope::weights;

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let report = weights::import_scenic(&args.checkpoint, &args.config, args.labels.as_deref(), &args.out, args.force)?;
    for field in &report.ignored_fields {
        eprintln!("warning: ignoring unknown config field `{field}`");
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    mbtscope::outln!("imported {} tensors ({} parameters) into {}", report.tensors, report.parameters, args.out.display());
    Ok(())
}
