#include "core/tensor.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace moebius {

int64_t numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

std::string shape_str(const Shape& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "float32";
        case DType::F16: return "float16";
        case DType::BF16: return "bfloat16";
        case DType::F64: return "float64";
        case DType::I64: return "int64";
        case DType::I32: return "int32";
        case DType::U8: return "uint8";
        case DType::BOOL: return "bool";
    }
    return "?";
}

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: case DType::I32: return 4;
        case DType::F16: case DType::BF16: return 2;
        case DType::F64: case DType::I64: return 8;
        case DType::U8: case DType::BOOL: return 1;
    }
    return 0;
}

std::vector<float> HostTensor::to_f32() const {
    const int64_t n = numel();
    MOEBIUS_CHECK((int64_t)bytes.size() == n * (int64_t)dtype_size(dtype), ErrorKind::Internal,
                  "tensor byte size does not match its shape " + shape_str(shape));
    std::vector<float> out(n);
    const uint8_t* p = bytes.data();
    for (int64_t i = 0; i < n; ++i) {
        switch (dtype) {
            case DType::F32: std::memcpy(&out[i], p + 4 * i, 4); break;
            case DType::F16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = f16_to_f32(h); break; }
            case DType::BF16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = bf16_to_f32(h); break; }
            case DType::F64: { double d; std::memcpy(&d, p + 8 * i, 8); out[i] = (float)d; break; }
            case DType::I64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
            case DType::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = (float)v; break; }
            case DType::U8: case DType::BOOL: out[i] = p[i]; break;
        }
    }
    return out;
}

HostTensor HostTensor::from_f32(const Shape& s, const std::vector<float>& v) {
    HostTensor t;
    t.dtype = DType::F32;
    t.shape = s;
    MOEBIUS_CHECK((int64_t)v.size() == moebius::numel(s), ErrorKind::Internal, "from_f32: size mismatch");
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
}

HostTensor HostTensor::cast(DType to) const {
    const bool is_float = dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 || dtype == DType::F64;
    if (!is_float || to == dtype) return *this;
    MOEBIUS_CHECK(to == DType::F32 || to == DType::F16 || to == DType::BF16, ErrorKind::Internal,
                  std::string("cast to ") + dtype_name(to) + " not supported");
    std::vector<float> f = to_f32();
    HostTensor t;
    t.dtype = to;
    t.shape = shape;
    t.bytes.resize(f.size() * dtype_size(to));
    for (size_t i = 0; i < f.size(); ++i) {
        if (to == DType::F32) std::memcpy(&t.bytes[4 * i], &f[i], 4);
        else {
            uint16_t h = to == DType::F16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
            std::memcpy(&t.bytes[2 * i], &h, 2);
        }
    }
    return t;
}

Tensor Tensor::reshape(Shape s) const {
    MOEBIUS_CHECK(moebius::numel(s) == numel(), ErrorKind::Internal,
                  "reshape " + shape_str(shape_) + " -> " + shape_str(s));
    Tensor t = *this;
    t.shape_ = std::move(s);
    return t;
}

}  // namespace moebius
