// The WebAssembly API (see wasm_api.h for the calling sequence, conventions and the list of exports).
#include "api/wasm_api.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "api/status.h"
#include "backend/cpu/gemm_portable.h"
#include "core/error.h"
#include "io/model_file.h"
#include "io/weights.h"
#include "model/unet.h"
#include "model/vae.h"
#include "moebius.h"
#include "pipeline/inpaint.h"

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define MW_EXPORT extern "C" EMSCRIPTEN_KEEPALIVE
#else
#define MW_EXPORT extern "C"
#endif

using namespace moebius;

namespace {

// The last failure (the module runs on one thread; thread_local keeps a pthreads build correct too).
thread_local std::string g_error;
thread_local int g_status = MOEBIUS_OK;


// Runs f, recording a failure; returns the status.
template <class F>
int guarded(F&& f) {
    try {
        f();
        g_error.clear();
        g_status = MOEBIUS_OK;
    } catch (const Error& e) {
        g_error = e.what();
        g_status = status_of(e.kind);
    } catch (const std::bad_alloc&) {
        g_error = "out of memory (the WebAssembly heap is limited to 4 GB)";
        g_status = MOEBIUS_ERR_OOM;
    } catch (const std::exception& e) {
        g_error = std::string("internal error: ") + e.what();
        g_status = MOEBIUS_ERR_INTERNAL;
    }
    return g_status;
}

// A handle-returning call: the handle, or null after a failure.
template <class T, class F>
T* make_handle(F&& f) {
    T* out = nullptr;
    guarded([&] { out = f().release(); });
    return out;
}

// A count-returning call: the count, or -1 after a failure.
template <class F>
int count_of(F&& f) {
    int n = -1;
    return guarded([&] { n = f(); }) == MOEBIUS_OK ? n : -1;
}

void require(const void* p, const char* what) {
    MOEBIUS_CHECK(p, ErrorKind::Invalid, std::string(what) + " is null");
}

// Owns a malloc'ed input buffer handed over by JS; release() frees it early.
struct Owned {
    uint8_t* p;
    explicit Owned(uint8_t* p) : p(p) {}
    ~Owned() { release(); }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    void release() {
        std::free(p);
        p = nullptr;
    }
};

std::string str(const char* s) { return s ? s : ""; }

// Parses upstream files (UNet state dict, diffusers VAE config + weights, optional model config),
// freeing each input buffer once parsed. Checks both state dicts against the configuration.
ModelWeights upstream_weights(Owned& unet, size_t n, const char* vae_config_json, Owned& vae, size_t n2,
                              const char* model_config_json) {
    MOEBIUS_CHECK(unet.p && n > 0, ErrorKind::Invalid, "UNet weights: no bytes");
    ModelWeights w;
    const std::string config_name = model_config_json ? "model_config.json" : "built-in \"full\" config";
    w.config = upstream_model_config(str(model_config_json), "model_config.json");
    w.unet = parse_state_dict(unet.p, n, "UNet weights");
    unet.release();
    check_state_dict(w.unet, unet_param_table(w.config.unet), "UNet weights (UNet config: " + config_name + ")");
    MOEBIUS_CHECK(vae_config_json && vae.p && n2 > 0, ErrorKind::Invalid,
                  "upstream weights need the VAE's config.json and weights (diffusers AutoencoderKL)");
    w.config.vae = parse_vae_config(vae_config_json, "VAE config.json");
    w.vae = parse_state_dict(vae.p, n2, "VAE weights");
    vae.release();
    check_state_dict(w.vae, vae_param_table(w.config.vae), "VAE weights (VAE config: config.json)");
    return w;
}

std::unique_ptr<mw_model> make_model(mw_backend* be, ModelWeights w) {
    require(be, "backend");
    auto s = std::make_shared<MwModelState>();
    s->backend = be->backend;
    s->inpainter = std::make_unique<Inpainter>(w, *s->backend);
    const ModelConfig c = w.config;
    w = ModelWeights();  // the backend holds its own copy now
    s->description = "Moebius UNet widths";
    for (int ch : c.unet.block_out_channels) s->description += " " + std::to_string(ch);
    s->description += ", VAE widths";
    for (int ch : c.vae.block_out_channels) s->description += " " + std::to_string(ch);
    s->description += ", " + std::to_string(s->inpainter->native_size()) + "px, backend " + s->backend->name();
    auto m = std::make_unique<mw_model>();
    m->state = std::move(s);
    return m;
}

Image image_from(const uint8_t* pixels, int w, int h, int c, const char* what) {
    MOEBIUS_CHECK(pixels && w > 0 && h > 0 && c >= 1 && c <= 4, ErrorKind::Invalid,
                  std::string(what) + ": invalid image (" + std::to_string(w) + "x" + std::to_string(h) + "x" +
                      std::to_string(c) + (pixels ? ")" : ", no pixels)"));
    Image img(w, h, c);
    std::memcpy(img.pixels.data(), pixels, img.pixels.size());
    return img;
}

}  // namespace

// ---- errors ----

MW_EXPORT int mw_last_status(void) { return g_status; }
MW_EXPORT const char* mw_last_error(void) { return g_error.c_str(); }
MW_EXPORT const char* mw_status_name(int s) { return moebius_status_name((moebius_status)s); }

// ---- backends ----

MW_EXPORT mw_backend* mw_backend_cpu(int threads) {
    return make_handle<mw_backend>([&] {
        auto b = std::make_unique<mw_backend>();
        b->backend = make_cpu_backend(threads);
        return b;
    });
}
MW_EXPORT void mw_backend_free(mw_backend* b) { delete b; }
MW_EXPORT const char* mw_backend_name(mw_backend* b) {
    static thread_local std::string name;
    name = b ? b->backend->name() : "";
    return name.c_str();
}

// ---- models ----

MW_EXPORT mw_model* mw_model_load(mw_backend* be, uint8_t* bytes, size_t n) {
    Owned in(bytes);
    return make_handle<mw_model>([&] {
        require(be, "backend");
        MOEBIUS_CHECK(bytes && n > 0, ErrorKind::Invalid, "model file: no bytes");
        ModelWeights w = parse_model_file(bytes, n, "model file");
        in.release();
        return make_model(be, std::move(w));
    });
}

MW_EXPORT mw_model* mw_model_load_upstream(mw_backend* be, uint8_t* unet, size_t n, const char* vae_config_json,
                                           uint8_t* vae, size_t n2, const char* model_config_json) {
    Owned u(unet), v(vae);
    return make_handle<mw_model>([&] {
        require(be, "backend");
        return make_model(be, upstream_weights(u, n, vae_config_json, v, n2, model_config_json));
    });
}

// A model with the reference fixtures' synthetic weights (shared/fixtures/README.md rule), made in
// memory: config "tiny" or "full", or a model_config.json text. For tests and benchmarks on machines
// where only the rule, not the 1.2 GB of weights, can travel.
MW_EXPORT mw_model* mw_model_synth(mw_backend* be, const char* config, double unet_seed, double vae_seed) {
    return make_handle<mw_model>([&] {
        require(be, "backend");
        MOEBIUS_CHECK(config, ErrorKind::Invalid, "synth: config is required");
        const std::string c = config;
        ModelWeights w;
        w.config = (c == "tiny" || c == "full") ? builtin_config(c) : parse_model_config(c, "synth config");
        w.unet = synth_state_dict(unet_param_table(w.config.unet), (uint64_t)unet_seed);
        w.vae = synth_state_dict(vae_param_table(w.config.vae), (uint64_t)vae_seed);
        return make_model(be, std::move(w));
    });
}

MW_EXPORT mw_blob* mw_convert_to_model_file(uint8_t* unet, size_t n, const char* vae_config_json, uint8_t* vae,
                                            size_t n2, const char* model_config_json, int float32) {
    Owned u(unet), v(vae);
    return make_handle<mw_blob>([&] {
        auto b = std::make_unique<mw_blob>();
        b->bytes = serialize_model_file(upstream_weights(u, n, vae_config_json, v, n2, model_config_json),
                                        float32 ? DType::F32 : DType::F16);
        return b;
    });
}

MW_EXPORT uint8_t* mw_blob_data(mw_blob* b) { return b ? b->bytes.data() : nullptr; }
MW_EXPORT double mw_blob_size(mw_blob* b) { return b ? (double)b->bytes.size() : 0; }
MW_EXPORT void mw_blob_free(mw_blob* b) { delete b; }

MW_EXPORT void mw_model_free(mw_model* m) { delete m; }
MW_EXPORT const char* mw_model_describe(mw_model* m) { return m ? m->state->description.c_str() : ""; }
MW_EXPORT int mw_model_native_size(mw_model* m) {
    return count_of([&] {
        require(m, "model");
        return m->state->inpainter->native_size();
    });
}
MW_EXPORT int mw_model_noise_count(mw_model* m) {
    return count_of([&] {
        require(m, "model");
        const ModelConfig& c = m->state->inpainter->config();
        return c.vae.latent_channels * c.unet.sample_size * c.unet.sample_size;
    });
}

// ---- options ----

MW_EXPORT mw_options* mw_options_new(void) {
    return make_handle<mw_options>([] { return std::make_unique<mw_options>(); });
}
MW_EXPORT void mw_options_free(mw_options* o) { delete o; }

MW_EXPORT int mw_options_set(mw_options* opts, const char* name, double v) {
    return guarded([&] {
        require(opts, "options");
        require(name, "option name");
        InpaintOptions& o = opts->o;
        const std::string n = name;
        auto integer = [&](double lo, double hi) {
            MOEBIUS_CHECK(v == (double)(int64_t)v && v >= lo && v <= hi, ErrorKind::Invalid,
                          "option " + n + ": expected an integer in [" + std::to_string((int64_t)lo) + ", " +
                              std::to_string((int64_t)hi) + "], got " + std::to_string(v));
            return (int64_t)v;
        };
        if (n == "steps") o.steps = (int)integer(1, 1000);
        else if (n == "strength") o.strength = (float)v;
        else if (n == "guidance") o.guidance = (float)v;
        else if (n == "seed") o.seed = (uint64_t)integer(0, 9007199254740991.0);  // 2^53 - 1: exact in a double
        else if (n == "noise_offset") o.noise_offset = (float)v;
        else if (n == "paste") o.paste = integer(0, 1) != 0;
        else if (n == "compensate") o.compensate = integer(0, 1) != 0;
        else if (n == "mode") o.mode = (moebius_mode)integer(0, 2);
        else if (n == "sample_latents") o.sample_latents = integer(0, 1) != 0;
        else if (n == "preview") o.preview = integer(0, 1) != 0;
        else fail(ErrorKind::Invalid, "unknown option '" + n + "'");
    });
}

MW_EXPORT int mw_options_set_noise(mw_options* opts, const float* noise, size_t count) {
    return guarded([&] {
        require(opts, "options");
        MOEBIUS_CHECK(noise || count == 0, ErrorKind::Invalid, "noise: null with a count");
        opts->o.noise.assign(noise, noise + count);
    });
}

// ---- jobs ----

MW_EXPORT mw_job* mw_job_new(mw_model* m, const uint8_t* pixels, int width, int height, int channels,
                             const uint8_t* mask, int mask_channels, const mw_options* opts) {
    return make_handle<mw_job>([&] {
        require(m, "model");
        const Image image = image_from(pixels, width, height, channels, "image");
        const Image mask_img = mask ? image_from(mask, width, height, mask_channels, "mask") : Image();
        InpaintOptions o = opts ? opts->o : InpaintOptions();
        o.paste = o.paste || o.compensate;  // compensation implies paste (as moebius_inpaint)
        auto j = std::make_unique<mw_job>();
        j->model = m->state;
        j->job = std::make_unique<InpaintJob>(*j->model->inpainter, image, mask_img, o);
        return j;
    });
}

MW_EXPORT int mw_job_crops(mw_job* j) {
    return count_of([&] {
        require(j, "job");
        return j->job->crops();
    });
}
MW_EXPORT int mw_job_begin_crop(mw_job* j, int k) {
    return count_of([&] {
        require(j, "job");
        return j->job->begin_crop(k);
    });
}
MW_EXPORT int mw_job_step(mw_job* j, int i) {
    return guarded([&] {
        require(j, "job");
        j->job->step(i);
    });
}
MW_EXPORT mw_tensor* mw_job_preview(mw_job* j) {
    return make_handle<mw_tensor>([&] {
        require(j, "job");
        MOEBIUS_CHECK(!j->job->preview().empty(), ErrorKind::Invalid,
                      "preview: no step of the current crop has run, or the job was made without option 'preview'");
        auto t = std::make_unique<mw_tensor>();
        t->t = j->job->preview();
        return t;
    });
}
MW_EXPORT int mw_job_window(mw_job* j, int k, int32_t* xywh) {
    return guarded([&] {
        require(j, "job");
        require(xywh, "window output");
        MOEBIUS_CHECK(k >= 0 && k < j->job->crops(), ErrorKind::Invalid, "window: no crop " + std::to_string(k));
        const CropWindow& w = j->job->windows()[k];
        xywh[0] = w.x;
        xywh[1] = w.y;
        xywh[2] = w.size_w;
        xywh[3] = w.size_h;
    });
}
MW_EXPORT mw_tensor* mw_job_decode(mw_job* j) {
    return make_handle<mw_tensor>([&] {
        require(j, "job");
        auto t = std::make_unique<mw_tensor>();
        t->t = j->job->decode();
        return t;
    });
}
MW_EXPORT int mw_job_finish_crop(mw_job* j, const float* decoded, size_t count) {
    return guarded([&] {
        require(j, "job");
        require(decoded, "decoded image");
        j->job->finish_crop(std::vector<float>(decoded, decoded + count));
    });
}
MW_EXPORT mw_image* mw_job_result(mw_job* j) {
    return make_handle<mw_image>([&] {
        require(j, "job");
        auto img = std::make_unique<mw_image>();
        img->img = j->job->result();
        return img;
    });
}
MW_EXPORT void mw_job_free(mw_job* j) { delete j; }

// ---- tensors and images ----

MW_EXPORT float* mw_tensor_data(mw_tensor* t) { return t ? t->t.data() : nullptr; }
MW_EXPORT int mw_tensor_ndim(mw_tensor* t) { return t ? (int)t->t.shape().size() : 0; }
MW_EXPORT int mw_tensor_dim(mw_tensor* t, int i) {
    return t && i >= 0 && i < (int)t->t.shape().size() ? (int)t->t.shape()[i] : 0;
}
MW_EXPORT double mw_tensor_numel(mw_tensor* t) { return t ? (double)t->t.numel() : 0; }
MW_EXPORT void mw_tensor_free(mw_tensor* t) { delete t; }

MW_EXPORT uint8_t* mw_image_data(mw_image* i) { return i ? i->img.pixels.data() : nullptr; }
MW_EXPORT int mw_image_width(mw_image* i) { return i ? i->img.width : 0; }
MW_EXPORT int mw_image_height(mw_image* i) { return i ? i->img.height : 0; }
MW_EXPORT int mw_image_channels(mw_image* i) { return i ? i->img.channels : 0; }
MW_EXPORT void mw_image_free(mw_image* i) { delete i; }

MW_EXPORT int mw_gemm_threads(void) { return cpu::sgemm_portable_threads(); }
