// Weight files: the fixtures' torch.save .bin and .safetensors files load with exactly the names and
// shapes of keys_*.json and bit-exactly the synthetic rule's values; safetensors and our model file
// round-trip.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/model_file.h"
#include "io/safetensors.h"
#include "io/torch_zip.h"
#include "io/weights.h"
#include "model/unet.h"
#include "model/vae.h"

using namespace moebius;

namespace {

// The fixtures' parameter table (keys_unet.json / keys_vae.json): {"<key>": [{"name","shape","dtype"}...]}.
std::vector<ParamSpec> load_keys(const std::string& rel, const char* key) {
    const nlohmann::json j = nlohmann::json::parse(read_text_file(test::fixture(rel)));
    std::vector<ParamSpec> table;
    for (const auto& e : j.at(key)) {
        ParamSpec p;
        p.name = e.at("name").get<std::string>();
        p.shape = e.at("shape").get<Shape>();
        const std::string dt = e.at("dtype").get<std::string>();
        EXPECT_TRUE(dt == "float32" || dt == "int64") << p.name << ": " << dt;
        p.dtype = dt == "int64" ? DType::I64 : DType::F32;
        table.push_back(p);
    }
    return table;
}

constexpr uint64_t kUNetSeed = 1, kVaeSeed = 2;  // fixtures README: UNet seed 1, VAE seed 2

// Every tensor of the table is present with its shape, and its bytes are the rule's values stored
// as `float_dtype` (float32: bit-exact; float16: the round-to-nearest-even rounding of them).
void expect_rule(const StateDict& sd, const std::vector<ParamSpec>& table, uint64_t seed, DType float_dtype,
                 const std::string& what) {
    ASSERT_NO_THROW(check_state_dict(sd, table, what)) << what;
    size_t mismatched = 0;
    for (const ParamSpec& p : table) {
        const HostTensor& got = sd.at(p.name);
        const HostTensor want = synth_tensor(p, seed).cast(float_dtype);  // ints stay int64
        EXPECT_EQ(got.dtype, want.dtype) << what << ": " << p.name;
        if (got.bytes != want.bytes && ++mismatched <= 5) ADD_FAILURE() << what << ": values differ in " << p.name;
    }
    EXPECT_EQ(mismatched, 0u) << what;
    std::printf("[io] %-45s %zu tensors, all bit-exact\n", what.c_str(), table.size());
}

const std::string& tmp() {
    static const std::string dir = test::temp_dir();
    return dir;
}

}  // namespace

TEST(TorchBin, TinyUNetFloat32MatchesRule) {
    const auto table = load_keys("tiny/keys_unet.json", "unet");
    ASSERT_EQ(table.size(), 1203u);
    StateDict sd = load_torch_bin(test::fixture("tiny/removal_model.bin"));
    expect_rule(sd, table, kUNetSeed, DType::F32, "removal_model.bin");
    // The README's check values are for the full model's embedding_layer.weight (20x3072); the
    // same u scaled by sqrt(3/96) instead of sqrt(3/3072) gives the tiny one (20x96).
    const std::vector<float> e = get_f32(sd, "embedding_layer.weight");
    const double to_full = std::sqrt(96.0 / 3072.0);
    EXPECT_NEAR(e[0] * to_full, 0.02968638, 1e-7);
    EXPECT_NEAR(e[1] * to_full, 0.0210955, 1e-7);
    EXPECT_NEAR(e[2] * to_full, -0.01886716, 1e-7);
}

TEST(TorchBin, VaeFloat16Bin) {
    const auto table = load_keys("tiny/keys_vae.json", "vae");
    VaeFiles v = load_vae_dir(test::fixture("tiny/vae_fp16_bin"));
    EXPECT_EQ(v.config.block_out_channels, (std::vector<int>{32, 32, 64, 64}));
    EXPECT_NE(v.weights_path.find("diffusion_pytorch_model.bin"), std::string::npos);
    expect_rule(v.weights, table, kVaeSeed, DType::F16, "vae_fp16_bin");
}

TEST(TorchBin, FromMemoryEqualsFromFile) {
    const std::string path = test::fixture("tiny/vae_fp16_bin/diffusion_pytorch_model.bin");
    const std::vector<uint8_t> bytes = read_file(path);
    StateDict a = load_torch_bin(path), b = parse_torch_bin(bytes.data(), bytes.size(), "buffer");
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) {
        EXPECT_EQ(t.bytes, b.at(name).bytes) << name;
        EXPECT_EQ(t.shape, b.at(name).shape) << name;
    }
}

TEST(Safetensors, TinyUNetFloat16) {
    const auto table = load_keys("tiny/keys_unet.json", "unet");
    StateDict sd = load_safetensors(test::fixture("tiny/removal_model_fp16.safetensors"));
    expect_rule(sd, table, kUNetSeed, DType::F16, "removal_model_fp16.safetensors");
}

TEST(Safetensors, VaeFloat32Dir) {
    const auto table = load_keys("tiny/keys_vae.json", "vae");
    VaeFiles v = load_vae_dir(test::fixture("tiny/vae"));
    EXPECT_EQ(v.config.block_out_channels, (std::vector<int>{32, 32, 64, 64}));
    EXPECT_FLOAT_EQ(v.config.scaling_factor, 0.13025f);
    expect_rule(v.weights, table, kVaeSeed, DType::F32, "vae/diffusion_pytorch_model.safetensors");
}

TEST(Safetensors, HeaderAndInMemoryParse) {
    const std::string path = test::fixture("tiny/vae/diffusion_pytorch_model.safetensors");
    const std::vector<uint8_t> bytes = read_file(path);
    SafetensorsHeader h = read_safetensors_header(path);
    EXPECT_EQ(h.tensors.size(), 244u);
    EXPECT_EQ(h.tensors.back().end, bytes.size());
    StateDict a = load_safetensors(path), b = parse_safetensors(bytes.data(), bytes.size(), "buffer");
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) EXPECT_EQ(t.bytes, b.at(name).bytes) << name;
}

TEST(Weights, DispatchOnContent) {
    // Same tensors from the .bin (float32) and the .safetensors (float16).
    StateDict bin = load_state_dict_file(test::fixture("tiny/removal_model.bin"));
    StateDict st = load_state_dict_file(test::fixture("tiny/removal_model_fp16.safetensors"));
    ASSERT_EQ(bin.size(), st.size());
    for (const auto& [name, t] : bin) EXPECT_EQ(t.cast(DType::F16).bytes, st.at(name).bytes) << name;
}

TEST(Safetensors, RoundTripAllDtypesAligned) {
    auto make = [](DType dt, Shape s) {
        HostTensor t;
        t.dtype = dt;
        t.shape = s;
        t.bytes.resize((size_t)numel(s) * dtype_size(dt));
        for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = (uint8_t)(i * 37 + (int)dt);
        return t;
    };
    StateDict sd = {
        {"a.f32", make(DType::F32, {3, 5})}, {"b.f16", make(DType::F16, {7})},   {"c.bf16", make(DType::BF16, {1, 3})},
        {"d.f64", make(DType::F64, {2, 2})}, {"e.i64", make(DType::I64, {})},    {"f.i32", make(DType::I32, {3})},
        {"g.u8", make(DType::U8, {5})},      {"h.bool", make(DType::BOOL, {3})}, {"i.empty", make(DType::F32, {0, 4})}};
    const Metadata meta = {{"format", "test"}, {"note", "ünïcode \"quoted\""}};
    const std::string path = tmp() + "/all.safetensors";
    save_safetensors(path, sd, meta);

    Metadata got_meta;
    StateDict got = load_safetensors(path, &got_meta);
    EXPECT_EQ(got_meta, meta);
    ASSERT_EQ(got.size(), sd.size());
    for (const auto& [name, t] : sd) {
        EXPECT_EQ(got.at(name).dtype, t.dtype) << name;
        EXPECT_EQ(got.at(name).shape, t.shape) << name;
        EXPECT_EQ(got.at(name).bytes, t.bytes) << name;
    }
    // Data section 8-byte aligned; each tensor on a multiple of its element size.
    SafetensorsHeader h = read_safetensors_header(path);
    EXPECT_EQ(h.data_start % 8, 0u);
    for (const SafetensorsEntry& e : h.tensors) EXPECT_EQ(e.begin % dtype_size(e.dtype), 0u) << e.name;
}

// Our model file, from the fixtures' upstream files, in float32 (exact) and float16 (rounded once).
TEST(ModelFile, RoundTripF32AndF16) {
    const std::string config = test::fixture("tiny/model_config.json");
    ModelWeights w = load_model(test::fixture("tiny/removal_model.bin"), test::fixture("tiny/vae"), config);
    EXPECT_EQ(w.config.unet.block_out_channels, (std::vector<int>{32, 64, 128}));
    EXPECT_EQ(to_json(w.config), to_json(builtin_config("tiny")));
    const auto unet_keys = load_keys("tiny/keys_unet.json", "unet");
    const auto vae_keys = load_keys("tiny/keys_vae.json", "vae");

    for (DType dt : {DType::F32, DType::F16}) {
        const std::string path = tmp() + "/tiny_" + dtype_name(dt) + ".moebius.safetensors";
        save_model_file(path, w, dt);
        EXPECT_TRUE(is_model_file(path));
        ModelWeights r = load_model_file(path);
        EXPECT_EQ(to_json(r.config), to_json(w.config));
        expect_rule(r.unet, unet_keys, kUNetSeed, dt, std::string("model file unet ") + dtype_name(dt));
        expect_rule(r.vae, vae_keys, kVaeSeed, dt, std::string("model file vae ") + dtype_name(dt));
        // num_batches_tracked is kept as int64.
        EXPECT_EQ(r.unet.at("diff_model.conv_in.bn1.num_batches_tracked").dtype, DType::I64);

        // load_model recognises our file by content and needs nothing else.
        ModelWeights again = load_model(path, "", "");
        EXPECT_EQ(again.unet.size(), w.unet.size());
        EXPECT_EQ(again.vae.size(), w.vae.size());
    }
    // float16 roughly halves the file.
    const auto f32 = read_file(tmp() + "/tiny_float32.moebius.safetensors").size();
    const auto f16 = read_file(tmp() + "/tiny_float16.moebius.safetensors").size();
    EXPECT_LT(f16, f32 * 6 / 10);
    std::printf("[io] tiny model file: float32 %zu bytes, float16 %zu bytes\n", f32, f16);
}

TEST(ModelFile, LoadUpstreamFloat16Files) {
    ModelWeights w = load_model(test::fixture("tiny/removal_model_fp16.safetensors"),
                                test::fixture("tiny/vae_fp16_bin"), test::fixture("tiny/model_config.json"));
    expect_rule(w.unet, load_keys("tiny/keys_unet.json", "unet"), kUNetSeed, DType::F16, "fp16 unet via load_model");
    expect_rule(w.vae, load_keys("tiny/keys_vae.json", "vae"), kVaeSeed, DType::F16, "fp16 vae via load_model");
}

// A bare upstream UNet config (no "unet"/"vae" wrapper) is accepted too.
TEST(ModelFile, BareUNetConfig) {
    const nlohmann::json j = nlohmann::json::parse(read_text_file(test::fixture("tiny/model_config.json")));
    const std::string path = tmp() + "/unet_config.json";
    const std::string text = j.at("unet").dump();
    write_file_atomic(path, text.data(), text.size());
    ModelWeights w = load_model(test::fixture("tiny/removal_model.bin"), test::fixture("tiny/vae"), path);
    EXPECT_EQ(w.config.unet.block_out_channels, (std::vector<int>{32, 64, 128}));
}

// The model's own tables (model/unet.h, model/vae.h) agree with the fixtures' key lists.
TEST(ModelFile, ModelTablesMatchFixtureKeys) {
    const ModelConfig c = builtin_config("tiny");
    auto same = [](const std::vector<ParamSpec>& a, const std::vector<ParamSpec>& b, const char* what) {
        ASSERT_EQ(a.size(), b.size()) << what;
        for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].name, b[i].name) << what << " #" << i;
            EXPECT_EQ(a[i].shape, b[i].shape) << what << " " << a[i].name;
            EXPECT_EQ(a[i].dtype, b[i].dtype) << what << " " << a[i].name;
        }
    };
    same(unet_param_table(c.unet), load_keys("tiny/keys_unet.json", "unet"), "unet");
    same(vae_param_table(c.vae), load_keys("tiny/keys_vae.json", "vae"), "vae");
}
