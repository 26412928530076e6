// Tensors. Two kinds, kept apart on purpose:
//  - HostTensor: what a file holds (any stored dtype, raw little-endian bytes), used by loaders,
//    the converter and the weight tables;
//  - Tensor: a float tensor owned by a compute backend (NCHW, contiguous), used by the model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moebius {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[320,9,1,1]"

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, U8, BOOL };
const char* dtype_name(DType t);  // "float32", "float16", ... (PyTorch spelling)
size_t dtype_size(DType t);

struct HostTensor {
    DType dtype = DType::F32;
    Shape shape;
    std::vector<uint8_t> bytes;  // numel * dtype_size, little-endian

    int64_t numel() const { return moebius::numel(shape); }
    std::vector<float> to_f32() const;  // converts F16/BF16/F64/ints; throws for BOOL/U8? no: converts too
    static HostTensor from_f32(const Shape& s, const std::vector<float>& v);
    HostTensor cast(DType to) const;  // float types only (F32/F16/BF16); ints copied unchanged
};

// Backend-owned storage. The CPU backend keeps a float vector; GPU backends subclass DeviceBuffer.
struct DeviceBuffer {
    virtual ~DeviceBuffer() = default;
};

class Tensor {
public:
    Tensor() = default;
    Tensor(Shape s, std::shared_ptr<std::vector<float>> host) : shape_(std::move(s)), host_(std::move(host)) {}
    Tensor(Shape s, std::shared_ptr<DeviceBuffer> dev) : shape_(std::move(s)), dev_(std::move(dev)) {}

    const Shape& shape() const { return shape_; }
    int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
    int ndim() const { return (int)shape_.size(); }
    int64_t numel() const { return moebius::numel(shape_); }
    bool empty() const { return !host_ && !dev_; }

    // Same storage, new shape (numel must match).
    Tensor reshape(Shape s) const;

    // CPU storage (null for device tensors).
    float* data() const { return host_ ? host_->data() : nullptr; }
    DeviceBuffer* device() const { return dev_.get(); }

private:
    Shape shape_;
    std::shared_ptr<std::vector<float>> host_;
    std::shared_ptr<DeviceBuffer> dev_;
};

}  // namespace moebius
