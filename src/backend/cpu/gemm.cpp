// GEMM on the CPU: OpenBLAS sgemm, threaded by us.
//
// OpenBLAS (the pthread build) runs single-threaded here (the backend sets openblas_set_num_threads(1))
// and our OpenMP threads each call it on their own slice of the output. Letting OpenBLAS keep its own
// thread pool next to OpenMP's cost up to 10x on the 2-core box: the two pools' spinning workers take
// turns on the same cores (a 3x3 conv 128->128 at 512x512 ran at 5 GFLOP/s, against 68 on one thread).
#include <cblas.h>

#include <algorithm>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

namespace moebius::cpu {
namespace {

void sgemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                alpha, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
}

// Boundary i of [0, len) cut into n parts of a multiple of 16 (a cache line of floats).
int64_t split(int64_t len, int i, int n) {
    const int64_t step = ((len + n - 1) / n + 15) / 16 * 16;
    return std::min(len, step * i);
}

// C (M, N) of a batch of gemms, each cut into blocks of >= 128 rows or columns of C (at most 16), one
// single-threaded sgemm per (batch, block) task. The cut depends on the shape only, so results are the
// same bits for any thread count.
struct GemmBatch {
    bool ta, tb;
    int64_t M, N, K;
    float alpha;
    int64_t lda, ldb, ldc;
};

template <class PtrA, class PtrB, class PtrC>
void gemm_tasks(const GemmBatch& g, int64_t batches, PtrA A, PtrB B, PtrC C, int nt) {
    const bool by_rows = g.M >= g.N;
    const int parts = (int)std::clamp<int64_t>((by_rows ? g.M : g.N) / 128, 1, 16);
    const int64_t tasks = batches * parts;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (tasks > 1 && batches * g.M * g.N * g.K > (1 << 18))
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t i = t / parts;
        const int p = (int)(t % parts);
        if (by_rows) {
            const int64_t m0 = split(g.M, p, parts), m1 = split(g.M, p + 1, parts);
            sgemm1(g.ta, g.tb, m1 - m0, g.N, g.K, g.alpha, g.ta ? A(i) + m0 : A(i) + m0 * g.lda, g.lda, B(i), g.ldb,
                   C(i) + m0 * g.ldc, g.ldc);
        } else {
            const int64_t n0 = split(g.N, p, parts), n1 = split(g.N, p + 1, parts);
            sgemm1(g.ta, g.tb, g.M, n1 - n0, g.K, g.alpha, A(i), g.lda, g.tb ? B(i) + n0 * g.ldb : B(i) + n0, g.ldb,
                   C(i) + n0, g.ldc);
        }
    }
}

}  // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float* C, int64_t ldc, int nt) {
    gemm_tasks(GemmBatch{ta, tb, M, N, K, alpha, lda, ldb, ldc}, 1, [&](int64_t) { return A; },
               [&](int64_t) { return B; }, [&](int64_t) { return C; }, nt);
}

void matmul(const float* a, int64_t Ba, const float* b, int64_t Bb, float* y, int64_t M, int64_t N, int64_t K,
            bool ta, bool tb, float alpha, int nt) {
    gemm_tasks(GemmBatch{ta, tb, M, N, K, alpha, ta ? M : K, tb ? K : N, N}, std::max(Ba, Bb),
               [&](int64_t i) { return a + (Ba == 1 ? 0 : i * M * K); },
               [&](int64_t i) { return b + (Bb == 1 ? 0 : i * K * N); }, [&](int64_t i) { return y + i * M * N; },
               nt);
}

void linear(const float* x, const float* w, const float* b, float* y, int64_t M, int64_t N, int64_t K, Act act,
            int nt) {
    gemm(false, true, M, N, K, 1.0f, x, K, w, K, y, N, nt);
    if (!b && act == Act::None) return;
#pragma omp parallel for num_threads(nt) schedule(static) if (M * N > 4096)
    for (int64_t m = 0; m < M; ++m) {
        float* row = y + m * N;
        if (b)
            for (int64_t n = 0; n < N; ++n) row[n] += b[n];
        apply_act(row, N, act);
    }
}

}  // namespace moebius::cpu
