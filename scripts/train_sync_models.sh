#!/usr/bin/env bash
# The `sync` task (audio-visual correspondence only; README, "The `sync` task"): trains the
# bottleneck and vanilla models in the two stages that first made the bottleneck model use the
# sound (README: 97.6% on two objects), and evaluates them on held-out splits of both tasks.
#   stage 1: fresh two-object clips with their twins, the time-alignment loss and the
#            written-in route (`--time-route`), from the shipped `pairs` model;
#   stage 2: the same without writing the route again, at half the learning rate.
# The vanilla model has not been through these stages yet (README says what has been measured).
#
#   scripts/train_sync_models.sh [WORK_DIR]     (default: $HOME/.cache/mbtscope-train)
#
# Training resumes from the last checkpoint when run again. Nothing is copied into assets/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
work="${1:-$HOME/.cache/mbtscope-train}"
cargo build --release --locked --bin mbtscope
bin="$CARGO_TARGET_DIR/release/mbtscope"
mkdir -p "$work"
"$bin" synth --out "$work/sync2" --clips 500 --seed 12 --split test --task sync --twins --objects 2
"$bin" synth --out "$work/sync" --clips 500 --seed 12 --split test --task sync --twins
"$bin" synth --out "$work/pairs" --clips 500 --seed 2 --split test --twins
fresh=(--fresh sync --objects 2 --pair-twins --modality-loss 1 --batch 24 --device cpu --resume)
for name in ${MODELS:-bottleneck vanilla}; do
    config="assets/configs/synth_$name.json"
    "$bin" train "${fresh[@]}" --sync-loss 2 --time-route --init "assets/models/$name" --config "$config" \
        --out "$work/models/sync2_route_$name" --steps 1500 --lr 1e-3 --warmup 50 --seed 11
    "$bin" train "${fresh[@]}" --sync-loss 1 --init "$work/models/sync2_route_$name" --config "$config" \
        --out "$work/models/sync2_$name" --steps 1200 --lr 5e-4 --warmup 20 --seed 12
done
for split in sync2 sync pairs; do
    "$bin" eval --data "$work/$split" --prefix test_ --device cpu --force \
        $(for name in ${MODELS:-bottleneck vanilla}; do echo --model "$work/models/sync2_$name"; done) \
        --json "$work/eval_$split.json" | tee "$work/eval_$split.md"
done
