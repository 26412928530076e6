// Model configuration, read from JSON (upstream's UNet config / diffusers' AutoencoderKL config.json).
// Nothing in the model code hard-codes a width: everything comes from here.
#pragma once
#include <string>
#include <vector>

namespace moebius {

struct UNetConfig {
    int in_channels = 9, out_channels = 4;
    int attention_head_dim = 8;        // upstream quirk: this is the number of heads
    int conv_in_kernel = 3, conv_out_kernel = 3;
    int cross_attention_dim = 768;
    int encoder_hid_dim = 3072;        // embedding width (text_proj input)
    std::vector<int> block_out_channels = {320, 640, 1280};
    int layers_per_block = 2;
    int norm_num_groups = 32;
    float norm_eps = 1e-5f;
    float mix_mlp_ratio = 2.5f;
    int sample_size = 64;              // latent side; the lambda position tables are tied to it
    int num_embeddings = 20;           // ids 0..n/2-1 conditional, n/2..n-1 unconditional
    bool use_lambda_cross_attn = true;
    bool use_local_self_attn = true;
    bool flip_sin_to_cos = true;
    int freq_shift = 0;
    int lambda_dim_u = 1;              // DEFAULT_λ_CONFIG
    int local_r = 15;                  // local self-lambda receptive field (upstream r = 15)
};

struct VaeConfig {
    int in_channels = 3, out_channels = 3, latent_channels = 4;
    std::vector<int> block_out_channels = {128, 256, 512, 512};
    int layers_per_block = 2;
    int norm_num_groups = 32;
    float scaling_factor = 0.13025f;
    bool mid_block_add_attention = true;
    bool use_quant_conv = true, use_post_quant_conv = true;
};

struct ModelConfig {
    UNetConfig unet;
    VaeConfig vae;
};

// Parse; `what` names the source in error messages. Unsupported architectures are rejected.
UNetConfig parse_unet_config(const std::string& json_text, const std::string& what);
VaeConfig parse_vae_config(const std::string& json_text, const std::string& what);
// {"unet": {...}, "vae": {...}} as in the fixtures' model_config.json and our model file metadata.
ModelConfig parse_model_config(const std::string& json_text, const std::string& what);
std::string to_json(const ModelConfig& c);

// Built-in configurations: "full" (upstream moebius.yaml + PixelHacker VAE) and "tiny" (the fixtures' tiny).
ModelConfig builtin_config(const std::string& name);

}  // namespace moebius
