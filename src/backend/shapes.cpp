#include "backend/shapes.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/error.h"

// Throws "op: what"; `what` is evaluated only when `cond` fails.
#define CHECK_SHAPE(cond, op, what) MOEBIUS_CHECK((cond), ErrorKind::Internal, std::string(op) + ": " + (what))

namespace moebius {
namespace {

std::string shapes_ab(const Tensor& a, const Tensor& b) {
    return "a " + shape_str(a.shape()) + ", b " + shape_str(b.shape());
}

// Elements per (batch, channel) of an NCHW-like tensor: the product of dims 2 onwards.
int64_t spatial(const Tensor& x) {
    int64_t s = 1;
    for (int i = 2; i < x.ndim(); ++i) s *= x.dim(i);
    return s;
}

}  // namespace

void check_residual(const char* op, const Tensor& residual, const Shape& out) {
    CHECK_SHAPE(residual.empty() || residual.shape() == out, op,
                "residual must be the output's shape " + shape_str(out) + ", got " + shape_str(residual.shape()));
}

Conv2dDims conv2d_shape(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                        const Tensor& residual) {
    const char* op = "conv2d";
    const auto shapes = [&] {
        return "x " + shape_str(x.shape()) + ", w " + shape_str(w.shape()) + ", b " + shape_str(b.shape()) +
               ", groups " + std::to_string(p.groups) + ", stride " + std::to_string(p.stride);
    };
    CHECK_SHAPE(x.ndim() == 4 && w.ndim() == 4, op, "x and w must be 4-D: " + shapes());
    CHECK_SHAPE(
        p.groups >= 1 && p.stride >= 1 && p.pad_top >= 0 && p.pad_left >= 0 && p.pad_bottom >= 0 && p.pad_right >= 0,
        op, "bad params: " + shapes());
    Conv2dDims d{};
    d.B = x.dim(0), d.Cin = x.dim(1), d.H = x.dim(2), d.W = x.dim(3);
    d.Cout = w.dim(0), d.kh = w.dim(2), d.kw = w.dim(3);
    CHECK_SHAPE(d.Cin % p.groups == 0 && d.Cout % p.groups == 0 && w.dim(1) * p.groups == d.Cin, op,
                "channels do not match groups: " + shapes());
    CHECK_SHAPE(b.empty() || (b.ndim() == 1 && b.dim(0) == d.Cout), op, "bias must be (Cout): " + shapes());
    const int64_t hp = d.H + p.pad_top + p.pad_bottom, wp = d.W + p.pad_left + p.pad_right;
    CHECK_SHAPE(hp >= d.kh && wp >= d.kw, op, "kernel larger than padded input: " + shapes());
    d.OH = (hp - d.kh) / p.stride + 1;
    d.OW = (wp - d.kw) / p.stride + 1;
    check_residual(op, residual, d.out());
    return d;
}

LinearDims linear_shape(const Tensor& x, const Tensor& w, const Tensor& b) {
    const char* op = "linear";
    const auto shapes = [&] {
        return "x " + shape_str(x.shape()) + ", w " + shape_str(w.shape()) + ", b " + shape_str(b.shape());
    };
    CHECK_SHAPE(x.ndim() >= 1 && w.ndim() == 2 && x.dim(-1) == w.dim(1), op, "x (..., K), w (N, K): " + shapes());
    CHECK_SHAPE(b.empty() || (b.ndim() == 1 && b.dim(0) == w.dim(0)), op, "bias must be (N): " + shapes());
    const int64_t K = w.dim(1), N = w.dim(0);
    Shape out = x.shape();
    out.back() = N;
    return {K ? x.numel() / K : 0, K, N, std::move(out)};
}

MatmulDims matmul_shape(const Tensor& a, const Tensor& b, bool ta, bool tb) {
    const char* op = "matmul";
    const auto shapes = [&] {
        return "a " + shape_str(a.shape()) + (ta ? "ᵀ" : "") + ", b " + shape_str(b.shape()) + (tb ? "ᵀ" : "");
    };
    CHECK_SHAPE((a.ndim() == 3 || a.ndim() == 2) && (b.ndim() == 3 || b.ndim() == 2), op,
                "a and b must be 2-D or 3-D: " + shapes());
    MatmulDims d{};
    d.Ba = a.ndim() == 3 ? a.dim(0) : 1, d.Bb = b.ndim() == 3 ? b.dim(0) : 1;
    CHECK_SHAPE(d.Bb % d.Ba == 0 || d.Bb == 1, op, "batch dims do not broadcast: " + shapes());
    d.M = ta ? a.dim(-1) : a.dim(-2), d.K = ta ? a.dim(-2) : a.dim(-1);
    const int64_t Kb = tb ? b.dim(-1) : b.dim(-2);
    d.N = tb ? b.dim(-2) : b.dim(-1);
    CHECK_SHAPE(d.K == Kb, op, "inner dims differ: " + shapes());
    d.Bt = std::max(d.Ba, d.Bb);
    d.out = a.ndim() == 2 && b.ndim() == 2 ? Shape{d.M, d.N} : Shape{d.Bt, d.M, d.N};
    return d;
}

NormDims group_norm_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups) {
    const char* op = "group_norm";
    const auto shapes = [&] {
        return "x " + shape_str(x.shape()) + ", gamma " + shape_str(gamma.shape()) + ", beta " +
               shape_str(beta.shape()) + ", groups " + std::to_string(groups);
    };
    CHECK_SHAPE(x.ndim() >= 2 && groups >= 1 && x.dim(1) > 0 && x.dim(1) % groups == 0, op,
                "x must be (B, C, ...) with C divisible by groups: " + shapes());
    const int64_t C = x.dim(1);
    CHECK_SHAPE(gamma.numel() == C && beta.numel() == C, op, "gamma/beta must have C elements: " + shapes());
    return {x.dim(0), C, spatial(x)};
}

NormDims layer_norm_channels_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta) {
    const char* op = "layer_norm_channels";
    const auto shapes = [&] {
        return "x " + shape_str(x.shape()) + ", gamma " + shape_str(gamma.shape()) + ", beta " +
               shape_str(beta.shape());
    };
    CHECK_SHAPE(x.ndim() >= 2 && x.dim(1) > 0, op, "x must be (B, C, ...): " + shapes());
    const int64_t C = x.dim(1);
    CHECK_SHAPE(gamma.numel() == C && beta.numel() == C, op, "gamma/beta must have C elements: " + shapes());
    return {x.dim(0), C, spatial(x)};
}

Shape softmax_shape(const Tensor& x) {
    CHECK_SHAPE(x.ndim() >= 1 && x.dim(-1) > 0, "softmax", "empty last dim: " + shape_str(x.shape()));
    return x.shape();
}

Shape add_shape(const Tensor& a, const Tensor& b) {
    CHECK_SHAPE(a.shape() == b.shape() || (a.ndim() == 4 && b.ndim() == 4 && (b.dim(0) == a.dim(0) || b.dim(0) == 1) &&
                                           b.dim(1) == a.dim(1) && b.dim(2) == 1 && b.dim(3) == 1),
                "add", "b must have a's shape or be (B, C, 1, 1) / (1, C, 1, 1): " + shapes_ab(a, b));
    return a.shape();
}

Shape axpby_shape(const Tensor& a, const Tensor& b) {
    CHECK_SHAPE(a.shape() == b.shape(), "axpby", "shapes differ: " + shapes_ab(a, b));
    return a.shape();
}

Shape glu_silu_shape(const Tensor& x) {
    CHECK_SHAPE(x.ndim() >= 2 && x.dim(1) % 2 == 0, "glu_silu", "x must be (B, 2C, ...): " + shape_str(x.shape()));
    Shape out = x.shape();
    out[1] /= 2;
    return out;
}

Shape concat_channels_shape(const Tensor& a, const Tensor& b) {
    bool ok = a.ndim() >= 2 && a.ndim() == b.ndim() && a.dim(0) == b.dim(0);
    for (int i = 2; ok && i < a.ndim(); ++i) ok = a.dim(i) == b.dim(i);
    CHECK_SHAPE(ok, "concat_channels", "shapes differ outside dim 1: " + shapes_ab(a, b));
    Shape out = a.shape();
    out[1] += b.dim(1);
    return out;
}

Shape slice_batch_shape(const Tensor& x, int64_t start, int64_t count) {
    CHECK_SHAPE(
        x.ndim() >= 1 && start >= 0 && count >= 0 && start + count <= x.dim(0), "slice_batch",
        "rows [" + std::to_string(start) + ", " + std::to_string(start + count) + ") of " + shape_str(x.shape()));
    Shape out = x.shape();
    out[0] = count;
    return out;
}

Shape concat_batch_shape(const Tensor& a, const Tensor& b) {
    bool ok = a.ndim() >= 1 && a.ndim() == b.ndim();
    for (int i = 1; ok && i < a.ndim(); ++i) ok = a.dim(i) == b.dim(i);
    CHECK_SHAPE(ok, "concat_batch", "shapes differ outside dim 0: " + shapes_ab(a, b));
    Shape out = a.shape();
    out[0] += b.dim(0);
    return out;
}

Shape transpose12_shape(const Tensor& x) {
    CHECK_SHAPE(x.ndim() == 3, "transpose12", "x must be (B, M, N): " + shape_str(x.shape()));
    return {x.dim(0), x.dim(2), x.dim(1)};
}

Shape upsample_nearest2x_shape(const Tensor& x) {
    CHECK_SHAPE(x.ndim() == 4, "upsample_nearest2x", "x must be (B, C, H, W): " + shape_str(x.shape()));
    return {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)};
}

Shape resize_nearest_shape(const Tensor& x, int oh, int ow) {
    CHECK_SHAPE(x.ndim() == 4 && oh > 0 && ow > 0, "resize_nearest",
                "x must be (B, C, H, W), size positive: " + shape_str(x.shape()) + " -> " + std::to_string(oh) + "x" +
                    std::to_string(ow));
    return {x.dim(0), x.dim(1), oh, ow};
}

Shape lambda_local_position_shape(const Tensor& q, const Tensor& v, const Tensor& w, const Tensor& bias, int H, int W,
                                  int r) {
    const char* op = "lambda_local_position";
    const auto shapes = [&] {
        return "q " + shape_str(q.shape()) + ", v " + shape_str(v.shape()) + ", w " + shape_str(w.shape()) + ", bias " +
               shape_str(bias.shape()) + ", H " + std::to_string(H) + ", W " + std::to_string(W) + ", r " +
               std::to_string(r);
    };
    CHECK_SHAPE(q.ndim() == 4 && v.ndim() == 3 && q.dim(0) == v.dim(0) && q.dim(3) == (int64_t)H * W &&
                    v.dim(2) == (int64_t)H * W,
                op, "q (B, h, k, H*W), v (B, vd, H*W): " + shapes());
    CHECK_SHAPE(r >= 1 && r % 2 == 1 && w.numel() == q.dim(2) * r * r && bias.numel() == q.dim(2), op,
                "w (k, r*r), bias (k), r odd: " + shapes());
    return {q.dim(0), q.dim(1), v.dim(1), (int64_t)H * W};
}

Shape lambda_global_position_shape(const Tensor& q, const Tensor& v, const Tensor& e) {
    CHECK_SHAPE(q.ndim() == 4 && v.ndim() == 3 && e.ndim() == 3 && q.dim(0) == v.dim(0) && e.dim(0) == v.dim(2) &&
                    e.dim(1) == q.dim(2) && e.dim(2) == q.dim(3),
                "lambda_global_position",
                "q (B, h, k, N), v (B, vd, L), e (L, k, N): q " + shape_str(q.shape()) + ", v " + shape_str(v.shape()) +
                    ", e " + shape_str(e.shape()));
    return {q.dim(0), q.dim(1), v.dim(1), q.dim(3)};
}

Shape cfg_combine_shape(const Tensor& x) {
    CHECK_SHAPE(x.ndim() >= 1 && x.dim(0) % 2 == 0, "cfg_combine", "x must be (2B, ...): " + shape_str(x.shape()));
    Shape out = x.shape();
    out[0] /= 2;
    return out;
}

}  // namespace moebius
