#include "io/model_file.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/unet.h"
#include "model/vae.h"

namespace moebius {
namespace {

constexpr const char* kUNetPrefix = "unet.";
constexpr const char* kVaePrefix = "vae.";

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

// Float tensors to `to` (F16 or F32); integer tensors unchanged.
HostTensor convert(const HostTensor& t, DType to, const std::string& what) {
    if (!is_float(t.dtype) || t.dtype == to) return t;
    if (to == DType::F32) return t.cast(DType::F32);
    const std::vector<float> f = t.to_f32();
    HostTensor h;
    h.dtype = DType::F16;
    h.shape = t.shape;
    h.bytes.resize(f.size() * 2);
    for (size_t i = 0; i < f.size(); ++i) {
        const uint16_t v = f32_to_f16(f[i]);
        MOEBIUS_CHECK(!std::isfinite(f[i]) || (v & 0x7c00) != 0x7c00, ErrorKind::Invalid,
                      what + ": value " + std::to_string(f[i]) + " is beyond float16's range; save as float32");
        std::memcpy(&h.bytes[2 * i], &v, 2);
    }
    return h;
}

void check_tables(const ModelWeights& w, const std::string& what) {
    check_state_dict(w.unet, unet_param_table(w.config.unet), what + " (unet)");
    check_state_dict(w.vae, vae_param_table(w.config.vae), what + " (vae)");
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

namespace {

// Our model file's tensors and metadata: float tensors converted, names prefixed. A non-const `w` is
// consumed tensor by tensor, so that converting never holds two full copies of the weights.
template <class Weights>  // ModelWeights or const ModelWeights
StateDict model_file_tensors(Weights& w, DType float_dtype, const std::string& what, Metadata* meta) {
    MOEBIUS_CHECK(float_dtype == DType::F16 || float_dtype == DType::F32, ErrorKind::Invalid,
                  what + ": model files store float16 or float32, not " + dtype_name(float_dtype));
    check_tables(w, what);
    StateDict out;
    for (auto& [name, t] : w.unet) {
        out[kUNetPrefix + name] = convert(t, float_dtype, what + ": tensor unet." + name);
        if constexpr (!std::is_const_v<Weights>) t = HostTensor();
    }
    for (auto& [name, t] : w.vae) {
        out[kVaePrefix + name] = convert(t, float_dtype, what + ": tensor vae." + name);
        if constexpr (!std::is_const_v<Weights>) t = HostTensor();
    }
    *meta = {{"format", kModelFormat}, {"version", kModelFormatVersion}, {"config", to_json(w.config)}};
    return out;
}

ModelWeights model_from_tensors(StateDict sd, Metadata meta, const std::string& what) {
    MOEBIUS_CHECK(meta.count("format") && meta["format"] == kModelFormat, ErrorKind::Model,
                  what + ": not a moebius model file (safetensors metadata lacks format \"moebius\")");
    MOEBIUS_CHECK(meta.count("version") && meta["version"] == kModelFormatVersion, ErrorKind::Model,
                  what + ": unsupported moebius model file version '" + meta["version"] + "' (this build reads " +
                      kModelFormatVersion + ")");
    MOEBIUS_CHECK(meta.count("config"), ErrorKind::Model, what + ": model file has no config in its metadata");
    ModelWeights w;
    w.config = parse_model_config(meta["config"], what + " (config)");
    std::vector<std::string> stray;
    for (auto& [name, t] : sd) {
        if (starts_with(name, kUNetPrefix))
            w.unet[name.substr(std::strlen(kUNetPrefix))] = std::move(t);
        else if (starts_with(name, kVaePrefix))
            w.vae[name.substr(std::strlen(kVaePrefix))] = std::move(t);
        else
            stray.push_back(name);
    }
    MOEBIUS_CHECK(stray.empty(), ErrorKind::Model,
                  what + ": tensor " + (stray.empty() ? "" : stray[0]) + " is neither unet.* nor vae.* (" +
                      std::to_string(stray.size()) + " such tensors)");
    check_tables(w, what);
    return w;
}

}  // namespace

void save_model_file(const std::string& path, const ModelWeights& w, DType float_dtype) {
    Metadata meta;
    const StateDict out = model_file_tensors(w, float_dtype, path, &meta);
    save_safetensors(path, out, meta);
}

std::vector<uint8_t> serialize_model_file(ModelWeights w, DType float_dtype) {
    Metadata meta;
    const StateDict out = model_file_tensors(w, float_dtype, "model file", &meta);
    return serialize_safetensors(out, meta);
}

bool is_model_file(const std::string& path) {
    uint8_t first8[8] = {};
    {
        FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) return false;
        const size_t got = std::fread(first8, 1, 8, f);
        std::fclose(f);
        if (got != 8 || first8[0] == 'P') return false;  // too short, or a zip (torch .bin)
    }
    try {
        const Metadata m = read_safetensors_header(path).metadata;
        const auto it = m.find("format");
        return it != m.end() && it->second == kModelFormat;
    } catch (const Error&) {
        return false;  // not safetensors: load_state_dict_file will say what it is
    }
}

ModelWeights load_model_file(const std::string& path) {
    Metadata meta;
    StateDict sd = load_safetensors(path, &meta);
    return model_from_tensors(std::move(sd), std::move(meta), path);
}

ModelWeights parse_model_file(const uint8_t* data, size_t size, const std::string& what) {
    MOEBIUS_CHECK(!(size >= 2 && data[0] == 'P' && data[1] == 'K'), ErrorKind::Model,
                  what + ": not a moebius model file but a zip archive (a PyTorch .bin with upstream weights? load it "
                         "together with the VAE files, or convert it first)");
    Metadata meta;
    StateDict sd = parse_safetensors(data, size, what, &meta);
    return model_from_tensors(std::move(sd), std::move(meta), what);
}

ModelConfig upstream_model_config(const std::string& json_text, const std::string& what) {
    if (json_text.empty()) return builtin_config("full");
    ModelConfig c = builtin_config("full");
    const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("unet"))
        c = parse_model_config(json_text, what);
    else
        c.unet = parse_unet_config(json_text, what);
    return c;
}

ModelWeights load_model(const std::string& unet_path, const std::string& vae_dir, const std::string& config_json) {
    if (is_model_file(unet_path)) {
        MOEBIUS_CHECK(vae_dir.empty() && config_json.empty(), ErrorKind::Invalid,
                      unet_path +
                          ": a moebius model file carries its own VAE and config; do not pass a VAE folder "
                          "or a config with it");
        return load_model_file(unet_path);
    }

    ModelWeights w;
    w.config = upstream_model_config(config_json.empty() ? "" : read_text_file(config_json), config_json);
    const std::string config_name = config_json.empty() ? "built-in \"full\" config" : config_json;
    // The UNet file first: a missing or non-model file is the more useful error.
    w.unet = load_state_dict_file(unet_path);
    check_state_dict(w.unet, unet_param_table(w.config.unet), unet_path + " (UNet config: " + config_name + ")");
    MOEBIUS_CHECK(!vae_dir.empty(), ErrorKind::Invalid,
                  unet_path +
                      ": upstream weights need a VAE folder (diffusers AutoencoderKL: config.json + "
                      "diffusion_pytorch_model.safetensors or .bin)");
    VaeFiles v = load_vae_dir(vae_dir);
    w.config.vae = v.config;
    check_state_dict(v.weights, vae_param_table(v.config),
                     v.weights_path + " (VAE config: " + vae_dir + "/config.json)");
    w.vae = std::move(v.weights);
    return w;
}

}  // namespace moebius
