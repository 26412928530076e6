// Crop-around-mask planning, and the PIL-compatible resizing the crop and whole-image paths use.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "io/image.h"
#include "pipeline/crop.h"
#include "pipeline/resize.h"

using namespace moebius;

namespace {

Image mask_with(int w, int h, std::initializer_list<std::array<int, 4>> rects) {  // {x0, y0, x1, y1}
    Image m(w, h, 1, 0);
    for (const auto& r : rects)
        for (int y = r[1]; y < r[3]; ++y)
            for (int x = r[0]; x < r[2]; ++x) m.at(x, y) = 255;
    return m;
}

bool contains(const CropWindow& w, const MaskRegion& r, int margin = 0) {
    return w.x <= r.x0 - margin && w.y <= r.y0 - margin && r.x1 + margin <= w.x + w.size_w &&
           r.y1 + margin <= w.y + w.size_h;
}

// Invariants of every plan: inside the image, pairwise disjoint, every region covered.
void check_plan(const Image& mask, const std::vector<CropWindow>& ws) {
    for (size_t i = 0; i < ws.size(); ++i) {
        const CropWindow& a = ws[i];
        EXPECT_GE(a.x, 0);
        EXPECT_GE(a.y, 0);
        EXPECT_GT(a.size_w, 0);
        EXPECT_GT(a.size_h, 0);
        EXPECT_LE(a.x + a.size_w, mask.width);
        EXPECT_LE(a.y + a.size_h, mask.height);
        for (size_t j = i + 1; j < ws.size(); ++j) {
            const CropWindow& b = ws[j];
            const bool disjoint =
                a.x + a.size_w <= b.x || b.x + b.size_w <= a.x || a.y + a.size_h <= b.y || b.y + b.size_h <= a.y;
            EXPECT_TRUE(disjoint) << "windows " << i << " and " << j << " overlap";
        }
    }
    for (const MaskRegion& r : mask_regions(mask)) {
        bool covered = false;
        for (const CropWindow& w : ws) covered = covered || contains(w, r);
        EXPECT_TRUE(covered) << "region at " << r.x0 << "," << r.y0 << " not covered";
    }
}

}  // namespace

TEST(MaskRegions, EightConnectedComponents) {
    Image m(10, 6, 1, 0);
    m.at(1, 1) = m.at(2, 2) = m.at(3, 3) = 255;  // a diagonal line: one region
    m.at(8, 0) = m.at(8, 1) = 200;               // >= 128 counts
    m.at(6, 5) = 127;                            // below the threshold: nothing
    const std::vector<MaskRegion> r = mask_regions(m);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].x0, 8);  // first seen (row 0)
    EXPECT_EQ(r[0].y1, 2);
    EXPECT_EQ(r[0].pixels, 2);
    EXPECT_EQ(r[1].x0, 1);
    EXPECT_EQ(r[1].y0, 1);
    EXPECT_EQ(r[1].x1, 4);
    EXPECT_EQ(r[1].y1, 4);
    EXPECT_EQ(r[1].pixels, 3);

    // A U shape whose arms only join at the bottom is one region.
    const Image u = mask_with(20, 20, {{2, 2, 4, 15}, {10, 2, 12, 15}, {2, 14, 12, 16}});
    EXPECT_EQ(mask_regions(u).size(), 1u);
}

TEST(PlanCrops, EmptyMaskGivesNoWindow) {
    EXPECT_TRUE(plan_crops(Image(800, 600, 1, 0)).empty());
    EXPECT_TRUE(plan_crops(mask_with(800, 600, {})).empty());
}

TEST(PlanCrops, SingleRegionOneSquareWindowWithMargin) {
    const Image m = mask_with(2000, 1500, {{900, 700, 960, 740}});
    const CropOptions o;
    const auto ws = plan_crops(m, o);
    ASSERT_EQ(ws.size(), 1u);
    EXPECT_EQ(ws[0].size_w, 512);  // small hole: the model size, processed at 1:1
    EXPECT_EQ(ws[0].size_h, 512);
    EXPECT_TRUE(contains(ws[0], mask_regions(m)[0], o.margin));
    // Centred on the hole.
    EXPECT_NEAR(ws[0].x + 256, 930, 1);
    EXPECT_NEAR(ws[0].y + 256, 720, 1);
    check_plan(m, ws);

    // A large hole: the window grows with it (context × extent + 2 × margin).
    const Image big = mask_with(3000, 2000, {{1000, 800, 1400, 1000}});
    const auto wb = plan_crops(big, o);
    ASSERT_EQ(wb.size(), 1u);
    EXPECT_EQ(wb[0].size_w, 400 * 2 + 2 * 32);
    EXPECT_EQ(wb[0].size_h, wb[0].size_w);
    check_plan(big, wb);
}

TEST(PlanCrops, DistantRegionsTwoWindowsCloseRegionsMerge) {
    const Image far = mask_with(3000, 1000, {{200, 400, 260, 460}, {2500, 500, 2560, 560}});
    const auto wf = plan_crops(far);
    ASSERT_EQ(wf.size(), 2u);
    check_plan(far, wf);
    EXPECT_LT(wf[0].x, wf[1].x);

    const Image near = mask_with(3000, 1000, {{1000, 400, 1060, 460}, {1200, 420, 1260, 480}});
    const auto wn = plan_crops(near);
    ASSERT_EQ(wn.size(), 1u);
    check_plan(near, wn);
    EXPECT_EQ(wn[0].size_w, 260 * 2 + 2 * 32);  // the merged bbox is 260 wide
}

TEST(PlanCrops, MergingCascades) {
    // a's and b's 512 windows overlap; c's window [1184, 1696) misses b's [664, 1176) but reaches
    // the merged a+b window [248, 1192).
    const Image m = mask_with(4000, 1200, {{500, 500, 540, 540}, {900, 500, 940, 540}, {1420, 500, 1460, 540}});
    const auto ws = plan_crops(m);
    check_plan(m, ws);
    EXPECT_EQ(ws.size(), 1u);
}

TEST(PlanCrops, BorderRegionClampedInside) {
    const Image m = mask_with(1600, 1200, {{0, 0, 30, 20}, {1580, 1190, 1600, 1200}});
    const auto ws = plan_crops(m);
    ASSERT_EQ(ws.size(), 2u);
    EXPECT_EQ(ws[0].x, 0);
    EXPECT_EQ(ws[0].y, 0);
    EXPECT_EQ(ws[1].x + ws[1].size_w, 1600);
    EXPECT_EQ(ws[1].y + ws[1].size_h, 1200);
    check_plan(m, ws);
}

TEST(PlanCrops, VeryWideImage) {
    // 3000x200: a small hole gets the largest square that fits (200x200, upscaled to the model).
    const Image small = mask_with(3000, 200, {{1500, 80, 1540, 120}});
    const auto ws = plan_crops(small);
    ASSERT_EQ(ws.size(), 1u);
    EXPECT_EQ(ws[0].size_w, 200);
    EXPECT_EQ(ws[0].size_h, 200);
    EXPECT_EQ(ws[0].y, 0);
    check_plan(small, ws);

    // A hole longer than the image is high: full height, just enough width (bbox + 2 × margin).
    const Image longhole = mask_with(3000, 200, {{1000, 50, 2000, 100}});
    const auto wl = plan_crops(longhole);
    ASSERT_EQ(wl.size(), 1u);
    EXPECT_EQ(wl[0].size_h, 200);
    EXPECT_EQ(wl[0].size_w, 1000 + 2 * 32);
    check_plan(longhole, wl);

    // Tall too, and the whole image when the hole spans it.
    const Image tall = mask_with(150, 2500, {{0, 0, 150, 2500}});
    const auto wt = plan_crops(tall);
    ASSERT_EQ(wt.size(), 1u);
    EXPECT_EQ(wt[0].size_w, 150);
    EXPECT_EQ(wt[0].size_h, 2500);
}

TEST(PlanCrops, ImageSmallerThanModel) {
    // Square and smaller than 512: the whole image (the lead resizes it up to 512).
    const Image m = mask_with(300, 300, {{10, 10, 40, 40}, {250, 250, 290, 290}});
    const auto ws = plan_crops(m);
    ASSERT_EQ(ws.size(), 1u);
    EXPECT_EQ(ws[0].x, 0);
    EXPECT_EQ(ws[0].y, 0);
    EXPECT_EQ(ws[0].size_w, 300);
    EXPECT_EQ(ws[0].size_h, 300);
    // Not square: the largest square holding the hole.
    const Image r = mask_with(300, 200, {{250, 100, 270, 120}});
    const auto wr = plan_crops(r);
    ASSERT_EQ(wr.size(), 1u);
    EXPECT_EQ(wr[0].size_w, 200);
    EXPECT_EQ(wr[0].size_h, 200);
    EXPECT_EQ(wr[0].x, 100);
    check_plan(r, wr);
    // 1x1 image with its single pixel masked.
    const auto w1 = plan_crops(Image(1, 1, 1, 255));
    ASSERT_EQ(w1.size(), 1u);
    EXPECT_EQ(w1[0].size_w, 1);
}

TEST(PlanCrops, ManySpecksStayFast) {
    // A noisy mask: 40k isolated pixels on 4000x4000.
    Image m(4000, 4000, 1, 0);
    uint32_t s = 12345;
    for (int i = 0; i < 40000; ++i) {
        s = s * 1664525u + 1013904223u;
        const int x = (int)(s >> 8) % 4000;
        s = s * 1664525u + 1013904223u;
        const int y = (int)(s >> 8) % 4000;
        m.at(x, y) = 255;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto ws = plan_crops(m);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[crop] %zu windows for 40000 specks in %.3f s\n", ws.size(), secs);
    EXPECT_LT(secs, 5.0);
    check_plan(m, ws);
}

TEST(PlanCrops, CropAndPlaceRoundTrip) {
    Image img(50, 40, 3);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = (uint8_t)(i % 251);
    const CropWindow w{10, 5, 20, 30};
    const Image c = crop_image(img, w);
    EXPECT_EQ(c.width, 20);
    EXPECT_EQ(c.height, 30);
    EXPECT_EQ(c.at(0, 0, 1), img.at(10, 5, 1));
    EXPECT_EQ(c.at(19, 29, 2), img.at(29, 34, 2));
    Image dst(50, 40, 3, 0);
    place_image(dst, c, w);
    EXPECT_EQ(dst.at(29, 34, 2), img.at(29, 34, 2));
    EXPECT_EQ(dst.at(9, 5, 0), 0);
    EXPECT_THROW(crop_image(img, CropWindow{40, 0, 20, 10}), Error);
}

// ---------------------------------------------------------------------------------------------
// Resize (PIL LANCZOS / NEAREST)

namespace {

// Pillow Tests/test_image_resample.py TestImagingCoreResampleAccuracy.make_case: two dark and two
// bright squares (top-left and bottom-right quadrants `color`, the rest 255 - color).
Image make_case(int w, int h, uint8_t color, int channels) {
    Image img(w, h, channels, (uint8_t)(255 - color));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if ((x < w / 2) == (y < h / 2))
                for (int c = 0; c < channels; ++c) img.at(x, y, c) = color;
    return img;
}

// make_sample: the expected image from its top-left quadrant, mirrored with inverted values.
Image make_sample(const std::vector<int>& q, int w, int h) {
    Image s(w, h, 1);
    const int qw = w / 2, qh = h / 2;
    for (int y = 0; y < qh; ++y)
        for (int x = 0; x < qw; ++x) {
            const int v = q[y * qw + x];
            s.at(x, y) = (uint8_t)v;
            s.at(w - x - 1, h - y - 1) = (uint8_t)v;
            s.at(x, h - y - 1) = (uint8_t)(255 - v);
            s.at(w - x - 1, y) = (uint8_t)(255 - v);
        }
    return s;
}

void expect_channels_equal(const Image& got, const Image& want, const char* what) {
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    int diff = 0;
    for (int y = 0; y < got.height; ++y)
        for (int x = 0; x < got.width; ++x)
            for (int c = 0; c < got.channels; ++c) diff += got.at(x, y, c) != want.at(x, y);
    std::printf("[pillow] %s: %d values differ from Pillow's expectation\n", what, diff);
    EXPECT_EQ(diff, 0) << what;
}

}  // namespace

// Exact PIL outputs from Pillow's test suite (test_reduce_lanczos / test_enlarge_lanczos).
TEST(Resize, LanczosMatchesPillowTests) {
    for (int ch : {1, 3}) {
        const Image reduced = resize_lanczos(make_case(16, 16, 0xE1, ch), 8, 8);
        expect_channels_equal(
            reduced,
            make_sample(
                {0xe1, 0xe0, 0xe4, 0xd7, 0xe0, 0xdf, 0xe3, 0xd6, 0xe4, 0xe3, 0xe7, 0xda, 0xd7, 0xd6, 0xd9, 0xce}, 8, 8),
            ch == 1 ? "reduce 16->8 L" : "reduce 16->8 RGB");
        const Image enlarged = resize_lanczos(make_case(6, 6, 0xE1, ch), 12, 12);
        expect_channels_equal(enlarged,
                              make_sample({0xe1, 0xe0, 0xdb, 0xed, 0xf5, 0xb8, 0xe0, 0xdf, 0xda, 0xec, 0xf3, 0xb7,
                                           0xdb, 0xdb, 0xd6, 0xe7, 0xee, 0xb5, 0xed, 0xec, 0xe6, 0xfb, 0xff, 0xbf,
                                           0xf5, 0xf4, 0xee, 0xff, 0xff, 0xc4, 0xb8, 0xb7, 0xb4, 0xbf, 0xc4, 0xa0},
                                          12, 12),
                              ch == 1 ? "enlarge 6->12 L" : "enlarge 6->12 RGB");
    }
}

TEST(Resize, ConstantStaysConstant) {
    // Pillow TestCoreResampleConsistency: 512x9 -> 9x512 of a flat colour is flat.
    Image flat(512, 9, 3);
    for (size_t i = 0; i < flat.pixels.size(); i += 3)
        flat.pixels[i] = 0, flat.pixels[i + 1] = 64, flat.pixels[i + 2] = 255;
    const Image r = resize_lanczos(flat, 9, 512);
    for (size_t i = 0; i < r.pixels.size(); i += 3) {
        ASSERT_EQ(r.pixels[i], 0);
        ASSERT_EQ(r.pixels[i + 1], 64);
        ASSERT_EQ(r.pixels[i + 2], 255);
    }
    const std::vector<float> fp(512 * 9, 1.192093e-07f);
    for (float v : resize_lanczos_plane(fp, 512, 9, 9, 512)) ASSERT_EQ(v, 1.192093e-07f);
}

TEST(Resize, IdentityAndSymmetry) {
    Image img(31, 17, 3);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = (uint8_t)(i * 37 % 256);
    EXPECT_EQ(resize_lanczos(img, 31, 17).pixels, img.pixels);
    EXPECT_EQ(resize_nearest(img, 31, 17).pixels, img.pixels);

    // The kernel is symmetric: resizing a mirrored image gives the mirrored result (up to the
    // rounding of the mirrored coefficients).
    Image mirrored = img;
    for (int y = 0; y < 17; ++y)
        for (int x = 0; x < 31; ++x)
            for (int c = 0; c < 3; ++c) mirrored.at(x, y, c) = img.at(30 - x, y, c);
    for (auto [w, h] : {std::pair{13, 17}, std::pair{64, 17}, std::pair{20, 40}}) {
        const Image a = resize_lanczos(img, w, h), b = resize_lanczos(mirrored, w, h);
        int worst = 0;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(a.at(x, y, c) - b.at(w - 1 - x, y, c)));
        EXPECT_LE(worst, 1) << w << "x" << h;
    }
}

TEST(Resize, DownThenUpRoughlyPreserves) {
    Image img(256, 192, 3);
    for (int y = 0; y < 192; ++y)
        for (int x = 0; x < 256; ++x)
            for (int c = 0; c < 3; ++c)
                img.at(x, y, c) = (uint8_t)(128 + 100 * std::sin(x * 0.05 + c) * std::cos(y * 0.04));
    const Image back = resize_lanczos(resize_lanczos(img, 128, 96), 256, 192);
    double err = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) err += std::abs(img.pixels[i] - back.pixels[i]);
    err /= (double)img.pixels.size();
    std::printf("[resize] 256x192 -> 128x96 -> back: mean abs error %.3f\n", err);
    EXPECT_LT(err, 1.5);
}

TEST(Resize, NearestFollowsPilSampling) {
    // ImagingScaleAffine samples at (i + 0.5) * in/out, truncated.
    Image row(4, 1, 1);
    row.pixels = {10, 20, 30, 40};
    EXPECT_EQ(resize_nearest(row, 2, 1).pixels, (std::vector<uint8_t>{20, 40}));
    EXPECT_EQ(resize_nearest(row, 8, 1).pixels, (std::vector<uint8_t>{10, 10, 20, 20, 30, 30, 40, 40}));
    Image col(1, 3, 1);
    col.pixels = {1, 2, 3};
    EXPECT_EQ(resize_nearest(col, 1, 2).pixels, (std::vector<uint8_t>{1, 3}));  // 0.75, 2.25
    EXPECT_EQ(resize_nearest(col, 2, 5).pixels, (std::vector<uint8_t>{1, 1, 1, 1, 2, 2, 3, 3, 3, 3}));
    // A binary mask stays binary.
    Image m(7, 5, 1, 0);
    m.at(3, 2) = 255;
    for (uint8_t v : resize_nearest(m, 23, 11).pixels) EXPECT_TRUE(v == 0 || v == 255);
}

TEST(Resize, BadSizesAreErrors) {
    EXPECT_THROW(resize_lanczos(Image(4, 4, 3), 0, 4), Error);
    EXPECT_THROW(resize_nearest(Image(), 4, 4), Error);
}
