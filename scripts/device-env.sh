# Sourced at the start of a command on the GPU machine (see scripts/device-bundle.sh): unpacks the
# Vulkan loaders and node from the carried .gl and .device/b, links the bundled node_modules, and
# exports what Dawn needs there (Vulkan backend, shader-f16 and subgroup matrices on NVIDIA, no
# robustness pass as in moebius-gpu's defaults, unquantized timestamps) plus MOEBIUS_WASM /
# MOEBIUS_FIXTURES for the bundled engine and fixtures. For what a browser runs (Dawn's bounds clamping
# on), set MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia after sourcing.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
[[ -x /tmp/node ]] || xz -dc .device/b/node.xz > /tmp/node
chmod +x /tmp/node
export PATH=/tmp:$PATH
d=.device/b/node_modules/webgpu/dist/linux-x64
[[ -f $d/dawn.node ]] || xz -dc .device/b/dawn.node.xz > $d/dawn.node
[[ -e node_modules ]] || ln -s .device/b/node_modules node_modules
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export XDG_RUNTIME_DIR=/tmp
export MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,disable_robustness  # as moebius-gpu; browsers keep robustness
export MOEBIUS_DAWN_ARGS="backend=vulkan disable-dawn-features=timestamp_quantization"
export MOEBIUS_WASM=$PWD/.device/b/wasm/moebius.js
export MOEBIUS_FIXTURES=$PWD/.device/b/fixtures
