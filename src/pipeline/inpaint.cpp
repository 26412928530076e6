#include "pipeline/inpaint.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "pipeline/postprocess.h"
#include "pipeline/resize.h"

namespace moebius {

namespace {

double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Upstream's inputs to the VAE, CHW float32: `_denoise_preprocess` (np.asarray(img) / 255. * 2 - 1 in
// float64, then cast) of the image, and prepare_mask_and_masked_image's mask = (m / 255 >= 0.5) and
// masked = image * (1 - mask). The per-byte values come from tables made with the same float64 formulas
// (one pass over the pixels: this runs before the GPU has work, so it is on the critical path).
struct VaeInputs {
    std::vector<float> image, masked, mask;
};

VaeInputs vae_inputs(const Image& rgb, const Image& mask) {
    std::array<float, 256> value, keep;
    for (int v = 0; v < 256; ++v) {
        value[v] = (float)(v / 255. * 2 - 1);
        keep[v] = v / 255. >= 0.5 ? 0.f : 1.f;  // 1 - mask
    }
    const size_t n = (size_t)rgb.width * rgb.height;
    VaeInputs in{std::vector<float>(3 * n), std::vector<float>(3 * n), std::vector<float>(n)};
    for (size_t i = 0; i < n; ++i) {
        const float k = keep[mask.pixels[i]];
        in.mask[i] = 1 - k;
        for (int c = 0; c < 3; ++c) {
            const float x = value[rgb.pixels[3 * i + c]];
            in.image[c * n + i] = x;
            in.masked[c * n + i] = x * k;
        }
    }
    return in;
}

bool mask_is_empty(const Image& m) {
    return std::all_of(m.pixels.begin(), m.pixels.end(), [](uint8_t v) { return v == 0; });
}

void check_options(const InpaintOptions& o) {
    MOEBIUS_CHECK(o.steps >= 1 && o.steps <= 1000, ErrorKind::Invalid,
                  "steps must be in 1..1000, got " + std::to_string(o.steps));
    MOEBIUS_CHECK(o.strength > 0 && o.strength <= 1, ErrorKind::Invalid,
                  "strength must be in (0, 1], got " + std::to_string(o.strength));
    MOEBIUS_CHECK(std::isfinite(o.guidance) && std::isfinite(o.noise_offset), ErrorKind::Invalid,
                  "guidance and noise offset must be finite numbers");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Inpainter

Inpainter::Inpainter(const ModelWeights& w, Backend& be)
    : cfg_(w.config),
      be_(be),
      unet_(std::make_unique<UNet>(w.config.unet, w.unet, be)),
      vae_(std::make_unique<Vae>(w.config.vae, w.vae, be)) {}

Tensor Inpainter::initial_noise(const InpaintOptions& o) const {
    const int S = cfg_.unet.sample_size, C = cfg_.vae.latent_channels;
    const size_t n = (size_t)C * S * S;
    if (!o.noise.empty()) {
        MOEBIUS_CHECK(o.noise.size() == n, ErrorKind::Invalid,
                      "noise: expected (1," + std::to_string(C) + "," + std::to_string(S) + "," + std::to_string(S) +
                          ") = " + std::to_string(n) + " values, got " + std::to_string(o.noise.size()));
        return be_.upload({1, C, S, S}, o.noise);
    }
    // Upstream: noise = randn_like(latents); noise += noise_offset * randn(B, C, 1, 1).
    Rng rng(o.seed);
    std::vector<float> noise = rng.normals(n);
    const std::vector<float> offset = rng.normals(C);
    for (int c = 0; c < C; ++c)
        for (int i = 0; i < S * S; ++i) noise[(size_t)c * S * S + i] += o.noise_offset * offset[c];
    return be_.upload({1, C, S, S}, noise);
}

Image Inpainter::inpaint(const Image& image, const Image& mask, const InpaintOptions& o) {
    const double t0 = now_s();
    auto report = [&](moebius_progress p) {
        p.elapsed_s = now_s() - t0;
        if (o.progress && !o.progress(p)) fail(ErrorKind::Cancelled, "cancelled");
    };
    InpaintJob job(*this, image, mask, o);
    for (int k = 0; k < job.crops(); ++k) {
        report({MOEBIUS_STAGE_ENCODE, 0, 0, k + 1, job.crops(), 0});
        const int steps = job.begin_crop(k);
        for (int i = 0; i < steps; ++i) {
            job.step(i);
            report({MOEBIUS_STAGE_STEP, i + 1, steps, k + 1, job.crops(), 0});
        }
        report({MOEBIUS_STAGE_DECODE, steps, steps, k + 1, job.crops(), 0});
        job.finish_crop(be_.download(job.decode()));
    }
    Image out = job.result();
    report({MOEBIUS_STAGE_DONE, 0, 0, job.crops(), job.crops(), 0});
    return out;
}

Image Inpainter::generate(const Image& rgb, const Image& mask, const InpaintOptions& o) {
    const int N = native_size();
    MOEBIUS_CHECK(rgb.width == N && rgb.height == N && rgb.channels == 3 && mask.width == N && mask.height == N &&
                      mask.channels == 1,
                  ErrorKind::Internal, "generate: expects " + std::to_string(N) + "x" + std::to_string(N) + " inputs");
    InpaintOptions raw = o;
    raw.paste = raw.compensate = false;
    raw.mode = MOEBIUS_MODE_WHOLE;
    raw.progress = nullptr;
    return inpaint(rgb, mask, raw);
}

// ---------------------------------------------------------------------------------------------
// InpaintJob

InpaintJob::InpaintJob(Inpainter& inp, const Image& image, const Image& mask_in, const InpaintOptions& o)
    : inp_(inp), o_(o), input_(image) {
    check_options(o);
    MOEBIUS_CHECK(image.width > 0 && image.height > 0 && !image.pixels.empty(), ErrorKind::Image, "image is empty");
    rgb_ = to_rgb(image);
    if (mask_in.pixels.empty()) {
        MOEBIUS_CHECK(has_alpha(image), ErrorKind::Image, "no mask given and the image has no alpha channel");
        mask_ = mask_from_alpha(image);
        alpha_is_mask_ = true;
    } else {
        MOEBIUS_CHECK(mask_in.width == image.width && mask_in.height == image.height, ErrorKind::Image,
                      "mask is " + std::to_string(mask_in.width) + "x" + std::to_string(mask_in.height) +
                          " but the image is " + std::to_string(image.width) + "x" + std::to_string(image.height));
        mask_ = binarize_mask(to_gray(mask_in));
    }
    generated_ = rgb_;
    if (mask_is_empty(mask_)) return;  // nothing to do: result() is the input

    const int N = inp_.native_size();
    moebius_mode mode = o.mode;
    if (mode == MOEBIUS_MODE_AUTO) mode = (rgb_.width > N || rgb_.height > N) ? MOEBIUS_MODE_CROP : MOEBIUS_MODE_WHOLE;
    if (mode == MOEBIUS_MODE_WHOLE) {
        windows_.push_back({0, 0, rgb_.width, rgb_.height});
    } else {
        CropOptions co;
        co.model_size = N;
        windows_ = plan_crops(mask_, co);
    }
}

int InpaintJob::begin_crop(int k) {
    MOEBIUS_CHECK(k >= 0 && k < crops(), ErrorKind::Invalid, "begin_crop: no crop " + std::to_string(k));
    Backend& be = inp_.be_;
    const ModelConfig& cfg = inp_.cfg_;
    const int N = inp_.native_size(), S = cfg.unet.sample_size, C = cfg.vae.latent_channels;
    k_ = k;
    preview_ = Tensor();
    crop_rgb_ = crop_image(rgb_, windows_[k]);
    crop_mask_ = crop_image(mask_, windows_[k]);
    // Upstream resizes image and (binarised) mask with LANCZOS; the mask is re-binarised (>= 0.5).
    // At the native size both resizes are copies, so a 512×512 input is exactly upstream's path.
    const Image rgb = resize_lanczos(crop_rgb_, N, N);
    const Image mask = binarize_mask(resize_lanczos(crop_mask_, N, N));

    timesteps_ = inp_.ddim_.timesteps(o_.steps, o_.strength);
    MOEBIUS_CHECK(!timesteps_.empty(), ErrorKind::Invalid, "steps × strength leaves no denoising step");

    const VaeInputs in = vae_inputs(rgb, mask);
    const std::vector<float>&image = in.image, &masked = in.masked, &mask_f = in.mask;

    // encode_clean_latents: both images through the VAE; latents × scaling_factor. As a batch of two
    // as upstream does, or one image at a time where the backend prefers (the same result: the
    // encoder's ops are per sample, at half the peak activation memory; see vae_encode_batch).
    auto encode = [&](auto&& fn) {
        if (be.vae_encode_batch() >= 2) {
            std::vector<float> both = image;
            both.insert(both.end(), masked.begin(), masked.end());
            return fn(be.upload({2, 3, N, N}, both));
        }
        return be.concat_batch(fn(be.upload({1, 3, N, N}, image)), fn(be.upload({1, 3, N, N}, masked)));
    };
    Tensor latents;
    if (o_.sample_latents) {  // upstream's latent_dist.sample(), from our seeded RNG
        const std::vector<float> mom = be.download(encode([&](const Tensor& x) { return inp_.vae_->encode_moments(x); }));
        const size_t lp = (size_t)C * S * S;
        std::vector<float> lat(2 * lp);
        Rng rng(o_.seed ^ 0x5EED5A3D1E5ull);
        for (int b = 0; b < 2; ++b)
            for (size_t i = 0; i < lp; ++i) {
                const float mean = mom[2 * b * lp + i];
                const float logvar = std::clamp(mom[2 * b * lp + lp + i], -30.f, 20.f);  // DiagonalGaussian clamp
                lat[b * lp + i] = mean + std::exp(0.5f * logvar) * (float)rng.normal();
            }
        latents = be.upload({2, C, S, S}, lat);
    } else {
        latents = encode([&](const Tensor& x) { return inp_.vae_->encode_mean(x); });
    }
    const float sf = cfg.vae.scaling_factor;
    latents = be.axpby(sf, latents, 0.f, latents);
    Tensor image_latents = be.slice_batch(latents, 0, 1);
    masked_latents_ = be.slice_batch(latents, 1, 1);

    // Nearest resize of the binary mask to the latent size (F.interpolate default mode).
    mask_latent_ = be.resize_nearest(be.upload({1, 1, N, N}, mask_f), S, S);
    // strength < 1: start from the image latent noised to the first timestep.
    latents_ = inp_.ddim_.add_noise(be, image_latents, inp_.initial_noise(o_), timesteps_[0]);
    be.trim();  // the encoder's buffers are not reused by the steps
    return (int)timesteps_.size();
}

void InpaintJob::step(int i) {
    MOEBIUS_CHECK(k_ >= 0 && i >= 0 && i < (int)timesteps_.size(), ErrorKind::Invalid, "step: out of order");
    const int t = timesteps_[i];
    Tensor eps = inp_.unet_->forward_cfg(latents_, mask_latent_, masked_latents_, (float)t, o_.guidance);
    if (o_.preview) preview_ = inp_.ddim_.pred_original(inp_.be_, eps, t, latents_);
    latents_ = inp_.ddim_.step(inp_.be_, eps, t, latents_, o_.steps);
    if (o_.on_step) o_.on_step(i, latents_);
}

Tensor InpaintJob::decode() {
    MOEBIUS_CHECK(k_ >= 0, ErrorKind::Invalid, "decode: no crop in progress");
    Backend& be = inp_.be_;
    const float sf = inp_.cfg_.vae.scaling_factor;
    be.trim();  // nor the steps' by the decoder
    Tensor out = inp_.vae_->decode(be.axpby(1.f / sf, latents_, 0.f, latents_));
    latents_ = mask_latent_ = masked_latents_ = preview_ = Tensor();
    be.trim();  // and the decoder's are not kept after the inpaint (the next encoder would hold them)
    return out;
}

void InpaintJob::finish_crop(const std::vector<float>& decoded) {
    const int N = inp_.native_size();
    MOEBIUS_CHECK(k_ >= 0 && decoded.size() == 3 * (size_t)N * N, ErrorKind::Invalid,
                  "finish_crop: expected the decoded (1,3," + std::to_string(N) + "," + std::to_string(N) + ") image");
    Image out = resize_lanczos(decoded_to_image(decoded, N, N), crop_rgb_.width, crop_rgb_.height);
    // Upstream compensates at the model size (== the window size in whole mode on 512 inputs).
    if (o_.paste && o_.compensate) out = paste_compensate(crop_mask_, crop_rgb_, out, 1.1);
    place_image(generated_, out, windows_[k_]);
    k_ = -1;
}

Image InpaintJob::result() const {
    if (windows_.empty()) return input_;
    Image out;
    if (!o_.paste) {
        out = generated_;
    } else if (o_.compensate) {  // compensation already blended with the blurred mask
        out = generated_;
        keep_outside_mask(out, rgb_, mask_);
    } else {
        out = paste_blurred(mask_, rgb_, generated_);
    }
    // An alpha channel that was only a mask is consumed: the filled photo is opaque. Otherwise it is kept.
    if (has_alpha(input_) && !alpha_is_mask_) out = with_alpha(out, input_);
    return out;
}

}  // namespace moebius
