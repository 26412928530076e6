#include "io/state_dict.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"

namespace moebius {

void check_state_dict(const StateDict& sd, const std::vector<ParamSpec>& table, const std::string& what) {
    std::vector<std::string> missing, unexpected, misshaped;
    std::set<std::string> known;
    for (const ParamSpec& p : table) {
        known.insert(p.name);
        auto it = sd.find(p.name);
        if (it == sd.end()) {
            missing.push_back(p.name);
        } else if (it->second.shape != p.shape) {
            misshaped.push_back(p.name + ": expected " + shape_str(p.shape) + ", got " + shape_str(it->second.shape));
        }
    }
    for (const auto& [name, t] : sd)
        if (!known.count(name)) unexpected.push_back(name);
    if (missing.empty() && unexpected.empty() && misshaped.empty()) return;

    std::string msg = what + ": weights do not match the model";
    auto list = [&](const char* title, const std::vector<std::string>& v) {
        if (v.empty()) return;
        msg += std::string("\n  ") + title + " (" + std::to_string(v.size()) + "):";
        for (size_t i = 0; i < v.size() && i < 20; ++i) msg += "\n    " + v[i];
        if (v.size() > 20) msg += "\n    ... and " + std::to_string(v.size() - 20) + " more";
    };
    list("wrong shape", misshaped);
    list("missing", missing);
    list("unexpected", unexpected);
    fail(ErrorKind::Model, msg);
}

uint64_t fnv1a64(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char b : s) {
        h ^= b;
        h *= 0x100000001b3ull;
    }
    return h;
}

namespace {
bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
}  // namespace

HostTensor synth_tensor(const ParamSpec& spec, uint64_t seed) {
    HostTensor t;
    t.shape = spec.shape;
    t.dtype = spec.dtype == DType::I64 ? DType::I64 : DType::F32;
    const int64_t n = t.numel();
    t.bytes.assign((size_t)n * dtype_size(t.dtype), 0);
    if (t.dtype == DType::I64) return t;  // num_batches_tracked: 0

    const uint64_t h = fnv1a64(spec.name);
    int64_t fan_in = 1;
    for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    const double scale = std::sqrt(3.0 / (double)fan_in);
    float* out = reinterpret_cast<float*>(t.bytes.data());
    for (int64_t i = 0; i < n; ++i) {
        uint64_t z = h + seed * 0xD1B54A32D192ED03ull + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z ^= z >> 30;
        z *= 0xBF58476D1CE4E5B9ull;
        z ^= z >> 27;
        z *= 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double u = (double)(z >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0;
        double v;
        if (ends_with(spec.name, "running_var")) v = 1.0 + 0.25 * (u + 1.0);
        else if (ends_with(spec.name, "running_mean")) v = 0.1 * u;
        else if (spec.shape.size() >= 2) v = u * scale;
        else if (spec.shape.size() == 1 && ends_with(spec.name, ".weight")) v = 1.0 + 0.1 * u;
        else v = 0.02 * u;
        out[i] = (float)v;
    }
    return t;
}

StateDict synth_state_dict(const std::vector<ParamSpec>& table, uint64_t seed) {
    StateDict sd;
    for (const ParamSpec& p : table) sd[p.name] = synth_tensor(p, seed);
    return sd;
}

std::vector<float> get_f32(const StateDict& sd, const std::string& name) {
    auto it = sd.find(name);
    MOEBIUS_CHECK(it != sd.end(), ErrorKind::Model, "missing tensor " + name);
    return it->second.to_f32();
}

}  // namespace moebius
