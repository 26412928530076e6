// ctest-labels: parity
// The whole upstream pipeline on the tiny model, loaded from the official file formats
// (removal_model.bin + diffusers vae/): VAE latents, mask_latent, all 19 DDIM latents, and the
// post-processed result.png / result_nopaste.png / result_compensate.png.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/image.h"
#include "io/model_file.h"
#include "io/npy.h"
#include "pipeline/ddim.h"
#include "pipeline/inpaint.h"
#include "pipeline/postprocess.h"

using namespace moebius;

namespace {

ModelWeights tiny_from_upstream_files() {
    return load_model(test::fixture("tiny/removal_model.bin"), test::fixture("tiny/vae"),
                      test::fixture("tiny/model_config.json"));
}

// Levels that differ between two same-sized images, and the largest difference.
std::pair<size_t, int> image_diff(const Image& a, const Image& b) {
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    EXPECT_EQ(a.channels, b.channels);
    size_t n = 0;
    int worst = 0;
    for (size_t i = 0; i < std::min(a.pixels.size(), b.pixels.size()); ++i) {
        const int d = std::abs((int)a.pixels[i] - (int)b.pixels[i]);
        n += d != 0;
        worst = std::max(worst, d);
    }
    return {n, worst};
}

}  // namespace

TEST(Pipeline, TinyEndToEndMatchesUpstream) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);

    const Image image = to_rgb(load_image(test::fixture("tiny/image.png")));
    const Image mask = binarize_mask(to_gray(load_image(test::fixture("tiny/mask.png"))));
    Shape ls;
    const std::vector<float> steps_ref = test::load_ref("tiny/latents_steps.npy", &ls);  // (19,1,4,64,64)
    const size_t per = (size_t)numel(ls) / ls[0];

    InpaintOptions o;
    o.noise = test::load_ref("tiny/noise.npy");
    o.paste = false;
    std::vector<std::vector<float>> latents;
    o.on_step = [&](int, const Tensor& x) { latents.push_back(be->download(x)); };
    const Image raw = inp.generate(image, mask, o);

    // Latents after each step. The README's float32-vs-float64 spread after the last step is 3.1e-5
    // (tiny); the error grows over the steps, so every step is held to 4× the last-step figure.
    ASSERT_EQ(latents.size(), (size_t)ls[0]);
    for (size_t i = 0; i < latents.size(); ++i) {
        std::vector<float> ref(steps_ref.begin() + i * per, steps_ref.begin() + (i + 1) * per);
        EXPECT_CLOSE(latents[i], ref, 4 * 3.1e-5, ("latents_steps[" + std::to_string(i) + "]").c_str());
    }

    // README: the float32 run of upstream lands within 1 uint8 level of result.png.
    auto check = [&](const Image& got, const char* file) {
        const Image ref = to_rgb(load_image(test::fixture(std::string("tiny/") + file)));
        auto [n, worst] = image_diff(got, ref);
        std::printf("[parity] %-40s %zu values differ, max %d level(s)\n", file, n, worst);
        EXPECT_LE(worst, 1) << file;
        EXPECT_LT(n, got.pixels.size() / 1000) << file << ": more than 0.1% of values differ";
    };
    check(raw, "result_nopaste.png");
    check(paste_blurred(mask, image, raw), "result.png");
    check(paste_compensate(mask, image, raw, 1.1), "result_compensate.png");

    // And through the public entry point (paste on, the default): same result, unmasked pixels untouched.
    InpaintOptions p;
    p.noise = o.noise;
    const Image pasted = inp.inpaint(image, load_image(test::fixture("tiny/mask.png")), p);
    check(pasted, "result.png");
    const Image feather = feather_mask(mask);
    for (size_t i = 0; i < (size_t)image.width * image.height; ++i)
        if (feather.pixels[i] == 0) {
            for (int c = 0; c < 3; ++c) ASSERT_EQ(pasted.pixels[3 * i + c], image.pixels[3 * i + c]) << "pixel " << i;
        }
}

// Previews: each step's predicted clean latents (DDIM's pred_original_sample) against the same
// quantity derived from the fixtures' float64 run. A step's latents before (x_t) and after (x_p) are
// x_t = sa_t x0 + sb_t eps and x_p = sa_p x0 + sb_p eps, so x0 = (sb_p x_t - sb_t x_p) / (sa_t sb_p - sa_p sb_t).
TEST(Pipeline, PreviewIsEachStepsPredictedCleanLatents) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);
    InpaintOptions o;
    o.noise = test::load_ref("tiny/noise.npy");
    o.preview = true;
    std::vector<float> last;
    o.on_step = [&](int, const Tensor& x) { last = be->download(x); };
    InpaintJob job(inp, load_image(test::fixture("tiny/image.png")), load_image(test::fixture("tiny/mask.png")), o);
    ASSERT_EQ(job.crops(), 1);
    const int steps = job.begin_crop(0);
    EXPECT_TRUE(job.preview().empty()) << "no preview before the first step";

    Shape ls;
    const std::vector<float> ref_steps = test::load_ref("tiny/latents_steps.npy", &ls);  // (19,1,4,64,64)
    const std::vector<float> init = test::load_ref("tiny/latents_init.npy");
    const size_t per = init.size();
    const Ddim ddim;
    const std::vector<int> ts = ddim.timesteps(o.steps, o.strength);
    ASSERT_EQ(steps, (int)ts.size());
    ASSERT_EQ(steps, (int)ls[0]);
    for (int i = 0; i < steps; ++i) {
        job.step(i);
        ASSERT_EQ(job.preview().shape(), (Shape{1, 4, 64, 64}));
        const float* x_t = i == 0 ? init.data() : ref_steps.data() + (i - 1) * per;
        const float* x_p = ref_steps.data() + i * per;
        const int t = ts[i], prev = t - 1000 / o.steps;
        const double a_t = ddim.alphas_cumprod()[t], a_p = prev >= 0 ? ddim.alphas_cumprod()[prev] : 1.0;
        const double sa_t = std::sqrt(a_t), sb_t = std::sqrt(1 - a_t), sa_p = std::sqrt(a_p), sb_p = std::sqrt(1 - a_p);
        const double det = sa_t * sb_p - sa_p * sb_t;
        std::vector<float> ref(per);
        for (size_t j = 0; j < per; ++j) ref[j] = (float)((sb_p * x_t[j] - sb_t * x_p[j]) / det);
        // Our latents stay within 4 × 3.1e-5 of the fixtures' at every step (TinyEndToEndMatchesUpstream);
        // the elimination amplifies an error e in x_t and x_p to (sb_p + sb_t) e / |det| (33× at t=900).
        EXPECT_CLOSE(be->download(job.preview()), ref, 4 * 3.1e-5 * (sb_p + sb_t) / std::fabs(det),
                     ("preview (pred x0) step " + std::to_string(i)).c_str());
    }
    // The last step (t = 0, a_prev = 1) lands on its own prediction: the final preview is the result.
    EXPECT_CLOSE(be->download(job.preview()), last, 0.0, "last preview == final latents");
    job.decode();
    EXPECT_TRUE(job.preview().empty()) << "decode drops the crop's tensors";

    InpaintOptions off;
    off.steps = 2;
    InpaintJob plain(inp, load_image(test::fixture("tiny/image.png")), load_image(test::fixture("tiny/mask.png")), off);
    plain.begin_crop(0);
    plain.step(0);
    EXPECT_TRUE(plain.preview().empty()) << "previews cost an op per step only when asked for";
}

TEST(Pipeline, MaskLatentIsNearestResize) {
    auto be = make_cpu_backend();
    const Image mask = binarize_mask(to_gray(load_image(test::fixture("tiny/mask.png"))));
    std::vector<float> m(mask.pixels.size());
    for (size_t i = 0; i < m.size(); ++i) m[i] = mask.pixels[i] / 255. >= 0.5 ? 1.f : 0.f;
    Tensor lat = be->resize_nearest(be->upload({1, 1, mask.height, mask.width}, m), 64, 64);
    EXPECT_CLOSE(be->download(lat), test::load_ref("tiny/mask_latent.npy"), 0.0, "mask_latent");
}

TEST(Pipeline, Float16WeightsStayClose) {
    // The float16 files are roundings of the float32 weights: relative error u <= 2^-11 per weight.
    // Stated bound: 10·u of the output's magnitude (max |unet_out| 2.5, max |decoded| 3.4), i.e. the
    // rounding of every weight compounding over the network's depth; measured 2.4·u (UNet) and 1.2·u
    // (VAE decode). A layer-level bug lands orders of magnitude above it.
    ModelWeights w = load_model(test::fixture("tiny/removal_model_fp16.safetensors"), test::fixture("tiny/vae_fp16_bin"),
                                test::fixture("tiny/model_config.json"));
    auto be = make_cpu_backend();
    UNet unet(w.config.unet, w.unet, *be);
    Shape s;
    std::vector<float> in = test::load_ref("tiny/unet_in.npy", &s);
    Tensor out = unet.forward(be->upload(s, in), 900.f, cfg_ids(w.config.unet));
    constexpr double u = 1.0 / 2048;
    EXPECT_CLOSE(be->download(out), test::load_ref("tiny/unet_out.npy"), 10 * u * 2.5, "unet_out (fp16 weights)");
    Vae vae(w.config.vae, w.vae, *be);
    Shape ls;
    std::vector<float> steps = test::load_ref("tiny/latents_steps.npy", &ls);
    std::vector<float> last(steps.end() - 4 * 64 * 64, steps.end());
    for (float& v : last) v /= w.config.vae.scaling_factor;
    Tensor dec = vae.decode(be->upload({1, 4, 64, 64}, last));
    EXPECT_CLOSE(be->download(dec), test::load_ref("tiny/decoded.npy"), 10 * u * 3.4, "decoded (fp16 VAE)");
}

TEST(Pipeline, EmptyMaskReturnsInputWithoutRunning) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);
    Image image(700, 300, 3);
    for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = (uint8_t)(i * 7);
    int calls = 0;
    InpaintOptions o;
    o.progress = [&](const moebius_progress& p) { calls += p.stage != MOEBIUS_STAGE_DONE; return true; };
    Image out = inp.inpaint(image, Image(700, 300, 1, 0), o);
    EXPECT_EQ(out.pixels, image.pixels);
    EXPECT_EQ(calls, 0);
}

TEST(Pipeline, MaskSizeMismatchIsAnImageError) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);
    try {
        inp.inpaint(Image(64, 48, 3), Image(48, 64, 1, 255), {});
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind, ErrorKind::Image);
        EXPECT_NE(std::string(e.what()).find("mask is 48x64 but the image is 64x48"), std::string::npos) << e.what();
    }
}

TEST(Pipeline, CropModeKeepsEverythingOutsideTheFeatheredMask) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);
    // A 1100x700 photo-like gradient with two distant holes: two crops, the rest bit-identical.
    Image image(1100, 700, 3);
    for (int y = 0; y < 700; ++y)
        for (int x = 0; x < 1100; ++x)
            for (int c = 0; c < 3; ++c) image.at(x, y, c) = (uint8_t)((x * (c + 1) + y * 3) & 255);
    Image mask(1100, 700, 1, 0);
    for (int y = 100; y < 140; ++y)
        for (int x = 80; x < 130; ++x) mask.at(x, y) = 255;
    for (int y = 560; y < 600; ++y)
        for (int x = 950; x < 1000; ++x) mask.at(x, y) = 255;
    InpaintOptions o;
    o.steps = 2;
    o.strength = 1.0f;
    int crops = 0;
    o.progress = [&](const moebius_progress& p) { crops = std::max(crops, p.crops); return true; };
    Image out = inp.inpaint(image, mask, o);
    EXPECT_EQ(crops, 2);
    ASSERT_EQ(out.width, 1100);
    ASSERT_EQ(out.height, 700);
    const Image feather = feather_mask(mask);
    size_t changed = 0;
    for (size_t i = 0; i < (size_t)1100 * 700; ++i)
        for (int c = 0; c < 3; ++c) {
            if (feather.pixels[i] == 0) {
                ASSERT_EQ(out.pixels[3 * i + c], image.pixels[3 * i + c]) << "pixel " << i;
            }
            changed += out.pixels[3 * i + c] != image.pixels[3 * i + c];
        }
    EXPECT_GT(changed, 1000u) << "the holes were not filled";
}

TEST(Pipeline, CancelStopsWithCancelledError) {
    ModelWeights w = tiny_from_upstream_files();
    auto be = make_cpu_backend();
    Inpainter inp(w, *be);
    InpaintOptions o;
    o.progress = [](const moebius_progress& p) { return !(p.stage == MOEBIUS_STAGE_STEP && p.step == 2); };
    Image mask(512, 512, 1, 0);
    mask.at(10, 10) = 255;
    try {
        inp.inpaint(Image(512, 512, 3, 100), mask, o);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind, ErrorKind::Cancelled);
    }
}
