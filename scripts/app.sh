#!/usr/bin/env bash
# Sets up the machine, builds mbtscope and runs it. With no arguments it imports the bundled
# Scenic-format example checkpoint and runs it on its example inputs (the desktop window comes
# with a later release); with arguments it passes them to `mbtscope`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/mbtscope"
if (($#)); then
  exec "$bin" "$@"
fi
demo=tests/fixtures/mbt/temporal_sampling_bottleneck_token_repr
out="${TMPDIR:-/tmp}/mbtscope-demo"
rm -rf "$out"
"$bin" import-scenic "$demo/checkpoint.msgpack" --config "$demo/config.json" --out "$out/model"
"$bin" infer --model "$out/model" --inputs "$demo/io.npz" --out "$out/out.npz"
"$bin" flops --config assets/configs/mbt_b_bottleneck_audioset.json | tail -n 1
