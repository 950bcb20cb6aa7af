# Sourced by the other scripts: keeps Cargo's target directory outside the clone so that repeat
# runs build incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/tmp}/.cache/mbtscope-target}"
