#include "io/torch_zip.h"

#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "core/error.h"
#include "io/pickle.h"

namespace moebius {
namespace {

constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;  // the full model's data.pkl is ~0.2 MB
constexpr uint64_t kReadChunk = uint64_t(1) << 24;

// Owns an open archive.
struct Archive {
    zip_t* z = nullptr;
    ~Archive() {
        if (z) zip_discard(z);
    }
};

std::string open_error(int code) {
    if (code == ZIP_ER_NOZIP) return "not a zip archive (or truncated: no end-of-archive record)";
    if (code == ZIP_ER_INCONS) return "corrupt zip archive (inconsistent directory)";
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string msg = std::string("cannot read zip archive: ") + zip_error_strerror(&e);
    zip_error_fini(&e);
    return msg;
}

// Reads a whole entry (up to its end, so libzip verifies its CRC). The buffer grows only as data
// arrives, so a forged size in the zip directory cannot make us allocate more than the file holds.
std::vector<uint8_t> read_entry(zip_t* z, zip_int64_t idx, uint64_t max_bytes, const std::string& what,
                                const std::string& name) {
    zip_stat_t st;
    zip_stat_init(&st);
    MOEBIUS_CHECK(zip_stat_index(z, (zip_uint64_t)idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE), ErrorKind::Model,
                  what + ": cannot stat " + name + " in the archive: " + zip_strerror(z));
    MOEBIUS_CHECK(st.size <= max_bytes, ErrorKind::Model,
                  what + ": " + name + " is larger than expected (" + std::to_string(st.size) +
                      " bytes, expected at most " + std::to_string(max_bytes) + ")");
    zip_file_t* f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
    MOEBIUS_CHECK(f, ErrorKind::Model, what + ": cannot open " + name + " in the archive: " + zip_strerror(z));
    auto read_fail = [&](const std::string& why) {
        zip_fclose(f);
        fail(ErrorKind::Model, what + ": cannot read " + name + " (truncated or corrupt archive): " + why);
    };
    std::vector<uint8_t> buf;
    while (buf.size() < st.size) {
        const size_t old = buf.size();
        buf.resize(old + (size_t)std::min<uint64_t>(st.size - old, kReadChunk));
        const zip_int64_t got = zip_fread(f, buf.data() + old, buf.size() - old);
        if (got < 0) read_fail(zip_file_strerror(f));
        buf.resize(old + (size_t)got);
        if (got == 0) read_fail("ends early");
    }
    uint8_t extra;  // one more read reaches the end of the entry, where libzip checks the CRC
    const zip_int64_t got = zip_fread(f, &extra, 1);
    if (got < 0) read_fail(zip_file_strerror(f));
    if (got > 0) read_fail("longer than its directory entry says");
    zip_fclose(f);
    return buf;
}

StateDict read_archive(zip_t* z, const std::string& what) {
    // Find <prefix>/data.pkl: exactly one, one folder deep.
    std::string prefix;
    int found = 0;
    const zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
        const char* c = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!c) continue;
        const std::string name = c;
        const size_t slash = name.find('/');
        if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            prefix = name.substr(0, slash + 1);
            ++found;
        }
    }
    MOEBIUS_CHECK(found == 1, ErrorKind::Model,
                  what + (found ? ": several data.pkl in the archive"
                                : ": no data.pkl in the zip archive (not a torch.save file)"));

    auto locate = [&](const std::string& name) { return zip_name_locate(z, (prefix + name).c_str(), 0); };
    if (zip_int64_t bo = locate("byteorder"); bo >= 0) {
        std::vector<uint8_t> b = read_entry(z, bo, 64, what, prefix + "byteorder");
        const std::string order(b.begin(), b.end());
        MOEBIUS_CHECK(order == "little", ErrorKind::Model,
                      what + ": byteorder is '" + order + "'; only little-endian archives are supported");
    }

    const std::vector<uint8_t> pkl = read_entry(z, locate("data.pkl"), kMaxPickleBytes, what, prefix + "data.pkl");
    const std::vector<PickledTensor> tensors = parse_state_dict_pickle(pkl.data(), pkl.size(), what);

    // Read each storage once; tensors are slices of it (usually the whole of it).
    std::map<std::string, std::vector<size_t>> users;
    for (size_t i = 0; i < tensors.size(); ++i) users[tensors[i].storage_key].push_back(i);
    StateDict sd;
    for (const auto& [key, idx] : users) {
        const PickledTensor& first = tensors[idx[0]];
        const std::string entry = prefix + "data/" + key;
        const uint64_t es = dtype_size(first.dtype);
        const uint64_t need = (uint64_t)first.storage_numel * es;
        const zip_int64_t at = locate("data/" + key);
        MOEBIUS_CHECK(at >= 0, ErrorKind::Model,
                      what + ": tensor " + first.name + ": storage " + entry + " is missing from the archive");
        std::vector<uint8_t> bytes = read_entry(z, at, need, what, entry);
        MOEBIUS_CHECK(bytes.size() >= need, ErrorKind::Model,
                      what + ": tensor " + first.name + ": storage " + entry + " is too short (" +
                          std::to_string(bytes.size()) + " bytes, need " + std::to_string(need) + ")");
        for (size_t i : idx) {
            const PickledTensor& t = tensors[i];
            HostTensor h;
            h.dtype = t.dtype;
            h.shape = t.shape;
            const uint64_t begin = (uint64_t)t.offset * es, len = (uint64_t)numel(t.shape) * es;
            if (idx.size() == 1 && begin == 0 && len == bytes.size()) {
                h.bytes = std::move(bytes);
            } else {
                h.bytes.assign(bytes.begin() + (ptrdiff_t)begin, bytes.begin() + (ptrdiff_t)(begin + len));
            }
            sd[t.name] = std::move(h);
        }
    }
    return sd;
}

}  // namespace

StateDict load_torch_bin(const std::string& path) {
    int code = 0;
    Archive a;
    a.z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!a.z) {
        if (code == ZIP_ER_NOENT || code == ZIP_ER_OPEN || code == ZIP_ER_READ)
            fail(ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
        fail(ErrorKind::Model, path + ": " + open_error(code));
    }
    return read_archive(a.z, path);
}

StateDict parse_torch_bin(const uint8_t* data, size_t size, const std::string& what) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(data, size, 0, &err);
    if (!src) {
        zip_error_fini(&err);
        fail(ErrorKind::OutOfMemory, what + ": cannot wrap buffer");
    }
    Archive a;
    a.z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!a.z) {
        const int code = zip_error_code_zip(&err);
        zip_source_free(src);
        zip_error_fini(&err);
        fail(ErrorKind::Model, what + ": " + open_error(code));
    }
    zip_error_fini(&err);
    return read_archive(a.z, what);
}

}  // namespace moebius
