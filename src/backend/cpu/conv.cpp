// conv2d on the CPU.
//  - groups == 1 (and each group of a grouped conv): GEMM through OpenBLAS, one single-threaded sgemm per
//    task, tasks spread over OpenMP threads (see gemm.cpp for why OpenBLAS does not thread itself). A 1x1/stride-1/unpadded conv
//    is W (Cout, Cin) · X (Cin, HW) straight from the input; a k×k conv is im2col over a chunk of output
//    rows at a time (so the column buffer stays cache-sized), then W (Cout, Cin·kh·kw) · col.
//  - depthwise (groups == Cin == Cout): direct, one zero-padded input plane per channel, vectorised over x.
// Bias and activation are applied to each chunk right after its GEMM, while it is still in cache.
#ifdef MOEBIUS_PORTABLE_GEMM  // WebAssembly: no OpenBLAS (gemm_portable.h)
#include "backend/cpu/gemm_portable.h"
#else
#include <cblas.h>
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

namespace moebius::cpu {
namespace {

// Output pixels per im2col task: at least kMinChunk, since every task packs the whole weight matrix
// (OpenBLAS copies both operands), and up to a column buffer of kColChunkFloats when K is small.
constexpr int64_t kMinChunk = 512;
constexpr int64_t kColChunkFloats = int64_t(1) << 18;  // 1 MiB: half a core's L2
// Fewest tasks a conv is cut into (chunks allowing), so that up to 16 threads have work.
constexpr int64_t kMinTasks = 16;

// col (C·kh·kw, n) = the input patches of output pixels [p0, p0 + n) (flat over OH·OW), zero outside
// the image.
void im2col(const float* x, int C, int H, int W, int kh, int kw, const Conv2dParams& p, int OW, int64_t p0,
            int64_t n, float* col) {
    const int K = C * kh * kw;
    const int s = p.stride;
    for (int kk = 0; kk < K; ++kk) {
        const int c = kk / (kh * kw), i = (kk / kw) % kh, j = kk % kw;
        const float* src = x + (int64_t)c * H * W;
        // Output columns ox whose input column ox*s + j - pad_left lies inside [0, W): [ox_lo, ox_hi).
        const int off = j - p.pad_left;
        const int ox_lo = off >= 0 ? 0 : std::min(OW, (-off + s - 1) / s);
        const int ox_hi = (W - 1 - off) < 0 ? 0 : std::min(OW, (W - 1 - off) / s + 1);
        for (int64_t q = p0; q < p0 + n;) {  // one output row segment [ox0, end) at a time
            const int oy = (int)(q / OW), ox0 = (int)(q % OW);
            const int end = (int)std::min<int64_t>(OW, ox0 + (p0 + n - q));
            float* d = col + (int64_t)kk * n + (q - p0) - ox0;  // d[ox] is output pixel (oy, ox)
            const int iy = oy * s + i - p.pad_top;
            int lo = std::clamp(ox_lo, ox0, end), hi = std::clamp(ox_hi, lo, end);
            if (iy < 0 || iy >= H) lo = hi = end;
            std::fill(d + ox0, d + lo, 0.0f);
            const float* row = src + (int64_t)iy * W + off;
            if (s == 1) std::memcpy(d + lo, row + lo, sizeof(float) * (hi - lo));
            else
                for (int ox = lo; ox < hi; ++ox) d[ox] = row[(int64_t)ox * s];
            std::fill(d + hi, d + end, 0.0f);
            q += end - ox0;
        }
    }
}

// y (Cout, n) of one image, ldc = OH·OW: y = act(y + b[c]).
void bias_act_block(float* y, int64_t ldc, int64_t c0, int64_t c1, int64_t n, const float* b, Act act) {
    if (!b && act == Act::None) return;
    for (int64_t c = c0; c < c1; ++c) bias_act(y + c * ldc, n, b ? b[c] : 0.0f, act);
}

// A 1x1 / stride-1 / unpadded conv is a GEMM straight on the input planes, per image and group:
//   y[b, g] (Cout_g, HW) = w_g (Cout_g, Cin_g) · x[b, g] (Cin_g, HW)
void conv_1x1(const float* x, const float* w, const float* b, float* y, const ConvDims& d, int G, Act act, int nt) {
    const int64_t Cin = d.Cin / G, Cout = d.Cout / G, HW = (int64_t)d.H * d.W;
    for (int g = 0; g < G; ++g) {
        Gemm m;
        m.M = Cout, m.N = HW, m.K = Cin;
        m.A = w + g * Cout * Cin, m.lda = Cin;
        m.B = x + g * Cin * HW, m.ldb = HW, m.strideB = d.Cin * HW;
        m.C = y + g * Cout * HW, m.ldc = HW, m.strideC = d.Cout * HW;
        const float* bg = b ? b + g * Cout : nullptr;
        gemm(m, d.B, nt, [&](int64_t i, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
            bias_act_block(m.C + i * m.strideC + n0, HW, m0, m1, n1 - n0, bg, act);
        });
    }
}

// k×k (or strided/padded) convs, and each group of a grouped one, through im2col + GEMM. One task =
// (image·group, chunk of output pixels); each thread builds its chunk's columns, multiplies, and applies
// bias + act while the result is in cache:
//   y[b, g·Cout_g :, chunk] (Cout_g, n) = w_g (Cout_g, Cin_g·kh·kw) · col (Cin_g·kh·kw, n)
void conv_im2col(const float* x, const float* w, const float* b, float* y, const ConvDims& d, const Conv2dParams& p,
                 Act act, int nt) {
    const int G = p.groups, Cin = d.Cin / G, Cout = d.Cout / G;
    const int64_t HW = (int64_t)d.H * d.W, OHW = (int64_t)d.OH * d.OW;
    const int K = Cin * d.kh * d.kw;
    const int64_t wg = (int64_t)Cout * K;
    // The cut depends on the shape only, so results are the same bits for any thread count.
    int64_t chunk = std::min(OHW, std::max(kMinChunk, kColChunkFloats / K / 16 * 16));
    const int64_t images = (int64_t)d.B * G;
    while (chunk > kMinChunk / 2 && images * ((OHW + chunk - 1) / chunk) < kMinTasks)
        chunk = (chunk / 2 + 15) / 16 * 16;
    const int64_t chunks = (OHW + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> col;
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < images * chunks; ++task) {
            const int64_t bg = task / chunks, p0 = (task % chunks) * chunk, n = std::min(chunk, OHW - p0);
            const int g = (int)(bg % G);
            const float* xg = x + bg * Cin * HW;  // (b, g) is channel block bg of the (B·G·Cin_g) input planes
            float* C = y + bg * Cout * OHW + p0;
            col.resize((size_t)K * n);
            im2col(xg, Cin, d.H, d.W, d.kh, d.kw, p, d.OW, p0, n, col.data());
#ifdef MOEBIUS_PORTABLE_GEMM  // WebAssembly: no OpenBLAS
            sgemm_portable(false, false, Cout, n, K, 1.0f, w + g * wg, K, col.data(), n, 0.0f, C, OHW);
#else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, (int)n, K, 1.0f, w + g * wg, K, col.data(),
                        (int)n, 0.0f, C, (int)OHW);
#endif
            bias_act_block(C, OHW, 0, Cout, n, b ? b + g * Cout : nullptr, act);
        }
    }
}

// Depthwise rows for a compile-time kernel size and stride: all taps in registers, one pass over the row.
template <int KH, int KW, int S>
void dw_row_fixed(const float* pad, int64_t Wp, const float* w, float bias, float* out, int oy, int OW) {
    float wr[KH * KW];
    for (int t = 0; t < KH * KW; ++t) wr[t] = w[t];
    const float* base = pad + (int64_t)oy * S * Wp;
    for (int ox = 0; ox < OW; ++ox) {
        float acc = bias;
        for (int i = 0; i < KH; ++i)
            for (int j = 0; j < KW; ++j) acc += wr[i * KW + j] * base[i * Wp + (int64_t)ox * S + j];
        out[ox] = acc;
    }
}

void dw_row_generic(const float* pad, int64_t Wp, const float* w, float bias, float* out, int oy, int OW, int kh,
                    int kw, int s) {
    std::fill(out, out + OW, bias);
    for (int i = 0; i < kh; ++i) {
        const float* row = pad + ((int64_t)oy * s + i) * Wp;
        for (int j = 0; j < kw; ++j) {
            const float wv = w[i * kw + j];
            for (int ox = 0; ox < OW; ++ox) out[ox] += wv * row[(int64_t)ox * s + j];
        }
    }
}

void conv_depthwise(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                    const Conv2dParams& p, Act act, int nt) {
    const int64_t Hp = d.H + p.pad_top + p.pad_bottom, Wp = d.W + p.pad_left + p.pad_right;
    const int64_t HW = (int64_t)d.H * d.W, OHW = (int64_t)d.OH * d.OW;
    const int64_t planes = (int64_t)d.B * d.Cin;
    const int s = p.stride;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> pad(Hp * Wp);
#pragma omp for schedule(static)
        for (int64_t bc = 0; bc < planes; ++bc) {
            const int c = (int)(bc % d.Cin);
            const float* src = x + bc * HW;
            std::fill(pad.begin(), pad.end(), 0.0f);
            for (int iy = 0; iy < d.H; ++iy)
                std::memcpy(&pad[(iy + p.pad_top) * Wp + p.pad_left], src + (int64_t)iy * d.W, sizeof(float) * d.W);
            const float* wc = w + (int64_t)c * d.kh * d.kw;
            const float bias = b ? b[c] : 0.0f;
            float* dst = y + bc * OHW;
            for (int oy = 0; oy < d.OH; ++oy) {
                float* out = dst + (int64_t)oy * d.OW;
                if (d.kh == 3 && d.kw == 3 && s == 1) dw_row_fixed<3, 3, 1>(pad.data(), Wp, wc, bias, out, oy, d.OW);
                else if (d.kh == 3 && d.kw == 3 && s == 2)
                    dw_row_fixed<3, 3, 2>(pad.data(), Wp, wc, bias, out, oy, d.OW);
                else dw_row_generic(pad.data(), Wp, wc, bias, out, oy, d.OW, d.kh, d.kw, s);
                apply_act(out, d.OW, act);
            }
        }
    }
}

}  // namespace

void conv2d(const float* x, const float* w, const float* b, float* y, const ConvDims& d, const Conv2dParams& p,
            Act act, int nt) {
    const bool pointwise = d.kh == 1 && d.kw == 1 && p.stride == 1 && p.pad_top == 0 && p.pad_left == 0 &&
                           p.pad_bottom == 0 && p.pad_right == 0;
    if (p.groups > 1 && p.groups == d.Cin && p.groups == d.Cout) conv_depthwise(x, w, b, y, d, p, act, nt);
    else if (pointwise) conv_1x1(x, w, b, y, d, p.groups, act, nt);
    else conv_im2col(x, w, b, y, d, p, act, nt);
}

}  // namespace moebius::cpu
