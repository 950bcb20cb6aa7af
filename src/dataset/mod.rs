//! Whole datasets: `analyze`'s results files from deterministic shards of a clip list
//! ([`crate::analysis::Shard`]) merged into one ([`merge`]), ground truth from a CSV file
//! ([`labels`]), and per-model metrics over the results ([`metrics`]).

pub mod labels;
pub mod merge;
pub mod metrics;
