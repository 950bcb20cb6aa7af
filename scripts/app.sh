#!/usr/bin/env bash
# Sets up the machine, builds mbtscope and opens the app on the bundled demo clip with the
# shipped models. With arguments it passes them to `mbtscope` (for example a clip to open, or
# a command such as `eval`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
cargo build --release --locked
bin="$CARGO_TARGET_DIR/release/mbtscope"
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "no display: running the app under Xvfb and saving a screenshot to ${TMPDIR:-/tmp}/mbtscope.png" >&2
  exec xvfb-run -a -s "-screen 0 1600x1000x24" "$bin" "$@" --screenshot "${TMPDIR:-/tmp}/mbtscope.png"
fi
exec "$bin" "$@"
