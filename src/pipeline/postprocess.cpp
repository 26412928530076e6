// Upstream post-processing (removal/v1_2/pipeline.py `_post_process`,
// removal/v1_2/compensation_utils.py) with PIL's GaussianBlur (Pillow src/libImaging/BoxBlur.c).
//
// Bit-exactness with NumPy/Pillow needs every a*b+c rounded twice, as their x86-64 builds do: no
// fused multiply-add contraction in this file (the pragma precedes the includes so that inlined
// header code carries the same option).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "pipeline/postprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace moebius {

namespace {

// upstream: `m_img = ....filter(IFilter.GaussianBlur(radius=3))` (pipeline.py, compensation_utils.py).
constexpr float kPasteBlurRadius = 3.f;
// ImagingGaussianBlur's default number of box passes (_imaging.c `_gaussian_blur`: passes = 3).
constexpr int kBlurPasses = 3;

void check_same_size(const Image& a, const Image& b, int channels_b, const char* what) {
    MOEBIUS_CHECK(a.width == b.width && a.height == b.height && b.channels == channels_b &&
                      b.pixels.size() == (size_t)b.width * b.height * b.channels,
                  ErrorKind::Invalid,
                  std::string(what) + ": expected a " + std::to_string(a.width) + "x" + std::to_string(a.height) + "x" +
                      std::to_string(channels_b) + " image, got " + std::to_string(b.width) + "x" +
                      std::to_string(b.height) + "x" + std::to_string(b.channels));
}

void check_mask(const Image& m, const char* what) {
    MOEBIUS_CHECK(m.channels == 1 && m.width > 0 && m.height > 0 && m.pixels.size() == (size_t)m.width * m.height,
                  ErrorKind::Invalid, std::string(what) + ": the mask must be a non-empty 1-channel image");
}

// BoxBlur.c _gaussian_blur_radius: box radius (integer + fractional part) of `passes` extended
// box filters with the variance of a Gaussian of standard deviation `radius` (Gwosdek et al. 2011).
// float variables, double temporaries, exactly as the C source.
float gaussian_blur_radius(float radius, int passes) {
    float sigma2, L, l, a;
    sigma2 = radius * radius / passes;
    L = std::sqrt(12.0 * sigma2 + 1.0);
    l = std::floor((L - 1.0) / 2.0);
    a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
}

// BoxBlur.c ImagingLineBoxBlur8: one line, box of integer radius `radius` plus the two pixels at
// distance radius + 1 weighted fw; accumulators in 8.24 fixed point with unsigned wrap-around.
void box_blur_line(uint8_t* out, const uint8_t* in, int lastx, int radius, int edgeA, int edgeB, uint32_t ww,
                   uint32_t fw) {
    uint32_t acc, bulk;
    const auto move_acc = [&](int subtract, int add) { acc += in[add] - in[subtract]; };
    const auto add_far = [&](int left, int right) { bulk = (acc * ww) + (in[left] + in[right]) * fw; };
    const auto save = [&](int x) { out[x] = (uint8_t)((bulk + (1 << 23)) >> 24); };

    // acc for the pixel at -1: the first pixel radius + 1 times, then pixels 0 .. edgeA - 2, then
    // the last pixel for what lies beyond the line.
    acc = in[0] * (radius + 1);
    for (int x = 0; x < edgeA - 1; ++x) acc += in[x];
    acc += in[lastx] * (radius - edgeA + 1);

    if (edgeA <= edgeB) {
        for (int x = 0; x < edgeA; ++x) move_acc(0, x + radius), add_far(0, x + radius + 1), save(x);
        for (int x = edgeA; x < edgeB; ++x)
            move_acc(x - radius - 1, x + radius), add_far(x - radius - 1, x + radius + 1), save(x);
        for (int x = edgeB; x <= lastx; ++x) move_acc(x - radius - 1, lastx), add_far(x - radius - 1, lastx), save(x);
    } else {
        for (int x = 0; x < edgeB; ++x) move_acc(0, x + radius), add_far(0, x + radius + 1), save(x);
        for (int x = edgeB; x < edgeA; ++x) move_acc(0, lastx), add_far(0, lastx), save(x);
        for (int x = edgeA; x <= lastx; ++x) move_acc(x - radius - 1, lastx), add_far(x - radius - 1, lastx), save(x);
    }
}

// BoxBlur.c ImagingHorizontalBoxBlur, `passes` times over each of `count` lines of length `n`
// (element i of line j at data[j * line_step + i * step]).
void box_blur_lines(uint8_t* data, int count, int n, size_t line_step, size_t step, float float_radius, int passes) {
    const int radius = (int)float_radius;
    const uint32_t ww = (uint32_t)((float)(uint32_t)(1 << 24) / (float_radius * 2 + 1));
    const uint32_t fw = ((1 << 24) - (radius * 2 + 1) * ww) / 2;
    const int edgeA = std::min(radius + 1, n), edgeB = std::max(n - radius - 1, 0);
#pragma omp parallel
    {
        std::vector<uint8_t> a(n), b(n);
#pragma omp for schedule(static)
        for (int j = 0; j < count; ++j) {
            uint8_t* line = data + (size_t)j * line_step;
            for (int i = 0; i < n; ++i) a[i] = line[i * step];
            for (int p = 0; p < passes; ++p) {
                box_blur_line(b.data(), a.data(), n - 1, radius, edgeA, edgeB, ww, fw);
                a.swap(b);
            }
            for (int i = 0; i < n; ++i) line[i * step] = a[i];
        }
    }
}

// (x + 1) / 2 in float32, as torch does on a float32 tensor.
inline uint8_t decoded_to_u8(float x) {
    float v = (x + 1.0f) / 2.0f;
    if (!(v >= 0.0f)) v = 0.0f;  // clamp(0, 1); NaN -> 0 (NumPy's cast of NaN is undefined)
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)(v * 255.0f);
}

}  // namespace

Image decoded_to_image(const std::vector<float>& chw, int width, int height) {
    const size_t n = (size_t)width * height;
    MOEBIUS_CHECK(width > 0 && height > 0 && chw.size() == 3 * n, ErrorKind::Internal,
                  "decoded_to_image: expected 3x" + std::to_string(height) + "x" + std::to_string(width) +
                      " values, got " + std::to_string(chw.size()));
    Image out(width, height, 3);
    for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = decoded_to_u8(chw[c * n + i]);
    return out;
}

Image binarize_mask(const Image& gray) {
    check_mask(gray, "binarize_mask");
    Image out = gray;
    for (uint8_t& v : out.pixels) v = v < 255 / 2.0 ? 0 : 255;
    return out;
}

Image box_blur_pil(const Image& img, float radius, int passes) {
    MOEBIUS_CHECK(radius >= 0 && passes >= 1, ErrorKind::Invalid, "box blur: needs radius >= 0 and passes >= 1");
    Image out = img;
    if (radius == 0 || img.pixels.empty()) return out;  // ImagingBoxBlur: both radii 0 -> copy
    const int W = img.width, H = img.height, C = img.channels;
    for (int c = 0; c < C; ++c) {
        uint8_t* plane = out.pixels.data() + c;
        // Horizontal passes along the rows, then (Pillow transposes) vertical passes along the columns.
        box_blur_lines(plane, H, W, (size_t)W * C, C, radius, passes);
        box_blur_lines(plane, W, H, C, (size_t)W * C, radius, passes);
    }
    return out;
}

Image gaussian_blur_pil(const Image& img, float radius) {
    MOEBIUS_CHECK(radius >= 0, ErrorKind::Invalid, "gaussian_blur_pil: radius must be >= 0");
    if (radius == 0) return img;  // ImageFilter.GaussianBlur: radius 0 -> copy
    return box_blur_pil(img, gaussian_blur_radius(radius, kBlurPasses), kBlurPasses);
}

Image feather_mask(const Image& mask, float radius) {
    check_mask(mask, "feather_mask");
    // The blur of the whole binarized mask, computed on the mask's bounding box grown by the blur's
    // reach and placed into zeros: each box pass spreads a pixel by its integer radius + 1 (the two
    // fractional taps), so beyond passes * (radius + 1) of the box the result is 0, and inside the
    // window the lines see the same values (0 at a window edge that is not the image's, where the edge
    // replication would otherwise read past it). Bit-identical to blurring the whole image; a 12 MP
    // photo with a small mask: 192 -> ~12 ms (native, one thread; most of it finding the box).
    const auto on = [](uint8_t v) { return v >= 128; };  // binarize_mask's v >= 255 / 2.0
    int x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1;
    for (int y = 0; y < mask.height; ++y)
        for (int x = 0; x < mask.width; ++x)
            if (on(mask.at(x, y))) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    Image out(mask.width, mask.height, 1);
    if (x1 < 0) return out;  // no mask pixel: zeros
    const int reach = radius == 0 ? 0 : kBlurPasses * ((int)gaussian_blur_radius(radius, kBlurPasses) + 1) + 1;
    x0 = std::max(0, x0 - reach), y0 = std::max(0, y0 - reach);
    x1 = std::min(mask.width - 1, x1 + reach), y1 = std::min(mask.height - 1, y1 + reach);
    Image window(x1 - x0 + 1, y1 - y0 + 1, 1);
    for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) window.at(x - x0, y - y0) = on(mask.at(x, y)) ? 255 : 0;
    window = gaussian_blur_pil(window, radius);
    for (int y = y0; y <= y1; ++y)
        std::copy_n(&window.pixels[window.index(0, y - y0)], window.width, &out.pixels[out.index(x0, y)]);
    return out;
}

Image paste_blurred(const Image& mask, const Image& image, const Image& result) {
    check_mask(mask, "paste_blurred");
    check_same_size(mask, image, 3, "paste_blurred: image");
    check_same_size(mask, result, 3, "paste_blurred: result");
    // m_img = mask.convert('RGB').filter(GaussianBlur(3)): the three channels blur identically.
    const Image m = feather_mask(mask, kPasteBlurRadius);
    Image out(image.width, image.height, 3);
    const size_t n = m.pixels.size();
    for (size_t i = 0; i < n; ++i) {
        const double m_img = m.pixels[i] / 255.0;
        for (int c = 0; c < 3; ++c) {
            const double img_np = image.pixels[3 * i + c] / 255.0;
            const double ours_np = result.pixels[3 * i + c] / 255.0;
            const double v = ours_np * m_img + (1 - m_img) * img_np;
            out.pixels[3 * i + c] = (uint8_t)(v * 255);
        }
    }
    return out;
}

std::vector<uint8_t> bbox_unmask(const std::vector<uint8_t>& mask, int width, int height, int off) {
    MOEBIUS_CHECK(mask.size() == (size_t)width * height, ErrorKind::Invalid, "bbox_unmask: size mismatch");
    // rows = np.any(mask, axis=1); min_r = argmax(rows); max_r = len - argmax(rows[::-1]) - 1
    // (an all-False vector has argmax 0, so an empty mask spans everything).
    int min_r = -1, max_r = -1, min_c = -1, max_c = -1;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            if (mask[(size_t)y * width + x]) {
                if (min_r < 0) min_r = y;
                max_r = y;
                if (min_c < 0 || x < min_c) min_c = x;
                if (x > max_c) max_c = x;
            }
    if (min_r < 0) min_r = 0, max_r = height - 1, min_c = 0, max_c = width - 1;

    const int h = max_r - min_r + 1, w = max_c - min_c + 1;
    const int new_h = h + off, new_w = w + off;
    const int c_r = (min_r + max_r) / 2, c_c = (min_c + max_c) / 2;  // non-negative: // == /
    const int new_min_r = std::max(0, c_r - new_h / 2), new_max_r = std::min(height - 1, c_r + new_h / 2);
    const int new_min_c = std::max(0, c_c - new_w / 2), new_max_c = std::min(width - 1, c_c + new_w / 2);

    std::vector<uint8_t> out((size_t)width * height, 0);
    for (int y = new_min_r; y <= new_max_r; ++y)
        for (int x = new_min_c; x <= new_max_c; ++x) out[(size_t)y * width + x] = !mask[(size_t)y * width + x];
    return out;
}

std::array<double, 3> region_mean(const Image& img, const std::vector<uint8_t>& region) {
    MOEBIUS_CHECK(img.channels == 3 && region.size() == (size_t)img.width * img.height, ErrorKind::Invalid,
                  "region_mean: expects an RGB image and a same-size region");
    // (img * neighbor_unmask).sum((0, 1)) is an exact uint64 sum; / pixel count in float64.
    uint64_t sum[3] = {0, 0, 0}, count = 0;
    for (size_t i = 0; i < region.size(); ++i) {
        if (!region[i]) continue;
        ++count;
        for (int c = 0; c < 3; ++c) sum[c] += img.pixels[3 * i + c];
    }
    std::array<double, 3> mean;
    for (int c = 0; c < 3; ++c) mean[c] = (double)sum[c] / (double)count;  // 0/0 = NaN, as NumPy
    return mean;
}

Image paste_compensate(const Image& mask, const Image& image, const Image& result, double fac) {
    check_mask(mask, "paste_compensate");
    check_same_size(mask, image, 3, "paste_compensate: image");
    check_same_size(mask, result, 3, "paste_compensate: result");
    const int W = mask.width, H = mask.height;
    const size_t n = (size_t)W * H;

    // np_msk = np.asarray(mask) > 128
    std::vector<uint8_t> msk(n);
    for (size_t i = 0; i < n; ++i) msk[i] = mask.pixels[i] > 128;

    // delta_mean = ori_stat['nbr_unmasked_mean'] - ipt_stat['nbr_unmasked_mean']
    const std::vector<uint8_t> ring = bbox_unmask(msk, W, H);
    const std::array<double, 3> ori = region_mean(image, ring), ipt = region_mean(result, ring);
    double shift[3];
    for (int c = 0; c < 3; ++c) {
        const double delta_mean = ori[c] - ipt[c];
        // `fac * delta_mean / 255.0`. Upstream yields NaN pixels when the ring is empty (mask covers
        // the whole bounding box grown by `off`, i.e. the whole image); we apply no shift then.
        shift[c] = std::isnan(delta_mean) ? 0.0 : fac * delta_mean / 255.0;
    }

    // get_compensation: blur_mask = GaussianBlur(3)(uint8(mask * 255) as RGB) / 255.0; on a 0/255 mask
    // feather_mask's blur of the bounding box is that blur, bit for bit
    Image m(W, H, 1);
    for (size_t i = 0; i < n; ++i) m.pixels[i] = msk[i] ? 255 : 0;
    m = feather_mask(m, kPasteBlurRadius);

    Image out(W, H, 3);
    for (size_t i = 0; i < n; ++i) {
        const double blur_mask = m.pixels[i] / 255.0;
        for (int c = 0; c < 3; ++c) {
            const double ori_ = image.pixels[3 * i + c] / 255.0;
            const double ipt_ = result.pixels[3 * i + c] / 255.0;
            double cps = (ipt_ + shift[c]) * blur_mask + (1 - blur_mask) * ori_;
            cps = std::min(std::max(cps, 0.0), 1.0);  // np.clip(0, 1.)
            out.pixels[3 * i + c] = (uint8_t)(cps * 255);
        }
    }
    return out;
}

void keep_outside_mask(Image& result, const Image& image, const Image& mask) {
    check_mask(mask, "keep_outside_mask");
    check_same_size(mask, image, result.channels, "keep_outside_mask: image");
    check_same_size(mask, result, image.channels, "keep_outside_mask: result");
    const Image m = feather_mask(mask, kPasteBlurRadius);
    const int C = image.channels;
    for (size_t i = 0; i < m.pixels.size(); ++i)
        if (m.pixels[i] == 0)
            for (int c = 0; c < C; ++c) result.pixels[i * C + c] = image.pixels[i * C + c];
}

}  // namespace moebius
