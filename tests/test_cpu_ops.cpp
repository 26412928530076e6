// CPU backend ops against the naive double-precision references of op_reference.h, on random inputs.
// One table of ops × shapes (ggml's test-backend-ops style), awkward sizes on purpose: odd H/W,
// channel counts that are not multiples of 8/16, batch 2, stride 2 with asymmetric padding, r larger
// than the image for the local lambda.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "backend/backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "op_reference.h"

using namespace moebius;
using ref::Vec;

namespace {

// Tolerances, relative to the output's magnitude. float32 unit roundoff u = 6e-8.
// A K-term float32 dot product lands within about sqrt(K)·u·(size of the terms) of the exact value for
// random data, whatever the summation order. Observed here: at most 5e-8 · sqrt(K) · max|ref|, so
// kDot = 1e-6 · sqrt(K) · max|ref| (≈ 16 u) leaves a 20x margin, while an indexing or semantics bug
// shows up as an error of order max|ref|.
constexpr double kDot = 1e-6;
// Elementwise float ops: a few roundings, plus exp at ~2 ulp inside SiLU/softmax: 2e-6 ≈ 16 u.
constexpr double kElem = 2e-6;
// Normalisations: statistics in double, then (x - mean)·scale + beta in float: a few ulp of the
// output; 4e-6 ≈ 32 u.
constexpr double kNorm = 4e-6;

Backend& cpu() {
    static std::unique_ptr<Backend> b = make_cpu_backend(0);
    return *b;
}

struct Rng {
    std::mt19937 gen{1234};
    Vec uniform(int64_t n, float lo = -1.0f, float hi = 1.0f) {
        std::uniform_real_distribution<float> d(lo, hi);
        Vec v(n);
        for (auto& x : v) x = d(gen);
        return v;
    }
};

double max_abs(const Vec& v) {
    double m = 0;
    for (float x : v) m = std::max(m, (double)std::fabs(x));
    return m;
}

struct OpResult {
    Vec got, ref;
    double tol;
};

struct OpCase {
    std::string name;
    std::function<OpResult(Backend&, Rng&)> run;
};

const char* act_name(Act a) { return a == Act::None ? "none" : a == Act::SiLU ? "silu" : "relu"; }

std::string sh(std::initializer_list<int64_t> d) {
    std::string s;
    for (int64_t x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
    return s;
}

// --- case builders ---

// An op's residual input (added to its output): uniform values of the output's shape, uploaded, and
// added to the reference.
Tensor residual_for(Backend& be, Rng& rng, const Shape& s, Vec& ref) {
    Vec r = rng.uniform(numel(s));
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += r[i];
    return be.upload(s, r);
}

// residual: the conv's skip input (y's shape), added after the activation.
OpCase conv(int B, int Cin, int H, int W, int Cout, int kh, int kw, Conv2dParams p, bool bias, Act a,
            bool residual = false) {
    std::string name = "conv2d_" + sh({B, Cin, H, W}) + "_to" + std::to_string(Cout) + "_k" + sh({kh, kw}) + "_s" +
                       std::to_string(p.stride) + "_p" + sh({p.pad_top, p.pad_left, p.pad_bottom, p.pad_right}) +
                       "_g" + std::to_string(p.groups) + (bias ? "_bias_" : "_nobias_") + act_name(a) +
                       (residual ? "_residual" : "");
    return {name, [=](Backend& be, Rng& rng) {
                const Shape xs{B, Cin, H, W}, ws{Cout, Cin / p.groups, kh, kw};
                Vec x = rng.uniform(numel(xs)), w = rng.uniform(numel(ws)), b = bias ? rng.uniform(Cout) : Vec{};
                Tensor bt = bias ? be.upload({Cout}, b) : Tensor{};
                Vec r = ref::conv2d(x, xs, w, ws, b, p, a);
                const Shape ys{B, Cout, (H + p.pad_top + p.pad_bottom - kh) / p.stride + 1,
                               (W + p.pad_left + p.pad_right - kw) / p.stride + 1};
                Tensor st = residual ? residual_for(be, rng, ys, r) : Tensor();
                Vec got = be.download(be.conv2d(be.upload(xs, x), be.upload(ws, w), bt, p, a, st));
                return OpResult{got, r, kDot * std::sqrt((double)ws[1] * kh * kw) * max_abs(r)};
            }};
}

OpCase linear(Shape xs, int N, bool bias, Act a) {
    std::string name = "linear_" + shape_str(xs) + "_to" + std::to_string(N) + (bias ? "_bias_" : "_nobias_") +
                       act_name(a);
    return {name, [=](Backend& be, Rng& rng) {
                const int64_t K = xs.back(), M = numel(xs) / K;
                Vec x = rng.uniform(numel(xs)), w = rng.uniform(N * K), b = bias ? rng.uniform(N) : Vec{};
                Tensor bt = bias ? be.upload({N}, b) : Tensor{};
                Tensor y = be.linear(be.upload(xs, x), be.upload({N, K}, w), bt, a);
                Shape ys = xs;
                ys.back() = N;
                EXPECT_EQ(y.shape(), ys);
                Vec r = ref::linear(x, M, K, w, N, b, a);
                return OpResult{be.download(y), r, kDot * std::sqrt((double)K) * max_abs(r)};
            }};
}

OpCase matmul(int Ba, int Bb, int M, int K, int N, bool ta, bool tb, float alpha, bool residual = false) {
    std::string name = "matmul_B" + sh({Ba, Bb}) + "_MKN" + sh({M, K, N}) + (ta ? "_ta" : "") + (tb ? "_tb" : "") +
                       "_alpha" + std::to_string((int)(alpha * 100)) + (residual ? "_residual" : "");
    return {name, [=](Backend& be, Rng& rng) {
                Vec a = rng.uniform(Ba * M * K), b = rng.uniform(Bb * K * N);
                Shape as = ta ? Shape{Ba, K, M} : Shape{Ba, M, K}, bs = tb ? Shape{Bb, N, K} : Shape{Bb, K, N};
                const Shape ys{std::max(Ba, Bb), M, N};
                Vec r = ref::matmul(a, Ba, b, Bb, M, K, N, ta, tb, alpha);
                Tensor res = residual ? residual_for(be, rng, ys, r) : Tensor();
                Tensor y = be.matmul(be.upload(as, a), be.upload(bs, b), ta, tb, alpha, res);
                EXPECT_EQ(y.shape(), ys);
                return OpResult{be.download(y), r, kDot * std::sqrt((double)K) * max_abs(r)};
            }};
}

OpCase group_norm(int B, int C, int H, int W, int groups, float eps, Act a, float offset) {
    std::string name = "group_norm_" + sh({B, C, H, W}) + "_g" + std::to_string(groups) + "_" + act_name(a) +
                       "_offset" + std::to_string((int)offset);
    return {name, [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * C * H * W, offset - 1, offset + 1);  // a large mean tests cancellation
                Vec g = rng.uniform(C, 0.5f, 1.5f), b = rng.uniform(C, -0.2f, 0.2f);
                Vec got = be.download(be.group_norm(be.upload({B, C, H, W}, x), be.upload({C}, g),
                                                    be.upload({C}, b), groups, eps, a));
                Vec r = ref::group_norm(x, B, C, (int64_t)H * W, g, b, groups, eps, a);
                // The float input itself carries |offset|·u of rounding relative to its spread of 2.
                return OpResult{got, r, kNorm * max_abs(r) * std::max(1.0f, std::fabs(offset))};
            }};
}

OpCase layer_norm(int B, int C, int H, int W, float eps) {
    return {"layer_norm_channels_" + sh({B, C, H, W}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * C * H * W, -2, 3);
                Vec g = rng.uniform(C, 0.5f, 1.5f), b = rng.uniform(C, -0.2f, 0.2f);
                Vec got = be.download(
                    be.layer_norm_channels(be.upload({B, C, H, W}, x), be.upload({C}, g), be.upload({C}, b), eps));
                Vec r = ref::layer_norm_channels(x, B, C, (int64_t)H * W, g, b, eps);
                return OpResult{got, r, kNorm * max_abs(r)};
            }};
}

OpCase softmax(Shape s, float scale) {
    return {"softmax_" + shape_str(s) + "_scale" + std::to_string((int)scale), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(numel(s), -scale, scale);  // large scale: max subtraction matters
                Vec got = be.download(be.softmax(be.upload(s, x)));
                Vec r = ref::softmax(x, s.back());
                return OpResult{got, r, kElem * max_abs(r)};
            }};
}

OpCase act(Shape s, Act a) {
    return {std::string("act_") + act_name(a) + "_" + shape_str(s), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(numel(s), -30, 30);
                Vec got = be.download(be.act(be.upload(s, x), a));
                Vec r = ref::act(x, a);
                return OpResult{got, r, kElem * max_abs(r)};
            }};
}

OpCase add(Shape as, Shape bs) {
    return {"add_" + shape_str(as) + "_" + shape_str(bs), [=](Backend& be, Rng& rng) {
                Vec a = rng.uniform(numel(as)), b = rng.uniform(numel(bs));
                Vec got = be.download(be.add(be.upload(as, a), be.upload(bs, b)));
                return OpResult{got, ref::add(a, as, b, bs), kElem * 2};  // one rounding of |a + b| <= 2
            }};
}

OpCase axpby(Shape s, float alpha, float beta) {
    return {"axpby_" + shape_str(s), [=](Backend& be, Rng& rng) {
                Vec a = rng.uniform(numel(s)), b = rng.uniform(numel(s));
                Vec got = be.download(be.axpby(alpha, be.upload(s, a), beta, be.upload(s, b)));
                return OpResult{got, ref::axpby(alpha, a, beta, b), kElem * (std::fabs(alpha) + std::fabs(beta))};
            }};
}

OpCase glu_silu(int B, int C, int H, int W) {
    return {"glu_silu_" + sh({B, 2 * C, H, W}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * 2 * C * H * W, -8, 8);
                Tensor y = be.glu_silu(be.upload({B, 2 * C, H, W}, x));
                EXPECT_EQ(y.shape(), (Shape{B, C, H, W}));
                Vec r = ref::glu_silu(x, B, C, (int64_t)H * W);
                return OpResult{be.download(y), r, kElem * max_abs(r)};
            }};
}

OpCase concat_channels(int B, int Ca, int Cb, int H, int W) {
    return {"concat_channels_" + sh({B, Ca, Cb, H, W}), [=](Backend& be, Rng& rng) {
                Vec a = rng.uniform(B * Ca * H * W), b = rng.uniform(B * Cb * H * W);
                Tensor y = be.concat_channels(be.upload({B, Ca, H, W}, a), be.upload({B, Cb, H, W}, b));
                EXPECT_EQ(y.shape(), (Shape{B, Ca + Cb, H, W}));
                return OpResult{be.download(y), ref::concat_channels(a, b, B, Ca, Cb, (int64_t)H * W), 0.0};
            }};
}

OpCase slice_batch(Shape s, int start, int count) {
    return {"slice_batch_" + shape_str(s) + "_" + sh({start, count}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(numel(s));
                Tensor y = be.slice_batch(be.upload(s, x), start, count);
                Shape ys = s;
                ys[0] = count;
                EXPECT_EQ(y.shape(), ys);
                return OpResult{be.download(y), ref::slice_batch(x, numel(s) / s[0], start, count), 0.0};
            }};
}

OpCase concat_batch(Shape as, int Bb) {
    return {"concat_batch_" + shape_str(as) + "_" + std::to_string(Bb), [=](Backend& be, Rng& rng) {
                Shape bs = as;
                bs[0] = Bb;
                Vec a = rng.uniform(numel(as)), b = rng.uniform(numel(bs));
                Tensor y = be.concat_batch(be.upload(as, a), be.upload(bs, b));
                EXPECT_EQ(y.shape()[0], as[0] + Bb);
                return OpResult{be.download(y), ref::concat_batch(a, b), 0.0};
            }};
}

OpCase transpose12(int B, int M, int N) {
    return {"transpose12_" + sh({B, M, N}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * M * N);
                Tensor y = be.transpose12(be.upload({B, M, N}, x));
                EXPECT_EQ(y.shape(), (Shape{B, N, M}));
                return OpResult{be.download(y), ref::transpose12(x, B, M, N), 0.0};
            }};
}

OpCase upsample(int B, int C, int H, int W) {
    return {"upsample_nearest2x_" + sh({B, C, H, W}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * C * H * W);
                Tensor y = be.upsample_nearest2x(be.upload({B, C, H, W}, x));
                EXPECT_EQ(y.shape(), (Shape{B, C, 2 * H, 2 * W}));
                return OpResult{be.download(y), ref::upsample_nearest2x(x, B * C, H, W), 0.0};
            }};
}

OpCase resize(int B, int C, int H, int W, int oh, int ow) {
    return {"resize_nearest_" + sh({B, C, H, W}) + "_to" + sh({oh, ow}), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(B * C * H * W);
                Tensor y = be.resize_nearest(be.upload({B, C, H, W}, x), oh, ow);
                EXPECT_EQ(y.shape(), (Shape{B, C, oh, ow}));
                return OpResult{be.download(y), ref::resize_nearest(x, B * C, H, W, oh, ow), 0.0};
            }};
}

OpCase lambda_local(int B, int h, int k, int vd, int H, int W, int r, bool residual = false) {
    return {"lambda_local_position_" + sh({B, h, k, vd}) + "_" + sh({H, W}) + "_r" + std::to_string(r) +
                (residual ? "_residual" : ""),
            [=](Backend& be, Rng& rng) {
                const int64_t N = (int64_t)H * W;
                Vec q = rng.uniform(B * h * k * N), v = rng.uniform(B * vd * N), w = rng.uniform(k * r * r),
                    bias = rng.uniform(k);
                Vec rf = ref::lambda_local_position(q, v, w, bias, B, h, k, vd, H, W, r);
                Tensor res = residual ? residual_for(be, rng, {B, h, vd, N}, rf) : Tensor();
                Tensor y = be.lambda_local_position(be.upload({B, h, k, N}, q), be.upload({B, vd, N}, v),
                                                    be.upload({k, r * r}, w), be.upload({k}, bias), H, W, r, res);
                EXPECT_EQ(y.shape(), (Shape{B, h, vd, N}));
                // A sum over k·(r·r + 1) products.
                return OpResult{be.download(y), rf, kDot * std::sqrt((double)k * (r * r + 1)) * max_abs(rf)};
            }};
}

OpCase lambda_global(int B, int h, int k, int vd, int N, int L, bool residual = false) {
    return {"lambda_global_position_" + sh({B, h, k, vd, N, L}) + (residual ? "_residual" : ""),
            [=](Backend& be, Rng& rng) {
                Vec q = rng.uniform(B * h * k * N), v = rng.uniform(B * vd * L), e = rng.uniform(N * L * k);
                Vec r = ref::lambda_global_position(q, v, e, B, h, k, vd, N, L);
                Tensor res = residual ? residual_for(be, rng, {B, h, vd, N}, r) : Tensor();
                Tensor y = be.lambda_global_position(be.upload({B, h, k, N}, q), be.upload({B, vd, L}, v),
                                                     be.upload({L, k, N}, e), res);
                EXPECT_EQ(y.shape(), (Shape{B, h, vd, N}));
                return OpResult{be.download(y), r, kDot * std::sqrt((double)k * L) * max_abs(r)};
            }};
}

OpCase cfg(Shape s, float g) {
    return {"cfg_combine_" + shape_str(s), [=](Backend& be, Rng& rng) {
                Vec x = rng.uniform(numel(s));
                Tensor y = be.cfg_combine(be.upload(s, x), g);
                EXPECT_EQ(y.shape()[0], s[0] / 2);
                return OpResult{be.download(y), ref::cfg_combine(x, g), kElem * (1 + 2 * std::fabs(g))};
            }};
}

std::vector<OpCase> all_cases() {
    using P = Conv2dParams;
    std::vector<OpCase> c;
    // conv2d: 1x1 (direct GEMM), 3x3 (im2col), stride 2 + the VAE's asymmetric (0,1,0,1) pad, depthwise,
    // other group counts, odd sizes and channel counts.
    c.push_back(conv(2, 20, 13, 11, 24, 1, 1, P{}, true, Act::None));
    c.push_back(conv(1, 9, 7, 9, 17, 1, 1, P{}, false, Act::SiLU));
    c.push_back(conv(2, 13, 13, 11, 19, 3, 3, P::same(3), true, Act::None));
    c.push_back(conv(1, 4, 64, 64, 8, 3, 3, P::same(3), true, Act::SiLU));
    c.push_back(conv(1, 3, 9, 7, 5, 3, 3, P::same(3), true, Act::ReLU));
    c.push_back(conv(2, 12, 17, 15, 10, 3, 3, P{2, 0, 0, 1, 1, 1}, true, Act::None));  // VAE downsample
    c.push_back(conv(1, 8, 16, 16, 8, 3, 3, P{2, 0, 0, 1, 1, 1}, true, Act::None));
    c.push_back(conv(1, 6, 10, 12, 7, 3, 3, P::same(3, 2), false, Act::None));
    c.push_back(conv(1, 5, 11, 9, 6, 5, 3, P{1, 2, 1, 2, 1, 1}, true, Act::None));  // non-square kernel
    c.push_back(conv(2, 7, 6, 5, 9, 1, 1, P{2, 1, 0, 0, 1, 1}, true, Act::None));    // 1x1 strided+padded
    // Big enough that the GEMM path cuts the output pixels into chunks that end mid-row.
    c.push_back(conv(1, 64, 33, 37, 16, 3, 3, P::same(3), true, Act::SiLU));
    c.push_back(conv(1, 40, 35, 31, 12, 3, 3, P{2, 0, 0, 1, 1, 1}, true, Act::None));
    c.push_back(conv(2, 96, 45, 43, 24, 1, 1, P{}, true, Act::None));
    c.push_back(conv(2, 21, 13, 11, 21, 3, 3, P::same(3, 1, 21), true, Act::None));  // depthwise
    // With a residual (skip connection) added after the activation: 1x1, 3x3, strided, depthwise.
    c.push_back(conv(2, 20, 13, 11, 24, 1, 1, P{}, true, Act::None, true));
    c.push_back(conv(1, 9, 7, 9, 17, 1, 1, P{}, false, Act::SiLU, true));
    c.push_back(conv(2, 13, 13, 11, 19, 3, 3, P::same(3), true, Act::SiLU, true));
    c.push_back(conv(2, 12, 17, 15, 10, 3, 3, P{2, 0, 0, 1, 1, 1}, true, Act::None, true));
    c.push_back(conv(2, 21, 13, 11, 21, 3, 3, P::same(3, 1, 21), true, Act::ReLU, true));
    c.push_back(conv(1, 40, 64, 64, 40, 3, 3, P::same(3, 1, 40), true, Act::SiLU));
    c.push_back(conv(2, 16, 9, 12, 16, 3, 3, P::same(3, 2, 16), true, Act::None));
    c.push_back(conv(1, 10, 9, 9, 10, 3, 3, P{2, 0, 0, 1, 1, 10}, false, Act::ReLU));
    c.push_back(conv(1, 6, 8, 7, 6, 5, 5, P::same(5, 1, 6), true, Act::None));
    c.push_back(conv(1, 6, 8, 7, 6, 7, 7, P::same(7, 2, 6), true, Act::None));
    c.push_back(conv(1, 12, 7, 6, 18, 3, 3, P::same(3, 1, 3), true, Act::None));  // 3 groups
    c.push_back(conv(2, 6, 5, 7, 12, 3, 3, P::same(3, 1, 6), true, Act::None));   // depth multiplier 2
    // linear
    c.push_back(linear({5, 33}, 17, true, Act::None));
    c.push_back(linear({2, 10, 3072}, 77, true, Act::SiLU));
    c.push_back(linear({2, 7, 1, 20}, 9, false, Act::None));
    c.push_back(linear({1, 64}, 256, true, Act::ReLU));
    c.push_back(linear({3, 20}, 1100, true, Act::SiLU));  // bias + act per column block
    c.push_back(linear({1100, 20}, 7, true, Act::SiLU));  // per row block
    // matmul
    c.push_back(matmul(3, 3, 17, 23, 19, false, false, 1.0f));
    c.push_back(matmul(2, 2, 40, 4096, 40, false, true, 1.0f));
    c.push_back(matmul(1, 4, 9, 12, 11, true, false, 0.5f));
    c.push_back(matmul(4, 1, 9, 12, 11, true, true, 0.125f));
    c.push_back(matmul(2, 2, 33, 1, 31, false, false, 1.0f));
    c.push_back(matmul(1, 1, 1100, 16, 37, true, false, 1.0f));  // cut into row blocks
    c.push_back(matmul(2, 1, 20, 8, 1100, false, true, 2.0f));   // cut into column blocks
    c.push_back(matmul(2, 6, 7, 5, 9, true, false, 1.0f));        // grouped broadcast: a item i/3 with b item i
    c.push_back(matmul(2, 6, 7, 5, 9, true, false, 1.0f, true));  // + residual (the λ content term's skip)
    c.push_back(matmul(1, 1, 1100, 16, 37, true, false, 0.5f, true));
    // normalisation
    c.push_back(group_norm(2, 64, 9, 7, 32, 1e-5f, Act::None, 0));
    c.push_back(group_norm(1, 96, 16, 16, 32, 1e-6f, Act::SiLU, 0));
    c.push_back(group_norm(2, 6, 5, 3, 3, 1e-5f, Act::None, 50));
    c.push_back(group_norm(1, 4, 1, 1, 2, 1e-5f, Act::ReLU, 0));
    c.push_back(layer_norm(2, 40, 9, 7, 1e-5f));
    c.push_back(layer_norm(1, 320, 8, 8, 1e-6f));
    c.push_back(layer_norm(1, 3, 1, 130, 1e-5f));
    c.push_back(softmax({3, 4096}, 10));
    c.push_back(softmax({2, 7, 10}, 50));
    c.push_back(softmax({5, 1}, 1));
    c.push_back(softmax({1, 33}, 1));
    // elementwise / layout
    c.push_back(act({2, 5, 7, 9}, Act::SiLU));
    c.push_back(act({1, 100003}, Act::SiLU));
    c.push_back(act({3, 17}, Act::ReLU));
    c.push_back(act({3, 17}, Act::None));
    c.push_back(add({2, 5, 7, 9}, {2, 5, 7, 9}));
    c.push_back(add({2, 5, 7, 9}, {2, 5, 1, 1}));
    c.push_back(add({2, 5, 7, 9}, {1, 5, 1, 1}));
    c.push_back(add({2, 320, 64, 64}, {2, 320, 1, 1}));
    c.push_back(axpby({3, 4, 5}, 0.7f, -1.3f));
    c.push_back(axpby({1, 4, 64, 64}, 0.97f, 0.03f));
    c.push_back(glu_silu(2, 5, 7, 9));
    c.push_back(glu_silu(1, 800, 8, 8));
    c.push_back(concat_channels(2, 3, 5, 7, 9));
    c.push_back(concat_channels(1, 1, 4, 4, 4));
    c.push_back(slice_batch({4, 3, 5}, 1, 2));
    c.push_back(slice_batch({2, 9, 7, 7}, 1, 1));
    c.push_back(concat_batch({1, 4, 5, 6}, 1));
    c.push_back(concat_batch({2, 3}, 3));
    c.push_back(transpose12(2, 37, 45));
    c.push_back(transpose12(1, 4096, 40));
    c.push_back(transpose12(3, 1, 7));
    c.push_back(upsample(2, 3, 5, 7));
    c.push_back(upsample(1, 4, 1, 1));
    c.push_back(resize(1, 1, 512, 512, 64, 64));  // the mask to the latent
    c.push_back(resize(2, 3, 7, 5, 3, 2));
    c.push_back(resize(1, 2, 5, 6, 13, 9));
    c.push_back(resize(1, 2, 6, 9, 6, 18));
    c.push_back(resize(1, 1, 100, 100, 33, 77));
    // lambdas: r = 3 and r = 15, images smaller than r, k/vd not multiples of 8, W not a multiple of 32.
    c.push_back(lambda_local(1, 2, 5, 3, 4, 5, 3));
    c.push_back(lambda_local(2, 2, 6, 9, 7, 9, 3));
    c.push_back(lambda_local(2, 3, 4, 10, 7, 9, 15));
    c.push_back(lambda_local(1, 1, 3, 2, 1, 1, 15));
    c.push_back(lambda_local(1, 2, 8, 8, 40, 33, 15));
    c.push_back(lambda_local(1, 2, 8, 16, 64, 64, 15));
    c.push_back(lambda_local(1, 1, 7, 17, 16, 70, 5));
    c.push_back(lambda_local(1, 2, 8, 8, 16, 16, 15));  // the 16-wide path at its widest
    c.push_back(lambda_local(1, 1, 5, 3, 5, 17, 3));    // the 32-wide path at its narrowest
    c.push_back(lambda_global(2, 2, 5, 7, 63, 10));
    c.push_back(lambda_global(1, 4, 40, 40, 130, 10));
    c.push_back(lambda_global(2, 1, 3, 1, 1, 1));
    c.push_back(lambda_local(2, 2, 6, 9, 7, 9, 3, true));  // + residual (the content term)
    c.push_back(lambda_global(2, 2, 5, 7, 63, 10, true));
    c.push_back(lambda_global(1, 1, 3, 5, 20, 40, true));  // L > 16: the residual starts the first chunk
    c.push_back(cfg({2, 4, 9, 7}, 2.5f));
    c.push_back(cfg({4, 4, 64, 64}, 7.5f));
    return c;
}

}  // namespace

class CpuOps : public ::testing::TestWithParam<OpCase> {};

TEST_P(CpuOps, MatchesReference) {
    Rng rng;
    OpResult r = GetParam().run(cpu(), rng);
    EXPECT_CLOSE(r.got, r.ref, r.tol, GetParam().name.c_str());
}

INSTANTIATE_TEST_SUITE_P(Table, CpuOps, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                             std::string s = info.param.name;
                             for (char& ch : s)
                                 if (!std::isalnum((unsigned char)ch)) ch = '_';
                             return s;
                         });

// The local lambda once more, the way upstream materialises it but built from backend ops: pos_conv as a
// conv2d over the (B·vd, 1, H, W) slices of V (λp laid out (B, vd, k, N)), then the k-sum per position.
TEST(CpuOpsLambda, LocalMatchesMaterialisedPosConv) {
    Backend& be = cpu();
    Rng rng;
    const int B = 2, h = 3, k = 6, vd = 5, H = 11, W = 13, r = 7;
    const int64_t N = H * W;
    Vec q = rng.uniform(B * h * k * N), v = rng.uniform(B * vd * N), w = rng.uniform(k * r * r), bias = rng.uniform(k);
    Tensor lp = be.conv2d(be.upload({B * vd, 1, H, W}, v), be.upload({k, 1, r, r}, w), be.upload({k}, bias),
                          Conv2dParams::same(r));
    Vec lpv = be.download(lp);  // (B, vd, k, N)
    Vec want(B * h * vd * N);
    for (int b = 0; b < B; ++b)
        for (int hh = 0; hh < h; ++hh)
            for (int vv = 0; vv < vd; ++vv)
                for (int64_t n = 0; n < N; ++n) {
                    double acc = 0;
                    for (int kk = 0; kk < k; ++kk)
                        acc += (double)q[((b * h + hh) * k + kk) * N + n] * lpv[((b * vd + vv) * k + kk) * N + n];
                    want[((b * h + hh) * vd + vv) * N + n] = (float)acc;
                }
    Vec got = be.download(be.lambda_local_position(be.upload({B, h, k, N}, q), be.upload({B, vd, N}, v),
                                                   be.upload({k, r * r}, w), be.upload({k}, bias), H, W, r));
    EXPECT_CLOSE(got, want, kDot * std::sqrt((double)k * (r * r + 1)) * max_abs(want), "lambda_local vs pos_conv");
}

// Results do not depend on the thread count (each output is summed in a fixed order by one thread).
TEST(CpuOpsThreads, OneAndAllThreadsAgreeBitwise) {
    Rng rng;
    Vec x = rng.uniform(2 * 24 * 19 * 23), w = rng.uniform(32 * 24 * 9), b = rng.uniform(32);
    Vec q = rng.uniform(2 * 2 * 8 * 19 * 23), v = rng.uniform(2 * 8 * 19 * 23), lw = rng.uniform(8 * 25);
    Vec big = rng.uniform(1200 * 24);
    auto run = [&](Backend& be) {
        Vec a = be.download(be.conv2d(be.upload({2, 24, 19, 23}, x), be.upload({32, 24, 3, 3}, w),
                                      be.upload({32}, b), Conv2dParams::same(3), Act::SiLU));
        Vec c = be.download(be.group_norm(be.upload({2, 24, 19, 23}, x), be.upload({24}, b.data()),
                                          be.upload({24}, b.data() + 8), 8, 1e-5f, Act::SiLU));
        Vec d = be.download(be.lambda_local_position(be.upload({2, 2, 8, 19 * 23}, q), be.upload({2, 8, 19 * 23}, v),
                                                     be.upload({8, 25}, lw), be.upload({8}, b), 19, 23, 5));
        // 1x1 conv and matmul: big enough to be cut into several GEMM tasks
        Vec e = be.download(be.conv2d(be.upload({2, 24, 19, 23}, x), be.upload({1200, 24, 1, 1}, big),
                                      Tensor{}, Conv2dParams{}, Act::SiLU));
        Vec f = be.download(be.matmul(be.upload({2, 19 * 23, 24}, x), be.upload({1, 1200, 24}, big), false, true));
        for (const Vec* v : {&c, &d, &e, &f}) a.insert(a.end(), v->begin(), v->end());
        return a;
    };
    Vec one = run(*make_cpu_backend(1));
    Vec all = run(*make_cpu_backend(0));
    EXPECT_EQ(one, all);
}

// Shape errors name the op and the shapes.
TEST(CpuOpsErrors, ShapeMismatchesNameOpAndShapes) {
    Backend& be = cpu();
    auto expect_msg = [](auto&& f, const std::string& want) {
        try {
            f();
            ADD_FAILURE() << "no error, wanted: " << want;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
        }
    };
    Tensor x = be.zeros({1, 4, 5, 5});
    expect_msg([&] { be.conv2d(x, be.zeros({8, 3, 3, 3}), {}, Conv2dParams::same(3)); }, "conv2d");
    expect_msg([&] { be.conv2d(x, be.zeros({8, 3, 3, 3}), {}, Conv2dParams::same(3)); }, "[8,3,3,3]");
    expect_msg([&] { be.conv2d(x, be.zeros({8, 4, 3, 3}), {}, Conv2dParams::same(3), Act::None, be.zeros({1, 8, 5, 4})); },
               "residual must be the output's shape [1,8,5,5]");
    expect_msg([&] { be.linear(be.zeros({2, 5}), be.zeros({3, 4}), {}); }, "linear: x (..., K)");
    expect_msg([&] { be.matmul(be.zeros({2, 3, 4}), be.zeros({3, 5, 6}), false, false); }, "matmul");
    expect_msg([&] { be.matmul(be.zeros({4, 3, 4}), be.zeros({2, 4, 6}), false, false); }, "do not broadcast");
    expect_msg([&] { be.lambda_global_position(be.zeros({1, 2, 4, 20}), be.zeros({1, 3, 10}), be.zeros({20, 10, 4})); },
               "e (L, k, N)");  // upstream's (N, L, k) order is refused
    expect_msg([&] { be.add(x, be.zeros({1, 4, 5, 1})); }, "add: b must have a's shape");
    expect_msg([&] { be.group_norm(x, be.zeros({4}), be.zeros({4}), 3, 1e-5f); }, "group_norm");
    expect_msg([&] { be.glu_silu(be.zeros({1, 3, 2, 2})); }, "glu_silu");
    expect_msg([&] { be.slice_batch(x, 1, 1); }, "slice_batch");
    expect_msg([&] { be.cfg_combine(be.zeros({3, 4}), 2.0f); }, "cfg_combine");
    expect_msg(
        [&] {
            be.lambda_local_position(be.zeros({1, 2, 4, 20}), be.zeros({1, 3, 20}), be.zeros({4, 9}),
                                     be.zeros({4}), 4, 5, 4);
        },
        "r odd");
}
