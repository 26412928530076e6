// Whole-file reads and atomic writes (temp file in the same folder + rename), so a failed or
// interrupted write never leaves a partial output file behind.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moebius {

std::vector<uint8_t> read_file(const std::string& path);
std::string read_text_file(const std::string& path);
void write_file_atomic(const std::string& path, const void* data, size_t size);

// Streams pieces into a temp file next to `path`; commit() renames it into place, the destructor
// removes it if commit() was never reached.
class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    void write(const void* data, size_t size);
    void commit();

private:
    std::string path_, tmp_;
    void* f_ = nullptr;  // FILE*
};

}  // namespace moebius
