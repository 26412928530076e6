// The WebAssembly API: the C functions the JavaScript side calls (web/js, tests/wasm). Built into
// build/wasm/moebius.{js,wasm} (CMake target moebius_wasm) and the pthreads variant moebius-mt; it
// compiles natively too (plain C ABI). The WebGPU exports (mw_backend_webgpu, mw_tensor_gpu_buffer)
// live in backend/webgpu/webgpu_backend.cpp.
//
// GPU readbacks must be awaited in JS and the build has no ASYNCIFY, so one inpaint is driven stage
// by stage from JS, through InpaintJob (pipeline/inpaint.h):
//
//   be  = mw_backend_cpu(0)                      (or mw_backend_webgpu(f16), webgpu_backend.cpp)
//   m   = mw_model_load(be, bytes, n)            our model file; takes ownership of `bytes`
//       | mw_model_load_upstream(be, unet, n, vae_config_json, vae, n2, model_config_json_or_null)
//   o   = mw_options_new(); mw_options_set(o, "steps", 20); ...; mw_options_set_noise(o, noise, count)
//   job = mw_job_new(m, pixels, w, h, channels, mask_or_null, mask_channels, o)
//   for k < mw_job_crops(job):
//       steps = mw_job_begin_crop(job, k)
//       for i < steps: mw_job_step(job, i)       (JS may await the GPU, report progress, cancel here)
//           p = mw_job_preview(job)               with option "preview": this step's predicted clean
//                                                 latents (1,C,S/8,S/8); mw_tensor_free(p) after reading
//       t = mw_job_decode(job)                    (1,3,S,S) tensor handle
//       mw_job_finish_crop(job, mw_tensor_data(t), mw_tensor_numel(t))   CPU: floats in wasm memory
//                                                 (WebGPU: JS reads mw_tensor_gpu_buffer(t) first)
//       mw_tensor_free(t)
//   img = mw_job_result(job); mw_image_data/width/height/channels(img); mw_image_free(img)
//   mw_job_free(job); mw_options_free(o); mw_model_free(m); mw_backend_free(be)
//
// Conventions:
//  - Pointers are offsets into the wasm heap; JS allocates inputs with malloc (exported as _malloc)
//    and copies bytes in through HEAPU8 (re-read HEAPU8 after any call: memory may grow).
//  - Functions returning a handle return 0 (NULL) on failure; functions returning int return a
//    moebius_status (0 = MOEBIUS_OK, include/moebius.h) unless documented as a count, which is -1
//    on failure. After a failure, mw_last_status() is the status and mw_last_error() the message
//    (file, tensor, expected vs got ...); both are cleared by the next successful call.
//  - Handles can be freed in any order: a job keeps its model alive, a model its backend.
//  - Memory ceiling (4 GB): model loaders take ownership of the malloc'ed input bytes and free
//    each buffer as soon as it is parsed (also on failure), so at most the parsed weights and one
//    input file coexist; the parsed weights are freed once the backend holds its copy.
//
// Exports:
//   int         mw_last_status(void)
//   const char* mw_last_error(void)
//   const char* mw_status_name(int status)
//   mw_backend* mw_backend_cpu(int threads)                  threads: 0 = default (1 in this build)
//   void        mw_backend_free(mw_backend*)
//   const char* mw_backend_name(mw_backend*)
//   mw_model*   mw_model_load(mw_backend*, uint8_t* bytes, size_t n)
//   mw_model*   mw_model_load_upstream(mw_backend*, uint8_t* unet, size_t n, const char* vae_config_json,
//                                      uint8_t* vae, size_t n2, const char* model_config_json_or_null)
//   mw_blob*    mw_convert_to_model_file(uint8_t* unet, size_t n, const char* vae_config_json, uint8_t* vae,
//                                        size_t n2, const char* model_config_json_or_null, int float32)
//   uint8_t*    mw_blob_data(mw_blob*);  double mw_blob_size(mw_blob*);  void mw_blob_free(mw_blob*)
//   void        mw_model_free(mw_model*)
//   const char* mw_model_describe(mw_model*)
//   int         mw_model_native_size(mw_model*)           S: the model works on S×S pixels (512)
//   int         mw_model_noise_count(mw_model*)           values of the (1,C,S/8,S/8) initial noise
//   mw_options* mw_options_new(void)                      upstream's defaults (moebius_options_default)
//   int         mw_options_set(mw_options*, const char* name, double value)
//                 names: steps, strength, guidance, seed (integer < 2^53), noise_offset, paste,
//                 compensate, mode (0 auto, 1 whole, 2 crop), sample_latents, preview (keep each
//                 step's predicted clean latents for mw_job_preview)
//   int         mw_options_set_noise(mw_options*, const float* noise, size_t count)   count 0 = none
//   void        mw_options_free(mw_options*)
//   mw_job*     mw_job_new(mw_model*, const uint8_t* pixels, int width, int height, int channels,
//                          const uint8_t* mask_or_null, int mask_channels, const mw_options* or null)
//                 8-bit interleaved rows, channels 1..4 (browser canvases: RGBA). No mask: the image's
//                 alpha is the mask (alpha < 128 = inpaint). A mask is white (>= 128 after the L
//                 conversion) where to inpaint. Pixels are copied.
//   int         mw_job_crops(mw_job*)                     count; 0 = empty mask (result = input)
//   int         mw_job_begin_crop(mw_job*, int k)         count: denoising steps of crop k
//   int         mw_job_step(mw_job*, int i)
//   mw_tensor*  mw_job_preview(mw_job*)                   DDIM's pred_original_sample of the last step
//                                                         (1,C,S/8,S/8); needs option preview and a step
//   int         mw_job_window(mw_job*, int k, int32_t* xywh)   crop k's window in the image: x, y, w, h
//   mw_tensor*  mw_job_decode(mw_job*)
//   int         mw_job_finish_crop(mw_job*, const float* decoded, size_t count)
//   mw_image*   mw_job_result(mw_job*)
//   void        mw_job_free(mw_job*)
//   float*      mw_tensor_data(mw_tensor*)                CPU tensors; NULL for device tensors
//   int         mw_tensor_ndim(mw_tensor*);  int mw_tensor_dim(mw_tensor*, int i);  double mw_tensor_numel(mw_tensor*)
//   void        mw_tensor_free(mw_tensor*)
//   uint8_t*    mw_image_data(mw_image*);  int mw_image_width/height/channels(mw_image*);  void mw_image_free(mw_image*)
//   int         mw_gemm_threads(void)                     threads the CPU backend's GEMMs use (pthreads build: >1)
// Sizes that may pass 2^31 (byte counts) come back as double, exact below 2^53.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "io/image.h"
#include "pipeline/inpaint.h"

// The handles. C++ definitions shared by the files that export mw_* functions (wasm_api.cpp, and
// webgpu_backend.cpp for mw_backend_webgpu / mw_tensor_gpu_buffer); JS sees only pointers.
struct MwModelState {
    std::shared_ptr<moebius::Backend> backend;
    std::unique_ptr<moebius::Inpainter> inpainter;  // holds a reference to *backend
    std::string description;
};
struct mw_backend {
    std::shared_ptr<moebius::Backend> backend;
};
struct mw_model {
    std::shared_ptr<MwModelState> state;
};
struct mw_options {
    moebius::InpaintOptions o;
};
struct mw_job {
    std::shared_ptr<MwModelState> model;  // keeps the model alive while the job exists
    std::unique_ptr<moebius::InpaintJob> job;
};
struct mw_tensor {
    moebius::Tensor t;
};
struct mw_image {
    moebius::Image img;
};
struct mw_blob {
    std::vector<uint8_t> bytes;
};

extern "C" {
int mw_last_status(void);
const char* mw_last_error(void);
const char* mw_status_name(int status);

mw_backend* mw_backend_cpu(int threads);
void mw_backend_free(mw_backend* b);
const char* mw_backend_name(mw_backend* b);

mw_model* mw_model_load(mw_backend* be, uint8_t* bytes, size_t n);
mw_model* mw_model_synth(mw_backend* be, const char* config, double unet_seed, double vae_seed);
mw_model* mw_model_load_upstream(mw_backend* be, uint8_t* unet, size_t n, const char* vae_config_json, uint8_t* vae,
                                 size_t n2, const char* model_config_json);
mw_blob* mw_convert_to_model_file(uint8_t* unet, size_t n, const char* vae_config_json, uint8_t* vae, size_t n2,
                                  const char* model_config_json, int float32);
uint8_t* mw_blob_data(mw_blob* b);
double mw_blob_size(mw_blob* b);
void mw_blob_free(mw_blob* b);
void mw_model_free(mw_model* m);
const char* mw_model_describe(mw_model* m);
int mw_model_native_size(mw_model* m);
int mw_model_noise_count(mw_model* m);

mw_options* mw_options_new(void);
int mw_options_set(mw_options* o, const char* name, double value);
int mw_options_set_noise(mw_options* o, const float* noise, size_t count);
void mw_options_free(mw_options* o);

mw_job* mw_job_new(mw_model* m, const uint8_t* pixels, int width, int height, int channels, const uint8_t* mask,
                   int mask_channels, const mw_options* o);
int mw_job_crops(mw_job* j);
int mw_job_begin_crop(mw_job* j, int k);
int mw_job_step(mw_job* j, int i);
mw_tensor* mw_job_preview(mw_job* j);
int mw_job_window(mw_job* j, int k, int32_t* xywh);
mw_tensor* mw_job_decode(mw_job* j);
int mw_job_finish_crop(mw_job* j, const float* decoded, size_t count);
mw_image* mw_job_result(mw_job* j);
void mw_job_free(mw_job* j);

float* mw_tensor_data(mw_tensor* t);
int mw_tensor_ndim(mw_tensor* t);
int mw_tensor_dim(mw_tensor* t, int i);
double mw_tensor_numel(mw_tensor* t);
void mw_tensor_free(mw_tensor* t);

uint8_t* mw_image_data(mw_image* i);
int mw_image_width(mw_image* i);
int mw_image_height(mw_image* i);
int mw_image_channels(mw_image* i);
void mw_image_free(mw_image* i);

int mw_gemm_threads(void);
}
