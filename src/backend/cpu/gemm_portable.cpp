// Portable SGEMM (see gemm_portable.h), in the classic GotoBLAS / BLIS loop order:
//   for each NC-wide column block of op(B), for each KC-deep slice of K:
//     pack op(B)[pc:pc+KC, jc:jc+NC] into NR-wide panels (k-major: one NR-row per k)
//     for each MC-tall row block of op(A):
//       pack alpha · op(A)[ic:ic+MC, pc:pc+KC] into MR-tall panels (k-major: one MR-column per k)
//       for each (MR, NR) tile: the micro-kernel keeps the tile's MR·NR sums in registers over
//       the KC slice, reading one MR-column of A and one NR-row of B per k.
// Packing makes every inner-loop read contiguous whatever the transposes and leading dimensions,
// and zero-pads the edges so the micro-kernel has no edge cases (only the store is clipped).
#include "backend/cpu/gemm_portable.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace moebius::cpu {
namespace {

typedef float f32x4 __attribute__((vector_size(16)));

// Tile and block sizes. MR×NR = 4×8 is 8 vector accumulators + 2 B vectors + 1 broadcast, which fits
// the 16 vector registers of x86-64 (what the browser's wasm compiler maps simd128 onto) without
// spills. A KC×NR B panel (8 KB) stays in L1 across a row block; an MC×KC A block (128 KB) in L2.
constexpr int64_t MR = 4, NR = 8, KC = 256, MC = 128, NC = 2048;

inline f32x4 load4(const float* p) {
    f32x4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store4(float* p, const f32x4& v) { std::memcpy(p, &v, sizeof v); }

// op(B)[k0:k0+kc, n0:n0+nc] -> panels of NR columns, each kc rows of NR floats, zero-padded.
void pack_b(bool tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* out) {
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int64_t nr = std::min(NR, nc - j0);
        for (int64_t k = 0; k < kc; ++k) {
            float* dst = out + k * NR;
            if (!tb) {
                const float* src = B + (k0 + k) * ldb + n0 + j0;
                for (int64_t j = 0; j < nr; ++j) dst[j] = src[j];
            } else {
                const float* src = B + (n0 + j0) * ldb + k0 + k;
                for (int64_t j = 0; j < nr; ++j) dst[j] = src[j * ldb];
            }
            for (int64_t j = nr; j < NR; ++j) dst[j] = 0.0f;
        }
        out += kc * NR;
    }
}

// alpha · op(A)[m0:m0+mc, k0:k0+kc] -> panels of MR rows, each kc columns of MR floats, zero-padded.
void pack_a(bool ta, const float* A, int64_t lda, float alpha, int64_t m0, int64_t mc, int64_t k0, int64_t kc,
            float* out) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        const int64_t mr = std::min(MR, mc - i0);
        for (int64_t k = 0; k < kc; ++k) {
            float* dst = out + k * MR;
            if (!ta) {
                const float* src = A + (m0 + i0) * lda + k0 + k;
                for (int64_t i = 0; i < mr; ++i) dst[i] = alpha * src[i * lda];
            } else {
                const float* src = A + (k0 + k) * lda + m0 + i0;
                for (int64_t i = 0; i < mr; ++i) dst[i] = alpha * src[i];
            }
            for (int64_t i = mr; i < MR; ++i) dst[i] = 0.0f;
        }
        out += kc * MR;
    }
}

// One MR×NR tile over a KC slice: C[0:mr, 0:nr] = (first ? beta · C : C) + Ap · Bp.
void micro_kernel(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t mr, int64_t nr,
                  bool first, float beta) {
    f32x4 c[MR][2] = {};
    for (int64_t k = 0; k < kc; ++k) {
        const f32x4 b0 = load4(Bp + k * NR), b1 = load4(Bp + k * NR + 4);
        const float* a = Ap + k * MR;
        for (int i = 0; i < MR; ++i) {
            c[i][0] += a[i] * b0;
            c[i][1] += a[i] * b1;
        }
    }
    // Load-add-store the rows. beta = 0 on the first slice must not read C (BLAS semantics).
    const bool read_c = !first || beta != 0.0f;
    const float scale = first ? beta : 1.0f;
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; ++i) {
            float* row = C + i * ldc;
            if (read_c) {
                store4(row, scale * load4(row) + c[i][0]);
                store4(row + 4, scale * load4(row + 4) + c[i][1]);
            } else {
                store4(row, c[i][0]);
                store4(row + 4, c[i][1]);
            }
        }
        return;
    }
    float tile[MR][NR];
    for (int i = 0; i < MR; ++i) store4(tile[i], c[i][0]), store4(tile[i] + 4, c[i][1]);
    for (int64_t i = 0; i < mr; ++i) {
        float* row = C + i * ldc;
        for (int64_t j = 0; j < nr; ++j) row[j] = read_c ? scale * row[j] + tile[i][j] : tile[i][j];
    }
}

}  // namespace

void sgemm_portable(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {  // C = beta · C, without reading C when beta = 0
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    const int64_t nc_max = std::min(NC, (N + NR - 1) / NR * NR), kc_max = std::min(KC, K);
    const int64_t mc_max = std::min(MC, (M + MR - 1) / MR * MR);
    std::vector<float> Bp((size_t)(kc_max * nc_max)), Ap((size_t)(kc_max * mc_max));
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = std::min(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            pack_b(tb, B, ldb, pc, kc, jc, nc, Bp.data());
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = std::min(MC, M - ic);
                pack_a(ta, A, lda, alpha, ic, mc, pc, kc, Ap.data());
                for (int64_t jr = 0; jr < nc; jr += NR)
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        micro_kernel(kc, Ap.data() + ir * kc, Bp.data() + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                                     std::min(MR, mc - ir), std::min(NR, nc - jr), pc == 0, beta);
            }
        }
    }
}

}  // namespace moebius::cpu
