#!/usr/bin/env bash
# Sets up the machine, builds mbtscope and runs it. With no arguments it opens the bundled demo
# clip (prints what it holds and the model windows over it, then plays it with sound and live
# A/V statistics) and imports the bundled Scenic-format example checkpoint and runs it; the
# desktop window comes with a later release. With arguments it passes them to `mbtscope`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/mbtscope"
if (($#)); then
  exec "$bin" "$@"
fi
clip=assets/demo/test_00000.mp4
"$bin" probe "$clip" --windows 2
"$bin" play "$clip" --seconds 8.5
demo=tests/fixtures/mbt/temporal_sampling_bottleneck_token_repr
out="${TMPDIR:-/tmp}/mbtscope-demo"
rm -rf "$out"
"$bin" import-scenic "$demo/checkpoint.msgpack" --config "$demo/config.json" --out "$out/model"
"$bin" infer --model "$out/model" --inputs "$demo/io.npz" --out "$out/out.npz"
"$bin" flops --config assets/configs/mbt_b_bottleneck_audioset.json | tail -n 1
