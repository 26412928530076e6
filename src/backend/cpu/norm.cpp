// Normalisations and softmax on the CPU. Statistics are accumulated in double (shifted by the first
// value, so a large mean does not cancel the variance away), matching PyTorch's float32 results to
// well within float rounding. Variances are biased (divide by the count), eps inside the sqrt, as torch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

namespace moebius::cpu {
namespace {

// Lanes for float reductions: separate accumulators that GCC vectorises without reassociating
// (no -ffast-math).
constexpr int kLanes = 16;

typedef double f64x8 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));

// s1 = sum(x - K), s2 = sum((x - K)^2), in double.
void shifted_sums(const float* x, int64_t n, double K, double& s1, double& s2) {
    f64x8 a1 = {}, a2 = {}, b1 = {}, b2 = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        f32x8 u, v;
        std::memcpy(&u, x + i, sizeof u);
        std::memcpy(&v, x + i + 8, sizeof v);
        const f64x8 du = __builtin_convertvector(u, f64x8) - K, dv = __builtin_convertvector(v, f64x8) - K;
        a1 += du;
        a2 += du * du;
        b1 += dv;
        b2 += dv * dv;
    }
    s1 = s2 = 0;
    for (int j = 0; j < 8; ++j) s1 += a1[j] + b1[j], s2 += a2[j] + b2[j];
    for (; i < n; ++i) {
        const double d = (double)x[i] - K;
        s1 += d;
        s2 += d * d;
    }
}

// y = act((x - mean) * scale + shift)
void affine_act(const float* x, float* y, int64_t n, float mean, float scale, float shift, Act act) {
    int64_t i = 0;
    if (act == Act::SiLU)
        for (; i + 16 <= n; i += 16) store16(y + i, silu16((load16(x + i) - mean) * scale + shift));
    for (int64_t j = i; j < n; ++j) y[j] = (x[j] - mean) * scale + shift;
    apply_act(y + i, n - i, act);
}

}  // namespace

void group_norm(const float* x, const float* gamma, const float* beta, float* y, int64_t B, int64_t C, int64_t S,
                int groups, float eps, Act act, int nt) {
    const int64_t Cg = C / groups, n = Cg * S;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t bg = 0; bg < B * groups; ++bg) {
        const float* xs = x + bg * n;
        // Shifted sums: mean = K + E[x-K], var = E[(x-K)^2] - E[x-K]^2.
        const double K = n > 0 ? xs[0] : 0.0;
        double s1, s2;
        shifted_sums(xs, n, K, s1, s2);
        const double m1 = s1 / (double)n;
        const double var = std::max(s2 / (double)n - m1 * m1, 0.0);
        const float mean = (float)(K + m1);
        const double rstd = 1.0 / std::sqrt(var + (double)eps);
        const int64_t c0 = (bg % groups) * Cg;
        for (int64_t c = 0; c < Cg; ++c) {
            const float scale = (float)((double)gamma[c0 + c] * rstd), shift = beta[c0 + c];
            const float* xc = xs + c * S;
            float* yc = y + bg * n + c * S;
            affine_act(xc, yc, S, mean, scale, shift, act);
        }
    }
}

void layer_norm_channels(const float* x, const float* gamma, const float* beta, float* y, int64_t B, int64_t C,
                         int64_t S, float eps, int nt) {
    constexpr int64_t P = 64;  // positions per task: C strided rows of P floats each
    const int64_t blocks = (S + P - 1) / P;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t task = 0; task < B * blocks; ++task) {
        const int64_t b = task / blocks, p0 = (task % blocks) * P, np = std::min(P, S - p0);
        const float* xb = x + b * C * S + p0;
        float* yb = y + b * C * S + p0;
        double mean[P] = {}, var[P] = {};
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < np; ++i) mean[i] += xb[c * S + i];
        for (int64_t i = 0; i < np; ++i) mean[i] /= (double)C;
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < np; ++i) {
                const double d = xb[c * S + i] - mean[i];
                var[i] += d * d;
            }
        float meanf[P], rstd[P];
        for (int64_t i = 0; i < np; ++i) {
            meanf[i] = (float)mean[i];
            rstd[i] = (float)(1.0 / std::sqrt(var[i] / (double)C + (double)eps));
        }
        for (int64_t c = 0; c < C; ++c) {
            const float g = gamma[c], be = beta[c];
            for (int64_t i = 0; i < np; ++i) yb[c * S + i] = (xb[c * S + i] - meanf[i]) * rstd[i] * g + be;
        }
    }
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t D, int nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * D > 4096)
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * D;
        float* yr = y + r * D;
        float m[kLanes];
        std::fill(m, m + kLanes, xr[0]);
        int64_t i = 0;
        for (; i + kLanes <= D; i += kLanes)
            for (int j = 0; j < kLanes; ++j) m[j] = std::max(m[j], xr[i + j]);
        for (; i < D; ++i) m[0] = std::max(m[0], xr[i]);
        const float mx = *std::max_element(m, m + kLanes);
        for (i = 0; i + 16 <= D; i += 16) store16(yr + i, exp16(load16(xr + i) - mx));
        for (; i < D; ++i) yr[i] = exp_f32(xr[i] - mx);
        double s1, s2;
        shifted_sums(yr, D, 0.0, s1, s2);
        const double sum = s1;
        const float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < D; ++i) yr[i] *= inv;
    }
}

}  // namespace moebius::cpu
