// Test helper: writes zip archives of stored entries by hand (APPNOTE.TXT 6.3), in the variants
// the reader must accept — plain, torch.save style (data descriptors + zip64 end records), forced
// zip64 extra fields, an archive comment — and lets a test mark an entry as compressed. Independent
// of src/io/zip.cpp except for the CRC-32, which the reader's own test checks against known values.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/zip.h"

namespace moebius::test {

struct ZipWriteOptions {
    bool descriptor = false;    // flag bit 3: zero CRC/sizes in local headers, data descriptors after the data
    bool zip64_end = false;     // zip64 end record + locator (torch.save writes them always)
    bool zip64_extra = false;   // sizes/offsets as 0xFFFFFFFF + zip64 extra fields, in both headers
    uint16_t method = 0;        // stored in the headers of every entry (the data stays raw)
    std::string comment;        // archive comment after the end record
    size_t align = 0;           // pad local headers' extra field so data starts on this multiple (torch: 64)
};

inline std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries,
                            const ZipWriteOptions& o = {}) {
    std::string out, cd;
    auto put = [](std::string& s, uint64_t v, int bytes) {
        for (int k = 0; k < bytes; ++k) s.push_back((char)(v >> (8 * k)));
    };
    const uint32_t k32 = 0xffffffff;
    const uint16_t flags = o.descriptor ? 0x0808 : 0x0800;
    for (const auto& [name, data] : entries) {
        const uint32_t crc = crc32((const uint8_t*)data.data(), data.size());
        const uint64_t offset = out.size(), size = data.size();
        std::string local_extra;
        if (o.zip64_extra) {
            put(local_extra, 1, 2), put(local_extra, 16, 2), put(local_extra, size, 8), put(local_extra, size, 8);
        }
        if (o.align) {
            const size_t at = offset + 30 + name.size() + local_extra.size() + 4;
            const size_t pad = (o.align - at % o.align) % o.align;
            put(local_extra, 0x4246, 2), put(local_extra, pad, 2);  // "FB", as torch's writer
            local_extra.append(pad, 'Z');
        }
        put(out, 0x04034b50, 4), put(out, 20, 2), put(out, flags, 2), put(out, o.method, 2), put(out, 0, 4);
        const bool zero = o.descriptor;
        put(out, zero ? 0 : crc, 4);
        put(out, zero ? 0 : o.zip64_extra ? k32 : size, 4);
        put(out, zero ? 0 : o.zip64_extra ? k32 : size, 4);
        put(out, name.size(), 2), put(out, local_extra.size(), 2);
        out += name + local_extra + data;
        if (o.descriptor) {
            put(out, 0x08074b50, 4), put(out, crc, 4);
            put(out, size, o.zip64_extra ? 8 : 4), put(out, size, o.zip64_extra ? 8 : 4);
        }
        std::string extra;
        if (o.zip64_extra) put(extra, 1, 2), put(extra, 24, 2), put(extra, size, 8), put(extra, size, 8), put(extra, offset, 8);
        put(cd, 0x02014b50, 4), put(cd, 20, 2), put(cd, 20, 2), put(cd, flags, 2), put(cd, o.method, 2), put(cd, 0, 4);
        put(cd, crc, 4), put(cd, o.zip64_extra ? k32 : size, 4), put(cd, o.zip64_extra ? k32 : size, 4);
        put(cd, name.size(), 2), put(cd, extra.size(), 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 2), put(cd, 0, 4);
        put(cd, o.zip64_extra ? k32 : offset, 4);
        cd += name + extra;
    }
    const uint64_t cd_offset = out.size(), n = entries.size();
    out += cd;
    if (o.zip64_end) {
        const uint64_t end64 = out.size();
        put(out, 0x06064b50, 4), put(out, 44, 8), put(out, 45, 2), put(out, 45, 2), put(out, 0, 4), put(out, 0, 4);
        put(out, n, 8), put(out, n, 8), put(out, cd.size(), 8), put(out, cd_offset, 8);
        put(out, 0x07064b50, 4), put(out, 0, 4), put(out, end64, 8), put(out, 1, 4);
    }
    put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2), put(out, n, 2), put(out, n, 2);
    put(out, cd.size(), 4), put(out, o.zip64_extra ? k32 : cd_offset, 4), put(out, o.comment.size(), 2);
    out += o.comment;
    return out;
}

}  // namespace moebius::test
