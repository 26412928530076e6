#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/file.h"

namespace moebius {
namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB (safetensors MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxDims = 16;

struct DTypeName {
    const char* name;
    DType dtype;
};
constexpr DTypeName kDTypes[] = {
    {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
    {"I64", DType::I64}, {"I32", DType::I32}, {"U8", DType::U8},     {"BOOL", DType::BOOL},
};

const char* st_name(DType t) {
    for (const DTypeName& d : kDTypes)
        if (d.dtype == t) return d.name;
    return "?";
}

uint64_t le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; --k) v = v << 8 | p[k];
    return v;
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, uint64_t data_size, const std::string& what) {
    auto bad = [&](const std::string& m) { fail(ErrorKind::Model, what + ": tensor " + name + ": " + m); };
    if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
        bad("header entry needs dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;
    const json& dt = j["dtype"];
    bool known = false;
    for (const DTypeName& d : kDTypes)
        if (dt.is_string() && dt.get<std::string>() == d.name) e.dtype = d.dtype, known = true;
    if (!known) bad("unsupported dtype " + dt.dump());

    const json& shape = j["shape"];
    if (!shape.is_array() || shape.size() > kMaxDims) bad("bad shape " + shape.dump());
    uint64_t n = 1;
    for (const json& d : shape) {
        if (!d.is_number_unsigned()) bad("bad shape " + shape.dump());
        const uint64_t v = d.get<uint64_t>();
        if (v && n > data_size / v) bad("shape " + shape.dump() + " does not fit in the file");
        n *= v;
        e.shape.push_back((int64_t)v);
    }
    const json& off = j["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        bad("bad data_offsets " + off.dump());
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end || e.end > data_size)
        bad("data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) +
            "] outside the data section of " + std::to_string(data_size) + " bytes (file truncated?)");
    const uint64_t nbytes = n * dtype_size(e.dtype);
    if (e.end - e.begin != nbytes)
        bad("holds " + std::to_string(e.end - e.begin) + " bytes, but " + st_name(e.dtype) + " " + shape_str(e.shape) +
            " needs " + std::to_string(nbytes));
    return e;
}

}  // namespace

uint64_t safetensors_header_end(const uint8_t* first8, uint64_t file_size, const std::string& what) {
    MOEBIUS_CHECK(file_size >= 8, ErrorKind::Model, what + ": too short to be a safetensors file");
    const uint64_t n = le64(first8);
    MOEBIUS_CHECK(n >= 2 && n <= kMaxHeaderBytes && n <= file_size - 8, ErrorKind::Model,
                  what + ": bad safetensors header length " + std::to_string(n) + " (file has " +
                      std::to_string(file_size) + " bytes)");
    return 8 + n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           const std::string& what) {
    MOEBIUS_CHECK(size >= 8 && size <= file_size, ErrorKind::Model, what + ": too short to be a safetensors file");
    const uint64_t end = safetensors_header_end(data, file_size, what);
    MOEBIUS_CHECK(size >= end, ErrorKind::Model, what + ": safetensors header is truncated");
    json h;
    try {
        h = json::parse(data + 8, data + end);
    } catch (const json::exception& e) {
        fail(ErrorKind::Model, what + ": safetensors header is not valid JSON: " + e.what());
    }
    MOEBIUS_CHECK(h.is_object(), ErrorKind::Model, what + ": safetensors header is not a JSON object");

    SafetensorsHeader out;
    out.data_start = end;
    const uint64_t data_size = file_size - end;
    for (const auto& [name, j] : h.items()) {
        if (name == "__metadata__") {
            MOEBIUS_CHECK(j.is_object(), ErrorKind::Model, what + ": __metadata__ is not an object");
            for (const auto& [k, v] : j.items()) {
                MOEBIUS_CHECK(v.is_string(), ErrorKind::Model,
                              what + ": __metadata__ value '" + k + "' is not a string");
                out.metadata[k] = v.get<std::string>();
            }
            continue;
        }
        out.tensors.push_back(parse_entry(name, j, data_size, what));
    }
    // As the reference reader requires: tensors tile the data section exactly, no overlap, no gap.
    std::sort(out.tensors.begin(), out.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t pos = 0;
    for (size_t i = 0; i < out.tensors.size(); ++i) {
        const SafetensorsEntry& e = out.tensors[i];
        MOEBIUS_CHECK(e.begin >= pos, ErrorKind::Model,
                      what + ": tensor " + e.name + " overlaps tensor " + out.tensors[i - 1].name);
        MOEBIUS_CHECK(
            e.begin == pos, ErrorKind::Model,
            what + ": tensor " + e.name + ": unused gap of " + std::to_string(e.begin - pos) + " bytes before it");
        pos = e.end;
    }
    MOEBIUS_CHECK(pos == data_size, ErrorKind::Model,
                  what + ": data section has " + std::to_string(data_size) + " bytes but the tensors cover " +
                      std::to_string(pos) + " (truncated or trailing data)");
    for (SafetensorsEntry& e : out.tensors) e.begin += end, e.end += end;
    return out;
}

StateDict parse_safetensors(const uint8_t* data, size_t size, const std::string& what, Metadata* metadata) {
    SafetensorsHeader h = parse_safetensors_header(data, size, size, what);
    StateDict sd;
    for (const SafetensorsEntry& e : h.tensors) {
        HostTensor& t = sd[e.name];
        t.dtype = e.dtype;
        t.shape = e.shape;
        t.bytes.assign(data + e.begin, data + e.end);
    }
    if (metadata) *metadata = std::move(h.metadata);
    return sd;
}

namespace {

// An open file with bounds-checked positioned reads.
struct Reader {
    std::string path;
    std::unique_ptr<FILE, int (*)(FILE*)> f{nullptr, &std::fclose};
    uint64_t size = 0;

    explicit Reader(const std::string& p) : path(p) {
        std::error_code ec;
        size = std::filesystem::file_size(path, ec);
        MOEBIUS_CHECK(!ec, ErrorKind::Io, path + ": cannot open: " + ec.message());
        f.reset(std::fopen(path.c_str(), "rb"));
        MOEBIUS_CHECK(f, ErrorKind::Io, path + ": cannot open: " + std::strerror(errno));
    }
    void read_at(uint64_t offset, void* dst, uint64_t n) {
        MOEBIUS_CHECK(fseeko(f.get(), (off_t)offset, SEEK_SET) == 0 && std::fread(dst, 1, n, f.get()) == n,
                      ErrorKind::Io, path + ": read error (file changed or truncated while reading?)");
    }
    SafetensorsHeader header() {
        uint8_t first8[8] = {};
        if (size >= 8) read_at(0, first8, 8);
        const uint64_t end = safetensors_header_end(first8, size, path);
        std::vector<uint8_t> head(end);
        read_at(0, head.data(), end);
        return parse_safetensors_header(head.data(), head.size(), size, path);
    }
};

}  // namespace

SafetensorsHeader read_safetensors_header(const std::string& path) { return Reader(path).header(); }

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
    Reader r(path);
    SafetensorsHeader h = r.header();
    StateDict sd;
    for (const SafetensorsEntry& e : h.tensors) {  // in file order: sequential reads
        HostTensor& t = sd[e.name];
        t.dtype = e.dtype;
        t.shape = e.shape;
        t.bytes.resize(e.end - e.begin);
        if (!t.bytes.empty()) r.read_at(e.begin, t.bytes.data(), t.bytes.size());
    }
    if (metadata) *metadata = std::move(h.metadata);
    return sd;
}

namespace {

// The layout save_safetensors documents: the tensors in write order and the header (8-byte length
// included, padded so the data section starts 8-byte aligned). `what` names the output in errors.
struct Layout {
    std::vector<const std::pair<const std::string, HostTensor>*> order;
    std::string head;
    uint64_t data_bytes = 0;
};

Layout layout(const StateDict& sd, const Metadata& metadata, const std::string& what) {
    Layout l;
    for (const auto& kv : sd) {
        const HostTensor& t = kv.second;
        MOEBIUS_CHECK(t.bytes.size() == (size_t)t.numel() * dtype_size(t.dtype), ErrorKind::Internal,
                      what + ": tensor " + kv.first + ": " + std::to_string(t.bytes.size()) + " bytes for " +
                          dtype_name(t.dtype) + " " + shape_str(t.shape));
        MOEBIUS_CHECK(kv.first != "__metadata__", ErrorKind::Invalid, what + ": a tensor cannot be named __metadata__");
        l.order.push_back(&kv);
    }
    // Larger elements first, then by name: each tensor starts on a multiple of its element size.
    std::stable_sort(l.order.begin(), l.order.end(),
                     [](auto* a, auto* b) { return dtype_size(a->second.dtype) > dtype_size(b->second.dtype); });

    json h = json::object();
    for (auto* kv : l.order) {
        const HostTensor& t = kv->second;
        h[kv->first] = {{"dtype", st_name(t.dtype)},
                        {"shape", t.shape},
                        {"data_offsets", {l.data_bytes, l.data_bytes + t.bytes.size()}}};
        l.data_bytes += t.bytes.size();
    }
    if (!metadata.empty()) h["__metadata__"] = metadata;
    std::string header = h.dump();
    header.append((8 - header.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
    for (int k = 0; k < 8; ++k) l.head.push_back((char)((uint64_t)header.size() >> (8 * k)));
    l.head += header;
    return l;
}

}  // namespace

void save_safetensors(const std::string& path, const StateDict& sd, const Metadata& metadata) {
    const Layout l = layout(sd, metadata, path);
    AtomicFile f(path);
    f.write(l.head.data(), l.head.size());
    for (auto* kv : l.order) f.write(kv->second.bytes.data(), kv->second.bytes.size());
    f.commit();
}

std::vector<uint8_t> serialize_safetensors(const StateDict& sd, const Metadata& metadata) {
    const Layout l = layout(sd, metadata, "safetensors");
    std::vector<uint8_t> out;
    out.reserve(l.head.size() + l.data_bytes);
    out.insert(out.end(), l.head.begin(), l.head.end());
    for (auto* kv : l.order) out.insert(out.end(), kv->second.bytes.begin(), kv->second.bytes.end());
    return out;
}

}  // namespace moebius
