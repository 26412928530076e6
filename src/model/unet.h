// The Moebius denoiser: upstream's RemovalModel (removal/v1_2/removal_model.py) =
//   embedding_layer (nn.Embedding: the learnt "prompt" tokens)
//   + diff_model (UNet2DLambdaDWConvMixFFNConditionModel_prune_down_mid_up_block_8x8,
//     model_lib/nets/unet_lambda_prune_lite.py): a diffusers UNet2DConditionModel with depthwise-separable
//     ResNets, transformer blocks whose attention is replaced by lambda layers and whose FFN is SANA's
//     GLUMBConv (Mix-FFN), and no mid block.
// Everything is NCHW; a transformer block's (B, HW, C) tokens are the NCHW tensor itself.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/lambda.h"
#include "model/layers.h"

namespace moebius {

// Every state-dict entry of RemovalModel (names, shapes, dtypes) in upstream's order.
std::vector<ParamSpec> unet_param_table(const UNetConfig& c);

// Named activations captured during a forward pass (for parity tests). All NCHW; token tensors
// ("self_lambda_in", ...) are stored as (B, C, H, W), the transpose of upstream's (B, HW, C).
struct DebugTaps {
    std::map<std::string, Tensor> t;
    void put(const std::string& name, const Tensor& x) { t[name] = x; }
};

// The CFG batch of embedding ids, upstream's order (pipeline.py): row 0 unconditional
// (n/2 .. n-1), row 1 conditional (0 .. n/2-1); 2 × n/2 ids.
std::vector<int64_t> cfg_ids(const UNetConfig& c);

// diffusers Timesteps (flip_sin_to_cos, downscale_freq_shift) features of one timestep, computed in
// float32 exactly as torch does it even in a float64 run (embeddings.py get_timestep_embedding).
std::vector<float> timestep_features(float t, int dim, bool flip_sin_to_cos, int freq_shift);

// --- the blocks (upstream module names) ---

// DWResnetBlock2D (layers/unet_blocks/dw_resnet.py), time_embedding_norm "default".
struct ResnetBlock {
    GroupNorm norm1, norm2;  // + SiLU
    DWSeparableConv conv1, conv2;
    Linear time_emb_proj;
    std::optional<Conv2d> conv_shortcut;  // 1×1 when in != out
    Tensor forward(Backend& be, const Tensor& x, const Tensor& temb_act) const;
};

// GLUMBConv (layers/sana/basic_modules.py): 1×1 + SiLU, 3×3 depthwise, x * silu(gate), 1×1 (no bias).
struct MixFFN {
    Conv2d inverted_conv, depth_conv, point_conv;
    // point_conv(...) + residual (the block's skip, added in point_conv's epilogue).
    Tensor forward(Backend& be, const Tensor& x, const Tensor& residual) const;
};

// MixTransformerBlock = diffusers BasicTransformerBlock (norm_type "layer_norm") with lambda attention
// and Mix-FFN: x += attn1(norm1 x); x += attn2(norm2 x, ctx); x += ff(norm3 x).
// x may be one row shared by all of ctx's rows (UNet::forward_cfg): attn2 is the first layer that sees
// the context, so norm1, attn1 and norm2 run once and their outputs are repeated for it.
struct MixTransformerBlock {
    LayerNorm norm1, norm2, norm3;
    SelfLambda attn1;
    CrossLambda attn2;
    MixFFN ff;
    Tensor forward(Backend& be, const Tensor& x, const CrossContext& ctx, DebugTaps* taps) const;
};

// MixTransformer2DModel (continuous input): GroupNorm(eps 1e-6) → proj_in 1×1 → blocks → proj_out 1×1 → + x.
// x may be one shared row, as for MixTransformerBlock; the output has ctx's rows.
struct MixTransformer2D {
    GroupNorm norm;
    Conv2d proj_in, proj_out;
    std::vector<MixTransformerBlock> transformer_blocks;
    Tensor forward(Backend& be, const Tensor& x, const CrossContext& ctx, DebugTaps* taps) const;
};

// DWMixTFDownBlock2D / DWMixTFUpBlock2D: (resnet, attention) pairs, then Downsample2D / Upsample2D.
struct UNetBlock {
    std::vector<ResnetBlock> resnets;
    std::vector<MixTransformer2D> attentions;
    std::optional<Conv2d> downsampler;  // 3×3 stride 2 pad 1 ("downsamplers.0.conv")
    std::optional<Conv2d> upsampler;    // nearest 2× then 3×3 ("upsamplers.0.conv")
};

class UNet {
public:
    // Validates `sd` against unet_param_table(c) first; folds BatchNorms and uploads once.
    UNet(const UNetConfig& c, const StateDict& sd, Backend& be);

    // sample (B, in_channels, S, S), ids: B rows of num_embeddings/2 ids -> noise prediction (B, out_channels, S, S).
    Tensor forward(const Tensor& sample, float timestep, const std::vector<int64_t>& ids,
                   DebugTaps* taps = nullptr) const;

    // Both classifier-free-guidance branches in one batch-2 call ([uncond; cond]) on
    // cat(latents, mask_latent, masked_latents), then uncond + guidance * (cond - uncond).
    // latents (1,4,S,S), mask_latent (1,1,S,S), masked_latents (1,4,S,S) -> (1,4,S,S).
    Tensor forward_cfg(const Tensor& latents, const Tensor& mask_latent, const Tensor& masked_latents, float timestep,
                       float guidance) const;

    const UNetConfig& config() const { return cfg_; }

private:
    // forward() for the cross-λ context `ctx` (B rows). `sample` has B rows, or one row shared by all B
    // (forward_cfg, whose rows differ only in the context): then everything before down_blocks[0]'s first
    // cross-λ runs once, at batch 1, and is repeated to B rows there (and conv_in's output, a skip).
    Tensor denoise(const Tensor& sample, float timestep, const CrossContext& ctx, DebugTaps* taps) const;
    Tensor time_embedding(float timestep, int64_t batch) const;
    Tensor encoder_hidden_states(const std::vector<int64_t>& ids, int64_t batch) const;
    // The cross-λ context for `ids`: recomputed (with a new stamp) only when the ids change.
    const CrossContext& cross_context(const std::vector<int64_t>& ids, int64_t batch) const;

    UNetConfig cfg_;
    Backend& be_;
    std::vector<float> embedding_;  // embedding_layer.weight (num_embeddings, encoder_hid_dim), gathered on the host
    DWSeparableConv conv_in, conv_out;
    Linear time_linear_1, time_linear_2;  // time_embedding.linear_1 (+ SiLU), linear_2
    Linear encoder_hid_proj;             // "text_proj"
    std::vector<UNetBlock> down_blocks, up_blocks;
    GroupNorm conv_norm_out;  // + SiLU (conv_act)

    // Last context (not thread-safe: one forward at a time per UNet, as for the backend).
    mutable std::vector<int64_t> context_ids_;
    mutable CrossContext context_;
};

}  // namespace moebius
