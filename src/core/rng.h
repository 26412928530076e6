// The engine's own RNG, so a seed gives the same noise on every platform (native, WASM, JS):
// splitmix64 for uniform 64-bit words, Box-Muller (both outputs used) for standard normals.
// It is not PyTorch's generator: upstream's exact noise can only be reproduced by passing it in
// (moebius_options.noise / `--noise FILE.npy`).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace moebius {

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}

    uint64_t next_u64() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in (0, 1]: 53 random bits, never 0 (safe for log).
    double uniform() { return (double)((next_u64() >> 11) + 1) * (1.0 / 9007199254740992.0); }

    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u1 = uniform(), u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
        spare_ = r * std::sin(a);
        has_spare_ = true;
        return r * std::cos(a);
    }

    std::vector<float> normals(size_t n) {
        std::vector<float> v(n);
        for (float& x : v) x = (float)normal();
        return v;
    }

private:
    uint64_t state_;
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace moebius
