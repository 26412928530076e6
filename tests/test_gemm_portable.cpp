// The portable GEMM (backend/cpu/gemm_portable.h), which the WebAssembly build uses instead of OpenBLAS:
// every transpose combination, edge shapes around the tile and block sizes, leading dimensions larger
// than the rows, alpha/beta, and beta = 0 over garbage. Reference: the same sums in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/gemm_portable.h"

using namespace moebius::cpu;

namespace {

// Deterministic values in [-1, 1).
std::vector<float> values(size_t n, uint64_t seed) {
    std::vector<float> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (float& x : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x = (float)((s >> 40) * 0x1p-24 * 2 - 1);
    }
    return v;
}

struct Case {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
};

// Max |error| relative to the sum of |terms| of each output (the bound a float32 dot product obeys).
double run(const Case& c) {
    const int64_t pad = 3;  // leading dimensions larger than the logical rows
    const int64_t rowsA = c.ta ? c.K : c.M, colsA = c.ta ? c.M : c.K;
    const int64_t rowsB = c.tb ? c.N : c.K, colsB = c.tb ? c.K : c.N;
    const int64_t lda = colsA + pad, ldb = colsB + pad, ldc = c.N + pad;
    const std::vector<float> A = values((size_t)(rowsA * lda), 1), B = values((size_t)(rowsB * ldb), 2);
    std::vector<float> C = values((size_t)(c.M * ldc), 3);
    const std::vector<float> C0 = C;
    if (c.beta == 0.0f)  // beta = 0 must not read C: NaN there must not leak into the result
        for (float& x : C) x = std::numeric_limits<float>::quiet_NaN();
    sgemm_portable(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
    double worst = 0;
    for (int64_t i = 0; i < c.M; ++i) {
        for (int64_t j = 0; j < c.N; ++j) {
            double sum = 0, mag = 0;
            for (int64_t k = 0; k < c.K; ++k) {
                const double a = c.ta ? A[k * lda + i] : A[i * lda + k];
                const double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
                sum += a * b;
                mag += std::fabs(a * b);
            }
            const double ref = c.alpha * sum + (c.beta == 0.0f ? 0.0 : c.beta * (double)C0[i * ldc + j]);
            mag = std::fabs(c.alpha) * mag + std::fabs(c.beta * C0[i * ldc + j]) + 1e-30;
            const double err = std::fabs(C[i * ldc + j] - ref) / mag;
            if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
        }
        for (int64_t j = c.N; j < ldc; ++j)  // padding columns are never written
            if (!(C[i * ldc + j] == C0[i * ldc + j] || (c.beta == 0.0f && std::isnan(C[i * ldc + j])))) return INFINITY;
    }
    return worst;
}

}  // namespace

TEST(GemmPortable, MatchesDoubleReference) {
    // Shapes around the micro-tile (4×8), the K slice (256), the row block (128) and the column block
    // (2048), plus the 1-wide and 0-sized ones.
    const int64_t Ms[] = {1, 3, 4, 5, 17, 130}, Ns[] = {1, 7, 8, 9, 33, 2051}, Ks[] = {1, 2, 31, 257, 600};
    int cases = 0;
    double worst = 0;
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (int64_t M : Ms)
                for (int64_t N : Ns)
                    for (int64_t K : Ks) {
                        if (M * N * K > 3'000'000) continue;  // keeps the double reference quick
                        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{-0.5f, 1.5f}}) {
                            const Case c{ta, tb, M, N, K, alpha, beta};
                            const double e = run(c);
                            // Each output is a K-term float32 sum; its error is at most K·2⁻²⁴ of the
                            // sum of |terms| (Higham's bound, ~1e-5 at K = 600); seen: ~1e-7.
                            ASSERT_LE(e, (double)(K + 2) * 0x1p-24)
                                << "ta " << ta << " tb " << tb << " M " << M << " N " << N << " K " << K;
                            worst = std::max(worst, e);
                            ++cases;
                        }
                    }
    std::printf("[gemm_portable] %d cases, worst error / sum|terms| = %.3g\n", cases, worst);
}

TEST(GemmPortable, DegenerateSizes) {
    std::vector<float> C = {1, 2, 3, 4};
    const float A[2] = {1, 1}, B[2] = {1, 1};
    sgemm_portable(false, false, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C.data(), 2);  // K = 0: C = beta · C
    EXPECT_EQ(C, (std::vector<float>{0.5f, 1, 1.5f, 2}));
    sgemm_portable(false, false, 2, 2, 1, 0.0f, A, 1, B, 2, 0.0f, C.data(), 2);  // alpha = 0, beta = 0: zeros
    EXPECT_EQ(C, (std::vector<float>{0, 0, 0, 0}));
    sgemm_portable(false, false, 0, 2, 1, 1.0f, A, 1, B, 2, 0.0f, nullptr, 2);  // M = 0: nothing touched
}
