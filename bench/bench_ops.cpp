// Per-op CPU benchmark at the model's real sizes: where does the time go? Prints time per call, the
// FLOP count and achieved GFLOP/s (and GB/s for memory-bound ops).
// Usage: bench_ops [threads (0 = all cores)] [name filter substring]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "backend/backend.h"

using namespace moebius;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CPU seconds used by the whole process (all threads): on a busy shared box, wall time mixes in other
// people's work; CPU time per call (at threads=1 especially) stays comparable.
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Tensor rand_tensor(Backend& be, const Shape& s, std::mt19937& gen) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> v(numel(s));
    for (auto& x : v) x = d(gen);
    return be.upload(s, v);
}

const char* g_filter = nullptr;

// Runs f once to warm up, then repeatedly for about `budget` seconds (at least twice); prints the best time.
void bench(const char* name, double flops, double bytes, const std::function<void()>& f, double budget = 1.0) {
    if (g_filter && !std::strstr(name, g_filter)) return;
    f();
    double best = 1e30, start = now(), cpu0 = cpu_now();
    int reps = 0;
    while (reps < 2 || now() - start < budget) {
        const double t0 = now();
        f();
        best = std::min(best, now() - t0);
        ++reps;
    }
    const double cpu = (cpu_now() - cpu0) / reps;
    std::printf("%-46s %9.2f ms %9.2f cpu-ms  %8.3f GFLOP  %7.1f GFLOP/s", name, best * 1e3, cpu * 1e3, flops * 1e-9,
                flops / best * 1e-9);
    if (bytes > 0) std::printf("  %6.1f GB/s", bytes / best * 1e-9);
    std::printf("  (%d reps)\n", reps);
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
    g_filter = argc > 2 ? argv[2] : nullptr;
    auto be = make_cpu_backend(threads);
    std::mt19937 gen(1);
    const double f4 = 4.0;  // bytes per float

    {  // UNet pointwise conv (MixFFN inverted conv at the top level): 320 -> 800 at 64x64, CFG batch 2
        Tensor x = rand_tensor(*be, {2, 320, 64, 64}, gen), w = rand_tensor(*be, {800, 320, 1, 1}, gen),
               b = rand_tensor(*be, {800}, gen);
        bench("conv1x1 320->800 64x64 b2 +bias+silu", 2.0 * 2 * 800 * 320 * 4096, 0,
              [&] { be->conv2d(x, w, b, Conv2dParams{}, Act::SiLU); });
    }
    {  // the same at the bottom level: 1280 -> 3200 at 16x16
        Tensor x = rand_tensor(*be, {2, 1280, 16, 16}, gen), w = rand_tensor(*be, {3200, 1280, 1, 1}, gen),
               b = rand_tensor(*be, {3200}, gen);
        bench("conv1x1 1280->3200 16x16 b2 +bias+silu", 2.0 * 2 * 3200 * 1280 * 256, 0,
              [&] { be->conv2d(x, w, b, Conv2dParams{}, Act::SiLU); });
    }
    {  // VAE mid-block resnet conv at the 64x64 latent
        Tensor x = rand_tensor(*be, {1, 512, 64, 64}, gen), w = rand_tensor(*be, {512, 512, 3, 3}, gen),
               b = rand_tensor(*be, {512}, gen);
        bench("conv3x3 512->512 64x64 b1 +bias", 2.0 * 512 * 512 * 9 * 64 * 64, 0,
              [&] { be->conv2d(x, w, b, Conv2dParams::same(3), Act::None); });
    }
    {  // UNet depthwise conv of the GLU MBConv (hidden 2 * 800 channels)
        Tensor x = rand_tensor(*be, {2, 1600, 64, 64}, gen), w = rand_tensor(*be, {1600, 1, 3, 3}, gen),
               b = rand_tensor(*be, {1600}, gen);
        const double n = 2.0 * 1600 * 4096;
        bench("depthwise3x3 1600x64x64 b2 +bias", n * 9 * 2, 2 * n * f4,
              [&] { be->conv2d(x, w, b, Conv2dParams::same(3, 1, 1600), Act::None); });
    }
    {  // VAE decoder's top-resolution resnet conv
        Tensor x = rand_tensor(*be, {1, 128, 512, 512}, gen), w = rand_tensor(*be, {128, 128, 3, 3}, gen),
               b = rand_tensor(*be, {128}, gen);
        bench("conv3x3 128->128 512x512 b1 +bias", 2.0 * 128 * 128 * 9 * 512 * 512, 0,
              [&] { be->conv2d(x, w, b, Conv2dParams::same(3), Act::None); }, 2.0);
        // VAE encoder downsample: pad (0,1,0,1), stride 2
        bench("conv3x3 s2 pad(0,1,0,1) 128->128 512->256", 2.0 * 128 * 128 * 9 * 256 * 256, 0,
              [&] { be->conv2d(x, w, b, Conv2dParams{2, 0, 0, 1, 1, 1}, Act::None); });
        Tensor g = rand_tensor(*be, {128}, gen);
        const double n = 128.0 * 512 * 512;
        bench("group_norm32+silu 128x512x512", n * 8, 2 * n * f4,
              [&] { be->group_norm(x, g, b, 32, 1e-6f, Act::SiLU); });
        bench("silu 128x512x512", n * 4, 2 * n * f4, [&] { be->act(x, Act::SiLU); });
        bench("add 128x512x512", n, 3 * n * f4, [&] { be->add(x, x); });
    }
    {  // top-level self lambda: h=8, k=40, vd=40, 64x64, r=15, CFG batch 2
        const int B = 2, h = 8, k = 40, vd = 40, H = 64, W = 64, r = 15;
        const int64_t N = H * W;
        Tensor q = rand_tensor(*be, {B, h, k, N}, gen), v = rand_tensor(*be, {B, vd, N}, gen),
               w = rand_tensor(*be, {k, r * r}, gen), bias = rand_tensor(*be, {k}, gen);
        // QW (k-sum per tap) + the r*r gather over V, 2 FLOP per multiply-add
        const double flops = 2.0 * B * h * N * (double)r * r * (k + vd);
        bench("lambda_local_position b2 h8 k40 v40 64x64 r15", flops, 0,
              [&] { be->lambda_local_position(q, v, w, bias, H, W, r); });
        for (int lvl = 1; lvl <= 2; ++lvl) {  // the lower levels: 32x32 (k = vd = 80), 16x16 (k = vd = 160)
            const int Hl = H >> lvl, kl = k << lvl;
            const int64_t Nl = (int64_t)Hl * Hl;
            Tensor ql = rand_tensor(*be, {B, h, kl, Nl}, gen), vl = rand_tensor(*be, {B, kl, Nl}, gen),
                   wl = rand_tensor(*be, {kl, r * r}, gen), bl = rand_tensor(*be, {kl}, gen);
            const std::string name = "lambda_local_position b2 h8 k" + std::to_string(kl) + " v" +
                                     std::to_string(kl) + " " + std::to_string(Hl) + "x" + std::to_string(Hl) + " r15";
            bench(name.c_str(), 2.0 * B * h * Nl * (double)r * r * (2 * kl), 0,
                  [&] { be->lambda_local_position(ql, vl, wl, bl, Hl, Hl, r); });
        }
        const int L = 10;
        Tensor vg = rand_tensor(*be, {B, vd, L}, gen), e = rand_tensor(*be, {N, L, k}, gen);
        bench("lambda_global_position b2 h8 k40 v40 N4096 L10", 2.0 * B * h * N * L * (k + vd), 0,
              [&] { be->lambda_global_position(q, vg, e); });
        Tensor ln = rand_tensor(*be, {B, 320, H, W}, gen), g = rand_tensor(*be, {320}, gen);
        const double n = B * 320.0 * N;
        bench("layer_norm_channels 2x320x64x64", n * 8, 2 * n * f4,
              [&] { be->layer_norm_channels(ln, g, g, 1e-6f); });
    }
    {  // VAE mid-block attention at the 64x64 latent: softmax of 4096x4096 scores
        Tensor s = rand_tensor(*be, {1, 4096, 4096}, gen);
        bench("softmax 4096x4096", 4096.0 * 4096 * 5, 2 * 4096.0 * 4096 * f4, [&] { be->softmax(s); });
        Tensor qk = rand_tensor(*be, {1, 4096, 512}, gen);
        bench("matmul 4096x512x4096 (q kT)", 2.0 * 4096 * 4096 * 512, 0, [&] { be->matmul(qk, qk, false, true); });
    }
    return 0;
}
