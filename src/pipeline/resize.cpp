// Pillow's resampling, line for line where the arithmetic matters (Pillow 11/12
// src/libImaging/Resample.c and Geometry.c; function names cited below are Pillow's).
//
// Bit-exactness needs every a*b+c rounded twice, as in Pillow's x86-64 builds: no fused
// multiply-add contraction in this file (the pragma precedes the includes so that inlined header
// code carries the same option).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "pipeline/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace moebius {

namespace {

// Resample.c: lanczos_filter / sinc_filter, support 3.
constexpr double kLanczosSupport = 3.0;

double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return std::sin(x) / x;
}

double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

// Resample.c: PRECISION_BITS = 32 - 8 - 2.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
    int ksize = 0;
    std::vector<int> bounds;  // per output pixel: xmin, count
    std::vector<double> k;    // out_size * ksize, normalised to sum 1
    std::vector<int32_t> k8;  // the same in fixed point (normalize_coeffs_8bpc)
};

// Resample.c precompute_coeffs(inSize, in0, in1, outSize, LANCZOS). in0/in1 are the box edges,
// floats in PIL (0 and inSize here).
Coeffs precompute_coeffs(int in_size, float in0, float in1, int out_size) {
    Coeffs c;
    double filterscale, scale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0) filterscale = 1.0;
    const double support = kLanczosSupport * filterscale;
    c.ksize = (int)std::ceil(support) * 2 + 1;
    c.bounds.resize(2 * (size_t)out_size);
    c.k.assign((size_t)out_size * c.ksize, 0.0);
    const double inv_filterscale = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);  // "Round the value" (truncation toward zero)
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double* k = &c.k[(size_t)xx * c.ksize];
        for (int x = 0; x < xmax; ++x) {
            const double w = lanczos_filter((x + xmin - center + 0.5) * inv_filterscale);
            k[x] = w;
            ww += w;
        }
        if (ww != 0.0)
            for (int x = 0; x < xmax; ++x) k[x] /= ww;
        c.bounds[2 * xx] = xmin;
        c.bounds[2 * xx + 1] = xmax;
    }
    // normalize_coeffs_8bpc: round half away from zero to 22 fractional bits.
    c.k8.resize(c.k.size());
    for (size_t i = 0; i < c.k.size(); ++i)
        c.k8[i] = c.k[i] < 0 ? (int32_t)(-0.5 + c.k[i] * (1 << kPrecisionBits))
                             : (int32_t)(0.5 + c.k[i] * (1 << kPrecisionBits));
    return c;
}

// Resample.c clip8: the _clip8_lookups table maps ss >> PRECISION_BITS in [-640, 639] to [0, 255].
inline uint8_t clip8(int32_t ss) { return (uint8_t)std::clamp(ss >> kPrecisionBits, 0, 255); }

// _ImagingResampleHorizontal_8bpc: output rows [0, out.height) from input rows offset + y.
void resample_horizontal_8bpc(Image& out, const Image& in, int offset, const Coeffs& c) {
    const int C = in.channels;
#pragma omp parallel for schedule(static)
    for (int yy = 0; yy < out.height; ++yy) {
        const uint8_t* line_in = &in.pixels[in.index(0, yy + offset)];
        uint8_t* line_out = &out.pixels[out.index(0, yy)];
        for (int xx = 0; xx < out.width; ++xx) {
            const int xmin = c.bounds[2 * xx], xmax = c.bounds[2 * xx + 1];
            const int32_t* k = &c.k8[(size_t)xx * c.ksize];
            for (int ch = 0; ch < C; ++ch) {
                int32_t ss = 1 << (kPrecisionBits - 1);
                for (int x = 0; x < xmax; ++x) ss += line_in[(x + xmin) * C + ch] * k[x];
                line_out[xx * C + ch] = clip8(ss);
            }
        }
    }
}

// _ImagingResampleVertical_8bpc.
void resample_vertical_8bpc(Image& out, const Image& in, const Coeffs& c) {
    const int C = in.channels;
    const size_t row = (size_t)in.width * C;
#pragma omp parallel for schedule(static)
    for (int yy = 0; yy < out.height; ++yy) {
        const int ymin = c.bounds[2 * yy], ymax = c.bounds[2 * yy + 1];
        const int32_t* k = &c.k8[(size_t)yy * c.ksize];
        uint8_t* line_out = &out.pixels[out.index(0, yy)];
        for (size_t i = 0; i < row; ++i) {
            int32_t ss = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < ymax; ++y) ss += in.pixels[(size_t)(y + ymin) * row + i] * k[y];
            line_out[i] = clip8(ss);
        }
    }
}

void check_resize_args(const Image& img, int width, int height, const char* what) {
    MOEBIUS_CHECK(width > 0 && height > 0, ErrorKind::Invalid,
                  std::string(what) + ": target size must be positive, got " + std::to_string(width) + "x" +
                      std::to_string(height));
    MOEBIUS_CHECK(img.width > 0 && img.height > 0 && img.channels >= 1 &&
                      img.pixels.size() == (size_t)img.width * img.height * img.channels,
                  ErrorKind::Invalid, std::string(what) + ": empty or malformed image");
}

}  // namespace

// ImagingResampleInner with box = (0, 0, w, h): a horizontal pass over the rows the vertical pass
// needs, then the vertical pass; a pass is skipped when its dimension keeps its size.
Image resize_lanczos(const Image& img, int width, int height) {
    check_resize_args(img, width, height, "resize_lanczos");
    if (width == img.width && height == img.height) return img;  // _resize: ImagingCrop of the full box
    const bool need_horizontal = width != img.width, need_vertical = height != img.height;
    Coeffs vert = precompute_coeffs(img.height, 0.f, (float)img.height, height);
    const int ybox_first = vert.bounds[0];
    const int ybox_last = vert.bounds[2 * height - 2] + vert.bounds[2 * height - 1];
    Image cur = img;
    if (need_horizontal) {
        const Coeffs horiz = precompute_coeffs(img.width, 0.f, (float)img.width, width);
        for (int i = 0; i < height; ++i) vert.bounds[2 * i] -= ybox_first;
        Image tmp(width, ybox_last - ybox_first, img.channels);
        resample_horizontal_8bpc(tmp, img, ybox_first, horiz);
        cur = std::move(tmp);
    }
    if (need_vertical) {
        Image out(cur.width, height, cur.channels);
        resample_vertical_8bpc(out, cur, vert);
        return out;
    }
    return cur;
}

std::vector<float> resize_lanczos_plane(const std::vector<float>& src, int w, int h, int width, int height) {
    MOEBIUS_CHECK(w > 0 && h > 0 && width > 0 && height > 0 && src.size() == (size_t)w * h, ErrorKind::Invalid,
                  "resize_lanczos_plane: bad sizes");
    if (width == w && height == h) return src;
    Coeffs vert = precompute_coeffs(h, 0.f, (float)h, height);
    const int ybox_first = vert.bounds[0];
    const int ybox_last = vert.bounds[2 * height - 2] + vert.bounds[2 * height - 1];
    std::vector<float> cur = src;
    int cw = w;
    if (width != w) {
        // _ImagingResampleHorizontal_32bpc, FLOAT32: double sum, stored as float.
        const Coeffs c = precompute_coeffs(w, 0.f, (float)w, width);
        for (int i = 0; i < height; ++i) vert.bounds[2 * i] -= ybox_first;
        const int rows = ybox_last - ybox_first;
        std::vector<float> tmp((size_t)width * rows);
#pragma omp parallel for schedule(static)
        for (int yy = 0; yy < rows; ++yy)
            for (int xx = 0; xx < width; ++xx) {
                const int xmin = c.bounds[2 * xx], xmax = c.bounds[2 * xx + 1];
                const double* k = &c.k[(size_t)xx * c.ksize];
                double ss = 0.0;
                for (int x = 0; x < xmax; ++x) ss += src[(size_t)(yy + ybox_first) * w + x + xmin] * k[x];
                tmp[(size_t)yy * width + xx] = (float)ss;
            }
        cur = std::move(tmp);
        cw = width;
    }
    if (height != h) {
        // _ImagingResampleVertical_32bpc, FLOAT32.
        std::vector<float> out((size_t)cw * height);
#pragma omp parallel for schedule(static)
        for (int yy = 0; yy < height; ++yy) {
            const int ymin = vert.bounds[2 * yy], ymax = vert.bounds[2 * yy + 1];
            const double* k = &vert.k[(size_t)yy * vert.ksize];
            for (int xx = 0; xx < cw; ++xx) {
                double ss = 0.0;
                for (int y = 0; y < ymax; ++y) ss += cur[(size_t)(y + ymin) * cw + xx] * k[y];
                out[(size_t)yy * cw + xx] = (float)ss;
            }
        }
        return out;
    }
    return cur;
}

// _imaging.c _resize, NEAREST: an affine scale a = (w_in / w_out, h_in / h_out) through
// Geometry.c ImagingScaleAffine, which samples at accumulated (not multiplied) positions
// xo = a0 / 2, a0 / 2 + a0, ... and truncates them (COORD). Out-of-range samples stay 0 (fill).
Image resize_nearest(const Image& img, int width, int height) {
    check_resize_args(img, width, height, "resize_nearest");
    if (width == img.width && height == img.height) return img;
    const double a0 = (double)((float)img.width - 0.f) / width;
    const double a4 = (double)((float)img.height - 0.f) / height;
    const auto coord = [](double v) { return v < 0.0 ? -1 : (int)v; };
    std::vector<int> xin(width, -1);
    double xo = 0.0 + a0 * 0.5;
    for (int x = 0; x < width; ++x) {
        const int xi = coord(xo);
        if (xi >= 0 && xi < img.width) xin[x] = xi;
        xo += a0;
    }
    Image out(width, height, img.channels, 0);
    const int C = img.channels;
    double yo = 0.0 + a4 * 0.5;
    for (int y = 0; y < height; ++y) {
        const int yi = coord(yo);
        yo += a4;
        if (yi < 0 || yi >= img.height) continue;
        for (int x = 0; x < width; ++x)
            if (xin[x] >= 0)
                for (int c = 0; c < C; ++c) out.at(x, y, c) = img.at(xin[x], yi, c);
    }
    return out;
}

}  // namespace moebius
