// Positional lambdas (upstream model_lib/nets/layers/λ/vanillaλ.py) on the CPU.
//
// Local:  λp = pos_conv(V) with pos_conv = Conv3d(1, k, (1, r, r), padding (0, r//2, r//2)), weight w (k, r·r),
//         Yp[b,h,v,n] = Σ_k Q[b,h,k,n] λp[b,k,v,n].
// Instead of materialising λp (B, k, vd, N) we fold the k-sum into the taps first:
//         QW[b,h,t,n] = Σ_k Q[b,h,k,n] w[k,t],   Qb[b,h,n] = Σ_k Q[b,h,k,n] bias[k],
//         Yp[b,h,v,n] = Qb[b,h,n] + Σ_t QW[b,h,t,n] · V[b,v,n + offset(t)]   (zero outside the image).
// One task is one output row (b, h, y): its QW block (r·r × W) is built in cache, then swept over every v.
//
// Global: λp[b,n,k,v] = Σ_m e[n,m,k] V[b,v,m],  Yp[b,h,v,n] = Σ_k Q[b,h,k,n] λp[b,n,k,v]
//         = Σ_m QE[b,h,n,m] V[b,v,m] with QE[b,h,n,m] = Σ_k Q[b,h,k,n] e[n,m,k].
#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

namespace moebius::cpu {
namespace {

// x is processed in chunks of XV vectors of 16 floats: XV = 2 for rows of more than 16 pixels (the
// 64- and 32-wide levels), XV = 1 for rows of up to 16 (no padding wasted at the 16-wide level). Rows
// are padded to a multiple of the chunk, Wp.

// QW rows [t0, t0+TB) over all x: qw[t][x] = Σ_k wt[t][k] · qrow[k][x].
template <int TB, int XV>
void qw_block(const float* qrow, const float* wt, float* qw, int k, int Wp, int t0) {
    for (int x0 = 0; x0 < Wp; x0 += 16 * XV) {
        f32x16 acc[TB][XV] = {};
        for (int kk = 0; kk < k; ++kk) {
            f32x16 qv[XV];
            for (int i = 0; i < XV; ++i) qv[i] = load16(qrow + (int64_t)kk * Wp + x0 + 16 * i);
            for (int tt = 0; tt < TB; ++tt) {
                const float s = wt[(int64_t)(t0 + tt) * k + kk];
                for (int i = 0; i < XV; ++i) acc[tt][i] += s * qv[i];
            }
        }
        for (int tt = 0; tt < TB; ++tt)
            for (int i = 0; i < XV; ++i) store16(qw + (int64_t)(t0 + tt) * Wp + x0 + 16 * i, acc[tt][i]);
    }
}

// Output rows for v in [v0, v0+VB) of one (b, h, y): out[v][x] = qb[x] + Σ_t qw[t][x] · vpad[v][y+dy][x+dx].
template <int VB, int XV>
void gather_block(const float* qw, const float* qb, const float* vpad, int64_t plane, int64_t PW, int r, int W,
                  int Wp, int y, int v0, float* out, int64_t out_stride) {
    constexpr int XC = 16 * XV;
    for (int x0 = 0; x0 < Wp; x0 += XC) {
        f32x16 acc[VB][XV];
        for (int vv = 0; vv < VB; ++vv)
            for (int i = 0; i < XV; ++i) acc[vv][i] = load16(qb + x0 + 16 * i);
        for (int dy = 0; dy < r; ++dy) {
            const float* vrow = vpad + (int64_t)v0 * plane + (int64_t)(y + dy) * PW + x0;
            const float* qrow = qw + (int64_t)dy * r * Wp + x0;
            for (int dx = 0; dx < r; ++dx) {
                f32x16 q[XV];
                for (int i = 0; i < XV; ++i) q[i] = load16(qrow + (int64_t)dx * Wp + 16 * i);
                for (int vv = 0; vv < VB; ++vv)
                    for (int i = 0; i < XV; ++i) acc[vv][i] += q[i] * load16(vrow + vv * plane + dx + 16 * i);
            }
        }
        const int n = std::min(XC, W - x0);
        for (int vv = 0; vv < VB; ++vv) {
            float tmp[XC];
            for (int i = 0; i < XV; ++i) store16(tmp + 16 * i, acc[vv][i]);
            std::copy(tmp, tmp + n, out + (int64_t)(v0 + vv) * out_stride + x0);
        }
    }
}

template <int XV>
void lambda_local_impl(const float* q, const float* v, const float* w, const float* bias, float* y, int B, int heads,
                       int k, int vd, int H, int W, int r, int nt) {
    constexpr int XC = 16 * XV;
    const int R = r / 2, T = r * r;
    const int Wp = (W + XC - 1) / XC * XC;
    const int64_t N = (int64_t)H * W;
    // V zero-padded by R on each side (and out to Wp columns): vpad[b][v][y + R][x + R] = V[b][v][y][x].
    const int64_t PH = H + 2 * R, PW = Wp + 2 * R, plane = PH * PW;
    std::vector<float> vpad((size_t)B * vd * plane);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t bv = 0; bv < (int64_t)B * vd; ++bv) {
        float* dst = vpad.data() + bv * plane;
        std::fill(dst, dst + plane, 0.0f);
        for (int yy = 0; yy < H; ++yy)
            std::copy(v + bv * N + (int64_t)yy * W, v + bv * N + (int64_t)(yy + 1) * W, dst + (yy + R) * PW + R);
    }
    std::vector<float> wt((size_t)T * k);  // (T, k): the k-sum reads one contiguous row per tap
    for (int kk = 0; kk < k; ++kk)
        for (int t = 0; t < T; ++t) wt[(size_t)t * k + kk] = w[(size_t)kk * T + t];

    constexpr int TB = 8, VB = 8;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> qrow((size_t)k * Wp, 0.0f), qw((size_t)T * Wp), qb(Wp);
#pragma omp for schedule(static)
        for (int64_t task = 0; task < (int64_t)B * heads * H; ++task) {
            const int64_t bh = task / H;
            const int b = (int)(bh / heads), yy = (int)(task % H);
            const float* Q = q + bh * k * N + (int64_t)yy * W;
            for (int kk = 0; kk < k; ++kk) std::copy(Q + kk * N, Q + kk * N + W, &qrow[(size_t)kk * Wp]);
            std::fill(qb.begin(), qb.end(), 0.0f);
            for (int kk = 0; kk < k; ++kk)
                for (int x = 0; x < Wp; ++x) qb[x] += bias[kk] * qrow[(size_t)kk * Wp + x];
            int t = 0;
            for (; t + TB <= T; t += TB) qw_block<TB, XV>(qrow.data(), wt.data(), qw.data(), k, Wp, t);
            for (; t < T; ++t) qw_block<1, XV>(qrow.data(), wt.data(), qw.data(), k, Wp, t);

            const float* vp = vpad.data() + (int64_t)b * vd * plane;
            float* out = y + bh * vd * N + (int64_t)yy * W;
            int v0 = 0;
            for (; v0 + VB <= vd; v0 += VB)
                gather_block<VB, XV>(qw.data(), qb.data(), vp, plane, PW, r, W, Wp, yy, v0, out, N);
            for (; v0 < vd; ++v0) gather_block<1, XV>(qw.data(), qb.data(), vp, plane, PW, r, W, Wp, yy, v0, out, N);
        }
    }
}

}  // namespace

void lambda_local_position(const float* q, const float* v, const float* w, const float* bias, float* y, int B,
                           int heads, int k, int vd, int H, int W, int r, int nt) {
    if (W > 16) lambda_local_impl<2>(q, v, w, bias, y, B, heads, k, vd, H, W, r, nt);
    else lambda_local_impl<1>(q, v, w, bias, y, B, heads, k, vd, H, W, r, nt);
}

void lambda_global_position(const float* q, const float* v, const float* e, float* y, int B, int heads, int k,
                            int vd, int N, int L, int nt) {
    constexpr int NB = 64;  // positions per task
    const int blocks = (N + NB - 1) / NB;
    const int BH = B * heads;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> qe((size_t)BH * L * NB);
#pragma omp for schedule(static)
        for (int blk = 0; blk < blocks; ++blk) {
            const int n0 = blk * NB, np = std::min(NB, N - n0);
            // qe[bh][m][n] = Σ_k Q[bh][k][n0 + n] · e[m][k][n0 + n]
            std::fill(qe.begin(), qe.end(), 0.0f);
            for (int bh = 0; bh < BH; ++bh)
                for (int m = 0; m < L; ++m) {
                    float* acc = &qe[((size_t)bh * L + m) * NB];
                    for (int kk = 0; kk < k; ++kk) {
                        const float* qr = q + ((size_t)bh * k + kk) * N + n0;
                        const float* er = e + ((size_t)m * k + kk) * N + n0;
                        for (int n = 0; n < np; ++n) acc[n] += qr[n] * er[n];
                    }
                }
            // Yp[bh][v][n0 + n] = Σ_m qe[bh][m][n] · V[b][v][m]
            for (int bh = 0; bh < BH; ++bh) {
                const int b = bh / heads;
                for (int vv = 0; vv < vd; ++vv) {
                    float* out = y + ((size_t)bh * vd + vv) * N + n0;
                    const float* vr = v + ((size_t)b * vd + vv) * L;
                    std::fill(out, out + np, 0.0f);
                    for (int m = 0; m < L; ++m) {
                        const float* qr = &qe[((size_t)bh * L + m) * NB];
                        for (int n = 0; n < np; ++n) out[n] += qr[n] * vr[m];
                    }
                }
            }
        }
    }
}

}  // namespace moebius::cpu
