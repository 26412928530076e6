// moebius — command-line inpainting with the Moebius model. A client of the C API only (moebius.h);
// `moebius serve` (serve.cpp) serves the web app and needs no engine at all.
//
// Exit codes: 0 success, 1 internal error, 2 bad usage or option, 3 file I/O error (serve: cannot listen),
//             4 bad model file, 5 bad image (undecodable, too large, mask/image size mismatch),
//             6 cancelled (Ctrl-C), 7 out of memory.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "moebius.h"
#include "serve.h"

namespace fs = std::filesystem;

namespace {

int exit_code(moebius_status s) {
    switch (s) {
        case MOEBIUS_OK: return 0;
        case MOEBIUS_ERR_INVALID: return 2;
        case MOEBIUS_ERR_IO: return 3;
        case MOEBIUS_ERR_MODEL: return 4;
        case MOEBIUS_ERR_IMAGE: return 5;
        case MOEBIUS_ERR_CANCELLED: return 6;
        case MOEBIUS_ERR_OOM: return 7;
        case MOEBIUS_ERR_INTERNAL: return 1;
    }
    return 1;
}

int report(moebius_status s, const std::string& context = "") {
    if (s != MOEBIUS_OK)
        std::fprintf(stderr, "moebius: %s%s\n", context.empty() ? "" : (context + ": ").c_str(), moebius_last_error());
    return exit_code(s);
}

std::atomic<bool> g_interrupted{false};  // set by SIGINT; polled by the progress callback
extern "C" void on_sigint(int) { g_interrupted = true; }

struct ProgressBar {
    bool tty = ::isatty(2);
    bool quiet = false;
    std::string label;
};

int on_progress(const moebius_progress* p, void* user) {
    auto* bar = static_cast<ProgressBar*>(user);
    if (g_interrupted) return 1;
    if (bar->quiet || !bar->tty) return 0;
    if (p->stage == MOEBIUS_STAGE_DONE) {
        std::fprintf(stderr, "\r\033[K");
        return 0;
    }
    const char* stage = p->stage == MOEBIUS_STAGE_ENCODE ? "encode" : p->stage == MOEBIUS_STAGE_STEP ? "denoise" : "decode";
    // Progress over all crops: each crop = encode + steps + decode units.
    const double per = p->steps + 2.0;
    const double done = (p->crop - 1) * per + (p->stage == MOEBIUS_STAGE_ENCODE ? 0 : p->stage == MOEBIUS_STAGE_STEP ? 1 + p->step : 1 + p->steps);
    const double frac = std::clamp(done / (per * std::max(1, p->crops)), 0.0, 1.0);
    const int width = 30, filled = (int)(frac * width);
    std::string barstr(filled, '#');
    barstr += std::string(width - filled, '.');
    char eta[32] = "";
    if (frac > 0.02) std::snprintf(eta, sizeof eta, " ETA %.0fs", p->elapsed_s / frac - p->elapsed_s);
    std::fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %s %d/%d crop %d/%d %.1fs%s", bar->label.c_str(), barstr.c_str(),
                 frac * 100, stage, p->step, p->steps, p->crop, p->crops, p->elapsed_s, eta);
    std::fflush(stderr);
    return 0;
}

const std::vector<std::string> kImageExts = {".png", ".jpg", ".jpeg", ".webp"};

bool is_image_file(const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), ::tolower);
    return std::find(kImageExts.begin(), kImageExts.end(), e) != kImageExts.end();
}

struct InpaintArgs {
    std::string model, vae, config, image, mask, output, noise, mode = "auto";
    int steps = 20, threads = 0, quality = 95;
    float guidance = 2.5f, strength = 0.99f, noise_offset = 0.0357f;
    uint64_t seed = 0;
    bool no_paste = false, compensate = false, sample_latents = false, quiet = false;
};

int inpaint_one(moebius_model* m, const InpaintArgs& a, const moebius_options& opt, const std::string& image_path,
                const std::string& mask_path, const std::string& out_path, ProgressBar& bar) {
    moebius_image image{}, mask{}, out{};
    moebius_status s = moebius_image_load(image_path.c_str(), &image);
    if (s != MOEBIUS_OK) return report(s);
    if (!mask_path.empty() && (s = moebius_image_load(mask_path.c_str(), &mask)) != MOEBIUS_OK) {
        moebius_image_free(&image);
        return report(s);
    }
    bar.label = fs::path(image_path).filename().string();
    s = moebius_inpaint(m, &image, mask_path.empty() ? nullptr : &mask, &opt, &out);
    moebius_image_free(&image);
    moebius_image_free(&mask);
    if (s != MOEBIUS_OK) return report(s, image_path);
    s = moebius_image_save(out_path.c_str(), &out, a.quality);
    moebius_image_free(&out);
    if (s != MOEBIUS_OK) return report(s);
    if (!a.quiet) std::fprintf(stderr, "wrote %s\n", out_path.c_str());
    return 0;
}

int run_inpaint(const InpaintArgs& a) {
    moebius_options opt;
    moebius_options_default(&opt);
    opt.steps = a.steps;
    opt.guidance = a.guidance;
    opt.strength = a.strength;
    opt.seed = a.seed;
    opt.noise_offset = a.noise_offset;
    opt.paste = !a.no_paste;
    opt.compensate = a.compensate;
    opt.sample_latents = a.sample_latents;
    opt.mode = a.mode == "whole" ? MOEBIUS_MODE_WHOLE : a.mode == "crop" ? MOEBIUS_MODE_CROP : MOEBIUS_MODE_AUTO;
    ProgressBar bar;
    bar.quiet = a.quiet;
    opt.progress = on_progress;
    opt.progress_user = &bar;

    float* noise = nullptr;
    if (!a.noise.empty()) {
        int64_t shape[8];
        int32_t ndim = 0;
        moebius_status s = moebius_npy_load(a.noise.c_str(), &noise, shape, &ndim);
        if (s != MOEBIUS_OK) return report(s);
        int64_t n = 1;
        for (int i = 0; i < ndim; ++i) n *= shape[i];
        if (n != 4 * 64 * 64) {
            std::free(noise);
            std::fprintf(stderr, "moebius: %s: expected noise of shape (1,4,64,64), got %lld values\n",
                         a.noise.c_str(), (long long)n);
            return 2;
        }
        opt.noise = noise;
    }

    // Pairs of (image, mask, output).
    std::vector<std::array<std::string, 3>> jobs;
    if (fs::is_directory(a.image)) {
        if (a.output.empty() || (fs::exists(a.output) && !fs::is_directory(a.output))) {
            std::fprintf(stderr, "moebius: --image is a folder, so -o must be a folder\n");
            std::free(noise);
            return 2;
        }
        std::map<std::string, std::string> masks;  // stem -> path
        if (!a.mask.empty()) {
            if (!fs::is_directory(a.mask)) {
                std::fprintf(stderr, "moebius: --image is a folder, so --mask must be a folder too\n");
                std::free(noise);
                return 2;
            }
            for (const auto& e : fs::directory_iterator(a.mask))
                if (e.is_regular_file() && is_image_file(e.path())) masks[e.path().stem().string()] = e.path().string();
        }
        std::vector<fs::path> images;
        for (const auto& e : fs::directory_iterator(a.image))
            if (e.is_regular_file() && is_image_file(e.path())) images.push_back(e.path());
        std::sort(images.begin(), images.end());
        for (const auto& p : images) {
            std::string mask;
            if (!a.mask.empty()) {
                auto it = masks.find(p.stem().string());
                if (it == masks.end()) {
                    std::fprintf(stderr, "moebius: no mask named %s.* in %s for %s\n", p.stem().c_str(), a.mask.c_str(),
                                 p.c_str());
                    std::free(noise);
                    return 2;
                }
                mask = it->second;
            }
            jobs.push_back({p.string(), mask, (fs::path(a.output) / (p.stem().string() + ".png")).string()});
        }
        if (jobs.empty()) {
            std::fprintf(stderr, "moebius: no images (.png/.jpg/.webp) in %s\n", a.image.c_str());
            std::free(noise);
            return 2;
        }
        std::error_code ec;
        fs::create_directories(a.output, ec);
        if (ec) {
            std::fprintf(stderr, "moebius: cannot create %s: %s\n", a.output.c_str(), ec.message().c_str());
            std::free(noise);
            return 3;
        }
    } else {
        jobs.push_back({a.image, a.mask, a.output});
    }

    moebius_model* m = nullptr;
    moebius_status s = moebius_load(a.model.c_str(), a.vae.empty() ? nullptr : a.vae.c_str(),
                                    a.config.empty() ? nullptr : a.config.c_str(), a.threads, &m);
    if (s != MOEBIUS_OK) {
        std::free(noise);
        return report(s);
    }
    std::signal(SIGINT, on_sigint);
    int rc = 0;
    for (const auto& [image, mask, out] : jobs) {
        rc = inpaint_one(m, a, opt, image, mask, out, bar);
        if (rc) break;
    }
    moebius_free(m);
    std::free(noise);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"moebius: Moebius image inpainting on the CPU (moebius.cpp)"};
    app.require_subcommand(1);
    app.footer(
        "Exit codes: 0 ok, 1 internal error, 2 bad usage, 3 file I/O error, 4 bad model file,\n"
        "            5 bad image, 6 cancelled, 7 out of memory.");

    InpaintArgs ia;
    CLI::App* inp = app.add_subcommand("inpaint", "Fill the masked region of an image (or of every image in a folder)");
    inp->add_option("-m,--model", ia.model, "Model: our single-file model, or upstream diffusion_pytorch_model.bin/.safetensors")->required();
    inp->add_option("--vae", ia.vae, "Diffusers VAE folder (config.json + weights) when --model is an upstream file");
    inp->add_option("--config", ia.config, "model_config.json for upstream files of a non-standard size");
    inp->add_option("-i,--image", ia.image, "Input image (PNG/JPEG/WebP) or a folder of images")->required();
    inp->add_option("--mask", ia.mask, "Mask image, white = fill (or a folder of masks named like the images); "
                                       "omitted: the image's alpha channel (transparent = fill)");
    inp->add_option("-o,--output", ia.output, "Output image (.png/.jpg/.webp) or folder")->required();
    inp->add_option("--steps", ia.steps, "DDIM steps before strength (upstream 20)")->check(CLI::Range(1, 1000));
    inp->add_option("--guidance", ia.guidance, "Classifier-free guidance scale (upstream 2.5)");
    inp->add_option("--strength", ia.strength, "Denoising strength (upstream 0.99)")->check(CLI::Range(0.001f, 1.0f));
    inp->add_option("--seed", ia.seed, "Seed of the initial noise");
    inp->add_option("--noise", ia.noise, "Initial latent noise (1,4,64,64) .npy, offset included (overrides --seed)");
    inp->add_option("--noise-offset", ia.noise_offset, "Noise offset (upstream 0.0357)");
    inp->add_option("--mode", ia.mode, "auto (crop-around-mask above 512 px), whole (upstream), crop")
        ->check(CLI::IsMember({"auto", "whole", "crop"}));
    inp->add_flag("--no-paste", ia.no_paste, "Return the raw generated image instead of blending it into the input");
    inp->add_flag("--compensate", ia.compensate, "Upstream colour compensation of the pasted region");
    inp->add_flag("--sample-latents", ia.sample_latents, "Sample the VAE posterior like upstream (default: its mean)");
    inp->add_option("-t,--threads", ia.threads, "CPU threads (0 = all cores)");
    inp->add_option("--quality", ia.quality, "JPEG/WebP quality")->check(CLI::Range(1, 100));
    inp->add_flag("-q,--quiet", ia.quiet, "No progress output");

    std::string cv_model, cv_vae, cv_config, cv_out, cv_dtype = "f16";
    CLI::App* cv = app.add_subcommand("convert", "Convert upstream checkpoint files into one model file (safetensors)");
    cv->add_option("-m,--model", cv_model, "Upstream RemovalModel diffusion_pytorch_model.bin/.safetensors")->required();
    cv->add_option("--vae", cv_vae, "Diffusers VAE folder (hustvl/PixelHacker/vae)")->required();
    cv->add_option("--config", cv_config, "model_config.json (default: the real Moebius configuration)");
    cv->add_option("-o,--output", cv_out, "Output model file (.safetensors)")->required();
    cv->add_option("--dtype", cv_dtype, "f16 (default) or f32")->check(CLI::IsMember({"f16", "f32"}));

    std::string sy_config = "full", sy_out, sy_dtype = "f32";
    uint64_t sy_unet_seed = 1, sy_vae_seed = 2;
    CLI::App* sy = app.add_subcommand("synth", "Write a model with the reference fixtures' synthetic weights");
    sy->add_option("--config", sy_config, "tiny, full, or a model_config.json path");
    sy->add_option("--unet-seed", sy_unet_seed, "Seed of the UNet weights (fixtures: 1)");
    sy->add_option("--vae-seed", sy_vae_seed, "Seed of the VAE weights (fixtures: 2)");
    sy->add_option("-o,--output", sy_out, "Output model file")->required();
    sy->add_option("--dtype", sy_dtype, "f32 (default, exact) or f16")->check(CLI::IsMember({"f16", "f32"}));

    std::string in_model, in_vae, in_config;
    CLI::App* info = app.add_subcommand("info", "Summarise a model file");
    info->add_option("model", in_model, "Model file (ours or upstream)")->required();
    info->add_option("--vae", in_vae, "Diffusers VAE folder for upstream files");
    info->add_option("--config", in_config, "model_config.json for upstream files");

    ServeOptions so;
    CLI::App* sv =
        app.add_subcommand("serve", "Serve the web app (COOP/COEP headers, byte ranges) and a local model folder");
    sv->add_option("--root", so.root, "The app folder, built by scripts/build-web.sh")->capture_default_str();
    sv->add_option("--models", so.models,
                   "A folder served under /models/ (CORS on): converted model files, or the upstream files in "
                   "the Hugging Face layout (Moebius/<variant>/, PixelHacker/vae/)");
    sv->add_option("--host", so.host, "Address to listen on (0.0.0.0: every interface, for a LAN)")
        ->capture_default_str();
    sv->add_option("--port", so.port, "Port (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }

    if (*inp) return run_inpaint(ia);
    if (*sv) return run_serve(so);
    if (*cv)
        return report(moebius_convert(cv_model.c_str(), cv_vae.c_str(), cv_config.empty() ? nullptr : cv_config.c_str(),
                                      cv_out.c_str(), cv_dtype == "f32"));
    if (*sy) return report(moebius_synth(sy_config.c_str(), sy_unet_seed, sy_vae_seed, sy_out.c_str(), sy_dtype == "f32"));
    if (*info) {
        char* text = nullptr;
        moebius_status s = moebius_model_info(in_model.c_str(), in_vae.empty() ? nullptr : in_vae.c_str(),
                                              in_config.empty() ? nullptr : in_config.c_str(), &text);
        if (s != MOEBIUS_OK) return report(s);
        std::fputs(text, stdout);
        std::free(text);
        return 0;
    }
    return 2;
}
