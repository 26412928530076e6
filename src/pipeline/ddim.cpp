#include "pipeline/ddim.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace moebius {

Ddim::Ddim(int num_train_timesteps, double beta_start, double beta_end) {
    const int n = num_train_timesteps;
    MOEBIUS_CHECK(n >= 2, ErrorKind::Invalid, "DDIM: num_train_timesteps must be >= 2, got " + std::to_string(n));
    // betas = torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=float32) ** 2 (scaled_linear).
    // torch's linspace: step = (end - start) / (n - 1) in float32; the first half counts up from start,
    // the second half down from end. The fixtures' table matches bit for bit only with each of those
    // multiply-adds fused (one rounding), as the compiled kernel does; std::fma makes that explicit.
    const float start = (float)std::sqrt(beta_start), end = (float)std::sqrt(beta_end);
    const float step = (end - start) / (float)(n - 1);
    alphas_cumprod_.resize(n);
    // alphas_cumprod = torch.cumprod(1 - betas): torch accumulates a float32 cumprod in double and
    // rounds each partial product to float32.
    double acc = 1.0;
    for (int i = 0; i < n; ++i) {
        float sb = i < n / 2 ? std::fma(step, (float)i, start) : std::fma(-step, (float)(n - 1 - i), end);
        float alpha = 1.0f - sb * sb;
        acc *= (double)alpha;
        alphas_cumprod_[i] = (float)acc;
    }
}

std::vector<int> Ddim::schedule(int num_steps) const {
    const int n = num_train_timesteps();
    MOEBIUS_CHECK(num_steps >= 1 && num_steps <= n, ErrorKind::Invalid,
                  "DDIM: steps must be in [1, " + std::to_string(n) + "], got " + std::to_string(num_steps));
    const int ratio = n / num_steps;  // step_ratio = num_train_timesteps // num_inference_steps
    std::vector<int> ts(num_steps);
    for (int i = 0; i < num_steps; ++i) ts[i] = (num_steps - 1 - i) * ratio;  // + steps_offset (0)
    return ts;
}

std::vector<int> Ddim::timesteps(int num_steps, double strength) const {
    MOEBIUS_CHECK(strength > 0 && strength <= 1, ErrorKind::Invalid,
                  "DDIM: strength must be in (0, 1], got " + std::to_string(strength));
    std::vector<int> ts = schedule(num_steps);
    // init_timestep = min(int(num_inference_steps * strength), num_inference_steps); t_start = steps - init
    const int init = std::min((int)(num_steps * strength), num_steps);
    const int t_start = std::max(num_steps - init, 0);
    return std::vector<int>(ts.begin() + t_start, ts.end());
}

Tensor Ddim::add_noise(Backend& be, const Tensor& x0, const Tensor& noise, int t) const {
    MOEBIUS_CHECK(t >= 0 && t < num_train_timesteps(), ErrorKind::Invalid,
                  "DDIM add_noise: timestep " + std::to_string(t) + " out of range");
    // diffusers casts the table to the sample dtype first, so these are double maths on the float32 entry.
    const double a = alphas_cumprod_[t];
    return be.axpby((float)std::sqrt(a), x0, (float)std::sqrt(1.0 - a), noise);
}

Ddim::StepCoeffs Ddim::step_coeffs(int t, int num_steps) const {
    const int n = num_train_timesteps();
    MOEBIUS_CHECK(t >= 0 && t < n, ErrorKind::Invalid, "DDIM step: timestep " + std::to_string(t) + " out of range");
    MOEBIUS_CHECK(num_steps >= 1 && num_steps <= n, ErrorKind::Invalid,
                  "DDIM step: steps must be in [1, " + std::to_string(n) + "], got " + std::to_string(num_steps));
    const int prev = t - n / num_steps;
    // In diffusers' step() these scalars are 0-dim float32 tensors (alphas_cumprod[t], 1 - a, a ** 0.5),
    // so each carries a float32 rounding; final_alpha_cumprod = 1 (set_alpha_to_one).
    const float a_t = alphas_cumprod_[t];
    const float a_prev = prev >= 0 ? alphas_cumprod_[prev] : 1.0f;
    const double sa_t = std::sqrt(a_t), sb_t = std::sqrt(1.0f - a_t);
    const double sa_p = std::sqrt(a_prev), sb_p = std::sqrt(1.0f - a_prev);
    // x_prev = sa_p (x - sb_t eps) / sa_t + sb_p eps, folded in double (no cancellation in float32).
    return {sa_p / sa_t, sb_p - sa_p * sb_t / sa_t};
}

Tensor Ddim::step(Backend& be, const Tensor& eps, int t, const Tensor& x, int num_steps) const {
    StepCoeffs c = step_coeffs(t, num_steps);
    return be.axpby((float)c.c_x, x, (float)c.c_eps, eps);
}

Tensor Ddim::pred_original(Backend& be, const Tensor& eps, int t, const Tensor& x) const {
    MOEBIUS_CHECK(t >= 0 && t < num_train_timesteps(), ErrorKind::Invalid,
                  "DDIM pred_original: timestep " + std::to_string(t) + " out of range");
    // The same float32 scalars and double folding as step_coeffs (whose a_prev = 1 case this is).
    const float a_t = alphas_cumprod_[t];
    const double sa_t = std::sqrt(a_t), sb_t = std::sqrt(1.0f - a_t);
    return be.axpby((float)(1.0 / sa_t), x, (float)(-sb_t / sa_t), eps);
}

}  // namespace moebius
