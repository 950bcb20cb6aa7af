#!/usr/bin/env bash
# Sets up the machine and runs every test (release profile: the model tests are numeric).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
cargo test --release --locked "$@"
