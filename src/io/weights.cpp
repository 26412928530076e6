#include "io/weights.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "io/torch_zip.h"

namespace moebius {
namespace {
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;  // the reference reader's limit
}  // namespace

namespace {

enum class WeightFormat { TorchZip, Safetensors };

// From the first 9 bytes (zeros past the end of a short file) and the size; errors name `what`.
WeightFormat sniff(const uint8_t head[9], uint64_t size, const std::string& what) {
    if (head[0] == 'P' && head[1] == 'K') return WeightFormat::TorchZip;
    // torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False) starts with a pickle.
    MOEBIUS_CHECK(head[0] != 0x80, ErrorKind::Model,
                  what + ": legacy (non-zip) torch.save file; re-save it with PyTorch >= 1.6 or as .safetensors");
    uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = n << 8 | head[k];
    // A safetensors header is a JSON object; its length is checked against the file by the loader.
    if (size > 8 && head[8] == '{' && n >= 2 && n <= kMaxSafetensorsHeader) return WeightFormat::Safetensors;
    fail(ErrorKind::Model, what + ": not a PyTorch .bin or .safetensors file");
}

}  // namespace

StateDict load_state_dict_file(const std::string& path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    MOEBIUS_CHECK(!ec, ErrorKind::Io, path + ": cannot open: " + ec.message());
    uint8_t head[9] = {};
    {
        std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
        MOEBIUS_CHECK(f, ErrorKind::Io, path + ": cannot open");
        const size_t got = std::fread(head, 1, sizeof head, f.get());
        (void)got;  // a short file leaves zeros, which match nothing below
    }
    return sniff(head, size, path) == WeightFormat::TorchZip ? load_torch_bin(path) : load_safetensors(path);
}

StateDict parse_state_dict(const uint8_t* data, size_t size, const std::string& what) {
    uint8_t head[9] = {};
    std::memcpy(head, data, std::min<size_t>(size, sizeof head));
    return sniff(head, size, what) == WeightFormat::TorchZip ? parse_torch_bin(data, size, what)
                                                             : parse_safetensors(data, size, what);
}

VaeFiles load_vae_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    MOEBIUS_CHECK(fs::is_directory(dir), ErrorKind::Io, dir + ": not a directory (expected a diffusers VAE folder)");
    const std::string config_path = dir + "/config.json";
    MOEBIUS_CHECK(fs::exists(config_path), ErrorKind::Model,
                  dir + ": no config.json (expected a diffusers VAE folder)");
    VaeFiles v;
    v.config = parse_vae_config(read_text_file(config_path), config_path);
    for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                             "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin"}) {
        const std::string p = dir + "/" + name;
        if (fs::exists(p)) {
            v.weights = load_state_dict_file(p);
            v.weights_path = p;
            return v;
        }
    }
    fail(ErrorKind::Model, dir + ": no diffusion_pytorch_model.safetensors or .bin in the VAE folder");
}

}  // namespace moebius
