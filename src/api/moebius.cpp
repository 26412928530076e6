// The C API (include/moebius.h) over the C++ engine.
#include "moebius.h"

#include <cstring>
#include <new>
#include <string>

#include "api/status.h"
#include "core/error.h"
#include "io/file.h"
#include "io/image.h"
#include "io/model_file.h"
#include "pipeline/inpaint.h"

using namespace moebius;

struct moebius_model {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Inpainter> inpainter;
    std::string description;
};

namespace {

thread_local std::string g_last_error;  // per-thread message of the last failure (C API convention)


template <class F>
moebius_status guarded(F&& f) {
    try {
        f();
        g_last_error.clear();
        return MOEBIUS_OK;
    } catch (const Error& e) {
        g_last_error = e.what();
        return status_of(e.kind);
    } catch (const std::bad_alloc&) {
        g_last_error = "out of memory";
        return MOEBIUS_ERR_OOM;
    } catch (const std::exception& e) {
        g_last_error = std::string("internal error: ") + e.what();
        return MOEBIUS_ERR_INTERNAL;
    }
}

Image from_c(const moebius_image* m, const char* what) {
    MOEBIUS_CHECK(m && m->pixels && m->width > 0 && m->height > 0 &&
                      (m->channels == 1 || m->channels == 2 || m->channels == 3 || m->channels == 4),
                  ErrorKind::Invalid, std::string(what) + ": invalid image (null, empty or unsupported channels)");
    Image img;
    img.width = m->width;
    img.height = m->height;
    img.channels = m->channels;
    img.pixels.assign(m->pixels, m->pixels + (size_t)m->width * m->height * m->channels);
    return img;
}

void to_c(const Image& img, moebius_image* out) {
    uint8_t* px = (uint8_t*)std::malloc(img.pixels.size());
    if (!px) throw std::bad_alloc();
    std::memcpy(px, img.pixels.data(), img.pixels.size());
    *out = {img.width, img.height, img.channels, px};
}

}  // namespace

extern "C" {

void moebius_options_default(moebius_options* o) {
    const InpaintOptions d;
    *o = {};
    o->steps = d.steps;
    o->strength = d.strength;
    o->guidance = d.guidance;
    o->seed = d.seed;
    o->noise_offset = d.noise_offset;
    o->paste = d.paste;
    o->compensate = d.compensate;
    o->mode = d.mode;
    o->sample_latents = d.sample_latents;
}

moebius_status moebius_load(const char* model_path, const char* vae_dir, const char* config_json, int threads,
                            moebius_model** out) {
    return guarded([&] {
        MOEBIUS_CHECK(model_path && out, ErrorKind::Invalid, "moebius_load: model path is required");
        *out = nullptr;
        const std::string cfg = config_json ? config_json : "";
        ModelWeights w = load_model(model_path, vae_dir ? vae_dir : "", cfg);
        auto m = std::make_unique<moebius_model>();
        m->backend = make_cpu_backend(threads);
        m->inpainter = std::make_unique<Inpainter>(w, *m->backend);
        const auto& u = w.config.unet;
        m->description = "Moebius UNet widths";
        for (int c : u.block_out_channels) m->description += " " + std::to_string(c);
        m->description += ", VAE widths";
        for (int c : w.config.vae.block_out_channels) m->description += " " + std::to_string(c);
        m->description += ", " + std::to_string(m->inpainter->native_size()) + "px, backend " + m->backend->name();
        *out = m.release();
    });
}

void moebius_free(moebius_model* m) { delete m; }

const char* moebius_describe(const moebius_model* m) { return m ? m->description.c_str() : ""; }

moebius_status moebius_inpaint(moebius_model* m, const moebius_image* image, const moebius_image* mask,
                               const moebius_options* opts, moebius_image* out) {
    return guarded([&] {
        MOEBIUS_CHECK(m && out, ErrorKind::Invalid, "moebius_inpaint: model and output are required");
        *out = {};
        moebius_options d;
        moebius_options_default(&d);
        const moebius_options& o = opts ? *opts : d;
        InpaintOptions io;
        io.steps = o.steps;
        io.strength = o.strength;
        io.guidance = o.guidance;
        io.seed = o.seed;
        io.noise_offset = o.noise_offset;
        io.paste = o.paste || o.compensate;
        io.compensate = o.compensate;
        io.mode = o.mode;
        io.sample_latents = o.sample_latents;
        if (o.noise) {
            const int S = m->inpainter->config().unet.sample_size, C = m->inpainter->config().vae.latent_channels;
            io.noise.assign(o.noise, o.noise + (size_t)C * S * S);
        }
        if (o.progress)
            io.progress = [&](const moebius_progress& p) { return o.progress(&p, o.progress_user) == 0; };
        Image result = m->inpainter->inpaint(from_c(image, "image"), mask ? from_c(mask, "mask") : Image{}, io);
        to_c(result, out);
    });
}

void moebius_image_free(moebius_image* img) {
    if (!img) return;
    std::free(img->pixels);
    *img = {};
}

moebius_status moebius_image_load(const char* path, moebius_image* out) {
    return guarded([&] {
        MOEBIUS_CHECK(path && out, ErrorKind::Invalid, "moebius_image_load: path and output are required");
        to_c(load_image(path), out);
    });
}

moebius_status moebius_image_save(const char* path, const moebius_image* img, int quality) {
    return guarded([&] {
        MOEBIUS_CHECK(path, ErrorKind::Invalid, "moebius_image_save: path is required");
        save_image(path, from_c(img, "image"), quality);
    });
}

const char* moebius_last_error(void) { return g_last_error.c_str(); }

const char* moebius_status_name(moebius_status s) {
    switch (s) {
        case MOEBIUS_OK: return "ok";
        case MOEBIUS_ERR_INVALID: return "invalid argument";
        case MOEBIUS_ERR_IO: return "i/o error";
        case MOEBIUS_ERR_MODEL: return "bad model";
        case MOEBIUS_ERR_IMAGE: return "bad image";
        case MOEBIUS_ERR_CANCELLED: return "cancelled";
        case MOEBIUS_ERR_OOM: return "out of memory";
        case MOEBIUS_ERR_INTERNAL: return "internal error";
    }
    return "unknown";
}

}  // extern "C"

#include <sstream>

#include "io/npy.h"
#include "model/config.h"
#include "model/unet.h"
#include "model/vae.h"

extern "C" {

moebius_status moebius_convert(const char* model_path, const char* vae_dir, const char* config_json,
                               const char* out_path, int float32) {
    return guarded([&] {
        MOEBIUS_CHECK(model_path && out_path, ErrorKind::Invalid, "convert: model and output paths are required");
        const std::string cfg = config_json ? config_json : "";
        ModelWeights w = load_model(model_path, vae_dir ? vae_dir : "", cfg);
        save_model_file(out_path, w, float32 ? DType::F32 : DType::F16);
    });
}

moebius_status moebius_synth(const char* config, uint64_t unet_seed, uint64_t vae_seed, const char* out_path,
                             int float32) {
    return guarded([&] {
        MOEBIUS_CHECK(config && out_path, ErrorKind::Invalid, "synth: config and output path are required");
        const std::string c = config;
        ModelWeights w;
        w.config = (c == "tiny" || c == "full") ? builtin_config(c) : parse_model_config(read_text_file(c), c);
        w.unet = synth_state_dict(unet_param_table(w.config.unet), unet_seed);
        w.vae = synth_state_dict(vae_param_table(w.config.vae), vae_seed);
        save_model_file(out_path, w, float32 ? DType::F32 : DType::F16);
    });
}

moebius_status moebius_model_info(const char* model_path, const char* vae_dir, const char* config_json,
                                  char** out_text) {
    return guarded([&] {
        MOEBIUS_CHECK(model_path && out_text, ErrorKind::Invalid, "info: model path is required");
        *out_text = nullptr;
        const std::string cfg = config_json ? config_json : "";
        ModelWeights w = load_model(model_path, vae_dir ? vae_dir : "", cfg);
        // Learnt parameters, as PyTorch counts them (BatchNorm running statistics are buffers).
        auto count = [](const StateDict& sd, std::map<std::string, int64_t>& by_dtype) {
            int64_t n = 0;
            for (const auto& [name, t] : sd) {
                by_dtype[dtype_name(t.dtype)] += t.numel();
                if (!name.ends_with("running_mean") && !name.ends_with("running_var") &&
                    !name.ends_with("num_batches_tracked"))
                    n += t.numel();
            }
            return n;
        };
        std::map<std::string, int64_t> dt;
        const int64_t nu = count(w.unet, dt), nv = count(w.vae, dt);
        std::ostringstream s;
        s << "model:       " << model_path << "\n"
          << "UNet:        " << nu << " parameters (" << w.unet.size() << " tensors), widths";
        for (int c : w.config.unet.block_out_channels) s << " " << c;
        s << ", heads " << w.config.unet.attention_head_dim << ", latent " << w.config.unet.sample_size << "x"
          << w.config.unet.sample_size << "\n"
          << "VAE:         " << nv << " parameters (" << w.vae.size() << " tensors), widths";
        for (int c : w.config.vae.block_out_channels) s << " " << c;
        s << ", scaling " << w.config.vae.scaling_factor << "\n"
          << "dtypes:     ";
        for (const auto& [k, v] : dt) s << " " << k << " " << v;
        s << "\nconfig:      " << to_json(w.config) << "\n";
        const std::string text = s.str();
        *out_text = (char*)std::malloc(text.size() + 1);
        if (!*out_text) throw std::bad_alloc();
        std::memcpy(*out_text, text.c_str(), text.size() + 1);
    });
}

moebius_status moebius_npy_load(const char* path, float** data, int64_t shape[8], int32_t* ndim) {
    return guarded([&] {
        MOEBIUS_CHECK(path && data && shape && ndim, ErrorKind::Invalid, "npy_load: bad arguments");
        *data = nullptr;
        HostTensor t = load_npy(path);
        MOEBIUS_CHECK(t.shape.size() <= 8, ErrorKind::Invalid, std::string(path) + ": more than 8 dimensions");
        MOEBIUS_CHECK(t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::F64, ErrorKind::Invalid,
                      std::string(path) + ": expected a float array, got " + dtype_name(t.dtype));
        std::vector<float> v = t.to_f32();
        *data = (float*)std::malloc(std::max<size_t>(1, v.size() * sizeof(float)));
        if (!*data) throw std::bad_alloc();
        std::memcpy(*data, v.data(), v.size() * sizeof(float));
        *ndim = (int32_t)t.shape.size();
        for (size_t i = 0; i < t.shape.size(); ++i) shape[i] = t.shape[i];
    });
}

}  // extern "C"
