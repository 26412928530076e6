// Vectorised float math for the CPU kernels. glibc's expf is scalar unless -ffast-math, which we do
// not use; the branch-free exp below runs on 16 lanes at a time instead.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "backend/backend.h"

namespace moebius::cpu {

// 16 floats as one value (GCC/Clang vector extension): one zmm register with AVX-512, two ymm with
// AVX2, four v128 with wasm SIMD. Arithmetic with a scalar broadcasts it. These values never cross a
// library boundary, so GCC's warning that returning them changes the ABI without AVX-512 does not
// apply (parameters are taken by const reference, which avoids the same note for arguments).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

inline f32x16 load16(const float* p) {
    f32x16 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store16(float* p, const f32x16& v) { std::memcpy(p, &v, sizeof v); }

// exp(x), relative error ~2 ulp: Cephes expf (polynomial on [-ln2/2, ln2/2], Cody-Waite range reduction).
// Inputs are clamped to [-87, 88] so that 2^n stays a normal float: exp(-87) = 1.6e-38, exp(88) = 1.7e38.
namespace detail {
constexpr float kExpLo = -87.0f, kExpHi = 88.0f;
// exp(g) for |g| <= ln2/2, with n = round(x / ln2) already split off: the part shared by both widths.
template <class F>
inline F exp_reduced(const F& x, const F& n) {
    F g = x - n * 0.693359375f;  // ln 2 in two parts: the high part is exact in 9 bits
    g = g - n * -2.12194440e-4f;
    F p = g * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * g + 8.3334519073e-3f;
    p = p * g + 4.1665795894e-2f;
    p = p * g + 1.6666665459e-1f;
    p = p * g + 5.0000001201e-1f;
    return p * (g * g) + g + 1.0f;
}
constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: (y + magic) - magic rounds y to an integer
}  // namespace detail

inline float exp_f32(float x) {
    x = std::min(std::max(x, detail::kExpLo), detail::kExpHi);
    const float n = (x * 1.44269504088896341f + detail::kRoundMagic) - detail::kRoundMagic;
    return detail::exp_reduced(x, n) * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

inline f32x16 exp16(const f32x16& v) {
    f32x16 x = v < detail::kExpLo ? detail::kExpLo : v;
    x = x > detail::kExpHi ? detail::kExpHi : x;
    const f32x16 n = (x * 1.44269504088896341f + detail::kRoundMagic) - detail::kRoundMagic;
    const i32x16 e = (__builtin_convertvector(n, i32x16) + 127) << 23;
    return detail::exp_reduced(x, n) * (f32x16)e;
}

// silu(x) = x * sigmoid(x) = x / (1 + exp(-x)), as torch computes it.
inline float silu_f32(float x) { return x / (1.0f + exp_f32(-x)); }
inline f32x16 silu16(const f32x16& x) { return x / (1.0f + exp16(-x)); }

// y[i] = act(x[i] + bias) for i < n; x and y may be the same array.
inline void bias_act(const float* x, float* y, int64_t n, float bias, Act a) {
    int64_t i = 0;
    switch (a) {
        case Act::None:
            for (; i < n; ++i) y[i] = x[i] + bias;
            break;
        case Act::SiLU:
            for (; i + 16 <= n; i += 16) store16(y + i, silu16(load16(x + i) + bias));
            for (; i < n; ++i) y[i] = silu_f32(x[i] + bias);
            break;
        case Act::ReLU:
            for (; i < n; ++i) y[i] = std::max(x[i] + bias, 0.0f);
            break;
    }
}
inline void bias_act(float* y, int64_t n, float bias, Act a) { bias_act(y, y, n, bias, a); }

// y[i] = act(x[i]); x and y may be the same array.
inline void apply_act(const float* x, float* y, int64_t n, Act a) {
    if (a == Act::None) {
        if (x != y) std::copy(x, x + n, y);
        return;
    }
    bias_act(x, y, n, 0.0f, a);
}
inline void apply_act(float* x, int64_t n, Act a) { apply_act(x, x, n, a); }

}  // namespace moebius::cpu
