#include "pipeline/inpaint.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "pipeline/crop.h"
#include "pipeline/postprocess.h"
#include "pipeline/resize.h"

namespace moebius {

namespace {

double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Upstream `_denoise_preprocess`: np.asarray(img) / 255. * 2 - 1 (float64), then cast to float32.
std::vector<float> image_to_chw(const Image& rgb) {
    const int n = rgb.width * rgb.height;
    std::vector<float> out(3 * (size_t)n);
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out[(size_t)c * n + i] = (float)(rgb.pixels[3 * (size_t)i + c] / 255. * 2 - 1);
    return out;
}

bool mask_is_empty(const Image& m) {
    for (uint8_t v : m.pixels)
        if (v) return false;
    return true;
}

}  // namespace

Inpainter::Inpainter(const ModelWeights& w, Backend& be)
    : cfg_(w.config),
      be_(be),
      unet_(std::make_unique<UNet>(w.config.unet, w.unet, be)),
      vae_(std::make_unique<Vae>(w.config.vae, w.vae, be)) {}

void Inpainter::report(const InpaintOptions& o, moebius_progress p) const {
    p.elapsed_s = now_s() - t0_;
    if (o.progress && !o.progress(p)) fail(ErrorKind::Cancelled, "cancelled");
}

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
    std::vector<float> offset = rng.normals(C);
    for (int c = 0; c < C; ++c)
        for (int i = 0; i < S * S; ++i) noise[(size_t)c * S * S + i] += o.noise_offset * offset[c];
    return be_.upload({1, C, S, S}, noise);
}

Image Inpainter::generate(const Image& rgb, const Image& mask, const InpaintOptions& o, int crop, int crops) {
    const int N = native_size(), S = cfg_.unet.sample_size, C = cfg_.vae.latent_channels;
    MOEBIUS_CHECK(rgb.width == N && rgb.height == N && rgb.channels == 3 && mask.width == N && mask.height == N &&
                      mask.channels == 1,
                  ErrorKind::Internal, "generate: expects " + std::to_string(N) + "x" + std::to_string(N) + " inputs");
    const std::vector<int> timesteps = ddim_.timesteps(o.steps, o.strength);
    MOEBIUS_CHECK(!timesteps.empty(), ErrorKind::Invalid, "steps × strength leaves no denoising step");
    const int steps = (int)timesteps.size();
    report(o, {MOEBIUS_STAGE_ENCODE, 0, steps, crop, crops, 0});

    // _denoise_preprocess / prepare_mask_and_masked_image: mask = (m/255 >= 0.5); masked = image * (1 - mask).
    std::vector<float> image = image_to_chw(rgb), masked = image, mask_f((size_t)N * N);
    for (size_t i = 0; i < mask_f.size(); ++i) {
        mask_f[i] = mask.pixels[i] / 255. >= 0.5 ? 1.f : 0.f;
        for (int c = 0; c < 3; ++c) masked[c * mask_f.size() + i] = image[c * mask_f.size() + i] * (1 - mask_f[i]);
    }

    // encode_clean_latents: both images through the VAE in one batch; latents × scaling_factor.
    Tensor pair = be_.concat_batch(be_.upload({1, 3, N, N}, image), be_.upload({1, 3, N, N}, masked));
    Tensor latents_pair;
    if (o.sample_latents) {
        std::vector<float> mom = be_.download(vae_->encode_moments(pair)), lat(2 * (size_t)C * S * S);
        Rng rng(o.seed ^ 0x5EED5A3D1E5ull);
        const size_t plane = (size_t)S * S;
        for (int b = 0; b < 2; ++b)
            for (size_t i = 0; i < (size_t)C * plane; ++i) {
                const float mean = mom[(size_t)b * 2 * C * plane + i];
                const float logvar = std::clamp(mom[(size_t)b * 2 * C * plane + C * plane + i], -30.f, 20.f);
                lat[(size_t)b * C * plane + i] = mean + std::exp(0.5f * logvar) * (float)rng.normal();
            }
        latents_pair = be_.upload({2, C, S, S}, lat);
    } else {
        latents_pair = vae_->encode_mean(pair);
    }
    const float sf = cfg_.vae.scaling_factor;
    Tensor image_latents = be_.axpby(sf, be_.slice_batch(latents_pair, 0, 1), 0.f, be_.slice_batch(latents_pair, 0, 1));
    Tensor masked_latents = be_.axpby(sf, be_.slice_batch(latents_pair, 1, 1), 0.f, be_.slice_batch(latents_pair, 1, 1));
    latents_pair = Tensor();

    // Nearest resize of the binary mask to the latent size (F.interpolate default mode).
    Tensor mask_latent = be_.resize_nearest(be_.upload({1, 1, N, N}, mask_f), S, S);

    // strength < 1: start from the image latent noised to the first timestep.
    Tensor latents = ddim_.add_noise(be_, image_latents, initial_noise(o), timesteps[0]);
    for (int i = 0; i < steps; ++i) {
        const int t = timesteps[i];
        Tensor eps = unet_->forward_cfg(latents, mask_latent, masked_latents, (float)t, o.guidance);
        latents = ddim_.step(be_, eps, t, latents, o.steps);
        if (o.on_step) o.on_step(i, latents);
        report(o, {MOEBIUS_STAGE_STEP, i + 1, steps, crop, crops, 0});
    }

    report(o, {MOEBIUS_STAGE_DECODE, steps, steps, crop, crops, 0});
    Tensor decoded = vae_->decode(be_.axpby(1.f / sf, latents, 0.f, latents));
    return decoded_to_image(be_.download(decoded), N, N);
}

Image Inpainter::inpaint(const Image& image_in, const Image& mask_in, const InpaintOptions& o) {
    t0_ = now_s();
    MOEBIUS_CHECK(image_in.width > 0 && image_in.height > 0, ErrorKind::Image, "image is empty");
    MOEBIUS_CHECK(o.steps >= 1 && o.steps <= 1000, ErrorKind::Invalid,
                  "steps must be in 1..1000, got " + std::to_string(o.steps));
    MOEBIUS_CHECK(o.strength > 0 && o.strength <= 1, ErrorKind::Invalid, "strength must be in (0, 1]");
    MOEBIUS_CHECK(std::isfinite(o.guidance), ErrorKind::Invalid, "guidance must be a finite number");

    const Image rgb = to_rgb(image_in);
    Image mask;
    if (mask_in.pixels.empty()) {
        MOEBIUS_CHECK(image_in.channels == 4 || image_in.channels == 2, ErrorKind::Image,
                      "no mask given and the image has no alpha channel");
        mask = mask_from_alpha(image_in);
    } else {
        MOEBIUS_CHECK(mask_in.width == image_in.width && mask_in.height == image_in.height, ErrorKind::Image,
                      "mask is " + std::to_string(mask_in.width) + "x" + std::to_string(mask_in.height) +
                          " but the image is " + std::to_string(image_in.width) + "x" +
                          std::to_string(image_in.height));
        mask = binarize_mask(to_gray(mask_in));
    }
    if (mask_is_empty(mask)) {
        report(o, {MOEBIUS_STAGE_DONE, 0, 0, 0, 0, 0});
        return image_in;
    }

    const int N = native_size();
    moebius_mode mode = o.mode;
    if (mode == MOEBIUS_MODE_AUTO) mode = (rgb.width > N || rgb.height > N) ? MOEBIUS_MODE_CROP : MOEBIUS_MODE_WHOLE;

    // The generated pixels for the whole image (only meaningful inside the mask's neighbourhood).
    Image generated = rgb;
    if (mode == MOEBIUS_MODE_WHOLE) {
        const bool native = rgb.width == N && rgb.height == N;
        // Upstream resizes image and (binarised) mask with LANCZOS; the mask is re-binarised by >= 0.5.
        const Image rgb_n = native ? rgb : resize_lanczos(rgb, N, N);
        const Image mask_n = native ? mask : binarize_mask(resize_lanczos(mask, N, N));
        Image out = generate(rgb_n, mask_n, o);
        generated = native ? out : resize_lanczos(out, rgb.width, rgb.height);
        if (o.paste && o.compensate) generated = paste_compensate(mask, rgb, generated, 1.1);
    } else {
        CropOptions co;
        co.model_size = N;
        const std::vector<CropWindow> windows = plan_crops(mask, co);
        for (size_t k = 0; k < windows.size(); ++k) {
            const CropWindow& w = windows[k];
            const Image rgb_c = crop_image(rgb, w), mask_c = crop_image(mask, w);
            const Image rgb_n = resize_lanczos(rgb_c, N, N);
            const Image mask_n = binarize_mask(resize_lanczos(mask_c, N, N));
            Image out = resize_lanczos(generate(rgb_n, mask_n, o, (int)k + 1, (int)windows.size()), rgb_c.width,
                                       rgb_c.height);
            if (o.paste && o.compensate) out = paste_compensate(mask_c, rgb_c, out, 1.1);
            place_image(generated, out, w);
        }
    }
    report(o, {MOEBIUS_STAGE_DONE, 0, 0, 0, 0, 0});

    Image result;
    if (!o.paste) {
        result = generated;
    } else if (o.compensate) {
        result = generated;  // compensation already blended with the blurred mask
        keep_outside_mask(result, rgb, mask);
    } else {
        result = paste_blurred(mask, rgb, generated);
    }
    if (image_in.channels == 4) result = with_alpha(result, image_in);
    return result;
}

}  // namespace moebius
