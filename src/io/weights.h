// Loading upstream weight files: a state dict from a PyTorch .bin (torch.save zip) or a
// .safetensors file, told apart by content, and a diffusers VAE folder.
#pragma once
#include <cstdint>
#include <string>

#include "io/state_dict.h"
#include "model/config.h"

namespace moebius {

// Dispatches on the first bytes: "PK" -> torch.save zip (torch_zip.h), else a plausible
// safetensors header -> safetensors.h; anything else is an error (ErrorKind::Model) saying the file
// is not a PyTorch .bin or .safetensors file.
StateDict load_state_dict_file(const std::string& path);
// The same for a file's bytes in memory (the browser build); `what` names them in errors.
StateDict parse_state_dict(const uint8_t* data, size_t size, const std::string& what);

// A diffusers AutoencoderKL folder: config.json + diffusion_pytorch_model.safetensors (or .bin, or
// the .fp16 variants of either).
struct VaeFiles {
    VaeConfig config;
    StateDict weights;
    std::string weights_path;  // the file the weights came from, for error messages
};
VaeFiles load_vae_dir(const std::string& dir);

}  // namespace moebius
