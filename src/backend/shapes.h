// Shape rules of the Backend ops (backend.h), shared by every backend: each function checks its op's
// input shapes and returns the output shape (or the dims its kernels take). A bad shape throws
// ErrorKind::Internal "op: what: shapes"; the message is built only then (ops are recorded per call).
#pragma once
#include <cstdint>

#include "backend/backend.h"

namespace moebius {

struct Conv2dDims {
    int64_t B, Cin, H, W;  // x
    int64_t Cout, kh, kw;  // w (Cout, Cin/groups, kh, kw)
    int64_t OH, OW;        // y (B, Cout, OH, OW)
    Shape out() const { return {B, Cout, OH, OW}; }
};
// An op's optional residual (added to its output): empty, or exactly the output's shape.
void check_residual(const char* op, const Tensor& residual, const Shape& out);

Conv2dDims conv2d_shape(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                        const Tensor& residual = Tensor());

struct LinearDims {
    int64_t M, K, N;  // M rows of K in x, N outputs
    Shape out;        // x's shape with N last
};
LinearDims linear_shape(const Tensor& x, const Tensor& w, const Tensor& b);

struct MatmulDims {
    int64_t Ba, Bb, Bt;  // batch of a, of b, of the output (1 for 2-D inputs)
    int64_t M, K, N;
    Shape out;  // (M, N) for two 2-D inputs, else (Bt, M, N)
};
MatmulDims matmul_shape(const Tensor& a, const Tensor& b, bool ta, bool tb);

// Normalisations: x (B, C, S...) viewed as (B, C, S); the output has x's shape.
struct NormDims {
    int64_t B, C, S;
};
NormDims group_norm_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups);
NormDims layer_norm_channels_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta);

// Output shapes.
Shape softmax_shape(const Tensor& x);
Shape add_shape(const Tensor& a, const Tensor& b);  // a's; b is a's shape or broadcast (B|1, C, 1, 1)
Shape axpby_shape(const Tensor& a, const Tensor& b);
Shape glu_silu_shape(const Tensor& x);
Shape concat_channels_shape(const Tensor& a, const Tensor& b);
Shape slice_batch_shape(const Tensor& x, int64_t start, int64_t count);
Shape concat_batch_shape(const Tensor& a, const Tensor& b);
Shape transpose12_shape(const Tensor& x);
Shape upsample_nearest2x_shape(const Tensor& x);
Shape resize_nearest_shape(const Tensor& x, int oh, int ow);
Shape lambda_local_position_shape(const Tensor& q, const Tensor& v, const Tensor& w, const Tensor& bias, int H, int W,
                                  int r);
Shape lambda_global_position_shape(const Tensor& q, const Tensor& v, const Tensor& e);
Shape cfg_combine_shape(const Tensor& x);

}  // namespace moebius
