// Image I/O: round trips through PNG/JPEG/WebP, alpha handling, PIL mode conversions, and bad
// inputs (decompression bombs, truncated and non-image files, unwritable outputs).
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

// jpeglib.h needs size_t/FILE declared first.
#include <jpeglib.h>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/image.h"

using namespace moebius;
namespace fs = std::filesystem;

namespace {

Image pattern(int w, int h, int c) {
    Image img(w, h, c);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k) img.at(x, y, k) = (uint8_t)((x * 7 + y * 13 + k * 50) % 256);
    return img;
}

// A smooth image: lossy codecs reproduce it closely.
Image smooth(int w, int h, int c) {
    Image img(w, h, c);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k) img.at(x, y, k) = (uint8_t)(20 + x * 120 / w + y * 60 / h + k * 15);
    return img;
}

double mean_abs_diff(const Image& a, const Image& b) {
    EXPECT_EQ(a.pixels.size(), b.pixels.size());
    double s = 0;
    for (size_t i = 0; i < std::min(a.pixels.size(), b.pixels.size()); ++i) s += std::abs(a.pixels[i] - b.pixels[i]);
    return s / (double)a.pixels.size();
}

std::string tmp(const std::string& name) { return test::temp_dir() + "/" + name; }

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    write_file_atomic(path, b.data(), b.size());
}

// Expects `f` to throw moebius::Error of `kind` whose message contains each of `parts`.
template <class F>
void expect_error(F&& f, ErrorKind kind, std::initializer_list<std::string> parts) {
    try {
        f();
        ADD_FAILURE() << "no error thrown";
    } catch (const Error& e) {
        EXPECT_EQ((int)e.kind, (int)kind) << e.what();
        for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
        std::printf("[error] %s\n", e.what());
    }
}

void put_be32(uint8_t* p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v; }

}  // namespace

TEST(ImageIo, PngRoundTripIsExactForAllLayouts) {
    for (int c = 1; c <= 4; ++c) {
        const Image img = pattern(37, 19, c);
        const std::string p = tmp("rt" + std::to_string(c) + ".png");
        save_image(p, img);
        const Image back = load_image(p);
        EXPECT_EQ(back.width, 37);
        EXPECT_EQ(back.height, 19);
        EXPECT_EQ(back.channels, c);
        EXPECT_EQ(back.pixels, img.pixels) << c << " channels";
    }
}

TEST(ImageIo, JpegRoundTripIsClose) {
    const Image rgb = smooth(64, 48, 3);
    save_image(tmp("rt.jpg"), rgb, 95);
    const Image back = load_image(tmp("rt.jpg"));
    ASSERT_EQ(back.channels, 3);
    EXPECT_LT(mean_abs_diff(back, rgb), 2.0);

    const Image gray = smooth(33, 17, 1);
    save_image(tmp("rt_gray.JPEG"), gray, 95);
    const Image gback = load_image(tmp("rt_gray.JPEG"));
    ASSERT_EQ(gback.channels, 1);
    EXPECT_LT(mean_abs_diff(gback, gray), 2.0);

    // JPEG has no alpha: RGBA is saved as RGB.
    const Image rgba = smooth(16, 16, 4);
    save_image(tmp("rgba.jpg"), rgba);
    EXPECT_EQ(load_image(tmp("rgba.jpg")).channels, 3);
}

TEST(ImageIo, WebpRoundTrip) {
    const Image rgb = smooth(64, 48, 3);
    save_image(tmp("rt.webp"), rgb, 95);
    const Image back = load_image(tmp("rt.webp"));
    ASSERT_EQ(back.channels, 3);
    EXPECT_LT(mean_abs_diff(back, rgb), 3.0);

    // Quality 100 is lossless, alpha kept.
    const Image rgba = pattern(29, 31, 4);
    save_image(tmp("lossless.webp"), rgba, 100);
    const Image lback = load_image(tmp("lossless.webp"));
    ASSERT_EQ(lback.channels, 4);
    EXPECT_EQ(lback.pixels, rgba.pixels);
}

TEST(ImageIo, FormatComesFromMagicBytesNotExtension) {
    const Image img = pattern(8, 8, 3);
    const std::vector<uint8_t> png = encode_image(img, ImageFormat::Png);
    write_bytes(tmp("actually_png.jpg"), png);
    EXPECT_EQ(load_image(tmp("actually_png.jpg")).pixels, img.pixels);
}

TEST(ImageIo, OnePixelImages) {
    for (ImageFormat f : {ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp}) {
        Image img(1, 1, 3);
        img.pixels = {200, 100, 50};
        const std::vector<uint8_t> b = encode_image(img, f, 100);
        const Image back = decode_image(b.data(), b.size(), "1x1");
        EXPECT_EQ(back.width, 1);
        EXPECT_EQ(back.height, 1);
        ASSERT_EQ(back.channels, 3);
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(back.pixels[c], img.pixels[c], f == ImageFormat::Png ? 0 : 6);
    }
}

TEST(ImageIo, PaletteWithTransparencyAnd16BitPng) {
    // Palette + tRNS -> RGBA (PIL: mode P with transparency; convert('RGB') gives the palette colours).
    png_image pi;
    std::memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 3;
    pi.height = 1;
    pi.format = PNG_FORMAT_RGBA_COLORMAP;
    pi.colormap_entries = 3;
    const uint8_t cmap[12] = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0};
    const uint8_t idx[3] = {0, 1, 2};
    std::vector<uint8_t> buf(4096);
    png_alloc_size_t n = buf.size();
    ASSERT_TRUE(png_image_write_to_memory(&pi, buf.data(), &n, 0, idx, 0, cmap)) << pi.message;
    buf.resize(n);
    const Image pal = decode_image(buf.data(), buf.size(), "palette.png");
    ASSERT_EQ(pal.channels, 4);
    EXPECT_EQ(pal.at(0, 0, 0), 255);
    EXPECT_EQ(pal.at(0, 0, 3), 255);
    EXPECT_EQ(pal.at(1, 0, 1), 255);
    EXPECT_EQ(pal.at(1, 0, 3), 128);
    EXPECT_EQ(pal.at(2, 0, 3), 0);
    EXPECT_EQ(to_rgb(pal).at(2, 0, 2), 255);

    // 16-bit RGB: the high byte of each sample (PIL's "RGB;16B" unpacker).
    std::memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 2;
    pi.height = 1;
    pi.format = PNG_FORMAT_LINEAR_RGB;
    const uint16_t px[6] = {0xABCD, 0x0102, 0xFFFF, 0x0000, 0x80FF, 0x7F00};
    buf.assign(4096, 0);
    n = buf.size();
    ASSERT_TRUE(png_image_write_to_memory(&pi, buf.data(), &n, 0, px, 0, nullptr)) << pi.message;
    buf.resize(n);
    ASSERT_EQ(buf[24], 16) << "expected a 16-bit PNG";  // IHDR bit depth
    const Image deep = decode_image(buf.data(), buf.size(), "deep.png");
    ASSERT_EQ(deep.channels, 3);
    EXPECT_EQ(deep.pixels, (std::vector<uint8_t>{0xAB, 0x01, 0xFF, 0x00, 0x80, 0x7F}));
}

TEST(ImageIo, CmykJpegAsPil) {
    // PIL reads CMYK JPEGs with Adobe polarity (stored inverted). Stored all-255 = no ink = white;
    // stored K = 0 = full black.
    jpeg_compress_struct ci;
    jpeg_error_mgr em;
    ci.err = jpeg_std_error(&em);
    jpeg_create_compress(&ci);
    unsigned char* out = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&ci, &out, &size);
    ci.image_width = 16;
    ci.image_height = 8;
    ci.input_components = 4;
    ci.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    std::vector<uint8_t> row(16 * 4);
    for (int x = 0; x < 16; ++x) {
        const bool white = x < 8;
        row[4 * x + 0] = row[4 * x + 1] = row[4 * x + 2] = 255;
        row[4 * x + 3] = white ? 255 : 0;
    }
    for (int y = 0; y < 8; ++y) {
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    std::vector<uint8_t> bytes(out, out + size);
    jpeg_destroy_compress(&ci);
    std::free(out);
    const Image img = decode_image(bytes.data(), bytes.size(), "cmyk.jpg");
    ASSERT_EQ(img.channels, 3);
    EXPECT_GE(img.at(2, 4, 0), 250);
    EXPECT_LE(img.at(13, 4, 1), 5);
}

TEST(ImageIo, ConversionsFollowPil) {
    Image rgb(3, 1, 3);
    rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    // Convert.c rgb2l: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
    EXPECT_EQ(to_gray(rgb).pixels, (std::vector<uint8_t>{76, 150, 29}));
    Image la(2, 1, 2);
    la.pixels = {10, 0, 200, 255};
    EXPECT_EQ(to_gray(la).pixels, (std::vector<uint8_t>{10, 200}));
    EXPECT_EQ(to_rgb(la).pixels, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
    EXPECT_EQ(alpha_as_mask(la).pixels, (std::vector<uint8_t>{0, 255}));
    EXPECT_EQ(mask_from_alpha(la).pixels, (std::vector<uint8_t>{255, 0}));
    Image rgba(2, 1, 4);
    rgba.pixels = {1, 2, 3, 127, 4, 5, 6, 128};
    EXPECT_EQ(to_rgb(rgba).pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(mask_from_alpha(rgba).pixels, (std::vector<uint8_t>{255, 0}));
    EXPECT_EQ(with_alpha(to_rgb(rgba), rgba).pixels, rgba.pixels);
    EXPECT_TRUE(has_alpha(rgba));
    EXPECT_FALSE(has_alpha(rgb));
    expect_error([&] { alpha_as_mask(rgb); }, ErrorKind::Image, {"no alpha"});
}

TEST(ImageIo, RefusesPngBombBeforeDecoding) {
    // A valid 4x4 PNG whose IHDR claims 20000x20000 (CRC recomputed): refused from the header.
    std::vector<uint8_t> b = encode_image(pattern(4, 4, 3), ImageFormat::Png);
    ASSERT_EQ(std::memcmp(&b[12], "IHDR", 4), 0);
    put_be32(&b[16], 20000);
    put_be32(&b[20], 20000);
    put_be32(&b[29], (uint32_t)crc32(0, &b[12], 17));  // CRC over type + 13 data bytes
    write_bytes(tmp("bomb.png"), b);
    expect_error([&] { load_image(tmp("bomb.png")); }, ErrorKind::Image,
                 {"bomb.png", "20000x20000 is too large (limit 100000000 pixels)"});

    // Below the limit the header is accepted and the (missing) pixel data is the error.
    put_be32(&b[16], 3000);
    put_be32(&b[20], 3000);
    put_be32(&b[29], (uint32_t)crc32(0, &b[12], 17));
    expect_error([&] { decode_image(b.data(), b.size(), "lying.png", 1000 * 1000); }, ErrorKind::Image,
                 {"lying.png", "3000x3000 is too large (limit 1000000 pixels)"});
    expect_error([&] { decode_image(b.data(), b.size(), "lying.png"); }, ErrorKind::Image,
                 {"lying.png", "invalid or truncated PNG"});
}

TEST(ImageIo, RefusesJpegAndWebpBombs) {
    std::vector<uint8_t> j = encode_image(pattern(8, 8, 3), ImageFormat::Jpeg);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < j.size(); ++i)
        if (j[i] == 0xFF && j[i + 1] == 0xC0) {
            sof = i;
            break;
        }
    ASSERT_GT(sof, 0u);
    j[sof + 5] = 0xEA, j[sof + 6] = 0x60;  // height 60000
    j[sof + 7] = 0xEA, j[sof + 8] = 0x60;  // width 60000
    expect_error([&] { decode_image(j.data(), j.size(), "bomb.jpg"); }, ErrorKind::Image,
                 {"bomb.jpg", "60000x60000 is too large"});

    // Lossless WebP ("VP8L"): 14-bit width-1 and height-1 after the 0x2f signature.
    std::vector<uint8_t> w = encode_image(pattern(8, 8, 3), ImageFormat::Webp, 100);
    ASSERT_EQ(std::memcmp(&w[12], "VP8L", 4), 0);
    ASSERT_EQ(w[20], 0x2f);
    uint32_t bits = (uint32_t)w[21] | w[22] << 8 | w[23] << 16 | (uint32_t)w[24] << 24;
    bits = (bits & 0xF0000000u) | 16383u | 16383u << 14;
    for (int i = 0; i < 4; ++i) w[21 + i] = (uint8_t)(bits >> (8 * i));
    expect_error([&] { decode_image(w.data(), w.size(), "bomb.webp"); }, ErrorKind::Image,
                 {"bomb.webp", "16384x16384 is too large"});
}

TEST(ImageIo, TruncatedFilesAreClearErrors) {
    const Image img = smooth(64, 64, 3);
    for (ImageFormat f : {ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp}) {
        std::vector<uint8_t> b = encode_image(img, f, 90);
        b.resize(b.size() / 2);
        const std::string name = f == ImageFormat::Png ? "cut.png" : f == ImageFormat::Jpeg ? "cut.jpg" : "cut.webp";
        write_bytes(tmp(name), b);
        expect_error([&] { load_image(tmp(name)); }, ErrorKind::Image, {name});
    }
    // Only the signature, or a header and nothing else.
    std::vector<uint8_t> sig = encode_image(img, ImageFormat::Png);
    sig.resize(8);
    expect_error([&] { decode_image(sig.data(), sig.size(), "sig.png"); }, ErrorKind::Image, {"sig.png"});
    sig = encode_image(img, ImageFormat::Png);
    sig.resize(40);
    expect_error([&] { decode_image(sig.data(), sig.size(), "hdr.png"); }, ErrorKind::Image, {"hdr.png"});
}

TEST(ImageIo, NonImagesAndMissingFiles) {
    const std::string text = "hello, this is not an image\n";
    write_file_atomic(tmp("text.png"), text.data(), text.size());
    expect_error([&] { load_image(tmp("text.png")); }, ErrorKind::Image, {"text.png", "not a PNG, JPEG or WebP image"});
    write_file_atomic(tmp("empty.png"), "", 0);
    expect_error([&] { load_image(tmp("empty.png")); }, ErrorKind::Image, {"empty.png", "empty"});
    expect_error([&] { load_image(tmp("does_not_exist.png")); }, ErrorKind::Io, {"does_not_exist.png"});
}

TEST(ImageIo, FailedSavesLeaveNoFile) {
    const Image img = pattern(8, 8, 3);
    expect_error([&] { save_image("/proc/nope/out.png", img); }, ErrorKind::Io, {"/proc/nope/out.png"});
    EXPECT_FALSE(fs::exists("/proc/nope/out.png"));
    const std::string missing_dir = tmp("no_such_dir/out.webp");
    expect_error([&] { save_image(missing_dir, img); }, ErrorKind::Io, {missing_dir});
    EXPECT_FALSE(fs::exists(tmp("no_such_dir")));
    expect_error([&] { save_image(tmp("out.bmp"), img); }, ErrorKind::Invalid, {"out.bmp", "unknown image extension"});
    expect_error([&] { save_image(tmp("out"), img); }, ErrorKind::Invalid, {"unknown image extension"});
    EXPECT_FALSE(fs::exists(tmp("out.bmp")));
    Image bad = img;
    bad.pixels.resize(10);
    expect_error([&] { save_image(tmp("bad.png"), bad); }, ErrorKind::Invalid, {"bad.png", "malformed"});
    EXPECT_FALSE(fs::exists(tmp("bad.png")));
    // No temp files left behind next to the outputs either.
    for (const auto& e : fs::directory_iterator(test::temp_dir()))
        EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(ImageIo, ReferenceFixturesLoad) {
    const Image img = load_image(test::fixture("tiny/image.png"));
    EXPECT_EQ(img.width, 512);
    EXPECT_EQ(img.height, 512);
    EXPECT_EQ(img.channels, 3);
    const Image mask = load_image(test::fixture("tiny/mask.png"));
    EXPECT_EQ(mask.channels, 1);
}

TEST(ImageIo, CorruptedFilesNeverCrash) {
    // Random byte changes in valid files: each decode either succeeds or throws moebius::Error.
    uint32_t s = 2024;
    const auto rnd = [&] { return s = s * 1664525u + 1013904223u, s >> 8; };
    const Image img = smooth(40, 30, 4);
    int ok = 0, failed = 0;
    for (ImageFormat f : {ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp}) {
        for (int q : {90, 100}) {
            const std::vector<uint8_t> good = encode_image(img, f, q);
            for (int trial = 0; trial < 150; ++trial) {
                std::vector<uint8_t> b = good;
                const int edits = 1 + (int)(rnd() % 4);
                for (int e = 0; e < edits; ++e) b[12 + rnd() % (b.size() - 12)] = (uint8_t)rnd();
                if (trial % 5 == 0) b.resize(12 + rnd() % (b.size() - 12));
                try {
                    const Image out = decode_image(b.data(), b.size(), "fuzz");
                    EXPECT_EQ(out.pixels.size(), (size_t)out.width * out.height * out.channels);
                    ++ok;
                } catch (const Error& e) {
                    EXPECT_EQ((int)e.kind, (int)ErrorKind::Image) << e.what();
                    ++failed;
                }
            }
        }
    }
    std::printf("[fuzz] %d decoded, %d rejected with an Image error\n", ok, failed);
}
