#!/usr/bin/env bash
# A Slurm job array that analyses a clip list in N shards, one task per shard:
#
#   sbatch --array=0-3 deploy/slurm-analyze.sh CLIPS.txt MODEL_DIR [MODEL_DIR2] OUT_DIR
#   mbtscope merge OUT_DIR/shard-*.parquet --out OUT_DIR/results.parquet [--labels labels.csv]
#
# Each task takes its shard from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (`--shard
# from-env`) and writes OUT_DIR/shard-K.parquet. A task that is requeued or run again resumes:
# the clips already in its file are skipped. Set MBTSCOPE to the binary if it is not on PATH,
# MBTSCOPE_DEVICE to auto (default), gpu or cpu, and MBTSCOPE_ARGS to more `analyze` options
# (for example "--top-k 10 --no-maps").
#SBATCH --job-name=mbtscope-analyze
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --output=mbtscope-analyze-%A_%a.log
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: sbatch --array=0-(N-1) $0 CLIPS.txt MODEL_DIR [MODEL_DIR2 ...] OUT_DIR" >&2
    exit 2
fi
list="$1"
shift
out="${*: -1}"
models=("${@:1:$#-1}")
mkdir -p "$out"
args=()
for m in "${models[@]}"; do
    args+=(--model "$m")
done
read -r -a extra <<<"${MBTSCOPE_ARGS:-}"
exec "${MBTSCOPE:-mbtscope}" analyze "$list" "${args[@]}" "${extra[@]}" --device "${MBTSCOPE_DEVICE:-auto}" \
    --shard from-env --out "$out/shard-${SLURM_ARRAY_TASK_ID:?not a Slurm array task}.parquet"
