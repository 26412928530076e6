// The VAE: diffusers' AutoencoderKL (SDXL-style, v0.38.0), encoder + decoder, on a Backend.
//
//   encode: x (B,3,H,W) in [-1,1] -> Encoder -> quant_conv -> moments (B, 2*latent, H/8, W/8)
//           (channels [0, latent) are the mean, [latent, 2*latent) the log-variance)
//   decode: z (B,latent,h,w), already divided by scaling_factor -> post_quant_conv -> Decoder -> (B,3,8h,8w)
//
// Module tree and state-dict names follow diffusers (autoencoders/autoencoder_kl.py, autoencoders/vae.py,
// unets/unet_2d_blocks.py, resnet.py, downsampling.py, upsampling.py, attention_processor.py).
#pragma once
#include <vector>

#include "backend/backend.h"
#include "io/state_dict.h"
#include "model/config.h"

namespace moebius {

// Every tensor of AutoencoderKL.state_dict(), in its order (= the fixtures' keys_vae.json).
std::vector<ParamSpec> vae_param_table(const VaeConfig& cfg);

// resnet.py ResnetBlock2D with temb=None, eps 1e-6, output_scale_factor 1:
//   x + conv2(silu(norm2(conv1(silu(norm1(x))))))  (x through the 1x1 conv_shortcut when widths differ)
struct VaeResnet {
    Tensor norm1_w, norm1_b, conv1_w, conv1_b, norm2_w, norm2_b, conv2_w, conv2_b;
    Tensor shortcut_w, shortcut_b;  // empty when in == out
    Tensor forward(Backend& be, const Tensor& x, int groups) const;
};

// attention_processor.py Attention as built by UNetMidBlock2D (one head of width C, residual, eps 1e-6):
//   x + to_out(softmax(q kᵀ / sqrt(C)) v), q/k/v = Linear over the channels of the normed HW tokens.
struct VaeAttention {
    Tensor norm_w, norm_b, q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
    Tensor forward(Backend& be, const Tensor& x, int groups) const;
};

// unet_2d_blocks.py UNetMidBlock2D: resnets.0 -> attentions.0 -> resnets.1.
struct VaeMidBlock {
    VaeResnet resnet0, resnet1;
    VaeAttention attn;
    bool has_attn = true;
    Tensor forward(Backend& be, const Tensor& x, int groups) const;
};

// DownEncoderBlock2D (resnets, then Downsample2D) / UpDecoderBlock2D (resnets, then Upsample2D).
struct VaeBlock {
    std::vector<VaeResnet> resnets;
    Tensor resample_w, resample_b;  // downsamplers.0.conv / upsamplers.0.conv; empty for the last block
};

class Vae {
public:
    // Checks `sd` against vae_param_table(cfg) (error names every problem) and uploads the weights.
    Vae(const VaeConfig& cfg, const StateDict& sd, Backend& be);

    const VaeConfig& config() const { return cfg_; }

    // x (B, in_channels, H, W) in [-1, 1], H and W multiples of 8 -> (B, 2*latent, H/8, W/8), after quant_conv.
    Tensor encode_moments(const Tensor& x);
    // The mean half of encode_moments: (B, latent, H/8, W/8).
    Tensor encode_mean(const Tensor& x);
    // z (B, latent, h, w), already divided by scaling_factor -> (B, out_channels, 8h, 8w), raw (about [-1, 1]).
    Tensor decode(const Tensor& z);

private:
    VaeConfig cfg_;
    Backend& be_;
    // encoder.*
    Tensor enc_conv_in_w_, enc_conv_in_b_;
    std::vector<VaeBlock> down_blocks_;
    VaeMidBlock enc_mid_;
    Tensor enc_norm_out_w_, enc_norm_out_b_, enc_conv_out_w_, enc_conv_out_b_;
    // decoder.*
    Tensor dec_conv_in_w_, dec_conv_in_b_;
    std::vector<VaeBlock> up_blocks_;
    VaeMidBlock dec_mid_;
    Tensor dec_norm_out_w_, dec_norm_out_b_, dec_conv_out_w_, dec_conv_out_b_;
    // quant_conv / post_quant_conv (1x1); empty when the config disables them
    Tensor quant_w_, quant_b_, post_quant_w_, post_quant_b_;
};

}  // namespace moebius
