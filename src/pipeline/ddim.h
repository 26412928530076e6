// DDIM sampler: diffusers' DDIMScheduler (v0.38.0) as Moebius configures it — scaled_linear betas
// 0.00085 -> 0.012 over 1000 training steps, timestep_spacing "leading", steps_offset 0,
// set_alpha_to_one, clip_sample off, epsilon prediction, eta 0.
//
// The schedule table is built in float32 exactly as torch builds it (bit-exact with the fixtures'
// alphas_cumprod.npy); per-step scalars are computed in double from that table. Tensor maths goes
// through the Backend (axpby), so it runs wherever the latents live.
#pragma once
#include <vector>

#include "backend/backend.h"

namespace moebius {

class Ddim {
public:
    explicit Ddim(int num_train_timesteps = 1000, double beta_start = 0.00085, double beta_end = 0.012);

    int num_train_timesteps() const { return (int)alphas_cumprod_.size(); }
    const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

    // set_timesteps(num_steps), "leading": (0, r, 2r, ..., (num_steps-1) r) reversed, r = train // num_steps.
    std::vector<int> schedule(int num_steps) const;
    // Upstream get_timesteps (removal/v1_2/pipeline.py): the schedule without its first
    // num_steps - min(int(num_steps * strength), num_steps) entries. (20, 0.99) -> 900, 850, ..., 0.
    std::vector<int> timesteps(int num_steps, double strength) const;

    // add_noise: sqrt(ac[t]) x0 + sqrt(1 - ac[t]) noise.
    Tensor add_noise(Backend& be, const Tensor& x0, const Tensor& noise, int t) const;

    // One eta-0 step from t to t - train // num_steps (num_steps = the count given to schedule(), not
    // the possibly shorter timesteps() list): x0 = (x - sqrt(1-a_t) eps) / sqrt(a_t),
    // x_prev = sqrt(a_prev) x0 + sqrt(1-a_prev) eps, folded into c_x x + c_eps eps.
    Tensor step(Backend& be, const Tensor& eps, int t, const Tensor& x, int num_steps) const;

    // diffusers' pred_original_sample of that step (epsilon prediction): the current estimate of the
    // clean latents, x0 = (x - sqrt(1-a_t) eps) / sqrt(a_t). What previews show; on the last step
    // (a_prev = 1) it is bit-identical to step()'s result.
    Tensor pred_original(Backend& be, const Tensor& eps, int t, const Tensor& x) const;

    struct StepCoeffs {
        double c_x, c_eps;
    };
    StepCoeffs step_coeffs(int t, int num_steps) const;

private:
    std::vector<float> alphas_cumprod_;
};

}  // namespace moebius
