// The project's single-file model: one .safetensors holding the UNet (RemovalModel), the VAE and
// the configuration of both.
//
//   __metadata__ = {"format": "moebius", "version": "1", "config": to_json(ModelConfig)}
//   tensors      = "unet.<upstream RemovalModel name>", "vae.<diffusers AutoencoderKL name>"
//
// Floating-point tensors are stored as float16 (default; half the size) or float32. Integer tensors
// (the BatchNorms' num_batches_tracked, 0-d int64) are kept unchanged: they cost ~10 kB and keep the
// file a faithful copy of upstream's state dicts, so every name of the parameter tables is present.
// Being plain safetensors, the file is header-first and streamable (see safetensors.h) and loads in
// Python with safetensors.safe_open.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/state_dict.h"
#include "model/config.h"

namespace moebius {

struct ModelWeights {
    ModelConfig config;
    StateDict unet;  // upstream names: embedding_layer.weight, diff_model.*
    StateDict vae;   // diffusers names: encoder.*, decoder.*, quant_conv.*, post_quant_conv.*
};

inline constexpr const char* kModelFormat = "moebius";
inline constexpr const char* kModelFormatVersion = "1";

// Checks the weights against the model's parameter tables first, then writes atomically.
// float_dtype: DType::F16 or DType::F32. float16 refuses values beyond its range (±65504).
void save_model_file(const std::string& path, const ModelWeights& w, DType float_dtype = DType::F16);

// The same file's bytes, in memory (the browser build caches converted models). Consumes `w`
// (each tensor is freed once converted).
std::vector<uint8_t> serialize_model_file(ModelWeights w, DType float_dtype = DType::F16);

// Validates format, version, config and every tensor against the parameter tables.
ModelWeights load_model_file(const std::string& path);
// The same from the file's bytes in memory; `what` names them in errors. A zip archive (an upstream
// .bin) is refused with a message saying so.
ModelWeights parse_model_file(const uint8_t* data, size_t size, const std::string& what);

// The configuration for upstream weight files: the built-in "full" one when json_text is empty,
// else {"unet": {...}, "vae": {...}} (like the fixtures' model_config.json) or a bare upstream UNet
// config (the VAE part then stays "full"; load_model replaces it with the VAE folder's config).
ModelConfig upstream_model_config(const std::string& json_text, const std::string& what);

// True when `path` is a safetensors file whose metadata says format "moebius" (reads the header only).
bool is_model_file(const std::string& path);

// One entry point for every way of naming a model:
//  - unet_path is our model file: that (then vae_dir and config_json must be empty: the file
//    carries both);
//  - else unet_path is upstream's RemovalModel state dict (.bin or .safetensors) and vae_dir a
//    diffusers AutoencoderKL folder (required). The UNet config is the built-in "full" unless
//    config_json names a JSON file: either {"unet": {...}, "vae": {...}} (like the fixtures'
//    model_config.json) or a bare upstream UNet config. The VAE config always comes from the VAE
//    folder's config.json. Both state dicts are checked against the tables their configs imply.
ModelWeights load_model(const std::string& unet_path, const std::string& vae_dir, const std::string& config_json);

}  // namespace moebius
