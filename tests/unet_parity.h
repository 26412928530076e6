// Shared by test_unet.cpp and test_unet_full.cpp: the UNet parity run against a fixture folder.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "io/file.h"
#include "io/npy.h"
#include "model/config.h"
#include "model/unet.h"

namespace moebius::test {

using nlohmann::json;

inline UNetConfig config_of(const std::string& model) {
    return parse_model_config(read_text_file(fixture(model + "/model_config.json")), model).unet;
}

inline json meta_of(const std::string& model) { return json::parse(read_text_file(fixture(model + "/meta.json"))); }

inline void expect_table_matches(const std::string& model) {
    const json keys = json::parse(read_text_file(fixture(model + "/keys_unet.json")));
    const std::vector<ParamSpec> table = unet_param_table(config_of(model));
    const json& ref = keys["unet"];
    ASSERT_EQ(table.size(), ref.size()) << model;
    int64_t params = 0;
    for (size_t i = 0; i < table.size(); ++i) {
        const ParamSpec& p = table[i];
        ASSERT_EQ(p.name, ref[i]["name"].get<std::string>()) << model << " entry " << i;
        ASSERT_EQ(p.shape, ref[i]["shape"].get<Shape>()) << p.name;
        ASSERT_STREQ(dtype_name(p.dtype), ref[i]["dtype"].get<std::string>().c_str()) << p.name;
        const bool buffer = p.name.ends_with("running_mean") || p.name.ends_with("running_var") ||
                            p.name.ends_with("num_batches_tracked");
        if (!buffer) params += numel(p.shape);
    }
    EXPECT_EQ(params, keys["unet_params"].get<int64_t>()) << model << ": learnt parameters (BatchNorm buffers excluded)";
}

// Our tap (NCHW, or (B, L, D) / (B, D)) in the fixture's layout: the last `ref_shape[0]` batch rows, the
// first ref channels (dim 1 of NCHW, the last dim otherwise); token fixtures (B, HW, C) are transposed.
inline std::vector<float> as_fixture_layout(const std::vector<float>& x, const Shape& s, const Shape& ref_shape,
                                            bool tokens) {
    const int64_t B = s[0], Br = ref_shape[0];
    const bool nchw = s.size() == 4;
    const int64_t C = nchw ? s[1] : s.back(), Cr = tokens || !nchw ? ref_shape.back() : ref_shape[1];
    const int64_t inner = nchw ? s[2] * s[3] : 1, outer = nchw ? 1 : numel(s) / B / C;
    std::vector<float> out;
    for (int64_t b = B - Br; b < B; ++b) {
        if (tokens) {
            for (int64_t n = 0; n < inner; ++n)
                for (int64_t c = 0; c < Cr; ++c) out.push_back(x[(b * C + c) * inner + n]);
        } else {
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t c = 0; c < Cr; ++c)
                    for (int64_t n = 0; n < inner; ++n)
                        out.push_back(x[((b * outer + o) * C + c) * inner + n]);
        }
    }
    return out;
}

// Runs one UNet call of `model` on its fixture input and compares the output and every debug tap.
// Tolerances come from the fixtures' float32-vs-float64 spread of the UNet output (README table:
// tiny 5.5e-6, full 9.1e-6): the output gets 4× that; an intermediate activation gets the same 4×
// *relative* budget, i.e. 4 × spread / max|unet_out| × its own max|value| (meta.json max_abs), since
// float32 rounding error scales with the magnitude of what is being rounded.
// Note: the reference's float32 timestep features came from CUDA's expf (within 2 ulp, see
// timestep_features); that alone moves time_emb by ~1.6e-5 at full size and accounts for most of our
// unet_out error there (1.7e-5; 5.6e-6 with the reference time_emb substituted).
inline void run_unet_parity(const std::string& model, double out_spread) {
    const UNetConfig cfg = config_of(model);
    const json meta = meta_of(model);
    const StateDict sd = synth_state_dict(unet_param_table(cfg), 1);  // the fixture rule, seed 1 for the UNet
    auto be = make_cpu_backend();
    UNet unet(cfg, sd, *be);

    Shape in_shape;
    const std::vector<float> in = load_ref(model + "/unet_in.npy", &in_shape);
    const HostTensor ids_t = load_npy(fixture(model + "/unet_ids.npy"));
    std::vector<int64_t> ids;
    for (float v : ids_t.to_f32()) ids.push_back((int64_t)v);
    const float t = meta["timestep_unet"].get<float>();

    DebugTaps taps;
    const Tensor x = be->upload(in_shape, in);
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor out = unet.forward(x, t, ids, &taps);
    std::vector<float> got = be->download(out);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[time] %s UNet call, batch %lld: %.2f s (%s backend)\n", model.c_str(), (long long)in_shape[0], secs,
                be->name().c_str());

    const double out_tol = 4 * out_spread;  // 4× the float32-vs-float64 spread of the UNet output
    EXPECT_CLOSE(got, load_ref(model + "/unet_out.npy"), out_tol, (model + " unet_out").c_str());

    const double rel = out_tol / meta["max_abs"]["unet_out"].get<double>();
    const char* names[] = {"time_emb",    "encoder_hidden_states", "conv_in",          "self_lambda_in",
                           "self_lambda", "cross_lambda_in",       "cross_lambda_ctx", "cross_lambda",
                           "down0",       "down1",                 "down2",            "up0",
                           "up1",         "up2",                   "conv_out_in"};
    for (const char* name : names) {
        const std::string key = std::string("unet_dbg_") + name;
        ASSERT_TRUE(taps.t.count(name)) << "no tap " << name;
        const Tensor& tap = taps.t.at(name);
        Shape ref_shape;
        const std::vector<float> ref = load_ref(model + "/" + key + ".npy", &ref_shape);
        const std::string n = name;  // the lambda taps are (B, HW, C) tokens, except the (B, L, D) context
        const bool tokens = n.find("lambda") != std::string::npos && n != "cross_lambda_ctx";
        const std::vector<float> mine = as_fixture_layout(be->download(tap), tap.shape(), ref_shape, tokens);
        const double tol = rel * meta["max_abs"][key].get<double>();
        EXPECT_CLOSE(mine, ref, tol, (model + " " + name).c_str());
    }
}

}  // namespace moebius::test
