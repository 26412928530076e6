// CPU kernels on raw float pointers (NCHW, contiguous). The CpuBackend (cpu_backend.cpp) checks shapes
// and allocates; these only compute. `nt` is the number of OpenMP threads to use.
#pragma once
#include <cstdint>

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

// Row-major C (M, N) = alpha · op(A) · op(B), op = transpose if ta/tb; A (M, K) or (K, M), B (K, N) or (N, K).
// Split over nt threads by rows or columns of C; must not be called from inside a parallel region.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float* C, int64_t ldc, int nt);

// Batched gemm: a (Ba, M, K) or (Ba, K, M) if ta, b (Bb, K, N) or (Bb, N, K) if tb; a batch of 1 broadcasts.
void matmul(const float* a, int64_t Ba, const float* b, int64_t Bb, float* y, int64_t M, int64_t N, int64_t K,
            bool ta, bool tb, float alpha, int nt);

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

// See Backend::lambda_global_position. q (B, h, k, N), v (B, vd, L), e (N, L, k) -> y (B, h, vd, N).
void lambda_global_position(const float* q, const float* v, const float* e, float* y, int B, int heads, int k,
                            int vd, int N, int L, int nt);

}  // namespace moebius::cpu
