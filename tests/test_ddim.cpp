// DDIM sampler: the schedule table against diffusers' (bit-exact), upstream's timesteps for
// (20 steps, strength 0.99), add_noise, and a step checked against the formula and against the
// fixtures' first sampling step (unet_out at t=900 -> latents_steps[0]).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "backend/backend.h"
#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "pipeline/ddim.h"

using namespace moebius;

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, (double)std::fabs(x));
    return m;
}

}  // namespace

TEST(Ddim, AlphasCumprodBitExact) {
    Ddim ddim;
    for (const char* which : {"tiny", "full"}) {
        Shape s;
        std::vector<float> ref = test::load_ref(std::string(which) + "/alphas_cumprod.npy", &s);
        ASSERT_EQ(s, (Shape{1000}));
        // The table is rebuilt with torch's float32 roundings, so no tolerance: bit for bit.
        EXPECT_CLOSE(ddim.alphas_cumprod(), ref, 0.0, (std::string(which) + " alphas_cumprod").c_str());
    }
    // Hand values: ac[0] = 1 - beta_start; the last entry of the SD schedule is ~0.0047.
    EXPECT_FLOAT_EQ(ddim.alphas_cumprod()[0], 1.0f - 0.00085f);
    EXPECT_NEAR(ddim.alphas_cumprod()[999], 0.0047, 1e-4);
}

TEST(Ddim, TimestepsMatchUpstream) {
    Ddim ddim;
    nlohmann::json meta = nlohmann::json::parse(read_text_file(test::fixture("tiny/meta.json")));
    std::vector<int> ref = meta.at("timesteps").get<std::vector<int>>();
    EXPECT_EQ(ddim.timesteps(20, 0.99), ref);
    EXPECT_EQ(ref.size(), 19u);
    std::vector<int> full = ddim.schedule(20);
    ASSERT_EQ(full.size(), 20u);
    EXPECT_EQ(full.front(), 950);
    EXPECT_EQ(full.back(), 0);
    // int(20 * 0.95) is 19 in Python (double maths); float maths would give 18.
    EXPECT_EQ(ddim.timesteps(20, 0.95).size(), 19u);
    EXPECT_EQ(ddim.timesteps(20, 1.0), full);
    EXPECT_EQ(ddim.timesteps(20, 0.5), (std::vector<int>{450, 400, 350, 300, 250, 200, 150, 100, 50, 0}));
    // "leading" with a ratio that does not divide: 1000 // 30 = 33.
    std::vector<int> t30 = ddim.schedule(30);
    EXPECT_EQ(t30.front(), 29 * 33);
    EXPECT_THROW(ddim.schedule(0), Error);
    EXPECT_THROW(ddim.schedule(1001), Error);
    EXPECT_THROW(ddim.timesteps(20, 0.0), Error);
}

TEST(Ddim, StepMatchesFormula) {
    auto be = make_cpu_backend();
    Ddim ddim;
    const Shape shape{1, 4, 8, 8};
    std::vector<float> x = random_vec(256, 1, 3.0f), eps = random_vec(256, 2);
    Tensor tx = be->upload(shape, x), te = be->upload(shape, eps);
    const auto& ac = ddim.alphas_cumprod();
    for (int t : {900, 500, 0}) {
        // diffusers step(), written out: pred_original_sample, then prev_sample (eta 0), with the
        // float32 scalars diffusers uses and double maths on the tensors.
        const int prev = t - 50;
        const float a_t = ac[t], a_p = prev >= 0 ? ac[prev] : 1.0f;
        std::vector<float> ref(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            double x0 = ((double)x[i] - (double)std::sqrt(1.0f - a_t) * eps[i]) / (double)std::sqrt(a_t);
            ref[i] = (float)((double)std::sqrt(a_p) * x0 + (double)std::sqrt(1.0f - a_p) * eps[i]);
        }
        std::vector<float> got = be->download(ddim.step(*be, te, t, tx, 20));
        // float32 rounding of c_x, c_eps and of the result: a few ulps of the largest term.
        Ddim::StepCoeffs c = ddim.step_coeffs(t, 20);
        double tol = 4 * std::ldexp(1.0, -24) * (std::fabs(c.c_x) * max_abs(x) + std::fabs(c.c_eps) * max_abs(eps));
        EXPECT_CLOSE(got, ref, tol, ("step t=" + std::to_string(t)).c_str());
    }
    // The last step (prev < 0) lands on pred_original_sample: a_prev = 1 (set_alpha_to_one), so
    // c_x = 1 / sqrt(a_0) with diffusers' float32 sqrt.
    Ddim::StepCoeffs c0 = ddim.step_coeffs(0, 20);
    EXPECT_DOUBLE_EQ(c0.c_x, 1.0 / (double)std::sqrt(ac[0]));
    EXPECT_DOUBLE_EQ(c0.c_eps, -(double)std::sqrt(1.0f - ac[0]) / (double)std::sqrt(ac[0]));
    EXPECT_THROW(ddim.step_coeffs(1000, 20), Error);
}

TEST(Ddim, PredOriginalMatchesFormula) {
    auto be = make_cpu_backend();
    Ddim ddim;
    const Shape shape{1, 4, 8, 8};
    std::vector<float> x = random_vec(256, 5, 3.0f), eps = random_vec(256, 6);
    Tensor tx = be->upload(shape, x), te = be->upload(shape, eps);
    const auto& ac = ddim.alphas_cumprod();
    for (int t : {900, 500, 0}) {
        // diffusers' pred_original_sample, with its float32 scalars and double maths on the tensors.
        const float a_t = ac[t];
        const double sa = std::sqrt(a_t), sb = std::sqrt(1.0f - a_t);
        std::vector<float> ref(x.size());
        for (size_t i = 0; i < x.size(); ++i) ref[i] = (float)(((double)x[i] - sb * eps[i]) / sa);
        // float32 rounding of both coefficients and of the result: a few ulps of the largest term.
        const double tol = 4 * std::ldexp(1.0, -24) * (max_abs(x) / sa + sb / sa * max_abs(eps));
        EXPECT_CLOSE(be->download(ddim.pred_original(*be, te, t, tx)), ref, tol,
                     ("pred_original t=" + std::to_string(t)).c_str());
    }
    // The last step of a schedule (a_prev = 1) lands on it exactly: previews end on the final latents.
    EXPECT_CLOSE(be->download(ddim.pred_original(*be, te, 0, tx)), be->download(ddim.step(*be, te, 0, tx, 20)), 0.0,
                 "pred_original == last step");
    EXPECT_THROW(ddim.pred_original(*be, te, 1000, tx), Error);
}

TEST(Ddim, AddNoise) {
    auto be = make_cpu_backend();
    Ddim ddim;
    std::vector<float> x0 = random_vec(64, 3), n = random_vec(64, 4);
    Tensor out = ddim.add_noise(*be, be->upload({1, 4, 4, 4}, x0), be->upload({1, 4, 4, 4}, n), 900);
    const double a = ddim.alphas_cumprod()[900];
    std::vector<float> ref(64);
    for (int i = 0; i < 64; ++i) ref[i] = (float)(std::sqrt(a) * x0[i] + std::sqrt(1 - a) * n[i]);
    EXPECT_CLOSE(be->download(out), ref, 4 * std::ldexp(1.0, -24) * (max_abs(x0) + max_abs(n)), "add_noise t=900");
}

// The fixtures' first sampling step needs no UNet: its output at t=900 is unet_out.npy.
TEST(Ddim, FirstFixtureStep) {
    auto be = make_cpu_backend();
    Ddim ddim;
    for (const char* which : {"tiny", "full"}) {
        std::string w = which;
        Shape s_out, s_steps;
        std::vector<float> out = test::load_ref(w + "/unet_out.npy", &s_out);      // (2,4,64,64): [uncond; cond]
        std::vector<float> x = test::load_ref(w + "/latents_init.npy");             // (1,4,64,64)
        std::vector<float> steps = test::load_ref(w + "/latents_steps.npy", &s_steps);  // (19,1,4,64,64)
        ASSERT_EQ(s_out[0], 2);
        const size_t n = x.size();
        // predict_noise (utils_infer.py): uncond + guidance * (cond - uncond), guidance 2.5 (meta.json);
        // |eps| <= (1.5 + 2.5) max|out|
        std::vector<float> eps(n);
        for (size_t i = 0; i < n; ++i) eps[i] = (float)(out[i] + 2.5 * ((double)out[n + i] - out[i]));
        const Shape shape{1, 4, 64, 64};
        std::vector<float> got = be->download(ddim.step(*be, be->upload(shape, eps), 900, be->upload(shape, x), 20));
        std::vector<float> ref(steps.begin(), steps.begin() + n);
        // Inputs are float32 roundings of the float64 run (relative 2^-24 each), eps gets one more
        // rounding here, the step itself rounds c_x, c_eps and its result: 4 ulps of the largest term.
        Ddim::StepCoeffs c = ddim.step_coeffs(900, 20);
        double tol = 4 * std::ldexp(1.0, -24) *
                     (std::fabs(c.c_x) * max_abs(x) + std::fabs(c.c_eps) * 4 * max_abs(out) + max_abs(ref));
        EXPECT_CLOSE(got, ref, tol, (w + " latents_steps[0]").c_str());
    }
}
