// Naive reference implementations of every Backend op, in double precision, straight from the PyTorch
// definitions. Plain loops on std::vector<float> + shapes, no backend involved, so they can check any
// backend (CPU now, WebGPU later). Results are rounded to float once at the end.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"

namespace moebius::ref {

using Vec = std::vector<float>;

inline Vec to_float(const std::vector<double>& d) { return Vec(d.begin(), d.end()); }

inline double act(double x, Act a) {
    switch (a) {
        case Act::None: return x;
        case Act::SiLU: return x / (1.0 + std::exp(-x));
        case Act::ReLU: return x > 0 ? x : 0.0;
    }
    return x;
}

// Output size of a conv along one dim (PyTorch: floor((in + pads - k) / stride) + 1).
inline int64_t conv_out(int64_t in, int64_t k, int pad0, int pad1, int stride) {
    return (in + pad0 + pad1 - k) / stride + 1;
}

// torch.nn.functional.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride, groups=groups), then act.
// x (B, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or empty -> (B, Cout, OH, OW).
inline Vec conv2d(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Vec& b,
                  const Conv2dParams& p, Act a = Act::None) {
    const int64_t B = xs[0], Cin = xs[1], H = xs[2], W = xs[3];
    const int64_t Cout = ws[0], Cg = ws[1], kh = ws[2], kw = ws[3];
    const int64_t OH = conv_out(H, kh, p.pad_top, p.pad_bottom, p.stride);
    const int64_t OW = conv_out(W, kw, p.pad_left, p.pad_right, p.stride);
    const int64_t Og = Cout / p.groups;
    std::vector<double> y(B * Cout * OH * OW);
    for (int64_t bi = 0; bi < B; ++bi)
        for (int64_t co = 0; co < Cout; ++co) {
            const int64_t g = co / Og;
            for (int64_t oy = 0; oy < OH; ++oy)
                for (int64_t ox = 0; ox < OW; ++ox) {
                    double acc = b.empty() ? 0.0 : b[co];
                    for (int64_t ci = 0; ci < Cg; ++ci)
                        for (int64_t i = 0; i < kh; ++i)
                            for (int64_t j = 0; j < kw; ++j) {
                                const int64_t iy = oy * p.stride + i - p.pad_top;
                                const int64_t ix = ox * p.stride + j - p.pad_left;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)w[((co * Cg + ci) * kh + i) * kw + j] *
                                       x[((bi * Cin + g * Cg + ci) * H + iy) * W + ix];
                            }
                    y[((bi * Cout + co) * OH + oy) * OW + ox] = act(acc, a);
                }
        }
    return to_float(y);
}

// F.linear: x (M, K) · w(N, K)ᵀ + b, then act -> (M, N).
inline Vec linear(const Vec& x, int64_t M, int64_t K, const Vec& w, int64_t N, const Vec& b, Act a = Act::None) {
    std::vector<double> y(M * N);
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
            double acc = b.empty() ? 0.0 : b[n];
            for (int64_t k = 0; k < K; ++k) acc += (double)x[m * K + k] * w[n * K + k];
            y[m * N + n] = act(acc, a);
        }
    return to_float(y);
}

// alpha * op(a) · op(b), batched: a (Ba, M, K) or (Ba, K, M) if ta; b (Bb, K, N) or (Bb, N, K) if tb;
// a batch of 1 broadcasts -> (max(Ba, Bb), M, N).
inline Vec matmul(const Vec& a, int64_t Ba, const Vec& b, int64_t Bb, int64_t M, int64_t K, int64_t N, bool ta,
                  bool tb, float alpha = 1.0f) {
    const int64_t Bt = std::max(Ba, Bb);
    std::vector<double> y(Bt * M * N);
    for (int64_t i = 0; i < Bt; ++i) {
        const float* A = a.data() + (Ba == 1 ? 0 : i / (Bt / Ba) * M * K);
        const float* Bm = b.data() + (Bb == 1 ? 0 : i * K * N);
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                double acc = 0;
                for (int64_t k = 0; k < K; ++k)
                    acc += (double)(ta ? A[k * M + m] : A[m * K + k]) * (tb ? Bm[n * K + k] : Bm[k * N + n]);
                y[(i * M + m) * N + n] = alpha * acc;
            }
    }
    return to_float(y);
}

// nn.GroupNorm(groups, C, eps) on x (B, C, S), then act.
inline Vec group_norm(const Vec& x, int64_t B, int64_t C, int64_t S, const Vec& gamma, const Vec& beta, int groups,
                      float eps, Act a = Act::None) {
    const int64_t Cg = C / groups, n = Cg * S;
    std::vector<double> y(x.size());
    for (int64_t bg = 0; bg < B * groups; ++bg) {
        const float* xs = x.data() + bg * n;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; ++i) mean += xs[i];
        mean /= n;
        for (int64_t i = 0; i < n; ++i) var += (xs[i] - mean) * (xs[i] - mean);
        var /= n;  // biased, as torch
        const double rstd = 1.0 / std::sqrt(var + (double)eps);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t c = (bg % groups) * Cg + i / S;
            y[bg * n + i] = act((xs[i] - mean) * rstd * gamma[c] + beta[c], a);
        }
    }
    return to_float(y);
}

// nn.LayerNorm(C, eps) applied to the (B, S, C) tokens of an NCHW x (B, C, S), result back in NCHW.
inline Vec layer_norm_channels(const Vec& x, int64_t B, int64_t C, int64_t S, const Vec& gamma, const Vec& beta,
                               float eps) {
    std::vector<double> y(x.size());
    for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s) {
            auto at = [&](int64_t c) { return (b * C + c) * S + s; };
            double mean = 0, var = 0;
            for (int64_t c = 0; c < C; ++c) mean += x[at(c)];
            mean /= C;
            for (int64_t c = 0; c < C; ++c) var += (x[at(c)] - mean) * (x[at(c)] - mean);
            var /= C;
            const double rstd = 1.0 / std::sqrt(var + (double)eps);
            for (int64_t c = 0; c < C; ++c) y[at(c)] = (x[at(c)] - mean) * rstd * gamma[c] + beta[c];
        }
    return to_float(y);
}

// softmax over rows of length D.
inline Vec softmax(const Vec& x, int64_t D) {
    std::vector<double> y(x.size());
    for (size_t r = 0; r < x.size() / D; ++r) {
        const float* xr = x.data() + r * D;
        const double mx = *std::max_element(xr, xr + D);
        double sum = 0;
        for (int64_t i = 0; i < D; ++i) sum += std::exp(xr[i] - mx);
        for (int64_t i = 0; i < D; ++i) y[r * D + i] = std::exp(xr[i] - mx) / sum;
    }
    return to_float(y);
}

inline Vec act(const Vec& x, Act a) {
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = act(x[i], a);
    return to_float(y);
}

// a + b with b of a's shape (bs empty) or bs = (B or 1, C, 1, 1) broadcast over a (B, C, H, W).
inline Vec add(const Vec& a, const Shape& as, const Vec& b, const Shape& bs) {
    std::vector<double> y(a.size());
    if (a.size() == b.size()) {
        for (size_t i = 0; i < a.size(); ++i) y[i] = (double)a[i] + b[i];
        return to_float(y);
    }
    const int64_t C = as[1], S = as[2] * as[3];
    for (size_t i = 0; i < a.size(); ++i) {
        const int64_t bc = i / S, bi = bc / C, c = bc % C;
        y[i] = (double)a[i] + b[(bs[0] == 1 ? 0 : bi) * C + c];
    }
    return to_float(y);
}

inline Vec axpby(float alpha, const Vec& a, float beta, const Vec& b) {
    std::vector<double> y(a.size());
    for (size_t i = 0; i < a.size(); ++i) y[i] = (double)alpha * a[i] + (double)beta * b[i];
    return to_float(y);
}

// x (B, 2C, S): x[:, :C] * silu(x[:, C:]) (torch.chunk(x, 2, dim=1) then x * act(gate)).
inline Vec glu_silu(const Vec& x, int64_t B, int64_t C, int64_t S) {
    std::vector<double> y(B * C * S);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t s = 0; s < S; ++s)
                y[(b * C + c) * S + s] =
                    (double)x[(b * 2 * C + c) * S + s] * act(x[(b * 2 * C + C + c) * S + s], Act::SiLU);
    return to_float(y);
}

// torch.cat([a, b], dim=1) for a (B, Ca, S), b (B, Cb, S).
inline Vec concat_channels(const Vec& a, const Vec& b, int64_t B, int64_t Ca, int64_t Cb, int64_t S) {
    Vec y;
    for (int64_t i = 0; i < B; ++i) {
        y.insert(y.end(), a.begin() + i * Ca * S, a.begin() + (i + 1) * Ca * S);
        y.insert(y.end(), b.begin() + i * Cb * S, b.begin() + (i + 1) * Cb * S);
    }
    return y;
}

// x[start:start+count] along dim 0, rows of `row` elements.
inline Vec slice_batch(const Vec& x, int64_t row, int64_t start, int64_t count) {
    return Vec(x.begin() + start * row, x.begin() + (start + count) * row);
}

inline Vec concat_batch(const Vec& a, const Vec& b) {
    Vec y = a;
    y.insert(y.end(), b.begin(), b.end());
    return y;
}

// x (B, M, N) -> x.transpose(1, 2) (B, N, M).
inline Vec transpose12(const Vec& x, int64_t B, int64_t M, int64_t N) {
    Vec y(x.size());
    for (int64_t b = 0; b < B; ++b)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) y[(b * N + n) * M + m] = x[(b * M + m) * N + n];
    return y;
}

// F.interpolate(x, size=(oh, ow), mode="nearest") on x (BC, H, W). PyTorch's source index
// (aten/src/ATen/native/UpSample.h, nearest_idx): same size -> i; double -> i >> 1;
// else min(floorf(i * scale), in - 1) with the float scale in / out.
inline int64_t nearest_src(int64_t i, int64_t in, int64_t out) {
    if (out == in) return i;
    if (out == 2 * in) return i >> 1;
    const float scale = (float)in / (float)out;
    return std::min((int64_t)std::floor((float)i * scale), in - 1);
}
inline Vec resize_nearest(const Vec& x, int64_t BC, int64_t H, int64_t W, int64_t oh, int64_t ow) {
    Vec y(BC * oh * ow);
    for (int64_t c = 0; c < BC; ++c)
        for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox)
                y[(c * oh + oy) * ow + ox] = x[(c * H + nearest_src(oy, H, oh)) * W + nearest_src(ox, W, ow)];
    return y;
}
inline Vec upsample_nearest2x(const Vec& x, int64_t BC, int64_t H, int64_t W) {
    return resize_nearest(x, BC, H, W, 2 * H, 2 * W);
}

// Upstream MultiQuerySelfLambda, local branch, materialised as upstream computes it:
//   λp = Conv3d(1, k, (1, r, r), padding (0, r//2, r//2))(V viewed as (B, 1, vd, H, W))  -> (B, k, vd, H, W)
//   Yp[b,h,v,n] = Σ_k Q[b,h,k,n] λp[b,k,v,n]
// q (B, h, k, H*W), v (B, vd, H*W), w (k, r*r), bias (k) -> (B, h, vd, H*W).
inline Vec lambda_local_position(const Vec& q, const Vec& v, const Vec& w, const Vec& bias, int64_t B, int64_t h,
                                 int64_t k, int64_t vd, int64_t H, int64_t W, int64_t r) {
    const int64_t N = H * W, R = r / 2;
    std::vector<double> lp(B * k * vd * N);  // pos_conv(V): a 2-D cross-correlation per (b, v) slice
    for (int64_t b = 0; b < B; ++b)
        for (int64_t kk = 0; kk < k; ++kk)
            for (int64_t vv = 0; vv < vd; ++vv)
                for (int64_t y = 0; y < H; ++y)
                    for (int64_t x = 0; x < W; ++x) {
                        double acc = bias[kk];
                        for (int64_t dy = 0; dy < r; ++dy)
                            for (int64_t dx = 0; dx < r; ++dx) {
                                const int64_t iy = y + dy - R, ix = x + dx - R;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)w[kk * r * r + dy * r + dx] * v[(b * vd + vv) * N + iy * W + ix];
                            }
                        lp[((b * k + kk) * vd + vv) * N + y * W + x] = acc;
                    }
    std::vector<double> y(B * h * vd * N);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t hh = 0; hh < h; ++hh)
            for (int64_t vv = 0; vv < vd; ++vv)
                for (int64_t n = 0; n < N; ++n) {
                    double acc = 0;
                    for (int64_t kk = 0; kk < k; ++kk)
                        acc += (double)q[((b * h + hh) * k + kk) * N + n] * lp[((b * k + kk) * vd + vv) * N + n];
                    y[((b * h + hh) * vd + vv) * N + n] = acc;
                }
    return to_float(y);
}

// Upstream global branch with e = rel_pos_emb[n, m] (dim_u = 1):
//   λp[b,n,k,v] = Σ_m e[n,m,k] V[b,v,m];  Yp[b,h,v,n] = Σ_k Q[b,h,k,n] λp[b,n,k,v]
// q (B, h, k, N), v (B, vd, L), e (L, k, N) (Backend::lambda_global_position's layout) -> (B, h, vd, N).
inline Vec lambda_global_position(const Vec& q, const Vec& v, const Vec& e, int64_t B, int64_t h, int64_t k,
                                  int64_t vd, int64_t N, int64_t L) {
    std::vector<double> y(B * h * vd * N);
    std::vector<double> lp(k * vd);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t n = 0; n < N; ++n) {
            for (int64_t kk = 0; kk < k; ++kk)
                for (int64_t vv = 0; vv < vd; ++vv) {
                    double acc = 0;
                    for (int64_t m = 0; m < L; ++m) acc += (double)e[(m * k + kk) * N + n] * v[(b * vd + vv) * L + m];
                    lp[kk * vd + vv] = acc;
                }
            for (int64_t hh = 0; hh < h; ++hh)
                for (int64_t vv = 0; vv < vd; ++vv) {
                    double acc = 0;
                    for (int64_t kk = 0; kk < k; ++kk) acc += (double)q[((b * h + hh) * k + kk) * N + n] * lp[kk * vd + vv];
                    y[((b * h + hh) * vd + vv) * N + n] = acc;
                }
        }
    return to_float(y);
}

// x (2B, ...) = [uncond; cond] -> uncond + g * (cond - uncond).
inline Vec cfg_combine(const Vec& x, float g) {
    const size_t n = x.size() / 2;
    std::vector<double> y(n);
    for (size_t i = 0; i < n; ++i) y[i] = (double)x[i] + (double)g * ((double)x[n + i] - x[i]);
    return to_float(y);
}

}  // namespace moebius::ref
