/* moebius.h — C API of the moebius.cpp engine (Moebius image inpainting).
 *
 * The only header an embedder needs. The CLI and the WebAssembly build are clients of it.
 * All functions are thread-compatible: one model may be used by one thread at a time.
 * Errors: every call returns a moebius_status; moebius_last_error() gives the message of the
 * most recent failure on the calling thread (file, tensor, expected vs got ...).
 */
#ifndef MOEBIUS_H
#define MOEBIUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum moebius_status {
    MOEBIUS_OK = 0,
    MOEBIUS_ERR_INVALID = 1,   /* bad argument or option */
    MOEBIUS_ERR_IO = 2,        /* file cannot be read or written */
    MOEBIUS_ERR_MODEL = 3,     /* weights/config missing, corrupt, or not matching the model */
    MOEBIUS_ERR_IMAGE = 4,     /* image cannot be decoded, too large, or image/mask mismatch */
    MOEBIUS_ERR_CANCELLED = 5, /* the progress callback asked to stop */
    MOEBIUS_ERR_OOM = 6,       /* out of memory */
    MOEBIUS_ERR_INTERNAL = 7
} moebius_status;

typedef struct moebius_model moebius_model;

/* 8-bit interleaved pixels, row-major. channels: 1 (gray), 3 (RGB) or 4 (RGBA). */
typedef struct moebius_image {
    int32_t width, height, channels;
    uint8_t* pixels;
} moebius_image;

typedef enum moebius_mode {
    MOEBIUS_MODE_AUTO = 0,  /* crop-around-mask for images larger than the model size, else whole */
    MOEBIUS_MODE_WHOLE = 1, /* upstream behaviour: resize the whole image to 512x512 and back */
    MOEBIUS_MODE_CROP = 2   /* square context windows around each mask region, full resolution */
} moebius_mode;

typedef enum moebius_stage {
    MOEBIUS_STAGE_ENCODE = 0,
    MOEBIUS_STAGE_STEP = 1,
    MOEBIUS_STAGE_DECODE = 2,
    MOEBIUS_STAGE_DONE = 3
} moebius_stage;

typedef struct moebius_progress {
    moebius_stage stage;
    int32_t step, steps;    /* denoising step (1-based) of this crop, and the number of steps */
    int32_t crop, crops;    /* which crop window (1-based) and how many */
    double elapsed_s;       /* since moebius_inpaint was called */
} moebius_progress;

/* Return non-zero to cancel; moebius_inpaint then returns MOEBIUS_ERR_CANCELLED. */
typedef int (*moebius_progress_fn)(const moebius_progress* p, void* user);

typedef struct moebius_options {
    int32_t steps;          /* DDIM steps before strength (upstream: 20) */
    float strength;         /* 0.99 upstream: start at timestep 900 from the noised image latent */
    float guidance;         /* classifier-free guidance scale (upstream CLI default 2.5) */
    uint64_t seed;          /* drives the engine's own RNG for the initial noise */
    float noise_offset;     /* 0.0357 upstream */
    int32_t paste;          /* blend the result into the input with the blurred mask (default 1) */
    int32_t compensate;     /* upstream colour compensation (factor 1.1), implies paste */
    moebius_mode mode;
    int32_t sample_latents; /* 0: VAE latent mean (default); 1: sample like upstream (seeded) */
    const float* noise;     /* optional (1,4,64,64) initial noise, offset already applied; NULL = from seed */
    moebius_progress_fn progress;
    void* progress_user;
} moebius_options;

/* Fills upstream's defaults. */
void moebius_options_default(moebius_options* o);

/* Loads a model. `model_path`: the project's single-file model (see `moebius convert`), or an upstream
 * RemovalModel diffusion_pytorch_model.bin/.safetensors, in which case `vae_dir` names the diffusers VAE
 * folder (config.json + diffusion_pytorch_model.safetensors/.bin). `config_json`: optional path of a
 * model_config.json ({"unet":..., "vae":...}) for upstream files; NULL = the real Moebius configuration.
 * threads: 0 = all cores. */
moebius_status moebius_load(const char* model_path, const char* vae_dir, const char* config_json, int threads,
                            moebius_model** out);
void moebius_free(moebius_model* m);

/* One-line model summary (static storage owned by the model; valid until moebius_free). */
const char* moebius_describe(const moebius_model* m);

/* Inpaints `image` where `mask` is white (>= 128). mask: 1-channel, or NULL to use image's alpha channel
 * (alpha 0 = inpaint here). The result has the input's size; caller frees it with moebius_image_free. */
moebius_status moebius_inpaint(moebius_model* m, const moebius_image* image, const moebius_image* mask,
                               const moebius_options* opts, moebius_image* out);
void moebius_image_free(moebius_image* img);

/* Image file helpers (PNG, JPEG, WebP through libpng/libjpeg/libwebp). save writes atomically. */
moebius_status moebius_image_load(const char* path, moebius_image* out);
moebius_status moebius_image_save(const char* path, const moebius_image* img, int quality);

/* Model files. convert: upstream files (as for moebius_load) -> the project's single-file model
 * (safetensors, config in __metadata__), float16 unless float32 != 0. synth: a model with the synthetic
 * weights of the reference fixtures' rule; config "tiny", "full" or a model_config.json path. */
moebius_status moebius_convert(const char* model_path, const char* vae_dir, const char* config_json,
                               const char* out_path, int float32);
moebius_status moebius_synth(const char* config, uint64_t unet_seed, uint64_t vae_seed, const char* out_path,
                             int float32);
/* Multi-line summary of a model file without building the model (format, dtype, config, parameter counts).
 * The string is malloc'ed: free() it. */
moebius_status moebius_model_info(const char* model_path, const char* vae_dir, const char* config_json,
                                  char** out_text);

/* Reads a float .npy (any float dtype) as float32; *data is malloc'ed (free() it). shape: up to 8 dims. */
moebius_status moebius_npy_load(const char* path, float** data, int64_t shape[8], int32_t* ndim);

const char* moebius_last_error(void);
const char* moebius_status_name(moebius_status s);

#ifdef __cplusplus
}
#endif
#endif /* MOEBIUS_H */
