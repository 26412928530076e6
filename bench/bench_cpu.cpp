// CPU benchmark of the full Moebius model at 512×512 (synthetic weights from the fixture rule):
// one UNet CFG call (batch 2), VAE encode (×2, batched), VAE decode, and optionally a whole inpaint.
// Prints wall time, achieved GFLOP/s against upstream's FLOP counts (shared/notes/toolchain.md) and
// peak RSS. Usage: bench_cpu [--threads N] [--inpaint] [--config tiny|full]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "backend/backend.h"
#include "core/rng.h"
#include "io/model_file.h"
#include "model/config.h"
#include "model/unet.h"
#include "model/vae.h"
#include "pipeline/inpaint.h"

using namespace moebius;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

// Upstream FLOP counts at 512×512 (shared/notes/toolchain.md), in GFLOP.
constexpr double kUNetCfgStep = 632, kVaeEncode = 1117, kVaeDecode = 2515;

template <class F>
double best_of(int reps, F&& f) {
    double best = 1e30;
    for (int i = 0; i < reps; ++i) {
        const double t = now();
        f();
        best = std::min(best, now() - t);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0, reps = 1;
    bool inpaint = false;
    std::string config = "full";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--inpaint")) inpaint = true;
        else if (!std::strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_cpu [--threads N] [--reps N] [--inpaint] [--config tiny|full]\n");
            return 2;
        }
    }
    std::unique_ptr<Backend> be = make_cpu_backend(threads);
    ModelWeights w;
    w.config = builtin_config(config);
    double t = now();
    w.unet = synth_state_dict(unet_param_table(w.config.unet), 1);
    w.vae = synth_state_dict(vae_param_table(w.config.vae), 2);
    std::printf("moebius.cpp CPU benchmark: %s model, backend %s, setup %.1f s\n", config.c_str(), be->name().c_str(),
                now() - t);

    const int S = w.config.unet.sample_size, N = 8 * S;
    Rng rng(0);
    Tensor lat = be->upload({1, 4, S, S}, rng.normals(4 * S * S));
    Tensor mask = be->upload({1, 1, S, S}, std::vector<float>(S * S, 0.f));
    Tensor img2 = be->upload({2, 3, N, N}, rng.normals(2 * 3 * N * N));

    double t_unet, t_enc, t_dec;
    {  // the parts alone (scoped, so the whole inpaint below holds one copy of the weights)
        UNet unet(w.config.unet, w.unet, *be);
        Vae vae(w.config.vae, w.vae, *be);
        t_unet = best_of(reps, [&] { be->download(unet.forward_cfg(lat, mask, lat, 900.f, 2.5f)); });
        t_enc = best_of(reps, [&] { be->download(vae.encode_moments(img2)); });
        t_dec = best_of(reps, [&] { be->download(vae.decode(lat)); });
    }
    img2 = Tensor();
    const bool full = config == "full";
    auto row = [&](const char* what, double s, double gflop) {
        if (full) std::printf("%-28s %9.2f s   %7.1f GFLOP/s\n", what, s, gflop / s);
        else std::printf("%-28s %9.3f s\n", what, s);
    };
    row("UNet CFG call (batch 2)", t_unet, kUNetCfgStep);
    row("VAE encode x2 (batched)", t_enc, 2 * kVaeEncode);
    row("VAE decode", t_dec, kVaeDecode);
    if (inpaint) {
        Inpainter inp(w, *be);
        w = ModelWeights();  // the engine holds its own (folded) copy
        Image image(N, N, 3, 128);
        Image m(N, N, 1, 0);
        for (int y = N / 4; y < N / 2; ++y)
            for (int x = N / 4; x < N / 2; ++x) m.pixels[(size_t)y * N + x] = 255;
        InpaintOptions o;
        const double t_all = best_of(1, [&] { inp.inpaint(image, m, o); });
        row("whole inpaint (19 steps)", t_all, 19 * kUNetCfgStep + 2 * kVaeEncode + kVaeDecode);
    } else {
        const double est = 19 * t_unet + t_enc + t_dec;
        std::printf("%-28s %9.2f s   (estimate: 19 UNet calls + encode + decode; --inpaint to measure)\n",
                    "whole inpaint", est);
    }
    std::printf("peak RSS %.0f MB\n", peak_rss_mb());
    return 0;
}
