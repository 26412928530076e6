// 8-bit images: decoding (PNG, JPEG, WebP; format from the magic bytes), atomic saving, and the
// few PIL mode conversions upstream relies on (`convert('RGB')`, `convert('L')`). The codecs live in
// image_codecs.cpp, which the WebAssembly build leaves out (there decode/encode_image fail: the
// browser decodes images itself).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moebius {

// channels: 1 = L, 2 = LA, 3 = RGB, 4 = RGBA. Row-major, interleaved, no padding.
struct Image {
    int width = 0, height = 0, channels = 0;
    std::vector<uint8_t> pixels;

    Image() = default;
    Image(int w, int h, int c, uint8_t fill = 0) : width(w), height(h), channels(c), pixels((size_t)w * h * c, fill) {}
    bool empty() const { return pixels.empty(); }
    size_t index(int x, int y, int c = 0) const { return ((size_t)y * width + x) * channels + c; }
    uint8_t at(int x, int y, int c = 0) const { return pixels[index(x, y, c)]; }
    uint8_t& at(int x, int y, int c = 0) { return pixels[index(x, y, c)]; }
};

// Refuse images above this many pixels before decoding them (decompression bombs).
constexpr size_t kDefaultMaxPixels = 100'000'000;

// PNG (any bit depth, palette, gray, gray+alpha, RGB(A); 16-bit reduced to 8 by keeping the high
// byte, as PIL does), JPEG (gray, RGB/YCbCr, CMYK with Adobe polarity as PIL), WebP (still images).
// Alpha is kept when present (palette tRNS included). Errors: ErrorKind::Image naming `path`/`what`
// (unknown format, truncated or corrupt data, too many pixels); ErrorKind::Io if unreadable.
Image load_image(const std::string& path, size_t max_pixels = kDefaultMaxPixels);
Image decode_image(const uint8_t* data, size_t size, const std::string& what, size_t max_pixels = kDefaultMaxPixels);

enum class ImageFormat { Png, Jpeg, Webp };
// From the extension (.png, .jpg/.jpeg, .webp; any case); other extensions are an Invalid error.
ImageFormat format_from_path(const std::string& path);
// JPEG has no alpha: it is dropped (gray stays gray). WebP: quality 100 means lossless.
std::vector<uint8_t> encode_image(const Image& img, ImageFormat fmt, int quality = 95);
// Encoded by extension and written atomically: on any failure no (partial) file is left at `path`.
void save_image(const std::string& path, const Image& img, int quality = 95);

// Invalid error naming `what` unless img is well-formed (size > 0, 1..4 channels, pixels sized to match).
void check_image(const Image& img, const char* what);

// PIL conversions (libImaging/Convert.c).
Image to_rgb(const Image& img);   // L/LA -> gray replicated (l2rgb, la2rgb); RGBA -> alpha dropped (rgba2rgb)
Image to_gray(const Image& img);  // RGB(A) -> L24 rule of rgb2l: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
bool has_alpha(const Image& img);
Image alpha_as_mask(const Image& img);  // the alpha plane as a 1-channel image (Image error if none)
// Inpainting mask from transparency: 255 (inpaint) where alpha < 128, else 0.
Image mask_from_alpha(const Image& img);
// `rgb` (3 channels) with the alpha plane of `alpha_from` (2 or 4 channels, same size) -> RGBA.
Image with_alpha(const Image& rgb, const Image& alpha_from);

}  // namespace moebius
