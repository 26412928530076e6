// Test helpers: where the reference fixtures live, and tensor comparison with a printed error.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moebius::test {

// $MOEBIUS_FIXTURES, else <source>/../shared/fixtures. Fails the test (not skips) if absent:
// parity is the point of these tests.
std::string fixtures_dir();
std::string fixture(const std::string& rel);  // fixtures_dir() + "/" + rel, asserted to exist

struct Diff {
    double max_abs = 0, max_ref = 0;
    size_t argmax = 0;
};
Diff compare(const std::vector<float>& got, const std::vector<float>& ref);

// Loads a reference .npy as float32 (any stored dtype).
std::vector<float> load_ref(const std::string& rel, Shape* shape = nullptr);

// Upstream `_denoise_preprocess` of a fixture folder's image.png / mask.png: NCHW (1,3,H,W) image in
// [-1, 1] (np.asarray(img) / 255. * 2 - 1 in float64, then float32), or image * (1 - mask) with the mask
// binarised like upstream (x >= 128).
std::vector<float> vae_input(const std::string& dir, bool masked, int* W, int* H);

// A fresh temporary directory, removed at process exit.
std::string temp_dir();

}  // namespace moebius::test

// EXPECT that got matches ref within tol (max abs). Prints the observed error either way.
#define EXPECT_CLOSE(got, ref, tol, what)                                                                  \
    do {                                                                                                    \
        auto _d = ::moebius::test::compare((got), (ref));                                                   \
        std::printf("[parity] %-40s max_abs=%.3g (tol %.3g, max|ref|=%.3g)\n", (what), _d.max_abs,          \
                    (double)(tol), _d.max_ref);                                                             \
        EXPECT_LE(_d.max_abs, (tol)) << (what) << ": worst at flat index " << _d.argmax;                   \
    } while (0)
