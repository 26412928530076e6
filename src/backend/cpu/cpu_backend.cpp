// The CPU backend: the reference for every other backend and the native fast path.
// This file allocates outputs (shapes checked by backend/shapes.h) and does the memory-bound
// layout/elementwise ops; the compute kernels live in conv.cpp, norm.cpp and lambda.cpp (kernels.h).
#ifdef MOEBIUS_PORTABLE_GEMM  // WebAssembly: no OpenBLAS, no OpenMP (gemm_portable.h has stand-ins)
#include "backend/cpu/gemm_portable.h"
#else
#include <cblas.h>
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <mutex>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"
#include "backend/shapes.h"
#include "core/error.h"

namespace moebius {
namespace {

// Below this many elements an elementwise op runs on one thread (fork/join costs more than it saves).
constexpr int64_t kParallelMin = 1 << 15;

// Recycles tensor storage. The model allocates the same few shapes over and over, and a fresh
// std::vector<float> costs a zero fill plus page faults: 62 ms for 128 MiB here, as much as a SiLU
// over it. A buffer whose last Tensor goes away comes back here (its deleter holds a weak_ptr to the
// pool, so tensors may outlive the backend) and is handed out again for the same element count.
// At most kCap floats are kept; beyond that the oldest cached buffers are freed.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
public:
    static constexpr int64_t kCap = int64_t(1) << 28;  // 1 GiB of floats: a few VAE activations at 512x512

    ~BufferPool() {
        for (auto* v : free_) delete v;
    }

    // Storage for n floats; contents are unspecified unless `zero`.
    std::shared_ptr<std::vector<float>> get(int64_t n, bool zero) {
        std::vector<float>* v = nullptr;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = std::find_if(free_.rbegin(), free_.rend(), [n](auto* p) { return (int64_t)p->size() == n; });
            if (it != free_.rend()) {
                v = *it;
                free_.erase(std::next(it).base());
                cached_ -= n;
            }
        }
        if (!v) v = new std::vector<float>(n);  // value-initialised: already zero
        else if (zero) std::fill(v->begin(), v->end(), 0.0f);
        std::weak_ptr<BufferPool> pool = weak_from_this();
        return std::shared_ptr<std::vector<float>>(v, [pool](std::vector<float>* p) {
            if (auto sp = pool.lock()) sp->put(p);
            else delete p;
        });
    }

private:
    void put(std::vector<float>* v) {
        std::vector<std::vector<float>*> drop;
        {
            std::lock_guard<std::mutex> lock(mu_);
            free_.push_back(v);
            cached_ += (int64_t)v->size();
            while (cached_ > kCap) {  // oldest first
                cached_ -= (int64_t)free_.front()->size();
                drop.push_back(free_.front());
                free_.erase(free_.begin());
            }
        }
        for (auto* p : drop) delete p;
    }

    std::mutex mu_;
    std::vector<std::vector<float>*> free_;  // oldest first
    int64_t cached_ = 0;                     // floats held in free_
};

const float* in(const Tensor& t, const char* op, const char* what) {
    MOEBIUS_CHECK(t.data() != nullptr, ErrorKind::Internal,
                  std::string(op) + ": " + what + " is not a CPU tensor (shape " + shape_str(t.shape()) + ")");
    return t.data();
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads)
        : nt_(threads > 0 ? threads : omp_get_num_procs()), pool_(std::make_shared<BufferPool>()) {
        openblas_set_num_threads(1);  // we thread GEMMs ourselves (gemm.cpp says why)
    }

    std::string name() const override { return "cpu"; }

    // --- memory ---
    Tensor upload(const Shape& shape, const float* data) override {
        Tensor t = alloc(shape);
        std::copy(data, data + t.numel(), t.data());
        return t;
    }
    std::vector<float> download(const Tensor& t) override {
        const float* p = in(t, "download", "tensor");
        return std::vector<float>(p, p + t.numel());
    }
    Tensor zeros(const Shape& shape) override { return alloc(shape, true); }

    // --- dense ---
    Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Act act,
                  const Tensor& residual) override {
        const char* op = "conv2d";
        in(x, op, "x");
        in(w, op, "w");
        const Conv2dDims s = conv2d_shape(x, w, b, p, residual);
        const cpu::ConvDims d{(int)s.B, (int)s.Cin, (int)s.H, (int)s.W, (int)s.Cout, (int)s.kh, (int)s.kw,
                              (int)s.OH, (int)s.OW};
        Tensor y = alloc(s.out());
        cpu::conv2d(x.data(), w.data(), b.empty() ? nullptr : in(b, op, "b"), y.data(), d, p, act, nt_);
        add_residual(y, residual, op);
        return y;
    }

    Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Act act) override {
        const char* op = "linear";
        in(x, op, "x");
        in(w, op, "w");
        const LinearDims d = linear_shape(x, w, b);
        Tensor y = alloc(d.out);
        cpu::linear(x.data(), w.data(), b.empty() ? nullptr : in(b, op, "b"), y.data(), d.M, d.N, d.K, act, nt_);
        return y;
    }

    Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha, const Tensor& residual) override {
        const char* op = "matmul";
        in(a, op, "a");
        in(b, op, "b");
        const auto [Ba, Bb, Bt, M, K, N, out] = matmul_shape(a, b, ta, tb);
        check_residual(op, residual, out);
        Tensor y = alloc(out);
        cpu::Gemm g;
        g.ta = ta, g.tb = tb, g.M = M, g.N = N, g.K = K, g.alpha = alpha;
        g.A = a.data(), g.lda = ta ? M : K, g.strideA = Ba == 1 ? 0 : M * K, g.groupA = Ba == 1 ? 1 : Bt / Ba;
        g.B = b.data(), g.ldb = tb ? K : N, g.strideB = Bb == 1 ? 0 : K * N;
        g.C = y.data(), g.ldc = N, g.strideC = M * N;
        cpu::gemm(g, Bt, nt_);
        add_residual(y, residual, op);
        return y;
    }

    // --- normalisation ---
    Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups, float eps,
                      Act act) override {
        const char* op = "group_norm";
        in(x, op, "x");
        const NormDims d = group_norm_shape(x, gamma, beta, groups);
        Tensor y = alloc(x.shape());
        cpu::group_norm(x.data(), in(gamma, op, "gamma"), in(beta, op, "beta"), y.data(), d.B, d.C, d.S, groups, eps,
                        act, nt_);
        return y;
    }

    Tensor layer_norm_channels(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
        const char* op = "layer_norm_channels";
        in(x, op, "x");
        const NormDims d = layer_norm_channels_shape(x, gamma, beta);
        Tensor y = alloc(x.shape());
        cpu::layer_norm_channels(x.data(), in(gamma, op, "gamma"), in(beta, op, "beta"), y.data(), d.B, d.C, d.S, eps,
                                 nt_);
        return y;
    }

    Tensor softmax(const Tensor& x) override {
        in(x, "softmax", "x");
        Tensor y = alloc(softmax_shape(x));
        cpu::softmax_rows(x.data(), y.data(), x.numel() / x.dim(-1), x.dim(-1), nt_);
        return y;
    }

    // --- elementwise / layout ---
    Tensor act(const Tensor& x, Act a) override {
        const float* px = in(x, "act", "x");
        Tensor y = alloc(x.shape());
        const int64_t n = y.numel(), chunk = 4096;
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; i += chunk) cpu::apply_act(px + i, y.data() + i, std::min(chunk, n - i), a);
        return y;
    }

    Tensor add(const Tensor& a, const Tensor& b) override {
        const char* op = "add";
        const float* pa = in(a, op, "a");
        const float* pb = in(b, op, "b");
        Tensor y = alloc(add_shape(a, b));
        float* py = y.data();
        const int64_t n = a.numel();
        if (a.shape() == b.shape()) {
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
            for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
            return y;
        }
        const int64_t B = a.dim(0), C = a.dim(1), S = a.dim(2) * a.dim(3);
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
        for (int64_t bc = 0; bc < B * C; ++bc) {
            const float v = pb[b.dim(0) == 1 ? bc % C : bc];
            for (int64_t i = 0; i < S; ++i) py[bc * S + i] = pa[bc * S + i] + v;
        }
        return y;
    }

    Tensor axpby(float alpha, const Tensor& a, float beta, const Tensor& b) override {
        const float* pa = in(a, "axpby", "a");
        const float* pb = in(b, "axpby", "b");
        Tensor y = alloc(axpby_shape(a, b));
        float* py = y.data();
        const int64_t n = a.numel();
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; ++i) py[i] = alpha * pa[i] + beta * pb[i];
        return y;
    }

    Tensor glu_silu(const Tensor& x) override {
        const float* px = in(x, "glu_silu", "x");
        Tensor y = alloc(glu_silu_shape(x));
        const int64_t B = x.dim(0), CS = y.numel() / B;  // C·H·W of one half
        const int64_t chunk = 4096, per_b = (CS + chunk - 1) / chunk;
        float* py = y.data();
#pragma omp parallel for num_threads(nt_) schedule(static) if (y.numel() > kParallelMin)
        for (int64_t t = 0; t < B * per_b; ++t) {
            const int64_t b = t / per_b, i0 = (t % per_b) * chunk, n = std::min(chunk, CS - i0);
            const float* xv = px + b * 2 * CS + i0;
            const float* gate = xv + CS;
            float* out = py + b * CS + i0;
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) cpu::store16(out + i, cpu::load16(xv + i) * cpu::silu16(cpu::load16(gate + i)));
            for (; i < n; ++i) out[i] = xv[i] * cpu::silu_f32(gate[i]);
        }
        return y;
    }

    Tensor concat_channels(const Tensor& a, const Tensor& b) override {
        const float* pa = in(a, "concat_channels", "a");
        const float* pb = in(b, "concat_channels", "b");
        Tensor y = alloc(concat_channels_shape(a, b));
        const int64_t B = a.dim(0), na = a.numel() / B, nb = b.numel() / B;
        for (int64_t i = 0; i < B; ++i) {
            std::copy(pa + i * na, pa + (i + 1) * na, y.data() + i * (na + nb));
            std::copy(pb + i * nb, pb + (i + 1) * nb, y.data() + i * (na + nb) + na);
        }
        return y;
    }

    Tensor slice_batch(const Tensor& x, int64_t start, int64_t count) override {
        const float* px = in(x, "slice_batch", "x");
        const Shape ys = slice_batch_shape(x, start, count);
        const int64_t row = x.dim(0) ? x.numel() / x.dim(0) : 0;
        return upload(ys, px + start * row);
    }

    Tensor concat_batch(const Tensor& a, const Tensor& b) override {
        const float* pa = in(a, "concat_batch", "a");
        const float* pb = in(b, "concat_batch", "b");
        Tensor y = alloc(concat_batch_shape(a, b));
        std::copy(pa, pa + a.numel(), y.data());
        std::copy(pb, pb + b.numel(), y.data() + a.numel());
        return y;
    }

    Tensor transpose12(const Tensor& x) override {
        const float* px = in(x, "transpose12", "x");
        Tensor y = alloc(transpose12_shape(x));
        const int64_t B = x.dim(0), M = x.dim(1), N = x.dim(2);
        float* py = y.data();
        constexpr int64_t T = 32;  // tile edge: both the read and the write side stay in cache lines
        const int64_t tm = (M + T - 1) / T, tn = (N + T - 1) / T;
#pragma omp parallel for num_threads(nt_) schedule(static) if (x.numel() > kParallelMin)
        for (int64_t t = 0; t < B * tm * tn; ++t) {
            const int64_t b = t / (tm * tn), m0 = (t / tn) % tm * T, n0 = t % tn * T;
            const float* src = px + b * M * N;
            float* dst = py + b * M * N;
            for (int64_t n = n0; n < std::min(N, n0 + T); ++n)
                for (int64_t m = m0; m < std::min(M, m0 + T); ++m) dst[n * M + m] = src[m * N + n];
        }
        return y;
    }

    Tensor upsample_nearest2x(const Tensor& x) override {
        in(x, "upsample_nearest2x", "x");
        const Shape ys = upsample_nearest2x_shape(x);
        return resize_nearest(x, (int)ys[2], (int)ys[3]);
    }

    Tensor resize_nearest(const Tensor& x, int oh, int ow) override {
        const float* px = in(x, "resize_nearest", "x");
        Tensor y = alloc(resize_nearest_shape(x, oh, ow));
        const int64_t BC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
        float* py = y.data();
        const std::vector<int64_t> sy = nearest_index(H, oh), sx = nearest_index(W, ow);
#pragma omp parallel for num_threads(nt_) schedule(static) if (y.numel() > kParallelMin)
        for (int64_t bc = 0; bc < BC; ++bc)
            for (int oy = 0; oy < oh; ++oy) {
                const float* src = px + (bc * H + sy[oy]) * W;
                float* dst = py + (bc * oh + oy) * ow;
                for (int ox = 0; ox < ow; ++ox) dst[ox] = src[sx[ox]];
            }
        return y;
    }

    // --- lambda layers ---
    Tensor lambda_local_position(const Tensor& q, const Tensor& v, const Tensor& w, const Tensor& bias, int H, int W,
                                 int r, const Tensor& residual) override {
        const char* op = "lambda_local_position";
        in(q, op, "q");
        in(v, op, "v");
        const Shape out = lambda_local_position_shape(q, v, w, bias, H, W, r);
        check_residual(op, residual, out);
        Tensor y = alloc(out);
        const int B = (int)q.dim(0), h = (int)q.dim(1), k = (int)q.dim(2), vd = (int)v.dim(1);
        cpu::lambda_local_position(q.data(), v.data(), in(w, op, "w"), in(bias, op, "bias"), y.data(), B, h, k, vd,
                                   H, W, r, nt_);
        add_residual(y, residual, op);
        return y;
    }

    Tensor lambda_global_position(const Tensor& q, const Tensor& v, const Tensor& e, const Tensor& residual) override {
        const char* op = "lambda_global_position";
        in(q, op, "q");
        in(v, op, "v");
        in(e, op, "e");
        const Shape out = lambda_global_position_shape(q, v, e);
        check_residual(op, residual, out);
        Tensor y = alloc(out);
        const int B = (int)q.dim(0), h = (int)q.dim(1), k = (int)q.dim(2), N = (int)q.dim(3);
        const int vd = (int)v.dim(1), L = (int)v.dim(2);
        cpu::lambda_global_position(q.data(), v.data(), e.data(), y.data(), B, h, k, vd, N, L, nt_);
        add_residual(y, residual, op);
        return y;
    }

    // --- sampler ---
    Tensor cfg_combine(const Tensor& x, float guidance) override {
        const float* px = in(x, "cfg_combine", "x");
        Tensor y = alloc(cfg_combine_shape(x));
        const int64_t n = y.numel();
        const float *u = px, *c = px + n;
        float* py = y.data();
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; ++i) py[i] = u[i] + guidance * (c[i] - u[i]);
        return y;
    }

private:
    // Source index for each output index, as PyTorch's nearest_idx (aten/src/ATen/native/UpSample.h):
    // identity when sizes match, i >> 1 when doubling, else min(floor(i * (float)(in / out)), in - 1).
    static std::vector<int64_t> nearest_index(int64_t in_size, int64_t out_size) {
        std::vector<int64_t> idx(out_size);
        const float scale = (float)in_size / (float)out_size;
        for (int64_t i = 0; i < out_size; ++i) {
            if (out_size == in_size) idx[i] = i;
            else if (out_size == 2 * in_size) idx[i] = i >> 1;
            else idx[i] = std::min((int64_t)std::floor((float)i * scale), in_size - 1);
        }
        return idx;
    }

    // Output storage, from the pool; uninitialised unless zero.
    Tensor alloc(const Shape& s, bool zero = false) { return Tensor(s, pool_->get(numel(s), zero)); }

    // y += residual (checked by the op's shape rule), where given.
    void add_residual(Tensor& y, const Tensor& residual, const char* op) const {
        if (residual.empty()) return;
        const float* pr = in(residual, op, "residual");
        float* py = y.data();
        const int64_t n = y.numel();
#pragma omp parallel for num_threads(nt_) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; ++i) py[i] += pr[i];
    }

    int nt_;  // OpenMP threads
    std::shared_ptr<BufferPool> pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace moebius
