// Images in memory: loading/saving through the codecs (image_codecs.cpp) and the PIL mode conversions.
#include "io/image.h"

#include <cctype>

#include "core/error.h"
#include "io/file.h"

namespace moebius {

namespace {

std::string lower_extension(const std::string& path) {
    const size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
    std::string ext = path.substr(dot);
    for (char& ch : ext) ch = (char)std::tolower((unsigned char)ch);
    return ext;
}

}  // namespace

void check_image(const Image& img, const char* what) {
    MOEBIUS_CHECK(img.width > 0 && img.height > 0 && img.channels >= 1 && img.channels <= 4 &&
                      img.pixels.size() == (size_t)img.width * img.height * img.channels,
                  ErrorKind::Invalid,
                  std::string(what) + ": malformed image (" + std::to_string(img.width) + "x" +
                      std::to_string(img.height) + "x" + std::to_string(img.channels) + ", " +
                      std::to_string(img.pixels.size()) + " bytes)");
}

Image load_image(const std::string& path, size_t max_pixels) {
    const std::vector<uint8_t> bytes = read_file(path);
    return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

ImageFormat format_from_path(const std::string& path) {
    const std::string ext = lower_extension(path);
    if (ext == ".png") return ImageFormat::Png;
    if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::Jpeg;
    if (ext == ".webp") return ImageFormat::Webp;
    fail(ErrorKind::Invalid, path + ": unknown image extension '" + ext + "' (use .png, .jpg, .jpeg or .webp)");
}

void save_image(const std::string& path, const Image& img, int quality) {
    const ImageFormat fmt = format_from_path(path);
    std::vector<uint8_t> bytes;
    try {
        bytes = encode_image(img, fmt, quality);
    } catch (const Error& e) {
        throw Error(e.kind, path + ": " + e.what());
    }
    write_file_atomic(path, bytes.data(), bytes.size());
}

Image to_rgb(const Image& img) {
    check_image(img, "to_rgb");
    if (img.channels == 3) return img;
    Image out(img.width, img.height, 3);
    const size_t n = (size_t)img.width * img.height;
    for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c)
            out.pixels[3 * i + c] = img.channels <= 2 ? img.pixels[i * img.channels] : img.pixels[i * img.channels + c];
    return out;
}

Image to_gray(const Image& img) {
    check_image(img, "to_gray");
    if (img.channels == 1) return img;
    Image out(img.width, img.height, 1);
    const size_t n = (size_t)img.width * img.height;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* p = &img.pixels[i * img.channels];
        // la2l takes L; rgb2l (also for RGBA): ITU-R 601-2 luma in 16.16 fixed point (Convert.c, L24).
        out.pixels[i] =
            img.channels == 2 ? p[0] : (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
    return out;
}

bool has_alpha(const Image& img) { return img.channels == 2 || img.channels == 4; }

Image alpha_as_mask(const Image& img) {
    check_image(img, "alpha_as_mask");
    MOEBIUS_CHECK(has_alpha(img), ErrorKind::Image, "the image has no alpha channel");
    Image out(img.width, img.height, 1);
    for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = img.pixels[i * img.channels + img.channels - 1];
    return out;
}

Image mask_from_alpha(const Image& img) {
    Image m = alpha_as_mask(img);
    for (uint8_t& v : m.pixels) v = v < 128 ? 255 : 0;
    return m;
}

Image with_alpha(const Image& rgb, const Image& alpha_from) {
    check_image(rgb, "with_alpha");
    MOEBIUS_CHECK(rgb.channels == 3 && alpha_from.width == rgb.width && alpha_from.height == rgb.height,
                  ErrorKind::Invalid, "with_alpha: needs an RGB image and a same-size image with alpha");
    const Image a = alpha_as_mask(alpha_from);
    Image out(rgb.width, rgb.height, 4);
    for (size_t i = 0; i < a.pixels.size(); ++i) {
        for (int c = 0; c < 3; ++c) out.pixels[4 * i + c] = rgb.pixels[3 * i + c];
        out.pixels[4 * i + 3] = a.pixels[i];
    }
    return out;
}

#ifdef MOEBIUS_NO_IMAGE_CODECS
// The WebAssembly build has no codec libraries: the browser decodes and encodes images, and the
// engine takes and returns RGBA pixels (src/api/wasm_api.cpp).
Image decode_image(const uint8_t*, size_t, const std::string& what, size_t) {
    fail(ErrorKind::Image, what + ": this build has no image decoders (WebAssembly: pass decoded RGBA pixels)");
}

std::vector<uint8_t> encode_image(const Image&, ImageFormat, int) {
    fail(ErrorKind::Image, "this build has no image encoders (WebAssembly: the result is RGBA pixels)");
}
#endif

}  // namespace moebius
