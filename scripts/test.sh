#!/usr/bin/env bash
# Sets up the machine and runs every test (release profile: the model tests are numeric).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
# Playback tests need an audio sink that consumes samples in real time. Without a sound card,
# start PulseAudio with a null sink (ALSA's `pulse` device reaches it).
if ! pactl info >/dev/null 2>&1; then
  pulseaudio -D --exit-idle-time=-1 -n \
    --load="module-null-sink sink_name=mbtscope_null" \
    --load="module-native-protocol-unix" 2>/dev/null || echo "warning: could not start PulseAudio" >&2
fi
# The Slurm test (tests/slurm.rs) submits a job array to a single-node cluster on this machine.
# Starting one needs root; elsewhere the test says it was skipped (and fails under CI).
if [ "$(id -u)" -eq 0 ]; then
  scripts/slurm.sh || echo "warning: could not start a Slurm cluster (see above)" >&2
fi
# The tree stays formatted (rustfmt.toml); checked first, it costs a second.
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --check || { echo "error: the tree is not formatted: run cargo fmt" >&2; exit 1; }
fi
# Lints (Cargo.toml's [lints]) with warnings as errors, before the long test build: a check
# build of the same profile, about 3 minutes on two cores once the dependencies' build scripts
# are built.
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --release --locked --all-targets -- -D warnings || { echo "error: clippy found problems (see above)" >&2; exit 1; }
else
  echo "warning: cargo clippy is not installed; the lints were not checked" >&2
fi
cargo test --release --locked "$@"
