// CPU benchmark of the full Moebius model at 512×512 (synthetic weights from the fixture rule):
// one UNet CFG call (batch 2), VAE encode (×2, batched), VAE decode, and optionally a whole inpaint.
// Prints wall time, achieved GFLOP/s against upstream's FLOP counts (shared/notes/toolchain.md) and
// peak RSS. Usage: bench_cpu [--threads N] [--inpaint] [--config tiny|full]
//
// --fixtures DIR (a fixture model folder, ../shared/fixtures/full or tiny; the config follows the
// folder's name unless --config is given): instead, the peer benchmark's work (bench/peers): the
// fixture's image.png / mask.png / noise.npy inpainted in whole mode, stage by stage — one untimed
// warm-up (encode, one step, decode), then --repeat timed runs (median): encode (preprocessing + VAE
// encode x2 + add_noise), each UNet CFG step (+ DDIM update), decode (incl. the copy out), whole
// inpaint = image to decoded tensor (PNG post-processing excluded). Final latents and decoded image
// are compared with latents_steps.npy[-1] and decoded.npy (max |diff|). --json FILE writes the figures.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/image.h"
#include "io/model_file.h"
#include "io/npy.h"
#include "model/config.h"
#include "model/unet.h"
#include "model/vae.h"
#include "pipeline/inpaint.h"

using namespace moebius;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// User + system CPU time of the process so far (all threads), seconds.
double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

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

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// max |a - b| (NaN anywhere: infinity) and max |b|.
std::pair<double, double> max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return {INFINITY, 0};
    double err = 0, ref = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double d = std::fabs((double)a[i] - (double)b[i]);
        if (!(d <= INFINITY)) return {INFINITY, ref};
        err = std::max(err, d);
        ref = std::max(ref, std::fabs((double)b[i]));
    }
    return {err, ref};
}

// The peer benchmark's inpaint of the fixtures (see the header). Returns the process exit code.
int fixture_bench(const std::string& dir, const std::string& config, int threads, int repeat,
                  const std::string& json_path) {
    std::unique_ptr<Backend> be = make_cpu_backend(threads);
    const double t_setup = now();
    ModelWeights w;
    w.config = builtin_config(config);
    w.unet = synth_state_dict(unet_param_table(w.config.unet), 1);
    w.vae = synth_state_dict(vae_param_table(w.config.vae), 2);
    Inpainter inp(w, *be);
    w = ModelWeights();  // the engine holds its own (folded) copy
    const double setup_s = now() - t_setup;
    const Image image = load_image(dir + "/image.png"), mask = load_image(dir + "/mask.png");
    const HostTensor ref_steps = load_npy(dir + "/latents_steps.npy");
    const std::vector<float> ref_all = ref_steps.to_f32();
    InpaintOptions o;
    o.mode = MOEBIUS_MODE_WHOLE;
    o.noise = load_npy(dir + "/noise.npy").to_f32();
    const std::vector<float> ref_decoded = load_npy(dir + "/decoded.npy").to_f32();
    const size_t per = ref_all.size() / (size_t)ref_steps.shape[0];
    const std::vector<float> ref_last(ref_all.end() - (std::ptrdiff_t)per, ref_all.end());
    std::printf("moebius.cpp CPU, fixture inpaint: %s model (%s), backend %s, setup %.1f s\n", config.c_str(),
                dir.c_str(), be->name().c_str(), setup_s);

    {  // warm-up: one call of each part
        InpaintJob job(inp, image, mask, o);
        job.begin_crop(0);
        job.step(0);
        be->download(job.decode());
    }
    std::vector<double> enc, step, dec, whole;
    std::vector<float> latents, decoded;
    const double cpu0 = cpu_seconds();
    for (int r = 0; r < repeat; ++r) {
        Tensor last;
        InpaintOptions ro = o;
        ro.on_step = [&](int, const Tensor& l) { last = l; };
        const double t0 = now();
        InpaintJob job(inp, image, mask, ro);
        MOEBIUS_CHECK(job.crops() == 1, ErrorKind::Internal, "fixture bench: expected one window");
        double t = now();
        const int n = job.begin_crop(0);
        enc.push_back(now() - t);
        for (int i = 0; i < n; ++i) {
            t = now();
            job.step(i);
            step.push_back(now() - t);
        }
        t = now();
        decoded = be->download(job.decode());
        dec.push_back(now() - t);
        whole.push_back(now() - t0);
        latents = be->download(last);
        std::printf("run %d: encode %.3f s, step median %.3f s, decode %.3f s, whole %.3f s\n", r + 1, enc.back(),
                    median(std::vector<double>(step.end() - n, step.end())), dec.back(), whole.back());
    }
    const double cpu_per_run = (cpu_seconds() - cpu0) / repeat;
    const auto [dl, rl] = max_abs_diff(latents, ref_last);
    const auto [dd, rd] = max_abs_diff(decoded, ref_decoded);
    const double rss = peak_rss_mb();
    std::printf("median of %d: UNet CFG step %.1f ms, encode x2 %.1f ms, decode %.1f ms, whole inpaint %.1f ms\n",
                repeat, 1e3 * median(step), 1e3 * median(enc), 1e3 * median(dec), 1e3 * median(whole));
    std::printf(
        "max |diff| vs fixtures: latents after the last step %.3g (max |ref| %.3g), decoded %.3g (max |ref| %.3g)\n",
        dl, rl, dd, rd);
    std::printf("peak RSS %.0f MB\n", rss);
    if (!json_path.empty()) {
        // JSON has no infinity (NaN in an output): written as a string so that it is not read as "not compared".
        auto diff = [](double d) { return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json("Infinity"); };
        std::vector<double> runs_ms;
        for (double x : whole) runs_ms.push_back(1e3 * x);
        nlohmann::json j = {
            {"peer", "ours_cpu"},
            {"ep", "moebius.cpp CPU (" + be->name() + ", OpenBLAS + OpenMP)"},
            {"threads", threads > 0 ? threads : omp_get_num_procs()},
            {"precision", "f32"},
            {"model", config},
            {"fixtures", dir},
            {"repeat", repeat},
            {"unet_step_ms", 1e3 * median(step)},
            {"encode_ms", 1e3 * median(enc)},
            {"decode_ms", 1e3 * median(dec)},
            {"inpaint_ms", 1e3 * median(whole)},
            {"peak_mem_bytes", (int64_t)(rss * 1024 * 1024)},
            {"peak_mem_kind", "rss"},
            {"max_abs_diff_latents", diff(dl)},
            {"max_abs_diff_decoded", diff(dd)},
            {"max_abs_ref_latents", rl},
            {"max_abs_ref_decoded", rd},
            {"setup_s", setup_s},
            {"cpu_ms_per_inpaint", 1e3 * cpu_per_run},
            {"runs_inpaint_ms", runs_ms},
            {"notes",
             "synthetic weights (fixture rule) made in memory and folded at load; warm-up = one encode, "
             "one step, one decode; whole inpaint = image to decoded tensor, PNG post-processing excluded; "
             "peak RSS of the process (includes the unfolded weights while the engine is built)"}};
        std::ofstream f(json_path);
        f << j.dump(1) << "\n";
        if (!f) {
            std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
            return 3;
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0, reps = 1, repeat = 1;
    bool inpaint = false;
    std::string config, fixtures, json;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--inpaint")) inpaint = true;
        else if (!std::strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!std::strcmp(argv[i], "--fixtures") && i + 1 < argc) fixtures = argv[++i];
        else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            std::fprintf(
                stderr,
                "usage: bench_cpu [--threads N] [--reps N] [--inpaint] [--config tiny|full]\n"
                "       bench_cpu --fixtures DIR [--config tiny|full] [--threads N] [--repeat N] [--json FILE]\n");
            return 2;
        }
    }
    if (!fixtures.empty()) {
        while (fixtures.size() > 1 && fixtures.back() == '/') fixtures.pop_back();
        if (config.empty()) config = fixtures.substr(fixtures.find_last_of('/') + 1) == "tiny" ? "tiny" : "full";
        try {
            return fixture_bench(fixtures, config, threads, repeat, json);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_cpu: %s\n", e.what());
            return 1;
        }
    }
    if (config.empty()) config = "full";
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
