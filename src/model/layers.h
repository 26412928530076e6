// Shared building blocks for the models: reading weights out of a state dict (BatchNorms folded on
// the host), the small layers built from backend ops, and the matching parameter-table helpers.
// The UNet owns this file; the VAE uses it read-only.
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"
#include "io/state_dict.h"

namespace moebius {

// Reads tensors of a state dict (any stored float dtype) by name and uploads them to a backend.
class WeightLoader {
public:
    WeightLoader(const StateDict& sd, Backend& be) : sd_(sd), be_(be) {}
    Backend& backend() const { return be_; }

    std::vector<float> host(const std::string& name) const;  // float32 copy
    const Shape& shape(const std::string& name) const;
    Tensor tensor(const std::string& name) const;                   // uploaded with its stored shape
    Tensor tensor(const std::string& name, const Shape& as) const;  // uploaded under a new shape (same numel)

private:
    const HostTensor& get(const std::string& name) const;
    const StateDict& sd_;
    Backend& be_;
};

// Eval-mode BatchNorm (running statistics) as a per-channel affine map y = x * scale + shift,
// computed in double. PyTorch's default eps is 1e-5 (nn.BatchNorm1d/2d, timm BatchNormAct2d).
struct BatchNormAffine {
    std::vector<double> scale, shift;
};
BatchNormAffine load_batch_norm(const WeightLoader& ld, const std::string& prefix, double eps = 1e-5);

// Folds y = BN(W x + b) into W' x + b' (W' = W * scale per output row, b' = b * scale + shift).
// w holds out_ch rows (the first dim of a conv or linear weight); an empty b means no bias.
void fold_batch_norm(std::vector<float>& w, std::vector<float>& b, const BatchNormAffine& bn);

// --- layers ---

struct Conv2d {
    Tensor w, b;  // w (Cout, Cin/groups, kh, kw), b (Cout) or empty
    Conv2dParams p;
    Act act = Act::None;
    // conv(x), plus a skip connection `residual` (y's shape) where given.
    Tensor operator()(Backend& be, const Tensor& x, const Tensor& residual = Tensor()) const {
        return be.conv2d(x, w, b, p, act, residual);
    }
};
// prefix.weight (+ prefix.bias); "same" zero padding k/2; groups == Cout for a depthwise conv.
Conv2d load_conv2d(const WeightLoader& ld, const std::string& prefix, bool bias = true, Act act = Act::None,
                   int stride = 1, int groups = 1);
// A bias-free conv whose output runs through an eval-mode BatchNorm: folded into one conv with bias.
Conv2d load_conv2d_bn(const WeightLoader& ld, const std::string& conv_prefix, const std::string& bn_prefix,
                      Act act = Act::None, int groups = 1);

struct Linear {
    Tensor w, b;  // w (N, K), b (N) or empty
    Act act = Act::None;
    Tensor operator()(Backend& be, const Tensor& x) const { return be.linear(x, w, b, act); }
};
Linear load_linear(const WeightLoader& ld, const std::string& prefix, bool bias = true, Act act = Act::None);

struct GroupNorm {
    Tensor gamma, beta;
    int groups = 32;
    float eps = 1e-5f;
    Act act = Act::None;  // fused activation after the affine map
    Tensor operator()(Backend& be, const Tensor& x) const { return be.group_norm(x, gamma, beta, groups, eps, act); }
};
GroupNorm load_group_norm(const WeightLoader& ld, const std::string& prefix, int groups, float eps,
                          Act act = Act::None);

// nn.LayerNorm over the channels of an NCHW tensor (the (B, HW, C) tokens of a transformer block).
struct LayerNorm {
    Tensor gamma, beta;
    float eps = 1e-5f;
    Tensor operator()(Backend& be, const Tensor& x) const { return be.layer_norm_channels(x, gamma, beta, eps); }
};
LayerNorm load_layer_norm(const WeightLoader& ld, const std::string& prefix, float eps);

// timm DepthwiseSeparableConv (model_lib/nets/layers/_efficientnet_blocks.py), eval mode:
//   conv_dw (k×k depthwise, no bias) → bn1 + ReLU (BatchNormAct2d) → conv_pw (1×1, no bias) → bn2 (no act)
//   → + x when stride 1 and in == out (has_skip).
// Both BatchNorms are folded into the convs at load time.
struct DWSeparableConv {
    Conv2d dw, pw;
    bool has_skip = false;
    // `bias` (C_out), where given, in place of pw's.
    Tensor operator()(Backend& be, const Tensor& x, const Tensor& bias = Tensor()) const;
};
DWSeparableConv load_dw_separable(const WeightLoader& ld, const std::string& prefix);

// --- parameter tables (names, shapes, dtypes in upstream's state-dict order) ---

struct ParamTable {
    std::vector<ParamSpec> v;
    void add(const std::string& name, Shape shape, DType dtype = DType::F32) {
        v.push_back({name, std::move(shape), dtype});
    }
    void conv(const std::string& prefix, int64_t cout, int64_t cin_per_group, int64_t k, bool bias = true);
    void linear(const std::string& prefix, int64_t out, int64_t in, bool bias = true);
    void norm(const std::string& prefix, int64_t c);        // GroupNorm / LayerNorm: weight, bias
    void batch_norm(const std::string& prefix, int64_t c);  // + running_mean, running_var, num_batches_tracked
    void dw_separable(const std::string& prefix, int64_t in, int64_t out, int64_t k);
};

}  // namespace moebius
