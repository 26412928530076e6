#include "io/zip.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace moebius {
namespace {

// Record signatures and sizes (APPNOTE.TXT 4.3).
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50, kDescriptorSig = 0x08074b50;
constexpr uint64_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kLocator64Size = 20, kEnd64Size = 56;
constexpr uint64_t kMaxComment = 0xffff;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kFlagEncrypted = 0x0001, kFlagDescriptor = 0x0008;
constexpr uint32_t k32 = 0xffffffff;  // "see the zip64 record"
constexpr uint64_t kReadChunk = uint64_t(1) << 24;

// CRC-32 tables for slicing-by-8: table[0] is the classic byte table, table[k][b] advances the
// CRC of byte b by k more zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> make_crc_tables() {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b)
        for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
    return t;
}
constexpr auto kCrc = make_crc_tables();

uint16_t u16(const uint8_t* p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t u32(const uint8_t* p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
uint64_t u64(const uint8_t* p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

std::string hex32(uint32_t v) {
    char b[11];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

// The zip64 extra field (id 1) holds, in this order, each of size, compressed size and offset whose
// 32-bit field is 0xFFFFFFFF (APPNOTE 4.5.3). Returns false if one that is needed is absent.
bool apply_zip64_extra(const uint8_t* extra, size_t n, uint64_t* size, uint64_t* csize, uint64_t* offset) {
    bool need[3] = {size && *size == k32, csize && *csize == k32, offset && *offset == k32};
    for (size_t pos = 0; pos + 4 <= n;) {
        const uint16_t id = u16(extra + pos), len = u16(extra + pos + 2);
        if (pos + 4 + len > n) break;
        if (id == kZip64ExtraId) {
            const uint8_t* q = extra + pos + 4;
            uint64_t* fields[3] = {size, csize, offset};
            size_t used = 0;
            for (int k = 0; k < 3; ++k) {
                if (!need[k]) continue;
                if (used + 8 > len) return false;
                *fields[k] = u64(q + used);
                used += 8;
                need[k] = false;
            }
        }
        pos += 4 + (size_t)len;
    }
    return !need[0] && !need[1] && !need[2];
}

}  // namespace

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc) {
    uint32_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        const uint32_t lo = c ^ u32(p), hi = u32(p + 4);
        c = kCrc[7][lo & 0xff] ^ kCrc[6][(lo >> 8) & 0xff] ^ kCrc[5][(lo >> 16) & 0xff] ^ kCrc[4][lo >> 24] ^
            kCrc[3][hi & 0xff] ^ kCrc[2][(hi >> 8) & 0xff] ^ kCrc[1][(hi >> 16) & 0xff] ^ kCrc[0][hi >> 24];
    }
    for (; n > 0; --n, ++p) c = kCrc[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return ~c;
}

ZipReader ZipReader::open(const std::string& path) {
    ZipReader z;
    z.what_ = path;
    std::error_code ec;
    z.size_ = std::filesystem::file_size(path, ec);
    MOEBIUS_CHECK(!ec, ErrorKind::Io, path + ": cannot open: " + ec.message());
    FILE* f = std::fopen(path.c_str(), "rb");
    MOEBIUS_CHECK(f, ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
    z.file_.reset(f, &std::fclose);
    z.read_directory();
    return z;
}

ZipReader ZipReader::from_memory(const uint8_t* data, size_t size, const std::string& what) {
    ZipReader z;
    z.what_ = what;
    z.mem_ = data;
    z.size_ = size;
    z.read_directory();
    return z;
}

void ZipReader::read_at(uint64_t offset, void* dst, uint64_t n, const char* part) const {
    MOEBIUS_CHECK(offset <= size_ && n <= size_ - offset, ErrorKind::Model,
                  what_ + ": truncated or corrupt zip archive (" + part + " at offset " + std::to_string(offset) +
                      " runs past the end of the file)");
    if (n == 0) return;
    if (mem_) {
        std::memcpy(dst, mem_ + offset, (size_t)n);
        return;
    }
    FILE* f = file_.get();
    MOEBIUS_CHECK(fseeko(f, (off_t)offset, SEEK_SET) == 0 && std::fread(dst, 1, (size_t)n, f) == n, ErrorKind::Io,
                  what_ + ": read error (file changed or truncated while reading?)");
}

void ZipReader::read_directory() {
    auto corrupt = [&](const std::string& why) { fail(ErrorKind::Model, what_ + ": corrupt zip archive (" + why + ")"); };

    // End-of-central-directory record: the last 22 bytes, unless a comment follows it. The record
    // whose comment length reaches exactly to the end of the file is the one.
    const uint64_t tail_len = std::min(size_, kEndSize + kMaxComment);
    std::vector<uint8_t> tail(tail_len);
    read_at(size_ - tail_len, tail.data(), tail_len, "end record");
    int64_t at = -1;
    for (int64_t p = (int64_t)tail_len - (int64_t)kEndSize; p >= 0; --p) {
        const uint8_t* q = tail.data() + p;
        if (u32(q) == kEndSig && (uint64_t)p + kEndSize + u16(q + 20) == tail_len) {
            at = p;
            break;
        }
    }
    MOEBIUS_CHECK(at >= 0, ErrorKind::Model,
                  what_ + ": not a zip archive (or truncated: no end-of-central-directory record)");
    const uint8_t* e = tail.data() + at;
    const uint64_t end_pos = size_ - tail_len + (uint64_t)at;
    uint64_t disk = u16(e + 4), cd_disk = u16(e + 6), n_disk = u16(e + 8), n_total = u16(e + 10);
    uint64_t cd_size = u32(e + 12), cd_offset = u32(e + 16);
    uint64_t cd_end = end_pos;

    // zip64: a locator right before the end record points at the zip64 end record, whose 64-bit
    // fields replace the 16/32-bit ones (those that are not 0xFFFF/0xFFFFFFFF must agree with them).
    if (end_pos >= kLocator64Size) {
        uint8_t loc[kLocator64Size];
        read_at(end_pos - kLocator64Size, loc, kLocator64Size, "zip64 locator");
        if (u32(loc) == kLocator64Sig) {
            const uint64_t end64 = u64(loc + 8);
            if (u32(loc + 4) != 0 || u32(loc + 16) != 1) corrupt("multi-disk zip64 locator");
            if (end64 > end_pos - kLocator64Size || end_pos - kLocator64Size - end64 < kEnd64Size)
                corrupt("zip64 end record offset " + std::to_string(end64) + " is out of place");
            uint8_t r[kEnd64Size];
            read_at(end64, r, kEnd64Size, "zip64 end record");
            if (u32(r) != kEnd64Sig) corrupt("no zip64 end record where the locator points");
            if (12 + u64(r + 4) != end_pos - kLocator64Size - end64)
                corrupt("zip64 end record size does not match its place");
            const uint64_t v[6] = {u32(r + 16), u32(r + 20), u64(r + 24), u64(r + 32), u64(r + 40), u64(r + 48)};
            uint64_t* f[6] = {&disk, &cd_disk, &n_disk, &n_total, &cd_size, &cd_offset};
            const uint64_t sentinel[6] = {0xffff, 0xffff, 0xffff, 0xffff, k32, k32};
            for (int k = 0; k < 6; ++k) {
                if (*f[k] != sentinel[k] && *f[k] != v[k])
                    corrupt("end record and zip64 end record disagree");
                *f[k] = v[k];
            }
            cd_end = end64;
        }
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n_total) corrupt("multi-disk archives are not supported");
    if (cd_offset > cd_end || cd_size != cd_end - cd_offset)
        corrupt("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
                " bytes) does not end where the end record begins (" + std::to_string(cd_end) + ")");
    if (n_total > cd_size / kCentralSize) corrupt(std::to_string(n_total) + " entries cannot fit the central directory");
    cd_offset_ = cd_offset;

    std::vector<uint8_t> cd(cd_size);
    read_at(cd_offset, cd.data(), cd_size, "central directory");
    entries_.reserve(n_total);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n_total; ++i) {
        const std::string where = "central directory entry " + std::to_string(i);
        if (cd_size - pos < kCentralSize || u32(cd.data() + pos) != kCentralSig) corrupt("bad " + where);
        const uint8_t* c = cd.data() + pos;
        const uint64_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
        if (cd_size - pos - kCentralSize < name_len + extra_len + comment_len) corrupt(where + " runs past the directory");
        ZipEntry z;
        z.flags = u16(c + 8);
        z.method = u16(c + 10);
        z.crc = u32(c + 16);
        z.compressed_size = u32(c + 20);
        z.size = u32(c + 24);
        z.header_offset = u32(c + 42);
        z.name.assign((const char*)c + kCentralSize, name_len);
        if (u16(c + 34) != 0 && u16(c + 34) != 0xffff) corrupt(z.name + " starts on another disk");
        if (!apply_zip64_extra(c + kCentralSize + name_len, extra_len, &z.size, &z.compressed_size, &z.header_offset))
            corrupt(z.name + ": zip64 extra field missing or short");
        if (z.header_offset > cd_offset || cd_offset - z.header_offset < kLocalSize ||
            z.compressed_size > cd_offset - z.header_offset - kLocalSize)
            corrupt(z.name + ": entry (offset " + std::to_string(z.header_offset) + ", " +
                    std::to_string(z.compressed_size) + " bytes) runs into the central directory");
        entries_.push_back(std::move(z));
        pos += kCentralSize + name_len + extra_len + comment_len;
    }
    if (pos != cd_size) corrupt("central directory has " + std::to_string(cd_size - pos) + " stray bytes");
}

const ZipEntry* ZipReader::find(const std::string& name) const {
    for (const ZipEntry& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

uint64_t ZipReader::data_offset(const ZipEntry& e) const {
    auto corrupt = [&](const std::string& why) {
        fail(ErrorKind::Model, what_ + ": corrupt zip archive (" + e.name + ": " + why + ")");
    };
    uint8_t h[kLocalSize];
    read_at(e.header_offset, h, kLocalSize, "local header");
    if (u32(h) != kLocalSig) corrupt("no local header at offset " + std::to_string(e.header_offset));
    const uint64_t name_len = u16(h + 26), extra_len = u16(h + 28);
    std::vector<uint8_t> var(name_len + extra_len);
    read_at(e.header_offset + kLocalSize, var.data(), var.size(), "local header");
    if (std::string((const char*)var.data(), name_len) != e.name) corrupt("local header names another entry");
    if (u16(h + 6) != e.flags || u16(h + 8) != e.method) corrupt("local header disagrees with the central directory");
    // With a data descriptor (flag bit 3) the local CRC and sizes may be zero; read() checks the descriptor.
    uint32_t crc = u32(h + 14);
    uint64_t csize = u32(h + 18), size = u32(h + 22);
    const bool zeros = crc == 0 && csize == 0 && size == 0;
    if (!((e.flags & kFlagDescriptor) && zeros)) {
        if (!apply_zip64_extra(var.data() + name_len, extra_len, &size, &csize, nullptr) || crc != e.crc ||
            csize != e.compressed_size || size != e.size)
            corrupt("local header CRC/sizes disagree with the central directory");
    }
    const uint64_t start = e.header_offset + kLocalSize + name_len + extra_len;
    if (start > cd_offset_ || e.compressed_size > cd_offset_ - start)
        fail(ErrorKind::Model, what_ + ": truncated or corrupt zip archive (" + e.name +
                                   " runs into the central directory)");
    return start;
}

std::vector<uint8_t> ZipReader::read(const ZipEntry& e, uint64_t max_bytes) const {
    MOEBIUS_CHECK(!(e.flags & kFlagEncrypted), ErrorKind::Model, what_ + ": " + e.name + " is encrypted");
    MOEBIUS_CHECK(e.method == 0, ErrorKind::Model,
                  what_ + ": " + e.name + " is compressed (zip method " + std::to_string(e.method) +
                      (e.method == 8 ? ", deflate" : "") +
                      "); only stored entries can be read (torch.save writes them uncompressed)");
    MOEBIUS_CHECK(e.size == e.compressed_size, ErrorKind::Model,
                  what_ + ": corrupt zip archive (" + e.name + ": stored entry with size " + std::to_string(e.size) +
                      " != compressed size " + std::to_string(e.compressed_size) + ")");
    MOEBIUS_CHECK(e.size <= max_bytes, ErrorKind::Model,
                  what_ + ": " + e.name + " is larger than expected (" + std::to_string(e.size) +
                      " bytes, expected at most " + std::to_string(max_bytes) + ")");
    const uint64_t start = data_offset(e);
    std::vector<uint8_t> buf((size_t)e.size);  // e.size <= the file size: checked by data_offset
    uint32_t crc = 0;
    for (uint64_t done = 0; done < e.size;) {
        const uint64_t n = std::min(kReadChunk, e.size - done);
        read_at(start + done, buf.data() + done, n, "entry data");
        crc = crc32(buf.data() + done, (size_t)n, crc);
        done += n;
    }
    MOEBIUS_CHECK(crc == e.crc, ErrorKind::Model,
                  what_ + ": corrupt zip archive (CRC mismatch in " + e.name + ": directory says " + hex32(e.crc) +
                      ", data has " + hex32(crc) + ")");
    if (e.flags & kFlagDescriptor) {
        // Data descriptor: [signature] CRC, compressed size, size; sizes are 8 bytes in zip64 entries.
        uint8_t d[24] = {};
        const uint64_t at = start + e.size;
        read_at(at, d, std::min<uint64_t>(sizeof d, cd_offset_ - at), "data descriptor");
        const uint8_t* q = u32(d) == kDescriptorSig ? d + 4 : d;
        const bool ok32 = u32(q) == e.crc && u32(q + 4) == e.compressed_size && u32(q + 8) == e.size;
        const bool ok64 = u32(q) == e.crc && u64(q + 4) == e.compressed_size && u64(q + 12) == e.size;
        MOEBIUS_CHECK(ok32 || ok64, ErrorKind::Model,
                      what_ + ": corrupt zip archive (" + e.name + ": data descriptor disagrees with the directory)");
    }
    return buf;
}

}  // namespace moebius
