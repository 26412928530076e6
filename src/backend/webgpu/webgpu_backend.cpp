// The WebGPU backend: output allocation here (shapes checked by backend/shapes.h), the dispatches in
// JS (ops.js through library_moebius_gpu.js). See webgpu_backend.h. Compiled only by the WebAssembly build.
#ifdef __EMSCRIPTEN__
#include "backend/webgpu/webgpu_backend.h"

#include <emscripten/emscripten.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "api/wasm_api.h"
#include "backend/shapes.h"
#include "core/error.h"
#include "io/model_file.h"
#include "io/state_dict.h"
#include "io/weights.h"
#include "model/unet.h"

// The bridge calls (library_moebius_gpu.js). Each returns > 0 (an id, or 1) on success and a
// negative code on failure, the JS error kept for mgpu_error_message: -2 out of memory or beyond a
// device limit, -3 device lost, -1 anything else (validation, usage, missing bridge).
extern "C" {
int mgpu_init(int f16);
int mgpu_tensor(double count, int zero, int space);
int mgpu_write(int id, const float* data, double count);
void mgpu_destroy(int id);
int mgpu_flush();
int mgpu_trim();
int mgpu_error_message(char* buf, int cap);

int mgpu_conv2d(int x, int w, int b, int y, int B, int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                int pt, int pl, int pb, int pr, int groups, int act, int residual, int gamma, int beta, int norm_groups,
                float eps, int norm_act, int upsample);
int mgpu_conv2d_makes_input(int B, int Cin, int H, int W, int Cout, int kh, int kw, int stride, int pad_t, int pad_l,
                            int pad_b, int pad_r, int groups);
int mgpu_linear(int x, int w, int b, int y, int rows, int K, int N, int act);
int mgpu_matmul(int a, int b, int y, int Ba, int Bb, int M, int K, int N, int ta, int tb, float alpha, int residual);
int mgpu_group_norm(int x, int gamma, int beta, int y, int B, int C, int S, int groups, float eps, int act);
int mgpu_layer_norm_channels(int x, int gamma, int beta, int y, int B, int C, int S, float eps);
int mgpu_softmax(int x, int y, int rows, int L);
int mgpu_act(int x, int y, int n, int act);
int mgpu_add(int a, int b, int y, int B, int C, int S, int b_count);
int mgpu_axpby(float alpha, int a, float beta, int b, int y, int n);
int mgpu_glu_silu(int x, int y, int B, int C, int S);
int mgpu_depthwise_glu_silu(int x, int w, int b, int y, int B, int C, int H, int W, int act);
int mgpu_cfg_combine(int x, int y, int n, float guidance);
int mgpu_concat_channels(int a, int b, int y, int B, int Ca, int Cb, int S);
int mgpu_concat_batch(int a, int b, int y, int na, int nb);
int mgpu_slice_batch(int x, int y, int start, int count, int per);
int mgpu_transpose12(int x, int y, int B, int M, int N);
int mgpu_upsample_nearest2x(int x, int y, int BC, int H, int W);
int mgpu_resize_nearest(int x, int y, int BC, int H, int W, int OH, int OW);
int mgpu_lambda_local_position(int q, int v, int w, int bias, int y, int B, int heads, int kdim, int vdim, int H,
                               int W, int r, int residual);
int mgpu_lambda_global_position(int q, int v, int e, int y, int B, int heads, int kdim, int vdim, int N, int L,
                                int residual);
}

namespace moebius {
namespace {

// Turns a failed bridge call into an Error carrying the JS message.
int checked(int rc, const char* op) {
    if (rc > 0) return rc;
    char msg[1024] = "";
    mgpu_error_message(msg, sizeof msg);
    const ErrorKind kind = rc == -2 ? ErrorKind::OutOfMemory : ErrorKind::Internal;
    fail(kind, std::string("WebGPU ") + op + ": " + msg);
}

// The bridge's tensor arena has two spaces, a buffer each (bridge.js ARENA_SPACES). A kernel's input
// in the space of its output must be declared read_write, and NVIDIA's compiler loads read-only
// storage faster (H100, with every input read_write: the staged 3x3 conv +6-24%, the staged GEMM
// +2-26%, the depthwise conv +40-60%). So convs and linears put their output in the other space than
// their input: chains of them (depthwise -> 1x1, norm -> conv) alternate, and their scratch (the
// padded input) goes to the other space than their output; matmuls write the other space than their
// first input's. Everything else stays in space 0. f16 only, and only tensors up
// to 32 MiB: the second buffer holds the UNet's tensors (+87 MiB; f16 peak 1.187 GB), while the VAE's
// largest ones share space 0 (as all of them: 1.37 GB); f32 (2 GB target) keeps one space.
constexpr int kMatrixOutputs = 1;
constexpr double kMatrixOutputsMaxBytes = 26.0 * 1024 * 1024;

// Recycles bridge buffers. The model allocates the same shapes in the same order at every step; a
// fresh GPU buffer per op output costs a createBuffer, an error scope and new bind groups (measured on
// an H100: recording a full-size step took 400 ms, mostly in those), while a recycled id comes back
// with the bind groups the bridge cached for it. A buffer whose last Tensor goes away returns here
// and is handed out again for the same element count (the lowest such id). Reuse is safe while the
// GPU may still read the old contents: WebGPU runs the queue in order, and the bridge submits a
// pending batch before a write into a buffer it uses.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
public:
    // Small buffers kept: enough for a UNet step's working set (which recycles step after step); the
    // pipeline trims the pool between stages (Backend::trim). At 256 MiB 42 buffers of a full-size f16
    // step at 512² missed at every step (new buffers, new bind groups; ~800 ms of recording on
    // SwiftShader); at 512 MiB none miss, with the same peak (0.976 GB, from the first step). f32 (with
    // large buffers outside the cap): 256 -> 512 MiB takes the buffers made in 19 steps from 1244 to
    // 551, the steps' peak from 1.768 to 1.805 GB (below the decoder's 1.915).
    static constexpr double kCapBytes = 512.0 * 1024 * 1024;
    // Large buffers are outside the cap. A large request that no cached buffer matches means the
    // working set changed sizes: it takes the smallest cached large buffer of an earlier level
    // (next_level(); kernels take their sizes from their parameters, so a tensor may live in a larger
    // buffer), else every cached large buffer is freed before a new one is made. Cached large buffers
    // thus never sit beside a newly made large one, and large memory peaks with the live working set.
    // The VAE encoder's later, smaller levels run in its first level's buffers (H100, f16: API encode
    // x2 181 -> 109 ms, buffers made 60 -> 43, before the scratch was re-made per level for its peak,
    // ~51 now). Only earlier levels' buffers, because within
    // a level a larger buffer given to a smaller tensor is memory the next miss would have freed: the
    // decoder's 512² level, where 256- and 128-channel tensors alternate, peaked 0.25 GB higher (f32)
    // when any larger buffer could serve.
    static constexpr double kLargeBytes = 16.0 * 1024 * 1024;

    explicit BufferPool(int elem_bytes)
        : elem_bytes_(elem_bytes) {}
    ~BufferPool() {
        for (const Buffer& b : free_) mgpu_destroy(b.id);
    }

    struct Buffer {
        int id;
        int64_t capacity;  // elements the buffer holds (>= the tensor's)
        int level;         // the level it was made in
        int space;         // the bridge's tensor arena space it was made in (kMatrixOutputs or 0)
    };

    // A buffer for `count` elements in arena `space`: recycled (stale contents) unless `zero`, else
    // new (zero-filled).
    Buffer get(int64_t count, bool zero, const char* op, int space) {
        const bool large = is_large(count);
        if (!zero) {
            // The lowest free id of that count, not the last one freed: the choice then depends only
            // on which buffers are free, so every step gets the same ids as the step before last (the
            // latents alternate between two buffers) and the bridge's cached bind groups hit. Taking
            // the last one freed permuted the ids from step to step: 450-650 of a full-size step's
            // ~700 bind groups were created anew. Large: else the smallest of an earlier level.
            auto best = free_.end();
            for (auto it = free_.begin(); it != free_.end(); ++it) {
                if (it->space != space) continue;
                if (it->capacity != count && !(large && it->capacity > count && it->level < level_)) continue;
                if (best == free_.end() || it->capacity < best->capacity ||
                    (it->capacity == best->capacity && it->id < best->id))
                    best = it;
            }
            if (best != free_.end()) {
                const Buffer b = *best;
                if (!is_large(b.capacity)) cached_small_ -= bytes(b.capacity);
                free_.erase(best);
                return b;
            }
        }
        // A miss: cached large buffers go before a new buffer is made. A large miss frees them all; a
        // small one those of earlier levels (the encoder's deepest level, where the tensors are small
        // again, would otherwise hold its first level's buffers beside its own: +67 MB at the peak).
        std::erase_if(free_, [&](const Buffer& b) {
            const bool drop = is_large(b.capacity) && (large || b.level < level_);
            if (drop) mgpu_destroy(b.id);
            return drop;
        });
        return {checked(mgpu_tensor((double)count, zero ? 1 : 0, space), op), count, level_, space};
    }

    // Cached small buffers go: they are the previous level's sizes, which the next one does not use.
    void next_level() {
        ++level_;
        std::erase_if(free_, [&](const Buffer& b) {
            if (!is_large(b.capacity)) mgpu_destroy(b.id);
            return !is_large(b.capacity);
        });
        cached_small_ = 0;
    }

    // Frees every cached buffer (GPU memory back to the system while idle).
    void clear() {
        for (const Buffer& b : free_) mgpu_destroy(b.id);
        free_.clear();
        cached_small_ = 0;
    }

    void put(const Buffer& b) {
        free_.push_back(b);
        if (is_large(b.capacity)) return;
        cached_small_ += bytes(b.capacity);
        while (cached_small_ > kCapBytes) {  // oldest small ones first
            auto it = std::find_if(free_.begin(), free_.end(), [&](const Buffer& f) { return !is_large(f.capacity); });
            cached_small_ -= bytes(it->capacity);
            mgpu_destroy(it->id);
            free_.erase(it);
        }
    }

private:
    double bytes(int64_t count) const { return (double)count * elem_bytes_; }
    bool is_large(int64_t count) const { return bytes(count) >= kLargeBytes; }

    int elem_bytes_;
    std::vector<Buffer> free_;  // oldest first
    double cached_small_ = 0;   // bytes of the small buffers in free_
    int level_ = 0;
};

// A GPU buffer of the bridge; back to the pool (or freed) when the last Tensor sharing it goes away.
struct GpuBuffer final : DeviceBuffer {
    GpuBuffer(BufferPool::Buffer b, std::weak_ptr<BufferPool> pool) : buffer(b), pool(std::move(pool)) {}
    ~GpuBuffer() override {
        if (auto p = pool.lock()) p->put(buffer);
        else mgpu_destroy(buffer.id);
    }
    GpuBuffer(const GpuBuffer&) = delete;
    GpuBuffer& operator=(const GpuBuffer&) = delete;
    const BufferPool::Buffer buffer;
    const std::weak_ptr<BufferPool> pool;
};

// A dimension or count as the int the bridge takes (WebGPU sizes are 32-bit anyway).
int i32(int64_t v, const char* op) {
    MOEBIUS_CHECK(v >= 0 && v <= INT_MAX, ErrorKind::Internal,
                  std::string(op) + ": size " + std::to_string(v) + " does not fit 32 bits");
    return (int)v;
}

int id_of(const Tensor& t, const char* op, const char* what) {
    const auto* g = dynamic_cast<const GpuBuffer*>(t.device());
    MOEBIUS_CHECK(g != nullptr, ErrorKind::Internal,
                  std::string(op) + ": " + what + " is not a WebGPU tensor (shape " + shape_str(t.shape()) + ")");
    return g->buffer.id;
}

// The other tensor arena space than x's (an op's output there leaves x read-only in the op's kernels).
int other_space(const Tensor& x) {
    const auto* g = dynamic_cast<const GpuBuffer*>(x.device());
    return g && g->buffer.space == kMatrixOutputs ? 0 : kMatrixOutputs;
}

// Bias or other optional input: 0 = absent.
int opt_id(const Tensor& t, const char* op, const char* what) { return t.empty() ? 0 : id_of(t, op, what); }

class WebGpuBackend final : public Backend {
public:
    explicit WebGpuBackend(bool f16) : f16_(f16) {
        checked(mgpu_init(f16 ? 1 : 0), "init");
        pool_ = std::make_shared<BufferPool>(f16 ? 2 : 4);
    }

    std::string name() const override { return f16_ ? "webgpu-f16" : "webgpu"; }
    // One image at a time, f16 and f32 (the Backend default). A batch of two halved the encoder's
    // dispatches and new buffers (H100, f16: API encode x2 183 -> 133 ms) but doubled its activation
    // peak, which is the whole inpaint's (f16 1.16 GB, f32 2.06 GB); with the bridge's tensor arena the
    // buffers are made once and the recording is cheap, and the arena is sized to the largest live set
    // (session 16, one buffer: 452 MiB one at a time, 522 MiB two at once; 1.2 GB target with 0.62 GB of
    // weights; now two buffers, 400 MiB in all).

    // --- memory ---
    Tensor upload(const Shape& shape, const float* data) override {
        Tensor t = alloc(shape, "upload");
        if (t.numel() > 0) checked(mgpu_write(id_of(t, "upload", "t"), data, (double)t.numel()), "upload");
        return t;
    }
    std::vector<float> download(const Tensor&) override {
        fail(ErrorKind::Internal, "download is asynchronous on WebGPU: read the buffer from JS");
    }
    Tensor zeros(const Shape& shape) override { return alloc(shape, "zeros", true); }

    // --- dense ---
    Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Act act,
                  const Tensor& residual) override {
        const Conv2dDims d = conv2d_shape(x, w, b, p, residual);
        // The depthwise kernel has no residual in its epilogue (the UNet adds none after one).
        if (!residual.empty() && p.groups > 1 && p.groups == d.Cin && p.groups == d.Cout)
            return add(conv2d(x, w, b, p, act, Tensor()), residual);
        return conv2d_of(x, d, w, b, p, act, residual, nullptr, false);
    }

    // The ops.js conv makes the normed or upsampled input in its padded copy where its kernel allows;
    // elsewhere the input is made first, as a tensor of this pool (which recycles it).
    Tensor group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups, float eps,
                             Act norm_act, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                             const Tensor& residual) override {
        group_norm_shape(x, gamma, beta, groups);
        const Conv2dDims d = conv2d_shape(x, w, b, p, residual);
        if (!conv_makes_input(d, p)) return Backend::group_norm_conv2d(x, gamma, beta, groups, eps, norm_act, w, b, p, residual);
        const ConvNorm norm{&gamma, &beta, groups, eps, norm_act};
        return conv2d_of(x, d, w, b, p, Act::None, residual, &norm, false);
    }

    Tensor upsample_nearest2x_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override {
        const Tensor up(upsample_nearest2x_shape(x), std::shared_ptr<DeviceBuffer>());  // shape only
        const Conv2dDims d = conv2d_shape(up, w, b, p);
        if (!conv_makes_input(d, p)) return Backend::upsample_nearest2x_conv2d(x, w, b, p);
        return conv2d_of(x, d, w, b, p, Act::None, Tensor(), nullptr, true);
    }

    // The depthwise 3x3 (stride 1, padding 1) and the GLU in one kernel; other convs as two ops.
    Tensor conv2d_glu_silu(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Act act) override {
        const char* op = "conv2d_glu_silu";
        const Conv2dDims d = conv2d_shape(x, w, b, p);
        const bool dw3x3 = p.groups == d.Cin && p.groups == d.Cout && d.kh == 3 && d.kw == 3 && p.stride == 1 &&
                           p.pad_top == 1 && p.pad_left == 1 && p.pad_bottom == 1 && p.pad_right == 1;
        if (!dw3x3) return Backend::conv2d_glu_silu(x, w, b, p, act);
        const Tensor conv_out(d.out(), std::shared_ptr<DeviceBuffer>());  // shape only
        Tensor y = alloc(glu_silu_shape(conv_out), op, false, other_space(x));
        if (y.numel() == 0) return y;
        checked(mgpu_depthwise_glu_silu(id_of(x, op, "x"), id_of(w, op, "w"), opt_id(b, op, "b"), id_of(y, op, "y"),
                                        i32(d.B, op), i32(d.Cin, op), i32(d.H, op), i32(d.W, op), (int)act),
                op);
        return y;
    }

    Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Act act) override {
        const char* op = "linear";
        const LinearDims d = linear_shape(x, w, b);
        Tensor y = alloc(d.out, op, false, other_space(x));
        checked(mgpu_linear(id_of(x, op, "x"), id_of(w, op, "w"), opt_id(b, op, "b"), id_of(y, op, "y"), i32(d.M, op),
                            i32(d.K, op), i32(d.N, op), (int)act),
                op);
        return y;
    }

    Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha, const Tensor& residual) override {
        const char* op = "matmul";
        const MatmulDims d = matmul_shape(a, b, ta, tb);
        check_residual(op, residual, d.out);
        // In the other space than a's: the lambdas' λc = k·vᵀ (k from a softmax, space 0) lands beside q
        // (a conv's output, space 1), and the content term λcᵀ·q then reads both in the other space.
        Tensor y = alloc(d.out, op, false, other_space(a));
        checked(mgpu_matmul(id_of(a, op, "a"), id_of(b, op, "b"), id_of(y, op, "y"), i32(d.Ba, op), i32(d.Bb, op),
                            i32(d.M, op), i32(d.K, op), i32(d.N, op), ta, tb, alpha, opt_id(residual, op, "residual")),
                op);
        return y;
    }

    // --- normalisation ---
    Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int groups, float eps,
                      Act act) override {
        const char* op = "group_norm";
        const NormDims d = group_norm_shape(x, gamma, beta, groups);
        Tensor y = alloc(x.shape(), op);
        if (y.numel() == 0) return y;
        checked(mgpu_group_norm(id_of(x, op, "x"), id_of(gamma, op, "gamma"), id_of(beta, op, "beta"),
                                id_of(y, op, "y"), i32(d.B, op), i32(d.C, op), i32(d.S, op), groups, eps, (int)act),
                op);
        return y;
    }

    Tensor layer_norm_channels(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
        const char* op = "layer_norm_channels";
        const NormDims d = layer_norm_channels_shape(x, gamma, beta);
        Tensor y = alloc(x.shape(), op);
        if (y.numel() == 0) return y;
        checked(mgpu_layer_norm_channels(id_of(x, op, "x"), id_of(gamma, op, "gamma"), id_of(beta, op, "beta"),
                                         id_of(y, op, "y"), i32(d.B, op), i32(d.C, op), i32(d.S, op), eps),
                op);
        return y;
    }

    Tensor softmax(const Tensor& x) override {
        const char* op = "softmax";
        Tensor y = alloc(softmax_shape(x), op);
        if (y.numel() == 0) return y;
        checked(mgpu_softmax(id_of(x, op, "x"), id_of(y, op, "y"), i32(x.numel() / x.dim(-1), op), i32(x.dim(-1), op)),
                op);
        return y;
    }

    // --- elementwise / layout ---
    Tensor act(const Tensor& x, Act a) override {
        const char* op = "act";
        Tensor y = alloc(x.shape(), op);
        if (y.numel() == 0) return y;
        checked(mgpu_act(id_of(x, op, "x"), id_of(y, op, "y"), i32(x.numel(), op), (int)a), op);
        return y;
    }

    Tensor add(const Tensor& a, const Tensor& b) override {
        const char* op = "add";
        Tensor y = alloc(add_shape(a, b), op);
        if (a.shape() == b.shape()) {
            if (y.numel() == 0) return y;
            // One "channel" of n elements: the kernel's same-shape mode.
            checked(mgpu_add(id_of(a, op, "a"), id_of(b, op, "b"), id_of(y, op, "y"), 1, 1, i32(a.numel(), op),
                             i32(a.numel(), op)),
                    op);
            return y;
        }
        if (y.numel() == 0) return y;
        const int64_t B = a.dim(0), C = a.dim(1), S = a.dim(2) * a.dim(3);
        // (1, C, 1, 1) with B == 1 is the same as (B, C, 1, 1): ops.add tells the modes apart by count.
        checked(mgpu_add(id_of(a, op, "a"), id_of(b, op, "b"), id_of(y, op, "y"), i32(B, op), i32(C, op), i32(S, op),
                         i32(b.numel(), op)),
                op);
        return y;
    }

    Tensor axpby(float alpha, const Tensor& a, float beta, const Tensor& b) override {
        const char* op = "axpby";
        Tensor y = alloc(axpby_shape(a, b), op);
        if (y.numel() == 0) return y;
        checked(mgpu_axpby(alpha, id_of(a, op, "a"), beta, id_of(b, op, "b"), id_of(y, op, "y"), i32(a.numel(), op)),
                op);
        return y;
    }

    Tensor glu_silu(const Tensor& x) override {
        const char* op = "glu_silu";
        Tensor y = alloc(glu_silu_shape(x), op);
        if (y.numel() == 0) return y;
        const int64_t B = y.dim(0), C = y.dim(1);
        checked(mgpu_glu_silu(id_of(x, op, "x"), id_of(y, op, "y"), i32(B, op), i32(C, op), i32(y.numel() / (B * C), op)),
                op);
        return y;
    }

    Tensor concat_channels(const Tensor& a, const Tensor& b) override {
        const char* op = "concat_channels";
        Tensor y = alloc(concat_channels_shape(a, b), op);
        if (y.numel() == 0) return y;
        int64_t S = 1;
        for (int i = 2; i < a.ndim(); ++i) S *= a.dim(i);
        checked(mgpu_concat_channels(id_of(a, op, "a"), id_of(b, op, "b"), id_of(y, op, "y"), i32(a.dim(0), op),
                                     i32(a.dim(1), op), i32(b.dim(1), op), i32(S, op)),
                op);
        return y;
    }

    Tensor slice_batch(const Tensor& x, int64_t start, int64_t count) override {
        const char* op = "slice_batch";
        Tensor y = alloc(slice_batch_shape(x, start, count), op);
        if (y.numel() == 0) return y;
        const int64_t per = x.numel() / x.dim(0);
        checked(mgpu_slice_batch(id_of(x, op, "x"), id_of(y, op, "y"), i32(start, op), i32(count, op), i32(per, op)),
                op);
        return y;
    }

    Tensor concat_batch(const Tensor& a, const Tensor& b) override {
        const char* op = "concat_batch";
        Tensor y = alloc(concat_batch_shape(a, b), op);
        if (y.numel() == 0) return y;
        checked(mgpu_concat_batch(id_of(a, op, "a"), id_of(b, op, "b"), id_of(y, op, "y"), i32(a.numel(), op),
                                  i32(b.numel(), op)),
                op);
        return y;
    }

    Tensor transpose12(const Tensor& x) override {
        const char* op = "transpose12";
        Tensor y = alloc(transpose12_shape(x), op);
        if (y.numel() == 0) return y;
        const int64_t B = x.dim(0), M = x.dim(1), N = x.dim(2);
        checked(mgpu_transpose12(id_of(x, op, "x"), id_of(y, op, "y"), i32(B, op), i32(M, op), i32(N, op)), op);
        return y;
    }

    Tensor upsample_nearest2x(const Tensor& x) override {
        const char* op = "upsample_nearest2x";
        Tensor y = alloc(upsample_nearest2x_shape(x), op);
        if (y.numel() == 0) return y;
        const int64_t H = x.dim(2), W = x.dim(3);
        checked(mgpu_upsample_nearest2x(id_of(x, op, "x"), id_of(y, op, "y"), i32(x.dim(0) * x.dim(1), op), i32(H, op),
                                        i32(W, op)),
                op);
        return y;
    }

    Tensor resize_nearest(const Tensor& x, int oh, int ow) override {
        const char* op = "resize_nearest";
        Tensor y = alloc(resize_nearest_shape(x, oh, ow), op);
        if (y.numel() == 0) return y;
        checked(mgpu_resize_nearest(id_of(x, op, "x"), id_of(y, op, "y"), i32(x.dim(0) * x.dim(1), op),
                                    i32(x.dim(2), op), i32(x.dim(3), op), oh, ow),
                op);
        return y;
    }

    // --- lambda layers ---
    Tensor lambda_local_position(const Tensor& q, const Tensor& v, const Tensor& w, const Tensor& bias, int H, int W,
                                 int r, const Tensor& residual) override {
        const char* op = "lambda_local_position";
        const Shape out = lambda_local_position_shape(q, v, w, bias, H, W, r);
        check_residual(op, residual, out);
        Tensor y = alloc(out, op);
        if (y.numel() == 0) return y;
        const int64_t B = q.dim(0), h = q.dim(1), k = q.dim(2), vd = v.dim(1);
        checked(mgpu_lambda_local_position(id_of(q, op, "q"), id_of(v, op, "v"), id_of(w, op, "w"),
                                           id_of(bias, op, "bias"), id_of(y, op, "y"), i32(B, op), i32(h, op),
                                           i32(k, op), i32(vd, op), H, W, r, opt_id(residual, op, "residual")),
                op);
        return y;
    }

    Tensor lambda_global_position(const Tensor& q, const Tensor& v, const Tensor& e, const Tensor& residual) override {
        const char* op = "lambda_global_position";
        const Shape out = lambda_global_position_shape(q, v, e);
        check_residual(op, residual, out);
        Tensor y = alloc(out, op);
        if (y.numel() == 0) return y;
        const int64_t B = q.dim(0), h = q.dim(1), k = q.dim(2), N = q.dim(3), vd = v.dim(1), L = v.dim(2);
        checked(mgpu_lambda_global_position(id_of(q, op, "q"), id_of(v, op, "v"), id_of(e, op, "e"), id_of(y, op, "y"),
                                            i32(B, op), i32(h, op), i32(k, op), i32(vd, op), i32(N, op), i32(L, op),
                                            opt_id(residual, op, "residual")),
                op);
        return y;
    }

    // --- sampler ---
    Tensor cfg_combine(const Tensor& x, float guidance) override {
        const char* op = "cfg_combine";
        Tensor y = alloc(cfg_combine_shape(x), op);
        if (y.numel() == 0) return y;
        checked(mgpu_cfg_combine(id_of(x, op, "x"), id_of(y, op, "y"), i32(y.numel(), op), guidance), op);
        return y;
    }

    // Submits the recorded work; the JS driver awaits its completion (g.sync()) after the wasm call returns.
    void sync() override { checked(mgpu_flush(), "sync"); }

    // Frees the GPU buffers kept for reuse.
    void release_cached() { pool_->clear(); }
    // Also frees the ops' scratch (the direct conv's padded input at the encoder's first level is as
    // large as an activation) and submits the pending batch, as trim() does.
    void next_level() override {
        pool_->next_level();
        checked(mgpu_trim(), "next level");
    }
    // Between stages: also frees the ops' scratch buffers and submits the pending batch, since the
    // bridge destroys a buffer that batch uses only once it is submitted (until then the old and the
    // next stage's buffers would coexist).
    void trim() override {
        release_cached();
        checked(mgpu_trim(), "trim");
    }

private:
    struct ConvNorm {
        const Tensor* gamma;
        const Tensor* beta;
        int groups;
        float eps;
        Act act;
    };

    bool conv_makes_input(const Conv2dDims& d, const Conv2dParams& p) {
        const char* op = "conv2d";
        return checked(mgpu_conv2d_makes_input(i32(d.B, op), i32(d.Cin, op), i32(d.H, op), i32(d.W, op), i32(d.Cout, op),
                                               i32(d.kh, op), i32(d.kw, op), p.stride, p.pad_top, p.pad_left,
                                               p.pad_bottom, p.pad_right, p.groups),
                       op) == 2;
    }

    // y = act(conv2d(f(x), w) + b) + residual, d the conv's dims (of f(x)): f(x) = x, the GroupNorm
    // `norm` of x, or x upsampled 2x (nearest).
    Tensor conv2d_of(const Tensor& x, const Conv2dDims& d, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                     Act act, const Tensor& residual, const ConvNorm* norm, bool upsample) {
        const char* op = norm ? "group_norm_conv2d" : upsample ? "upsample_nearest2x_conv2d" : "conv2d";
        Tensor y = alloc(d.out(), op, false, other_space(x));
        checked(mgpu_conv2d(id_of(x, op, "x"), id_of(w, op, "w"), opt_id(b, op, "b"), id_of(y, op, "y"), i32(d.B, op),
                            i32(d.Cin, op), i32(d.H, op), i32(d.W, op), i32(d.Cout, op), i32(d.kh, op), i32(d.kw, op),
                            p.stride, p.pad_top, p.pad_left, p.pad_bottom, p.pad_right, p.groups, (int)act,
                            opt_id(residual, op, "residual"), norm ? id_of(*norm->gamma, op, "gamma") : 0,
                            norm ? id_of(*norm->beta, op, "beta") : 0, norm ? norm->groups : 0, norm ? norm->eps : 0.0f,
                            norm ? (int)norm->act : 0, upsample ? 1 : 0),
                op);
        return y;
    }

    // A tensor of the bridge's dtype: zero-filled if `zero`, else of unspecified contents (every op
    // writes all of its output); in the bridge's tensor arena `space`.
    Tensor alloc(const Shape& s, const char* op, bool zero = false, int space = 0) {
        for (int64_t d : s)
            MOEBIUS_CHECK(d >= 0, ErrorKind::Internal, std::string(op) + ": negative dimension in " + shape_str(s));
        const int64_t n = numel(s);
        if (space == kMatrixOutputs && (!f16_ || (double)n * 2 > kMatrixOutputsMaxBytes)) space = 0;
        return Tensor(s, std::make_shared<GpuBuffer>(pool_->get(n, zero, op, space), pool_));
    }

    bool f16_;
    std::shared_ptr<BufferPool> pool_;  // tensors hold weak references: they may outlive the backend
};

}  // namespace

std::unique_ptr<Backend> make_webgpu_backend(bool f16) { return std::make_unique<WebGpuBackend>(f16); }

void webgpu_release_cached(Backend& be) {
    if (auto* w = dynamic_cast<WebGpuBackend*>(&be)) w->release_cached();
}

uint32_t webgpu_buffer_id(const Tensor& t) {
    const auto* g = dynamic_cast<const GpuBuffer*>(t.device());
    return g ? (uint32_t)g->buffer.id : 0;
}

}  // namespace moebius

// ---- the WebAssembly exports of this backend (the rest of the mw_* API: src/api/wasm_api.h) ----

// A WebGPU backend over Module.moebiusGpu (set by the JS driver first); f16: float16 storage, which
// needs a bridge created with preferF16 on an adapter with shader-f16. Null on failure: the reason is
// the JS error in Module.moebiusGpu.lastError (no bridge, or its dtype differs). Free with mw_backend_free.
extern "C" EMSCRIPTEN_KEEPALIVE mw_backend* mw_backend_webgpu(int f16) {
    try {
        auto b = std::make_unique<mw_backend>();
        b->backend = moebius::make_webgpu_backend(f16 != 0);
        return b.release();
    } catch (const std::exception&) {
        return nullptr;
    }
}

// The bridge buffer id of a WebGPU tensor handle (e.g. mw_job_decode's), for `await g.readF32(id)`;
// 0 for a CPU tensor or null.
extern "C" EMSCRIPTEN_KEEPALIVE int mw_tensor_gpu_buffer(mw_tensor* t) {
    return t ? (int)moebius::webgpu_buffer_id(t->t) : 0;
}

// Frees the GPU buffers a WebGPU backend keeps for reuse (no-op for other backends or null).
extern "C" EMSCRIPTEN_KEEPALIVE void mw_backend_webgpu_trim(mw_backend* b) {
    if (b) moebius::webgpu_release_cached(*b->backend);
}

// Test hook (tests/gpu): one UNet forward on backend `be`, for comparison with a reference call.
// unet: upstream RemovalModel weights (.bin / .safetensors bytes, not owned) with model_config_json
// as mw_model_load_upstream's (null = the built-in "full" config); or unet = null: the fixture rule's
// synthetic weights (seed 1) for model_config_json = "tiny", "full" or a model_config.json text.
// sample (batch, in_channels, S, S) floats; ids: batch rows of ids_per_row embedding ids. Returns the
// (batch, out_channels, S, S) output (free with mw_tensor_free), or null with the message in
// mw_debug_error().
namespace {
thread_local std::string g_debug_error;
}
extern "C" EMSCRIPTEN_KEEPALIVE const char* mw_debug_error(void) { return g_debug_error.c_str(); }

extern "C" EMSCRIPTEN_KEEPALIVE mw_tensor* mw_debug_unet(mw_backend* be, const uint8_t* unet, size_t n,
                                                         const char* model_config_json, const float* sample,
                                                         int batch, float timestep, const int* ids, int ids_per_row) {
    using namespace moebius;
    try {
        MOEBIUS_CHECK(be && sample && ids && batch > 0 && ids_per_row > 0, ErrorKind::Invalid,
                      "mw_debug_unet: null or empty argument");
        const std::string cfg = model_config_json ? model_config_json : "";
        ModelConfig c;
        StateDict sd;
        if (unet) {
            c = upstream_model_config(cfg, "model_config.json");
            sd = parse_state_dict(unet, n, "UNet weights");
        } else {
            c = cfg == "tiny" || cfg == "full" ? builtin_config(cfg) : parse_model_config(cfg, "model_config.json");
            sd = synth_state_dict(unet_param_table(c.unet), 1);  // fixtures README: UNet seed 1
        }
        const UNet model(c.unet, sd, *be->backend);
        sd = StateDict();
        const int64_t S = c.unet.sample_size;
        const Tensor x = be->backend->upload({batch, c.unet.in_channels, S, S}, sample);
        auto out = std::make_unique<mw_tensor>();
        out->t = model.forward(x, timestep, std::vector<int64_t>(ids, ids + (size_t)batch * ids_per_row));
        be->backend->sync();
        g_debug_error.clear();
        return out.release();
    } catch (const std::exception& e) {
        g_debug_error = e.what();
        return nullptr;
    }
}

#endif  // __EMSCRIPTEN__
