#!/usr/bin/env bash
# The `sync` task (audio-visual correspondence only; see README, "Benchmark generator"):
# generates its training, validation and test splits (the latter two with counterfactual twins)
# and the `pairs` test split with twins, trains the bottleneck and vanilla models on `sync`
# starting from the shipped `pairs` models (a curriculum), and evaluates them on both tasks.
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
"$bin" synth --out "$work/sync" --clips 3000 --seed 11 --split train --task sync
"$bin" synth --out "$work/sync" --clips 500 --seed 12 --split test --task sync --twins
"$bin" synth --out "$work/sync" --clips 200 --seed 13 --split val --task sync --twins
"$bin" synth --out "$work/pairs" --clips 500 --seed 2 --split test --twins
# Stage 1 (README's third row): 1500 steps on the 3000 clips, from the shipped `pairs` model.
# Stage 2 (fourth row): the same clips with their twins (6000), 2000 steps from stage 1.
for name in ${MODELS:-bottleneck vanilla}; do
    "$bin" train --data "$work/sync" --init "assets/models/$name" --config "assets/configs/synth_$name.json" \
        --out "$work/models/sync_$name" --steps 1500 --batch 24 --lr 1e-3 --warmup 100 --seed 0 \
        --device cpu --resume
done
"$bin" synth --out "$work/sync" --clips 3000 --seed 11 --split train --task sync --twins
for name in ${MODELS:-bottleneck vanilla}; do
    "$bin" train --data "$work/sync" --init "$work/models/sync_$name" --config "assets/configs/synth_$name.json" \
        --out "$work/models/sync_twins_$name" --steps 2000 --batch 24 --lr 1e-3 --warmup 50 --seed 2 \
        --device cpu --resume
done
for task in sync pairs; do
    "$bin" eval --data "$work/$task" --prefix test_ --device cpu --force --no-relevance \
        $(for name in ${MODELS:-bottleneck vanilla}; do echo --model "$work/models/sync_twins_$name"; done) \
        --json "$work/eval_$task.json" | tee "$work/eval_$task.md"
done
