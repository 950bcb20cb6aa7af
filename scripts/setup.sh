#!/usr/bin/env bash
# Installs what mbtscope needs on Debian 12 when it is missing: FFmpeg development libraries and
# CLI, clang (bindgen for ffmpeg-sys), pkg-config, ALSA (with the PulseAudio plugin), Mesa's Vulkan
# drivers (lavapipe when there is no GPU), Xvfb for headless windows. Cargo must be present.
set -euo pipefail

packages=(
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev
  libasound2-dev libasound2-plugins pulseaudio ffmpeg
  mesa-vulkan-drivers libvulkan1
  xvfb xauth libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust 1.95 or newer (https://rustup.rs)" >&2
  exit 1
fi
