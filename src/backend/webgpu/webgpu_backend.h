// The WebGPU backend (WebAssembly build only). A `Backend` whose tensors live in GPU buffers owned by
// the JS bridge (bridge.js): a Tensor holds the buffer's integer id, every op forwards to the op
// launcher of the same name in ops.js through the functions of library_moebius_gpu.js (linked with
// `--js-library`), and no op waits for the GPU. Before the backend is made, the JS driver must set
//   Module.moebiusGpu = {g: await GpuBridge.create(gpu, {preferF16}), ops}
// (web/js/moebius.js does). Readbacks are asynchronous in JS, so `download` throws: the driver reads
// the buffer of the tensor it wants (webgpu_buffer_id) with `await g.readF32(id)` after the wasm call
// that produced it returned.
#pragma once
#ifdef __EMSCRIPTEN__
#include <cstdint>
#include <memory>

#include "backend/backend.h"

namespace moebius {

// f16: store tensors as float16 (the bridge must have been created with shader-f16 and preferF16);
// otherwise float32. Throws Error{Internal} when Module.moebiusGpu is missing or its dtype differs.
std::unique_ptr<Backend> make_webgpu_backend(bool f16);

// Frees the GPU buffers the backend keeps for reuse (its tensors' buffers are recycled by size, so
// that every denoising step reuses the previous step's buffers and bind groups). No-op for other backends.
void webgpu_release_cached(Backend& be);

// The bridge buffer id behind a WebGPU tensor; 0 for an empty tensor or one of another backend.
uint32_t webgpu_buffer_id(const Tensor& t);

}  // namespace moebius
#endif
