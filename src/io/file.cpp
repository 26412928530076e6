#include "io/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "core/error.h"

namespace moebius {

std::vector<uint8_t> read_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    MOEBIUS_CHECK(f, ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
    std::vector<uint8_t> buf;
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
    const bool err = std::ferror(f);
    std::fclose(f);
    MOEBIUS_CHECK(!err, ErrorKind::Io, path + ": read error");
    return buf;
}

std::string read_text_file(const std::string& path) {
    std::vector<uint8_t> b = read_file(path);
    return std::string(b.begin(), b.end());
}

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
    tmp_ = path + ".tmp-" + std::to_string(::getpid());
    f_ = std::fopen(tmp_.c_str(), "wb");
    MOEBIUS_CHECK(f_, ErrorKind::Io, path + ": cannot write: " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
    if (f_) {
        std::fclose((FILE*)f_);
        std::remove(tmp_.c_str());
    }
}

void AtomicFile::write(const void* data, size_t size) {
    if (size && std::fwrite(data, 1, size, (FILE*)f_) != size)
        fail(ErrorKind::Io, path_ + ": write failed: " + std::strerror(errno));
}

void AtomicFile::commit() {
    const bool ok = std::fflush((FILE*)f_) == 0 && std::fclose((FILE*)f_) == 0;
    f_ = nullptr;
    if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp_.c_str());
        fail(ErrorKind::Io, path_ + ": write failed: " + why);
    }
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
    AtomicFile f(path);
    f.write(data, size);
    f.commit();
}

}  // namespace moebius
