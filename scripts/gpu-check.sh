#!/usr/bin/env bash
# The GPU check (issue "Speed"), for a lent machine with a real GPU and no FFmpeg, display or
# Rust toolchain. Two halves:
#
#   here:   scripts/gpu-check.sh pack    builds the `model` test binary (the reference tests, on
#                                        Flex and burn-wgpu) and the `forward` benchmark, both
#                                        free of FFmpeg, and packs them stripped and xz-compressed
#                                        into .gpu/ (about 40 MB; the device tool carries 64 MiB)
#   there:  scripts/gpu-check.sh run     (from the repository's copy, with .gl and .gpu carried)
#                                        runs the reference tests on the real adapter, then times
#                                        MBT-B's forward pass, rollout and relevance and the shipped
#                                        models on it, sampling the GPU's memory with nvidia-smi;
#                                        writes gpu-tests.txt, forward.md, gpu-memory.csv to $OUT
#
# With the device tool: run(command="scripts/gpu-check.sh run", carry=[".gl", ".gpu"],
# timeout_s=600). .gl holds Vulkan's loader as Debian packages (see scripts/gpu-env.sh).
# The binaries find their fixtures and configs under the path they were built in
# (CARGO_MANIFEST_DIR), so `run` links that path to the repository's copy.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
pack)
  source scripts/env.sh
  cargo test --release --locked --test model --no-run
  cargo bench --locked --bench forward --no-run
  newest() { ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
  scripts/gpu-pack.sh "$(newest model)" "$(newest forward)"
  # Where the binaries look for the repository and their scratch folder.
  printf '%s\n%s\n' "$PWD" "$CARGO_TARGET_DIR/tmp" > .gpu/paths.txt
  ;;
run)
  source scripts/gpu-env.sh >/dev/null
  { read -r built; read -r tmp; } < .gpu/paths.txt
  if [ "$built" != "$PWD" ]; then mkdir -p "$(dirname "$built")" && ln -sfn "$PWD" "$built"; fi
  mkdir -p "$tmp"
  out="${OUT:-/tmp/gpu-check}"
  mkdir -p "$out"
  nvidia-smi -L | tee "$out/gpu-tests.txt"
  # The reference tests on the real adapter (burn-wgpu's default device), Flex alongside.
  timeout 240 model --test-threads 1 2>&1 | tee -a "$out/gpu-tests.txt" | tail -5 || true
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv -lms 100 > "$out/gpu-memory.csv" &
  sampler=$!
  timeout 300 forward --configs mbt-b-bottleneck,mbt-b-vanilla,shipped-bottleneck --devices gpu \
    --modes forward,rollout,relevance --runs 5 2>&1 | tee "$out/forward.md" || true
  kill "$sampler" 2>/dev/null || true
  ;;
*)
  echo "usage: scripts/gpu-check.sh pack|run" >&2
  exit 2
  ;;
esac
