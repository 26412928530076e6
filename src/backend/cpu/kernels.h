// CPU kernels on raw float pointers (NCHW, contiguous). The CpuBackend (cpu_backend.cpp) checks shapes
// and allocates; these only compute. `nt` is the number of OpenMP threads to use.
#pragma once
#include <cstdint>
#include <functional>

#include "backend/backend.h"

namespace moebius::cpu {

struct ConvDims {
    int B, Cin, H, W;    // input
    int Cout, kh, kw;    // weight (Cout, Cin/groups, kh, kw)
    int OH, OW;          // output
};

// y = act(conv2d(x, w) + b); b may be null.
void conv2d(const float* x, const float* w, const float* b, float* y, const ConvDims& d, const Conv2dParams& p,
            Act act, int nt);

// A batch of row-major GEMMs: C_i (M, N) = alpha · op(A_i) · op(B_i) for i < batches, op = transpose if
// ta / tb (A_i is (M, K) or (K, M), B_i (K, N) or (N, K)), X_i = X + i · strideX (0 broadcasts).
struct Gemm {
    bool ta = false, tb = false;
    int64_t M = 0, N = 0, K = 0;
    float alpha = 1.0f;
    const float* A = nullptr;
    int64_t lda = 0, strideA = 0, groupA = 1;  // batch item i uses A item i / groupA
    const float* B = nullptr;
    int64_t ldb = 0, strideB = 0;
    float* C = nullptr;
    int64_t ldc = 0, strideC = 0;
};
// Runs on the thread that just computed rows [m0, m1) x columns [n0, n1) of C_i, while they are in cache.
using GemmEpilogue = std::function<void(int64_t i, int64_t m0, int64_t m1, int64_t n0, int64_t n1)>;
// Split over nt threads in blocks of rows or columns; must not be called from inside a parallel region.
void gemm(const Gemm& g, int64_t batches, int nt, const GemmEpilogue& epi = {});

// y (M, N) = act(x (M, K) · w(N, K)ᵀ + b); b may be null.
void linear(const float* x, const float* w, const float* b, float* y, int64_t M, int64_t N, int64_t K, Act act,
            int nt);

// x (B, C, S): per (b, group) statistics, per-channel affine, optional activation.
void group_norm(const float* x, const float* gamma, const float* beta, float* y, int64_t B, int64_t C, int64_t S,
                int groups, float eps, Act act, int nt);

// x (B, C, S): LayerNorm over C at each of the S positions.
void layer_norm_channels(const float* x, const float* gamma, const float* beta, float* y, int64_t B, int64_t C,
                         int64_t S, float eps, int nt);

// Softmax over rows of length D.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t D, int nt);

// See Backend::lambda_local_position. q (B, h, k, H*W), v (B, vd, H*W), w (k, r*r), bias (k) -> y (B, h, vd, H*W).
void lambda_local_position(const float* q, const float* v, const float* w, const float* bias, float* y, int B,
                           int heads, int k, int vd, int H, int W, int r, int nt);

// See Backend::lambda_global_position. q (B, h, k, N), v (B, vd, L), e (L, k, N) -> y (B, h, vd, N).
void lambda_global_position(const float* q, const float* v, const float* e, float* y, int B, int heads, int k,
                            int vd, int N, int L, int nt);

}  // namespace moebius::cpu
