// Lambda layers (Bello 2021, "LambdaNetworks: Modeling long-range interactions without attention"), as
// upstream's MultiQuerySelfLambda / MultiQueryCrossLambda (model_lib/nets/layers/λ/vanillaλ.py), which
// replace attn1 / attn2 of every transformer block. Moebius uses dim_u = 1 and eval-mode BatchNorms;
// norm_q / norm_v are folded into to_q / to_v at load time (to_k has no norm).
//
// For x (B, C, H, W) (= the block's (B, HW, C) tokens), h heads, key depth k and value depth v = C/h:
//   Q  = norm_q(to_q x)             (B, h, k, N)   N = HW; the h queries share one key/value set
//   K  = softmax over positions m of to_k(context)   (B, k, M)
//   V  = norm_v(to_v context)       (B, v, M)
//   λc = K Vᵀ                        (B, k, v)      content lambda
//   Yc[b,h,:,n] = λcᵀ Q[b,h,:,n]
//   Yp = position term: self = a local r×r pos_conv over V, cross = a learnt table e (N, M, k)
//   Y  = Yc + Yp                     (B, h·v, H, W), channels ordered (h v)
// Self-λ: context = x (M = N). Cross-λ: context = encoder hidden states (B, M, dim_cross).
#pragma once
#include <cstdint>
#include <string>

#include "model/layers.h"

namespace moebius {

// Yc = λcᵀ Q per image: q (B, h, k, N), lambda_c (B, k, v) -> (B, h, v, N), plus `residual`
// ((B, h·v, H, W), H·W = N) where given.
Tensor lambda_content(Backend& be, const Tensor& q, const Tensor& lambda_c, const Tensor& residual = Tensor());

// MQSλ with r set (local contexts): pos_conv = Conv3d(1, k, (1, r, r), padding (0, r/2, r/2)).
struct SelfLambda {
    Conv2d to_q, to_k, to_v;  // 1×1 convs; norm_q / norm_v folded in
    Tensor pos_w, pos_b;      // pos_conv weight viewed as (k, r*r), bias (k)
    int heads = 0, dim_k = 0, dim_v = 0, r = 0;

    SelfLambda() = default;
    SelfLambda(const WeightLoader& ld, const std::string& prefix, int heads);
    // (B, C, H, W) -> (B, h·v, H, W), plus `residual` (that shape; the block's skip) where given: it
    // rides in the content GEMM's epilogue, and the content term in the position kernel's.
    Tensor forward(Backend& be, const Tensor& x, const Tensor& residual = Tensor()) const;
};

// The cross-λ context: encoder hidden states (B, M, dim_cross) and a stamp that is new whenever the
// states are (CrossContext::next_stamp). Each layer keeps its context-only terms (V and λc) for the
// last stamp it saw: within an inpaint the ids, hence the states, are the same at every step, so
// those terms are computed at the first step only.
struct CrossContext {
    Tensor states;
    uint64_t stamp = 0;
    static uint64_t next_stamp();  // unique across all models of the process
};

// MQCλ without r (global): rel_pos_emb (n·n, m, k, 1), indexed by meshgrid(arange(n·n), arange(m)),
// i.e. e (N, M, k); kept as (M, k, N) for Backend::lambda_global_position.
struct CrossLambda {
    Conv2d to_q;        // 1×1 conv, norm_q folded in
    Linear to_k, to_v;  // (dim_cross -> k), (dim_cross -> v) with norm_v (BatchNorm1d over v) folded in
    Tensor rel_pos;     // (M, k, N): upstream's (N, M, k) table, pixel-minor
    int heads = 0, dim_k = 0, dim_v = 0;

    CrossLambda() = default;
    CrossLambda(const WeightLoader& ld, const std::string& prefix, int heads);
    // x (B, C, H, W) with H·W == N, context states (B, M, dim_cross) -> (B, h·v, H, W), plus
    // `residual` as for SelfLambda::forward.
    Tensor forward(Backend& be, const Tensor& x, const CrossContext& context, const Tensor& residual = Tensor()) const;

private:
    mutable uint64_t cached_stamp_ = 0;  // context whose V and λc are below (0: none)
    mutable Tensor cached_v_, cached_lambda_c_;
};

// Parameter-table entries, in upstream's order.
void self_lambda_params(ParamTable& t, const std::string& prefix, int64_t dim, int64_t heads, int64_t r);
void cross_lambda_params(ParamTable& t, const std::string& prefix, int64_t dim, int64_t heads, int64_t dim_cross,
                         int64_t n, int64_t m);

}  // namespace moebius
