// The backend seam: every op the model, VAE and sampler need, on backend-owned float tensors.
// Layout is NCHW (contiguous) unless an op says otherwise. The CPU backend (backend/cpu) is the
// reference; other backends are tested op by op against it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moebius {

struct Conv2dParams {
    int stride = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // zero padding
    int groups = 1;                                                // groups == C_in == C_out: depthwise
    static Conv2dParams same(int k, int stride = 1, int groups = 1) {
        return {stride, k / 2, k / 2, k / 2, k / 2, groups};
    }
};

enum class Act { None, SiLU, ReLU };

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // --- memory ---
    virtual Tensor upload(const Shape& shape, const float* data) = 0;
    Tensor upload(const Shape& shape, const std::vector<float>& v) { return upload(shape, v.data()); }
    virtual std::vector<float> download(const Tensor& t) = 0;
    virtual Tensor zeros(const Shape& shape) = 0;

    // --- dense ---
    // y = act(conv2d(x, w) + b) + residual. x (B,Cin,H,W), w (Cout,Cin/groups,kh,kw), b (Cout) or empty,
    // residual of y's shape or empty: a skip connection, added in the conv's own pass over y.
    virtual Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                          Act act = Act::None, const Tensor& residual = Tensor()) = 0;
    // conv2d(group_norm(x, gamma, beta, groups, eps, norm_act), w, b, p) + residual, and
    // conv2d(upsample_nearest2x(x), w, b, p): a backend may make the conv's input inside the conv
    // instead of as a tensor of its own (WebGPU: in the matrix convs' padded copy of their input; with
    // the resnet's shortcut after conv2, the VAE decoder's largest live set goes 450 -> 386 MiB in f16).
    virtual Tensor group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups, float eps,
                                     Act norm_act, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                                     const Tensor& residual = Tensor()) {
        return conv2d(group_norm(x, gamma, beta, groups, eps, norm_act), w, b, p, Act::None, residual);
    }
    virtual Tensor upsample_nearest2x_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
        return conv2d(upsample_nearest2x(x), w, b, p);
    }
    // glu_silu(conv2d(x, w, b, p, act)): a backend may gate inside the conv (WebGPU: the MixFFN's depthwise
    // 3x3, whose 2·hidden-channel output then never exists).
    virtual Tensor conv2d_glu_silu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Act act) {
        return glu_silu(conv2d(x, w, b, p, act));
    }
    // y = x · wᵀ + b over the last dim. x (..., K), w (N, K), b (N) or empty -> (..., N).
    virtual Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Act act = Act::None) = 0;
    // Batched matmul: a (Bt, M, K) or (Bt, K, M) if ta; b (Bt, K, N) or (Bt, N, K) if tb -> (Bt, M, N) * alpha.
    // A batch of Ba items with Bb = g·Ba broadcasts in groups: a item i / g multiplies b item i (Ba = 1
    // is the plain broadcast; the lambda layers multiply each image's λ by its h heads' queries).
    // A batch dim of 1 broadcasts. residual (the output's shape) or empty is added to the product.
    virtual Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha = 1.0f,
                          const Tensor& residual = Tensor()) = 0;

    // --- normalisation ---
    // GroupNorm over (B, C, ...) with per-channel affine; optional fused activation.
    virtual Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups, float eps,
                              Act act = Act::None) = 0;
    // LayerNorm over the channel dim of an NCHW tensor (= LayerNorm over C of the (B, HW, C) tokens).
    virtual Tensor layer_norm_channels(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) = 0;
    // Softmax over the last dim.
    virtual Tensor softmax(const Tensor& x) = 0;

    // --- elementwise / layout ---
    virtual Tensor act(const Tensor& x, Act a) = 0;
    // a + b, where b has a's shape or is (B, C, 1, 1) / (1, C, 1, 1) broadcast over NCHW a.
    virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
    // alpha * a + beta * b (same shapes).
    virtual Tensor axpby(float alpha, const Tensor& a, float beta, const Tensor& b) = 0;
    // GLU gate along channels: x (B, 2C, H, W) -> x[:, :C] * silu(x[:, C:]).
    virtual Tensor glu_silu(const Tensor& x) = 0;
    virtual Tensor concat_channels(const Tensor& a, const Tensor& b) = 0;    // NCHW, dim 1
    virtual Tensor slice_batch(const Tensor& x, int64_t start, int64_t count) = 0;  // dim 0
    virtual Tensor concat_batch(const Tensor& a, const Tensor& b) = 0;       // dim 0
    virtual Tensor transpose12(const Tensor& x) = 0;                          // (B, M, N) -> (B, N, M)
    virtual Tensor upsample_nearest2x(const Tensor& x) = 0;                  // NCHW
    // Nearest resize of a (B, C, H, W) tensor to (oh, ow), PyTorch F.interpolate(mode="nearest") rule.
    virtual Tensor resize_nearest(const Tensor& x, int oh, int ow) = 0;

    // --- lambda layers (see model/lambda.h for the maths) ---
    // Local positional lambda, computed as (Q·W) then an r×r gather over V (no materialised pos_conv):
    // q (B, h, k, H*W), v (B, vdim, H*W), w (k, r*r), bias (k) -> (B, h, vdim, H*W), plus `residual`
    // (that shape) where given (the lambda's content term, added in the same pass).
    virtual Tensor lambda_local_position(const Tensor& q, const Tensor& v, const Tensor& w, const Tensor& bias,
                                         int H, int W, int r, const Tensor& residual = Tensor()) = 0;
    // Global cross positional lambda: q (B, h, k, N), v (B, vdim, L), e (L, k, N) -> (B, h, vdim, N).
    // e is upstream's rel_pos_emb (N, L, k) stored pixel-minor (CrossLambda permutes it at load), so
    // that a GPU thread per pixel reads it coalesced.
    // residual as for lambda_local_position.
    virtual Tensor lambda_global_position(const Tensor& q, const Tensor& v, const Tensor& e,
                                          const Tensor& residual = Tensor()) = 0;

    // --- sampler ---
    // Classifier-free guidance: x (2B, ...) = [uncond; cond] -> uncond + g * (cond - uncond), (B, ...).
    virtual Tensor cfg_combine(const Tensor& x, float guidance) = 0;

    // Blocks until queued work is done (no-op on CPU).
    virtual void sync() {}

    // Frees memory kept for reuse; the pipeline calls it between stages whose shapes differ (VAE
    // encode -> UNet steps -> VAE decode), so buffers of one stage do not stay allocated into the next.
    virtual void trim() {}

    // The model moves to a new level of different tensor sizes within a stage (a VAE level). Buffers
    // kept from earlier levels may then serve smaller tensors of this one (the encoder shrinks level by
    // level, so its later levels need no new allocations); the GPU backend's pool acts on it.
    virtual void next_level() {}

    // How many images the pipeline passes through the VAE encoder at once (it encodes two: the image
    // and the masked image). 1 halves the encoder's activation memory (CPU: the WASM heap); 2, as
    // upstream does, halves a GPU's dispatches and buffer allocations. Same result either way.
    virtual int vae_encode_batch() const { return 1; }
};

std::unique_ptr<Backend> make_cpu_backend(int threads = 0);  // 0 = all cores

}  // namespace moebius
