#!/usr/bin/env bash
# Installs mbtscope as a desktop app for this user (or under --prefix): the binary from the
# `dist` profile (stripped, thin LTO), the shipped models, demo clips, configs and labels, a
# .desktop entry for video files (so that a file manager's "Open with" offers mbtscope) and its
# icon. Every file is written under a temporary name and renamed into place.
#
#   scripts/install.sh [--prefix DIR] [--binary PATH]    (default prefix: ~/.local; --binary
#                                                         installs that build instead of making one)
#   scripts/install.sh --uninstall [--prefix DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.local"
binary=""
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
  --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
  --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
  --uninstall) uninstall=1; shift ;;
  *) echo "usage: scripts/install.sh [--prefix DIR] [--binary PATH] [--uninstall]" >&2; exit 2 ;;
  esac
done
bin="$prefix/bin/mbtscope"
share="$prefix/share/mbtscope"
desktop="$prefix/share/applications/mbtscope.desktop"
icon="$prefix/share/icons/hicolor/scalable/apps/mbtscope.svg"
refresh() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$prefix/share/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" || true
}
if [ "$uninstall" = 1 ]; then
  rm -rf "$bin" "$share" "$desktop" "$icon"
  refresh
  echo "removed mbtscope from $prefix"
  exit 0
fi
if [ -z "$binary" ]; then
  scripts/setup.sh
  source scripts/env.sh
  cargo build --profile dist --locked --bin mbtscope
  binary="$CARGO_TARGET_DIR/dist/mbtscope"
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable" >&2; exit 1; }
# put SRC DEST: copies SRC to DEST through a temporary name in DEST's folder.
put() {
  mkdir -p "$(dirname "$2")"
  local tmp
  tmp=$(mktemp "$2.XXXXXX.part")
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}
put "$binary" "$bin" 755
# The assets as one folder, swapped in whole.
staged=$(mktemp -d "$prefix/share/.mbtscope.XXXXXX" 2>/dev/null || { mkdir -p "$prefix/share"; mktemp -d "$prefix/share/.mbtscope.XXXXXX"; })
mkdir -p "$staged/assets"
cp -r assets/models assets/demo assets/configs assets/labels "$staged/assets/"
chmod -R a+rX "$staged"
rm -rf "$share.old" && { [ ! -e "$share" ] || mv "$share" "$share.old"; } && mv "$staged" "$share" && rm -rf "$share.old"
entry=$(mktemp)
sed "s|^Exec=mbtscope %f|Exec=$bin %f|; s|^TryExec=mbtscope|TryExec=$bin|" assets/desktop/mbtscope.desktop > "$entry"
put "$entry" "$desktop" 644
rm -f "$entry"
put assets/desktop/mbtscope.svg "$icon" 644
refresh
echo "installed $bin ($(du -h "$bin" | cut -f1)), its assets in $share, and $desktop"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on PATH" ;; esac
