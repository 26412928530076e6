#include "fixtures.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "io/image.h"
#include "io/npy.h"

namespace fs = std::filesystem;

namespace moebius::test {

std::string fixtures_dir() {
    const char* env = std::getenv("MOEBIUS_FIXTURES");
    std::string dir = env && *env ? env : std::string(MOEBIUS_SOURCE_DIR) + "/../shared/fixtures";
    if (!fs::exists(dir + "/README.md")) {
        ADD_FAILURE() << "fixtures not found at " << dir << " (set MOEBIUS_FIXTURES)";
        throw std::runtime_error("no fixtures");
    }
    return dir;
}

std::string fixture(const std::string& rel) {
    std::string p = fixtures_dir() + "/" + rel;
    if (!fs::exists(p)) {
        ADD_FAILURE() << "missing fixture " << p;
        throw std::runtime_error("missing fixture " + p);
    }
    return p;
}

Diff compare(const std::vector<float>& got, const std::vector<float>& ref) {
    Diff d;
    if (got.size() != ref.size()) {
        ADD_FAILURE() << "size mismatch: got " << got.size() << " values, reference has " << ref.size();
        d.max_abs = INFINITY;
        return d;
    }
    for (size_t i = 0; i < got.size(); ++i) {
        double e = std::fabs((double)got[i] - (double)ref[i]);
        if (!(e <= d.max_abs)) {  // also catches NaN
            d.max_abs = std::isnan(e) ? INFINITY : e;
            d.argmax = i;
        }
        d.max_ref = std::max(d.max_ref, std::fabs((double)ref[i]));
    }
    return d;
}

std::vector<float> load_ref(const std::string& rel, Shape* shape) {
    HostTensor t = load_npy(fixture(rel));
    if (shape) *shape = t.shape;
    return t.to_f32();
}

std::vector<float> vae_input(const std::string& dir, bool masked, int* W, int* H) {
    const Image rgb = to_rgb(load_image(fixture(dir + "/image.png")));
    const Image m = to_gray(load_image(fixture(dir + "/mask.png")));
    EXPECT_EQ(rgb.width, m.width);
    EXPECT_EQ(rgb.height, m.height);
    const size_t hw = (size_t)rgb.width * rgb.height;
    std::vector<float> out(3 * hw);
    for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < hw; ++i)
            out[c * hw + i] = masked && m.pixels[i] >= 128 ? 0.0f : (float)(rgb.pixels[i * 3 + c] / 255.0 * 2 - 1);
    *W = rgb.width;
    *H = rgb.height;
    return out;
}

std::string temp_dir() {
    static std::string dir;
    if (dir.empty()) {
        char tmpl[] = "/tmp/moebius-test-XXXXXX";
        dir = ::mkdtemp(tmpl);
        std::atexit([] { std::error_code ec; fs::remove_all(dir, ec); });
    }
    return dir;
}

}  // namespace moebius::test
