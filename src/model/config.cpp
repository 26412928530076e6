#include "model/config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace moebius {
using nlohmann::json;

namespace {

json parse(const std::string& text, const std::string& what) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        fail(ErrorKind::Model, what + ": not valid JSON: " + e.what());
    }
}

template <class T>
void get(const json& j, const char* key, T& out, const std::string& what) {
    if (!j.contains(key) || j[key].is_null()) return;  // keep default
    try {
        out = j[key].get<T>();
    } catch (const json::exception&) {
        fail(ErrorKind::Model, what + ": config key '" + key + "' has the wrong type");
    }
}

void expect_types(const json& j, const char* key, const std::string& want, const std::string& what) {
    if (!j.contains(key)) return;
    for (const auto& t : j[key])
        MOEBIUS_CHECK(t.is_string() && t.get<std::string>() == want, ErrorKind::Model,
                      what + ": unsupported " + key + " entry " + t.dump() + " (expected \"" + want + "\")");
}

}  // namespace

UNetConfig parse_unet_config(const std::string& text, const std::string& what) {
    json j = parse(text, what);
    MOEBIUS_CHECK(j.is_object(), ErrorKind::Model, what + ": UNet config must be a JSON object");
    if (j.contains("model_type"))
        MOEBIUS_CHECK(j["model_type"] == "UNet2DLambdaDWConvMixFFNConditionModel_prune_down_mid_up_block_8x8",
                      ErrorKind::Model, what + ": unsupported model_type " + j["model_type"].dump());
    if (j.contains("encoder_hid_dim_type"))
        MOEBIUS_CHECK(j["encoder_hid_dim_type"] == "text_proj", ErrorKind::Model,
                      what + ": only encoder_hid_dim_type \"text_proj\" is supported");
    MOEBIUS_CHECK(!j.contains("mid_block_type") || j["mid_block_type"].is_null(), ErrorKind::Model,
                  what + ": only mid_block_type null is supported");
    expect_types(j, "down_block_types", "DWMixTFDownBlock2D", what);
    expect_types(j, "up_block_types", "DWMixTFUpBlock2D", what);
    UNetConfig c;
    get(j, "in_channels", c.in_channels, what);
    get(j, "out_channels", c.out_channels, what);
    get(j, "attention_head_dim", c.attention_head_dim, what);
    get(j, "conv_in_kernel", c.conv_in_kernel, what);
    get(j, "conv_out_kernel", c.conv_out_kernel, what);
    get(j, "cross_attention_dim", c.cross_attention_dim, what);
    get(j, "encoder_hid_dim", c.encoder_hid_dim, what);
    get(j, "block_out_channels", c.block_out_channels, what);
    get(j, "layers_per_block", c.layers_per_block, what);
    get(j, "norm_num_groups", c.norm_num_groups, what);
    get(j, "norm_eps", c.norm_eps, what);
    get(j, "mix_mlp_ratio", c.mix_mlp_ratio, what);
    get(j, "sample_size", c.sample_size, what);
    get(j, "num_embeddings", c.num_embeddings, what);
    get(j, "use_lambda_cross_attn", c.use_lambda_cross_attn, what);
    get(j, "use_local_self_attn", c.use_local_self_attn, what);
    get(j, "flip_sin_to_cos", c.flip_sin_to_cos, what);
    get(j, "freq_shift", c.freq_shift, what);
    if (j.contains("down_block_types"))
        MOEBIUS_CHECK(j["down_block_types"].size() == c.block_out_channels.size(), ErrorKind::Model,
                      what + ": down_block_types and block_out_channels differ in length");
    MOEBIUS_CHECK(!c.block_out_channels.empty() && c.num_embeddings % 2 == 0 && c.attention_head_dim > 0 &&
                      c.sample_size > 0,
                  ErrorKind::Model, what + ": implausible UNet config");
    for (int ch : c.block_out_channels)
        MOEBIUS_CHECK(ch % c.attention_head_dim == 0 && ch % c.norm_num_groups == 0, ErrorKind::Model,
                      what + ": block width " + std::to_string(ch) + " not divisible by heads/groups");
    MOEBIUS_CHECK(c.use_lambda_cross_attn && c.use_local_self_attn, ErrorKind::Model,
                  what + ": only use_lambda_cross_attn=true, use_local_self_attn=true (Moebius) are supported");
    return c;
}

VaeConfig parse_vae_config(const std::string& text, const std::string& what) {
    json j = parse(text, what);
    MOEBIUS_CHECK(j.is_object(), ErrorKind::Model, what + ": VAE config must be a JSON object");
    if (j.contains("_class_name"))
        MOEBIUS_CHECK(j["_class_name"] == "AutoencoderKL", ErrorKind::Model,
                      what + ": expected an AutoencoderKL config, got " + j["_class_name"].dump());
    expect_types(j, "down_block_types", "DownEncoderBlock2D", what);
    expect_types(j, "up_block_types", "UpDecoderBlock2D", what);
    if (j.contains("act_fn") && !j["act_fn"].is_null())
        MOEBIUS_CHECK(j["act_fn"] == "silu", ErrorKind::Model, what + ": only act_fn \"silu\" is supported");
    VaeConfig c;
    get(j, "in_channels", c.in_channels, what);
    get(j, "out_channels", c.out_channels, what);
    get(j, "latent_channels", c.latent_channels, what);
    get(j, "block_out_channels", c.block_out_channels, what);
    get(j, "layers_per_block", c.layers_per_block, what);
    get(j, "norm_num_groups", c.norm_num_groups, what);
    get(j, "scaling_factor", c.scaling_factor, what);
    get(j, "mid_block_add_attention", c.mid_block_add_attention, what);
    get(j, "use_quant_conv", c.use_quant_conv, what);
    get(j, "use_post_quant_conv", c.use_post_quant_conv, what);
    if (j.contains("shift_factor") && !j["shift_factor"].is_null())
        MOEBIUS_CHECK(j["shift_factor"].get<double>() == 0.0, ErrorKind::Model,
                      what + ": shift_factor is not supported");
    MOEBIUS_CHECK(!c.block_out_channels.empty() && c.latent_channels > 0, ErrorKind::Model,
                  what + ": implausible VAE config");
    for (int ch : c.block_out_channels)
        MOEBIUS_CHECK(ch % c.norm_num_groups == 0, ErrorKind::Model,
                      what + ": VAE width " + std::to_string(ch) + " not divisible by norm_num_groups");
    return c;
}

ModelConfig parse_model_config(const std::string& text, const std::string& what) {
    json j = parse(text, what);
    MOEBIUS_CHECK(j.is_object() && j.contains("unet") && j.contains("vae"), ErrorKind::Model,
                  what + ": model config needs \"unet\" and \"vae\" objects");
    return {parse_unet_config(j["unet"].dump(), what + " (unet)"), parse_vae_config(j["vae"].dump(), what + " (vae)")};
}

std::string to_json(const ModelConfig& m) {
    const UNetConfig& u = m.unet;
    const VaeConfig& v = m.vae;
    json j;
    j["unet"] = {{"model_type", "UNet2DLambdaDWConvMixFFNConditionModel_prune_down_mid_up_block_8x8"},
                 {"in_channels", u.in_channels},
                 {"out_channels", u.out_channels},
                 {"attention_head_dim", u.attention_head_dim},
                 {"conv_in_kernel", u.conv_in_kernel},
                 {"conv_out_kernel", u.conv_out_kernel},
                 {"cross_attention_dim", u.cross_attention_dim},
                 {"encoder_hid_dim", u.encoder_hid_dim},
                 {"encoder_hid_dim_type", "text_proj"},
                 {"block_out_channels", u.block_out_channels},
                 {"layers_per_block", u.layers_per_block},
                 {"norm_num_groups", u.norm_num_groups},
                 {"norm_eps", u.norm_eps},
                 {"mix_mlp_ratio", u.mix_mlp_ratio},
                 {"sample_size", u.sample_size},
                 {"num_embeddings", u.num_embeddings},
                 {"use_lambda_cross_attn", u.use_lambda_cross_attn},
                 {"use_local_self_attn", u.use_local_self_attn},
                 {"flip_sin_to_cos", u.flip_sin_to_cos},
                 {"freq_shift", u.freq_shift}};
    j["vae"] = {{"_class_name", "AutoencoderKL"},
                {"in_channels", v.in_channels},
                {"out_channels", v.out_channels},
                {"latent_channels", v.latent_channels},
                {"block_out_channels", v.block_out_channels},
                {"layers_per_block", v.layers_per_block},
                {"norm_num_groups", v.norm_num_groups},
                {"scaling_factor", v.scaling_factor},
                {"mid_block_add_attention", v.mid_block_add_attention},
                {"use_quant_conv", v.use_quant_conv},
                {"use_post_quant_conv", v.use_post_quant_conv}};
    return j.dump();
}

ModelConfig builtin_config(const std::string& name) {
    ModelConfig c;  // defaults are the full model
    if (name == "full") return c;
    if (name == "tiny") {
        c.unet.attention_head_dim = 16;
        c.unet.cross_attention_dim = 64;
        c.unet.encoder_hid_dim = 96;
        c.unet.block_out_channels = {32, 64, 128};
        c.vae.block_out_channels = {32, 32, 64, 64};
        return c;
    }
    fail(ErrorKind::Invalid, "unknown built-in config '" + name + "' (expected tiny or full)");
}

}  // namespace moebius
