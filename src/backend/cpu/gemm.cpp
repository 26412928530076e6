// GEMM on the CPU: OpenBLAS sgemm, threaded by us.
//
// OpenBLAS (the pthread build) runs single-threaded here (the backend sets openblas_set_num_threads(1))
// and our OpenMP threads each call it on their own block of the output. Letting OpenBLAS keep its own
// thread pool next to OpenMP's cost up to 10x on the 2-core box: the two pools' spinning workers take
// turns on the same cores (a 3x3 conv 128->128 at 512x512 ran at 5 GFLOP/s, against 68 on one thread).
#ifdef MOEBIUS_PORTABLE_GEMM  // WebAssembly: no OpenBLAS (gemm_portable.h)
#include "backend/cpu/gemm_portable.h"
#else
#include <cblas.h>
#endif

#include <algorithm>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

namespace moebius::cpu {
namespace {

// Each block of a split is at least this long: every task packs the whole other operand (OpenBLAS
// copies both into its own layout), so blocks must be long enough to amortise that copy.
constexpr int64_t kMinBlock = 512;
constexpr int kMaxBlocks = 16;

// Boundary i of [0, len) cut into n parts of a multiple of 16 (a cache line of floats).
int64_t split(int64_t len, int i, int n) {
    const int64_t step = ((len + n - 1) / n + 15) / 16 * 16;
    return std::min(len, step * i);
}

}  // namespace

void gemm(const Gemm& g, int64_t batches, int nt, const GemmEpilogue& epi) {
    // Cut the larger of M and N; the cut depends on the shape only, so results are the same bits for
    // any thread count.
    const bool by_rows = g.M >= g.N;
    const int parts = (int)std::clamp<int64_t>((by_rows ? g.M : g.N) / kMinBlock, 1, kMaxBlocks);
    const int64_t tasks = batches * parts;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (tasks > 1 && batches * g.M * g.N * g.K > (1 << 18))
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t i = t / parts;
        const int p = (int)(t % parts);
        int64_t m0 = 0, m1 = g.M, n0 = 0, n1 = g.N;
        if (by_rows) m0 = split(g.M, p, parts), m1 = split(g.M, p + 1, parts);
        else n0 = split(g.N, p, parts), n1 = split(g.N, p + 1, parts);
        if (m1 <= m0 || n1 <= n0) continue;
        const float* A = g.A + (i / g.groupA) * g.strideA + (g.ta ? m0 : m0 * g.lda);
        const float* B = g.B + i * g.strideB + (g.tb ? n0 * g.ldb : n0);
        float* C = g.C + i * g.strideC + m0 * g.ldc + n0;
#ifdef MOEBIUS_PORTABLE_GEMM  // WebAssembly: no OpenBLAS
        sgemm_portable(g.ta, g.tb, m1 - m0, n1 - n0, g.K, g.alpha, A, g.lda, B, g.ldb, 0.0f, C, g.ldc);
#else
        cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, (int)(m1 - m0),
                    (int)(n1 - n0), (int)g.K, g.alpha, A, (int)g.lda, B, (int)g.ldb, 0.0f, C, (int)g.ldc);
#endif
        if (epi) epi(i, m0, m1, n0, n1);
    }
}

void linear(const float* x, const float* w, const float* b, float* y, int64_t M, int64_t N, int64_t K, Act act,
            int nt) {
    Gemm g;
    g.tb = true;
    g.M = M, g.N = N, g.K = K;
    g.A = x, g.lda = K, g.B = w, g.ldb = K, g.C = y, g.ldc = N;
    GemmEpilogue epi;
    if (b || act != Act::None)
        epi = [&](int64_t, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
            for (int64_t m = m0; m < m1; ++m) {
                float* row = y + m * N;
                if (b)
                    for (int64_t n = n0; n < n1; ++n) row[n] += b[n];
                apply_act(row + n0, n1 - n0, act);
            }
        };
    gemm(g, 1, nt, epi);
}

}  // namespace moebius::cpu
