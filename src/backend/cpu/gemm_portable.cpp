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

#ifdef MOEBIUS_GEMM_THREADS
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#endif

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

// The whole GEMM on the calling thread (M, N, K > 0).
void sgemm_serial(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
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

#ifdef MOEBIUS_GEMM_THREADS
// The WebAssembly pthreads build (moebius-mt): OpenMP does not exist there, so the CPU backend runs its
// ops on one thread and only GEMMs, most of the work, are split here, over a pool of workers that
// lives as long as the module (emscripten pre-spawns them: PTHREAD_POOL_SIZE must be at least
// MOEBIUS_GEMM_THREADS - 1, see CMakeLists.txt). Every worker takes part in every run and the caller
// waits for all of them, so no worker can still be in one run when the next one starts.
class Pool {
public:
    explicit Pool(int workers) {
        for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~Pool() {
        {
            std::lock_guard<std::mutex> l(m_);
            stop_ = true;
        }
        start_.notify_all();
        for (std::thread& t : threads_) t.join();
    }
    int threads() const { return (int)threads_.size() + 1; }

    // fn(0) ... fn(tasks - 1), on the workers and the calling thread.
    void run(int tasks, const std::function<void(int)>& fn) {
        std::unique_lock<std::mutex> l(m_);
        job_ = &fn;
        tasks_ = tasks;
        next_ = 0;
        pending_ = (int)threads_.size();
        ++generation_;
        l.unlock();
        start_.notify_all();
        work(fn, tasks);
        l.lock();
        done_.wait(l, [&] { return pending_ == 0; });
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));  // e.g. bad_alloc on a worker
    }

private:
    void loop() {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> l(m_);
        for (;;) {
            start_.wait(l, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            const std::function<void(int)>* fn = job_;
            const int tasks = tasks_;
            l.unlock();
            work(*fn, tasks);
            l.lock();
            if (--pending_ == 0) done_.notify_one();
        }
    }
    void work(const std::function<void(int)>& fn, int tasks) {
        try {
            for (int t; (t = next_.fetch_add(1)) < tasks;) fn(t);
        } catch (...) {
            std::lock_guard<std::mutex> l(error_m_);
            if (!error_) error_ = std::current_exception();
            next_ = tasks;  // the others stop taking tasks
        }
    }

    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable start_, done_;
    const std::function<void(int)>* job_ = nullptr;
    int tasks_ = 0, pending_ = 0;
    std::atomic<int> next_{0};
    uint64_t generation_ = 0;
    bool stop_ = false;
    std::mutex error_m_;
    std::exception_ptr error_;
};

Pool& pool() {
    // One per process, like OpenMP's: sized once from the cores the browser (or Node) reports.
    static Pool p(std::clamp((int)std::thread::hardware_concurrency(), 1, MOEBIUS_GEMM_THREADS) - 1);
    return p;
}

// Below this many multiply-adds a split costs more than it saves (waking the pool: ~10-50 us).
constexpr int64_t kMinParallelMacs = int64_t(1) << 21;
#endif

}  // namespace

int sgemm_portable_threads() {
#ifdef MOEBIUS_GEMM_THREADS
    return pool().threads();
#else
    return 1;
#endif
}

void sgemm_portable(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {  // C = beta · C, without reading C when beta = 0
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
#ifdef MOEBIUS_GEMM_THREADS
    // Cut the larger of M and N into one block per thread, in whole tiles. Each element's sum is
    // computed in the same order whatever the cut, so results do not depend on the thread count.
    const int nt = pool().threads();
    if (nt > 1 && M * N * K >= kMinParallelMacs) {
        const bool by_rows = M > N;
        const int64_t len = by_rows ? M : N, tile = by_rows ? MR : NR;
        const int64_t step = ((len + nt - 1) / nt + tile - 1) / tile * tile;
        const int parts = (int)((len + step - 1) / step);
        pool().run(parts, [&](int p) {
            const int64_t b0 = p * step, b1 = std::min(len, b0 + step);
            if (by_rows)
                sgemm_serial(ta, tb, b1 - b0, N, K, alpha, ta ? A + b0 : A + b0 * lda, lda, B, ldb, beta, C + b0 * ldc,
                             ldc);
            else
                sgemm_serial(ta, tb, M, b1 - b0, K, alpha, A, lda, tb ? B + b0 * ldb : B + b0, ldb, beta, C + b0, ldc);
        });
        return;
    }
#endif
    sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace moebius::cpu
