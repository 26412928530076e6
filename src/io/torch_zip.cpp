#include "io/torch_zip.h"

#include <map>

#include "core/error.h"
#include "io/pickle.h"
#include "io/zip.h"

namespace moebius {
namespace {

constexpr uint64_t kMaxPickleBytes = uint64_t(1) << 30;  // the full model's data.pkl is ~0.2 MB

StateDict read_archive(const ZipReader& z, const std::string& what) {
    // Find <prefix>/data.pkl: exactly one, one folder deep.
    std::string prefix;
    int found = 0;
    for (const ZipEntry& e : z.entries()) {
        const size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            prefix = e.name.substr(0, slash + 1);
            ++found;
        }
    }
    MOEBIUS_CHECK(found == 1, ErrorKind::Model,
                  what + (found ? ": several data.pkl in the archive"
                                : ": no data.pkl in the zip archive (not a torch.save file)"));

    auto locate = [&](const std::string& name) { return z.find(prefix + name); };
    if (const ZipEntry* bo = locate("byteorder")) {
        std::vector<uint8_t> b = z.read(*bo, 64);
        const std::string order(b.begin(), b.end());
        MOEBIUS_CHECK(order == "little", ErrorKind::Model,
                      what + ": byteorder is '" + order + "'; only little-endian archives are supported");
    }

    const std::vector<uint8_t> pkl = z.read(*locate("data.pkl"), kMaxPickleBytes);
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
        const ZipEntry* at = locate("data/" + key);
        MOEBIUS_CHECK(at, ErrorKind::Model,
                      what + ": tensor " + first.name + ": storage " + entry + " is missing from the archive");
        std::vector<uint8_t> bytes = z.read(*at, need);
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

StateDict load_torch_bin(const std::string& path) { return read_archive(ZipReader::open(path), path); }

StateDict parse_torch_bin(const uint8_t* data, size_t size, const std::string& what) {
    return read_archive(ZipReader::from_memory(data, size, what), what);
}

}  // namespace moebius
