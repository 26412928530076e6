#include "io/npy.h"

#include <cstring>
#include <regex>

#include "core/error.h"
#include "io/file.h"

namespace moebius {

namespace {
DType dtype_from_descr(const std::string& d, const std::string& what) {
    static const std::pair<const char*, DType> table[] = {
        {"<f4", DType::F32}, {"<f2", DType::F16}, {"<f8", DType::F64}, {"<i8", DType::I64},
        {"<i4", DType::I32}, {"|u1", DType::U8},  {"|b1", DType::BOOL}};
    for (auto& [name, t] : table)
        if (d == name) return t;
    fail(ErrorKind::Invalid, what + ": unsupported .npy dtype '" + d + "'");
}
const char* descr_of(DType t) {
    switch (t) {
        case DType::F32: return "<f4";
        case DType::F16: return "<f2";
        case DType::F64: return "<f8";
        case DType::I64: return "<i8";
        case DType::I32: return "<i4";
        case DType::U8: return "|u1";
        case DType::BOOL: return "|b1";
        case DType::BF16: break;
    }
    fail(ErrorKind::Invalid, "bfloat16 cannot be stored in .npy");
}
}  // namespace

HostTensor parse_npy(const uint8_t* p, size_t size, const std::string& what) {
    MOEBIUS_CHECK(size >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0, ErrorKind::Invalid,
                  what + ": not a .npy file (bad magic)");
    const int major = p[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = p[8] | (size_t)p[9] << 8;
        off = 10;
    } else {
        MOEBIUS_CHECK(size >= 12, ErrorKind::Invalid, what + ": truncated .npy header");
        hlen = p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        off = 12;
    }
    MOEBIUS_CHECK(off + hlen <= size, ErrorKind::Invalid, what + ": truncated .npy header");
    const std::string header((const char*)p + off, hlen);
    std::smatch m;
    MOEBIUS_CHECK(std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")), ErrorKind::Invalid,
                  what + ": .npy header has no descr");
    HostTensor t;
    t.dtype = dtype_from_descr(m[1], what);
    MOEBIUS_CHECK(!std::regex_search(header, std::regex("'fortran_order':\\s*True")), ErrorKind::Invalid,
                  what + ": Fortran-ordered .npy is not supported");
    MOEBIUS_CHECK(std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), ErrorKind::Invalid,
                  what + ": .npy header has no shape");
    const std::string dims = m[1];
    const std::regex number("\\d+");
    for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
        t.shape.push_back(std::stoll(it->str()));
    const size_t nbytes = (size_t)t.numel() * dtype_size(t.dtype);
    MOEBIUS_CHECK(off + hlen + nbytes <= size, ErrorKind::Invalid,
                  what + ": truncated .npy data (expected " + std::to_string(nbytes) + " bytes)");
    t.bytes.assign(p + off + hlen, p + off + hlen + nbytes);
    return t;
}

HostTensor load_npy(const std::string& path) {
    std::vector<uint8_t> buf = read_file(path);
    return parse_npy(buf.data(), buf.size(), path);
}

void save_npy(const std::string& path, const HostTensor& t) {
    std::string shape = "(";
    for (size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : (i + 1 < t.shape.size() ? ", " : ""));
    shape += ")";
    std::string header = std::string("{'descr': '") + descr_of(t.dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(header.size() & 0xff),
                                (uint8_t)(header.size() >> 8)};
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    write_file_atomic(path, out.data(), out.size());
}

}  // namespace moebius
