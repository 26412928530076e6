// A small zip reader for torch.save archives (torch_zip.h): the same code natively and in the
// WebAssembly build, no zlib/libzip.
//
// What it reads (APPNOTE.TXT 6.3): the end-of-central-directory record (found from the end of the
// file, after an optional comment), the zip64 end record and locator when present (torch.save always
// writes them), the central directory with zip64 extra fields (sizes/offsets of 0xFFFFFFFF), local
// headers and data descriptors (flag bit 3: torch.save writes sizes and CRC after the data).
// Only STORED (uncompressed) entries can be read: torch.save writes nothing else. A compressed or
// encrypted entry is an error naming its method.
//
// Consistency, as libzip's ZIP_CHECKCONS: the directory must lie inside the file, each entry's
// local header must agree with its central entry (name, method, and CRC/sizes or its data
// descriptor), entry data may not run into the central directory, and every read checks CRC-32.
// Sizes from the directory are checked against the file size before anything is allocated, so a
// forged size cannot make us allocate more than the file holds.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace moebius {

// CRC-32 (ISO-HDLC, polynomial 0xEDB88320, as zip and zlib); `crc` continues a running value.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

struct ZipEntry {
    std::string name;
    uint16_t flags = 0, method = 0;  // method 0 = stored, 8 = deflate, ...
    uint32_t crc = 0;
    uint64_t size = 0, compressed_size = 0;
    uint64_t header_offset = 0;  // of the local header
};

class ZipReader {
public:
    // Reads the central directory of a file (ErrorKind::Io if it cannot be opened; ErrorKind::Model
    // naming the file if it is not a zip archive, truncated or corrupt).
    static ZipReader open(const std::string& path);
    // The same over bytes in memory, which must outlive the reader; `what` names them in errors.
    static ZipReader from_memory(const uint8_t* data, size_t size, const std::string& what);

    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;  // null if absent

    // The whole data of a stored entry, checked (local header, data descriptor, CRC-32). Entries
    // larger than max_bytes are refused before reading.
    std::vector<uint8_t> read(const ZipEntry& e, uint64_t max_bytes) const;

private:
    ZipReader() = default;
    void read_at(uint64_t offset, void* dst, uint64_t n, const char* part) const;
    void read_directory();
    uint64_t data_offset(const ZipEntry& e) const;  // checks the local header

    std::string what_;
    const uint8_t* mem_ = nullptr;
    std::shared_ptr<FILE> file_;
    uint64_t size_ = 0;
    uint64_t cd_offset_ = 0;  // entry data must end before the central directory
    std::vector<ZipEntry> entries_;
};

}  // namespace moebius
