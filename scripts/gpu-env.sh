# Sourced on a lent GPU machine (the device tool runs it in the repository's copy): unpacks the
# Vulkan loader from .gl/*.deb and the binary with its libraries from .gpu/pack.tar.xz (made
# here by scripts/gpu-pack.sh) into /tmp/mbtscope-gpu, and sets PATH and LD_LIBRARY_PATH.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
mkdir -p /tmp/mbtscope-gpu
xz -dc .gpu/pack.tar.xz | tar -C /tmp/mbtscope-gpu -xf -
export PATH="/tmp/mbtscope-gpu:$PATH"
export LD_LIBRARY_PATH="/tmp/mbtscope-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
