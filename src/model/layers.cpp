#include "model/layers.h"

#include <cmath>

#include "core/error.h"

namespace moebius {

// --- WeightLoader ---

const HostTensor& WeightLoader::get(const std::string& name) const {
    auto it = sd_.find(name);
    MOEBIUS_CHECK(it != sd_.end(), ErrorKind::Model, "weights: tensor " + name + " is missing");
    return it->second;
}

std::vector<float> WeightLoader::host(const std::string& name) const { return get(name).to_f32(); }

const Shape& WeightLoader::shape(const std::string& name) const { return get(name).shape; }

Tensor WeightLoader::tensor(const std::string& name) const { return tensor(name, shape(name)); }

Tensor WeightLoader::tensor(const std::string& name, const Shape& as) const {
    const HostTensor& t = get(name);
    MOEBIUS_CHECK(numel(as) == t.numel(), ErrorKind::Model,
                  "weights: tensor " + name + " " + shape_str(t.shape) + " cannot be viewed as " + shape_str(as));
    return be_.upload(as, t.to_f32());
}

// --- BatchNorm folding ---

BatchNormAffine load_batch_norm(const WeightLoader& ld, const std::string& prefix, double eps) {
    const std::vector<float> gamma = ld.host(prefix + ".weight"), beta = ld.host(prefix + ".bias");
    const std::vector<float> mean = ld.host(prefix + ".running_mean"), var = ld.host(prefix + ".running_var");
    BatchNormAffine bn;
    bn.scale.resize(gamma.size());
    bn.shift.resize(gamma.size());
    for (size_t c = 0; c < gamma.size(); ++c) {
        bn.scale[c] = (double)gamma[c] / std::sqrt((double)var[c] + eps);
        bn.shift[c] = (double)beta[c] - (double)mean[c] * bn.scale[c];
    }
    return bn;
}

void fold_batch_norm(std::vector<float>& w, std::vector<float>& b, const BatchNormAffine& bn) {
    const size_t out = bn.scale.size();
    MOEBIUS_CHECK(out > 0 && w.size() % out == 0 && (b.empty() || b.size() == out), ErrorKind::Model,
                  "weights: BatchNorm width does not match the layer it follows");
    const size_t row = w.size() / out;
    std::vector<float> nb(out);
    for (size_t o = 0; o < out; ++o) {
        for (size_t i = 0; i < row; ++i) w[o * row + i] = (float)((double)w[o * row + i] * bn.scale[o]);
        nb[o] = (float)((b.empty() ? 0.0 : (double)b[o]) * bn.scale[o] + bn.shift[o]);
    }
    b = std::move(nb);
}

// --- layers ---

Conv2d load_conv2d(const WeightLoader& ld, const std::string& prefix, bool bias, Act act, int stride, int groups) {
    Conv2d c;
    c.w = ld.tensor(prefix + ".weight");
    if (bias) c.b = ld.tensor(prefix + ".bias");
    c.p = Conv2dParams::same((int)c.w.dim(2), stride, groups);
    c.act = act;
    return c;
}

Conv2d load_conv2d_bn(const WeightLoader& ld, const std::string& conv_prefix, const std::string& bn_prefix, Act act,
                      int groups) {
    const std::string wname = conv_prefix + ".weight";
    std::vector<float> w = ld.host(wname), b;
    fold_batch_norm(w, b, load_batch_norm(ld, bn_prefix));
    const Shape& s = ld.shape(wname);
    Conv2d c;
    c.w = ld.backend().upload(s, w);
    c.b = ld.backend().upload({s[0]}, b);
    c.p = Conv2dParams::same((int)s[2], 1, groups);
    c.act = act;
    return c;
}

Linear load_linear(const WeightLoader& ld, const std::string& prefix, bool bias, Act act) {
    Linear l;
    l.w = ld.tensor(prefix + ".weight");
    if (bias) l.b = ld.tensor(prefix + ".bias");
    l.act = act;
    return l;
}

GroupNorm load_group_norm(const WeightLoader& ld, const std::string& prefix, int groups, float eps, Act act) {
    return {ld.tensor(prefix + ".weight"), ld.tensor(prefix + ".bias"), groups, eps, act};
}

LayerNorm load_layer_norm(const WeightLoader& ld, const std::string& prefix, float eps) {
    return {ld.tensor(prefix + ".weight"), ld.tensor(prefix + ".bias"), eps};
}

DWSeparableConv load_dw_separable(const WeightLoader& ld, const std::string& prefix) {
    const Shape& dw = ld.shape(prefix + ".conv_dw.weight");  // (in, 1, k, k)
    const Shape& pw = ld.shape(prefix + ".conv_pw.weight");  // (out, in, 1, 1)
    DWSeparableConv m;
    m.dw = load_conv2d_bn(ld, prefix + ".conv_dw", prefix + ".bn1", Act::ReLU, (int)dw[0]);
    m.pw = load_conv2d_bn(ld, prefix + ".conv_pw", prefix + ".bn2");
    m.has_skip = dw[0] == pw[0];  // stride is always 1 here
    return m;
}

Tensor DWSeparableConv::operator()(Backend& be, const Tensor& x, const Tensor& bias) const {
    // + x (skip) in pw's epilogue
    return be.conv2d(dw(be, x), pw.w, bias.empty() ? pw.b : bias, pw.p, pw.act, has_skip ? x : Tensor());
}

// --- parameter tables ---

void ParamTable::conv(const std::string& prefix, int64_t cout, int64_t cin_per_group, int64_t k, bool bias) {
    add(prefix + ".weight", {cout, cin_per_group, k, k});
    if (bias) add(prefix + ".bias", {cout});
}

void ParamTable::linear(const std::string& prefix, int64_t out, int64_t in, bool bias) {
    add(prefix + ".weight", {out, in});
    if (bias) add(prefix + ".bias", {out});
}

void ParamTable::norm(const std::string& prefix, int64_t c) {
    add(prefix + ".weight", {c});
    add(prefix + ".bias", {c});
}

void ParamTable::batch_norm(const std::string& prefix, int64_t c) {
    norm(prefix, c);
    add(prefix + ".running_mean", {c});
    add(prefix + ".running_var", {c});
    add(prefix + ".num_batches_tracked", {}, DType::I64);
}

void ParamTable::dw_separable(const std::string& prefix, int64_t in, int64_t out, int64_t k) {
    conv(prefix + ".conv_dw", in, 1, k, false);
    batch_norm(prefix + ".bn1", in);
    conv(prefix + ".conv_pw", out, in, 1, false);
    batch_norm(prefix + ".bn2", out);
}

}  // namespace moebius
