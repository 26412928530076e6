// Image codecs on libpng, libjpeg(-turbo) and libwebp: decode_image / encode_image of image.h.
// Not part of the WebAssembly build (the browser decodes images; image.cpp says what it does instead).
//
// libpng and libjpeg report errors through callbacks that must not return; we longjmp back out of
// them. Every function that calls setjmp below holds only trivially destructible locals and calls
// no C++ code between setjmp and the library call that may jump, so no destructor is skipped; the
// C++ objects (pixel buffers, library state guards) live in the callers.
#include "io/image.h"

#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

// jpeglib.h needs size_t/FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "core/error.h"

namespace moebius {

namespace {

// Header dimensions are checked before any pixel memory is allocated.
void check_dimensions(uint64_t w, uint64_t h, size_t max_pixels, const std::string& what) {
    MOEBIUS_CHECK(w > 0 && h > 0, ErrorKind::Image, what + ": image has zero width or height");
    MOEBIUS_CHECK(w * h <= max_pixels, ErrorKind::Image,
                  what + ": " + std::to_string(w) + "x" + std::to_string(h) + " is too large (limit " +
                      std::to_string(max_pixels) + " pixels)");
}

// ---------------------------------------------------------------------------------------------
// PNG

struct PngIo {
    const uint8_t* data = nullptr;
    size_t size = 0, pos = 0;
    std::vector<uint8_t>* out = nullptr;  // when writing
    char msg[256] = {};
};

void png_error_cb(png_structp png, png_const_charp msg) {
    PngIo* io = (PngIo*)png_get_error_ptr(png);
    std::snprintf(io->msg, sizeof io->msg, "%s", msg);
    png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep out, size_t n) {
    PngIo* io = (PngIo*)png_get_io_ptr(png);
    if (n > io->size - io->pos) png_error(png, "unexpected end of data (truncated file)");
    std::memcpy(out, io->data + io->pos, n);
    io->pos += n;
}

void png_write_cb(png_structp png, png_bytep data, size_t n) {
    PngIo* io = (PngIo*)png_get_io_ptr(png);
    bool ok = true;
    try {
        io->out->insert(io->out->end(), data, data + n);
    } catch (...) {
        ok = false;
    }
    if (!ok) png_error(png, "out of memory");
}

void png_flush_cb(png_structp) {}

struct PngReadGuard {
    png_structp png = nullptr;
    png_infop info = nullptr;
    ~PngReadGuard() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

struct PngHeader {
    png_uint_32 width = 0, height = 0;
};

// Reads the chunks up to the image data and the dimensions. No pixel memory yet.
bool png_read_header(png_structp png, png_infop info, PngHeader* h) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    h->width = png_get_image_width(png, info);
    h->height = png_get_image_height(png, info);
    return true;
}

// Everything to 8 bits per sample, palette to RGB, tRNS to an alpha channel. 16-bit samples keep
// their high byte (png_set_strip_16), as PIL's "RGB;16B"/"RGBA;16B"/"LA;16B" unpackers do. (PIL
// reads 16-bit gray as mode "I;16", whose conversion to L clips at 255; we keep the high byte.)
// No gamma or colour management: PIL ignores gAMA/iCCP for pixel values too.
bool png_setup_transforms(png_structp png, png_infop info, int* channels) {
    if (setjmp(png_jmpbuf(png))) return false;
    const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    *channels = png_get_channels(png, info);
    return true;
}

bool png_read_pixels(png_structp png, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    return true;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& what, size_t max_pixels) {
    // IHDR must be the first chunk: check its dimensions before libpng reads anything else.
    static const uint8_t kIhdr[8] = {0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    if (size >= 24 && std::memcmp(data + 8, kIhdr, 8) == 0) {
        const auto be32 = [](const uint8_t* p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; };
        check_dimensions(be32(data + 16), be32(data + 20), max_pixels, what);
    }
    PngIo io;
    io.data = data;
    io.size = size;
    PngReadGuard g;
    g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_error_cb, png_warning_cb);
    MOEBIUS_CHECK(g.png, ErrorKind::OutOfMemory, what + ": cannot create PNG decoder");
    g.info = png_create_info_struct(g.png);
    MOEBIUS_CHECK(g.info, ErrorKind::OutOfMemory, what + ": cannot create PNG decoder");
    png_set_read_fn(g.png, &io, png_read_cb);
    // Our own pixel limit decides; lift libpng's 1e6 x 1e6 default so its message doesn't preempt ours.
    png_set_user_limits(g.png, 0x7fffffff, 0x7fffffff);

    const auto bad = [&] { return Error(ErrorKind::Image, what + ": invalid or truncated PNG: " + io.msg); };
    PngHeader h;
    if (!png_read_header(g.png, g.info, &h)) throw bad();
    check_dimensions(h.width, h.height, max_pixels, what);
    int channels = 0;
    if (!png_setup_transforms(g.png, g.info, &channels)) throw bad();
    MOEBIUS_CHECK(channels >= 1 && channels <= 4, ErrorKind::Image,
                  what + ": unsupported PNG layout (" + std::to_string(channels) + " channels)");

    Image img((int)h.width, (int)h.height, channels);
    std::vector<png_bytep> rows(h.height);
    for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = img.pixels.data() + img.index(0, (int)y);
    if (!png_read_pixels(g.png, rows.data())) throw bad();
    return img;
}

struct PngWriteGuard {
    png_structp png = nullptr;
    png_infop info = nullptr;
    ~PngWriteGuard() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

bool png_write_all(png_structp png, png_infop info, const Image* img, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    static const int kColorType[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                      PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, kColorType[img->channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);  // zlib's default, as PIL's compress_level
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, nullptr);
    return true;
}

std::vector<uint8_t> encode_png(const Image& img) {
    std::vector<uint8_t> out;
    PngIo io;
    io.out = &out;
    PngWriteGuard g;
    g.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_error_cb, png_warning_cb);
    MOEBIUS_CHECK(g.png, ErrorKind::OutOfMemory, "cannot create PNG encoder");
    g.info = png_create_info_struct(g.png);
    MOEBIUS_CHECK(g.info, ErrorKind::OutOfMemory, "cannot create PNG encoder");
    png_set_write_fn(g.png, &io, png_write_cb, png_flush_cb);
    std::vector<png_bytep> rows(img.height);
    for (int y = 0; y < img.height; ++y) rows[y] = (png_bytep)img.pixels.data() + img.index(0, y);
    if (!png_write_all(g.png, g.info, &img, rows.data()))
        fail(ErrorKind::Image, std::string("PNG encoding failed: ") + io.msg);
    return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG

struct JpegErr {
    jpeg_error_mgr mgr;
    std::jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_error_exit_cb(j_common_ptr c) {
    JpegErr* e = (JpegErr*)c->err;
    c->err->format_message(c, e->msg);
    std::longjmp(e->jmp, 1);
}

// Warnings are ignored (PIL ignores them too), except running out of data: libjpeg would pad the
// image with gray, PIL raises "image file is truncated". We fail.
void jpeg_emit_cb(j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        JpegErr* e = (JpegErr*)c->err;
        std::snprintf(e->msg, sizeof e->msg, "unexpected end of data (truncated file)");
        std::longjmp(e->jmp, 1);
    }
}

struct JpegDecoder {
    jpeg_decompress_struct cinfo;
    JpegErr err;
    JpegDecoder() {
        std::memset(&cinfo, 0, sizeof cinfo);
        std::memset(&err, 0, sizeof err);
        cinfo.err = jpeg_std_error(&err.mgr);
        err.mgr.error_exit = jpeg_error_exit_cb;
        err.mgr.emit_message = jpeg_emit_cb;
    }
    ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }
};

bool jpeg_read_header_safe(JpegDecoder* d, const uint8_t* data, size_t size) {
    if (setjmp(d->err.jmp)) return false;
    jpeg_create_decompress(&d->cinfo);
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_read_header(&d->cinfo, TRUE);
    return true;
}

bool jpeg_start_safe(JpegDecoder* d) {
    if (setjmp(d->err.jmp)) return false;
    switch (d->cinfo.jpeg_color_space) {
        case JCS_GRAYSCALE:
            d->cinfo.out_color_space = JCS_GRAYSCALE;
            break;
        case JCS_CMYK:
        case JCS_YCCK:
            d->cinfo.out_color_space = JCS_CMYK;
            break;
        default:
            d->cinfo.out_color_space = JCS_RGB;
            break;
    }
    jpeg_start_decompress(&d->cinfo);
    return true;
}

bool jpeg_read_rows_safe(JpegDecoder* d, uint8_t* pixels, size_t stride) {
    if (setjmp(d->err.jmp)) return false;
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = pixels + d->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&d->cinfo, &row, 1);
    }
    return true;
}

// PIL reads CMYK JPEGs as "CMYK;I" (Adobe polarity: stored inverted), then convert('RGB') applies
// cmyk2rgb: nk = 255 - k; out = nk - MULDIV255(c, nk) (libImaging/Convert.c).
Image cmyk_to_rgb(const std::vector<uint8_t>& raw, int w, int h) {
    Image out(w, h, 3);
    const auto muldiv255 = [](int a, int b) {
        const int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    };
    for (size_t i = 0; i < (size_t)w * h; ++i) {
        const int k = 255 - raw[4 * i + 3], nk = 255 - k;
        for (int c = 0; c < 3; ++c)
            out.pixels[3 * i + c] = (uint8_t)std::clamp(nk - muldiv255(255 - raw[4 * i + c], nk), 0, 255);
    }
    return out;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& what, size_t max_pixels) {
    JpegDecoder d;
    const auto bad = [&] { return Error(ErrorKind::Image, what + ": invalid or truncated JPEG: " + d.err.msg); };
    if (!jpeg_read_header_safe(&d, data, size)) throw bad();
    check_dimensions(d.cinfo.image_width, d.cinfo.image_height, max_pixels, what);
    if (!jpeg_start_safe(&d)) throw bad();
    const int w = (int)d.cinfo.output_width, h = (int)d.cinfo.output_height, c = d.cinfo.output_components;
    MOEBIUS_CHECK(c == 1 || c == 3 || c == 4, ErrorKind::Image,
                  what + ": unsupported JPEG layout (" + std::to_string(c) + " components)");
    Image img(w, h, c);
    if (!jpeg_read_rows_safe(&d, img.pixels.data(), (size_t)w * c)) throw bad();
    return c == 4 ? cmyk_to_rgb(img.pixels, w, h) : img;
}

struct JpegEncoder {
    jpeg_compress_struct cinfo;
    JpegErr err;
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    JpegEncoder() {
        std::memset(&cinfo, 0, sizeof cinfo);
        std::memset(&err, 0, sizeof err);
        cinfo.err = jpeg_std_error(&err.mgr);
        err.mgr.error_exit = jpeg_error_exit_cb;
    }
    ~JpegEncoder() {
        jpeg_destroy_compress(&cinfo);
        std::free(buf);
    }
};

bool jpeg_encode_safe(JpegEncoder* e, const uint8_t* pixels, int w, int h, int c, int quality) {
    if (setjmp(e->err.jmp)) return false;
    jpeg_create_compress(&e->cinfo);
    jpeg_mem_dest(&e->cinfo, &e->buf, &e->size);
    e->cinfo.image_width = (JDIMENSION)w;
    e->cinfo.image_height = (JDIMENSION)h;
    e->cinfo.input_components = c;
    e->cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&e->cinfo);  // 4:2:0 chroma subsampling, as PIL's default
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)e->cinfo.next_scanline * w * c;
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    return true;
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
    const Image src = img.channels == 1 || img.channels == 3 ? img : img.channels == 2 ? to_gray(img) : to_rgb(img);
    JpegEncoder e;
    if (!jpeg_encode_safe(&e, src.pixels.data(), src.width, src.height, src.channels, quality))
        fail(ErrorKind::Image, std::string("JPEG encoding failed: ") + e.err.msg);
    return std::vector<uint8_t>(e.buf, e.buf + e.size);
}

// ---------------------------------------------------------------------------------------------
// WebP

Image decode_webp(const uint8_t* data, size_t size, const std::string& what, size_t max_pixels) {
    WebPBitstreamFeatures f;
    MOEBIUS_CHECK(WebPGetFeatures(data, size, &f) == VP8_STATUS_OK, ErrorKind::Image,
                  what + ": invalid or truncated WebP");
    MOEBIUS_CHECK(!f.has_animation, ErrorKind::Image, what + ": animated WebP is not supported");
    check_dimensions((uint64_t)f.width, (uint64_t)f.height, max_pixels, what);
    Image img(f.width, f.height, f.has_alpha ? 4 : 3);
    const int stride = f.width * img.channels;
    const uint8_t* ok = f.has_alpha ? WebPDecodeRGBAInto(data, size, img.pixels.data(), img.pixels.size(), stride)
                                    : WebPDecodeRGBInto(data, size, img.pixels.data(), img.pixels.size(), stride);
    MOEBIUS_CHECK(ok, ErrorKind::Image, what + ": invalid or truncated WebP");
    return img;
}

// Quality 100: lossless, and `exact` so that colours under fully transparent pixels survive too.
std::vector<uint8_t> encode_webp_lossless(const Image& src) {
    WebPConfig config;
    WebPPicture pic;
    MOEBIUS_CHECK(WebPConfigInit(&config) && WebPPictureInit(&pic), ErrorKind::Internal, "libwebp version mismatch");
    config.lossless = 1;
    config.exact = 1;
    pic.use_argb = 1;
    pic.width = src.width;
    pic.height = src.height;
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &writer;
    const int stride = src.width * src.channels;
    const bool ok = (src.channels == 4 ? WebPPictureImportRGBA(&pic, src.pixels.data(), stride)
                                       : WebPPictureImportRGB(&pic, src.pixels.data(), stride)) &&
                    WebPEncode(&config, &pic);
    const int err = pic.error_code;
    WebPPictureFree(&pic);
    std::vector<uint8_t> out(writer.mem, writer.mem + writer.size);
    WebPMemoryWriterClear(&writer);
    MOEBIUS_CHECK(ok, ErrorKind::Image,
                  "WebP encoding failed (error " + std::to_string(err) + ", " + std::to_string(src.width) + "x" +
                      std::to_string(src.height) + "; WebP allows at most 16383x16383)");
    return out;
}

std::vector<uint8_t> encode_webp(const Image& img, int quality) {
    const Image src = img.channels == 3 || img.channels == 4 ? img
                      : img.channels == 2                    ? with_alpha(to_rgb(img), img)
                                                             : to_rgb(img);
    if (quality >= 100) return encode_webp_lossless(src);
    uint8_t* buf = nullptr;
    const int stride = src.width * src.channels;
    const size_t n = src.channels == 4
                         ? WebPEncodeRGBA(src.pixels.data(), src.width, src.height, stride, (float)quality, &buf)
                         : WebPEncodeRGB(src.pixels.data(), src.width, src.height, stride, (float)quality, &buf);
    std::unique_ptr<uint8_t, void (*)(void*)> hold(buf, WebPFree);
    MOEBIUS_CHECK(n > 0 && buf, ErrorKind::Image,
                  "WebP encoding failed (" + std::to_string(src.width) + "x" + std::to_string(src.height) +
                      "; WebP allows at most 16383x16383)");
    return std::vector<uint8_t>(buf, buf + n);
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& what, size_t max_pixels) {
    MOEBIUS_CHECK(size > 0, ErrorKind::Image, what + ": empty file");
    static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return decode_png(data, size, what, max_pixels);
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, size, what, max_pixels);
    if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0)
        return decode_webp(data, size, what, max_pixels);
    fail(ErrorKind::Image, what + ": not a PNG, JPEG or WebP image");
}

std::vector<uint8_t> encode_image(const Image& img, ImageFormat fmt, int quality) {
    check_image(img, "encode_image");
    MOEBIUS_CHECK(quality >= 1 && quality <= 100, ErrorKind::Invalid,
                  "image quality must be in 1..100, got " + std::to_string(quality));
    switch (fmt) {
        case ImageFormat::Png:
            return encode_png(img);
        case ImageFormat::Jpeg:
            return encode_jpeg(img, quality);
        case ImageFormat::Webp:
            return encode_webp(img, quality);
    }
    fail(ErrorKind::Internal, "encode_image: bad format");
}

}  // namespace moebius
