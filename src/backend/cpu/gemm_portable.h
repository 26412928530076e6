// A portable single-precision GEMM for builds without OpenBLAS (the WebAssembly build defines
// MOEBIUS_PORTABLE_GEMM): packed panels and a register-blocked micro-kernel on 4-float vectors
// (GCC/Clang vector extensions: wasm simd128 in the browser, SSE/NEON natively). Single-threaded,
// as the CPU backend splits work over OpenMP threads itself (gemm.cpp) where OpenMP exists; the
// pthreads WebAssembly build (MOEBIUS_GEMM_THREADS = most threads) splits each call over a pool.
#pragma once
#include <cstdint>

namespace moebius::cpu {

// C (M, N) = alpha · op(A) · op(B) + beta · C, row-major, as cblas_sgemm(CblasRowMajor, ...):
// op(A) is (M, K) — A itself (lda >= K) or, if ta, Aᵀ of a (K, M) matrix (lda >= M); likewise op(B)
// is (K, N) — B (ldb >= N) or, if tb, Bᵀ of an (N, K) matrix (ldb >= K). beta = 0 never reads C
// (it may hold garbage, NaN included), as in BLAS.
void sgemm_portable(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Threads sgemm_portable splits a large call over: the pool's (pthreads WebAssembly build), else 1.
int sgemm_portable_threads();

}  // namespace moebius::cpu

#ifdef MOEBIUS_PORTABLE_GEMM
// Stand-ins for the two OpenBLAS/OpenMP calls of cpu_backend.cpp, in a build that has neither:
// one thread (emscripten has no OpenMP; its `#pragma omp` lines are ignored).
inline int omp_get_num_procs() { return 1; }
inline void openblas_set_num_threads(int) {}
#endif
