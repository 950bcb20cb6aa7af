#!/usr/bin/env bash
# Packs what a run on a lent GPU machine needs into .gpu/ (git-ignored; the device tool carries
# it): the binary from the `dist` profile (stripped, thin LTO; built here if it is missing or
# older than the sources), and the shared libraries it links that a stock machine
# lacks (FFmpeg's and their dependencies; glibc and the C++ runtime are taken from the machine),
# xz-compressed. Unpacked there by scripts/gpu-env.sh. Vulkan's loader travels separately as
# Debian packages in .gl/ (see scripts/gpu-env.sh).
#
#   scripts/gpu-pack.sh [BINARY...]     (names of this crate's binaries, or paths to binaries
#                                        built elsewhere; default: mbtscope-train, which needs
#                                        nothing but glibc)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bins=("${@:-mbtscope-train}")
rm -rf .gpu && mkdir -p .gpu/pack/lib
for bin in "${bins[@]}"; do
  src="$bin"
  if [[ "$bin" != */* ]]; then
    cargo build --profile dist --bin "$bin"
    src="$CARGO_TARGET_DIR/dist/$bin"
  fi
  [ -x "$src" ] || { echo "error: $src is not built" >&2; exit 1; }
  name=$(basename "$src")
  strip -o ".gpu/pack/${name%-[0-9a-f]*[0-9a-f]}" "$src"
  # Every library the loader resolves, less the ones every Linux machine has.
  { ldd "$src" | awk '/=> \//{print $3}' |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|ld-linux-x86-64|libresolv|libutil)\.so' || true; } |
    while read -r lib; do cp -Lu "$lib" .gpu/pack/lib/; done
done
tar -C .gpu/pack -cf - . | xz -T0 -6 > .gpu/pack.tar.xz
rm -rf .gpu/pack
du -h .gpu/pack.tar.xz
