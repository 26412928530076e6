// The in-memory variants of the weight loaders and writers, which the WebAssembly build uses (files
// arrive as bytes there): each gives exactly what its file-based twin gives.
#include <gtest/gtest.h>

#include "core/error.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/model_file.h"
#include "io/safetensors.h"
#include "io/weights.h"

using namespace moebius;

namespace {

const std::string& tmp() {
    static const std::string dir = test::temp_dir();
    return dir;
}

void expect_same(const StateDict& a, const StateDict& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (const auto& [name, t] : a) {
        ASSERT_TRUE(b.count(name)) << what << ": " << name;
        const HostTensor& u = b.at(name);
        EXPECT_TRUE(t.dtype == u.dtype && t.shape == u.shape && t.bytes == u.bytes) << what << ": " << name;
    }
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        EXPECT_EQ((int)e.kind, (int)ErrorKind::Model) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "expected an error";
    return "";
}

}  // namespace

TEST(IoMemory, ParseStateDictDispatchesLikeTheFileLoader) {
    for (const char* rel : {"tiny/removal_model.bin", "tiny/removal_model_fp16.safetensors",
                            "tiny/vae_fp16_bin/diffusion_pytorch_model.bin"}) {
        const std::string path = test::fixture(rel);
        const std::vector<uint8_t> bytes = read_file(path);
        expect_same(parse_state_dict(bytes.data(), bytes.size(), "buffer"), load_state_dict_file(path), rel);
    }
    const std::vector<uint8_t> png = read_file(test::fixture("tiny/image.png"));
    EXPECT_NE(error_of([&] { parse_state_dict(png.data(), png.size(), "img"); })
                  .find("img: not a PyTorch .bin or .safetensors file"),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_state_dict(png.data(), 0, "empty"); }).find("empty: not a PyTorch"),
              std::string::npos);
}

TEST(IoMemory, SerializedFilesEqualSavedFiles) {
    const ModelWeights w = load_model(test::fixture("tiny/removal_model.bin"), test::fixture("tiny/vae"),
                                      test::fixture("tiny/model_config.json"));
    for (DType dt : {DType::F32, DType::F16}) {
        const std::string path = tmp() + "/m.safetensors";
        save_model_file(path, w, dt);
        const std::vector<uint8_t> saved = read_file(path);
        const std::vector<uint8_t> bytes = serialize_model_file(w, dt);  // a copy of w is consumed
        EXPECT_EQ(bytes, saved) << dtype_name(dt);
        const ModelWeights r = parse_model_file(bytes.data(), bytes.size(), "buffer");
        const ModelWeights f = load_model_file(path);
        EXPECT_EQ(to_json(r.config), to_json(f.config));
        expect_same(r.unet, f.unet, "unet");
        expect_same(r.vae, f.vae, "vae");
    }
    const StateDict sd = {{"a", HostTensor::from_f32({2}, {1, 2})}};
    save_safetensors(tmp() + "/s.safetensors", sd, {{"k", "v"}});
    EXPECT_EQ(serialize_safetensors(sd, {{"k", "v"}}), read_file(tmp() + "/s.safetensors"));
}

TEST(IoMemory, ParseModelFileRefusesOtherFiles) {
    const std::vector<uint8_t> bin = read_file(test::fixture("tiny/removal_model.bin"));
    std::string m = error_of([&] { parse_model_file(bin.data(), bin.size(), "upload"); });
    EXPECT_NE(m.find("upload: not a moebius model file but a zip archive"), std::string::npos) << m;
    const std::vector<uint8_t> st = read_file(test::fixture("tiny/removal_model_fp16.safetensors"));
    m = error_of([&] { parse_model_file(st.data(), st.size(), "upload"); });
    EXPECT_NE(m.find("upload: not a moebius model file"), std::string::npos) << m;
}

TEST(IoMemory, UpstreamModelConfig) {
    EXPECT_EQ(to_json(upstream_model_config("", "none")), to_json(builtin_config("full")));
    const std::string tiny = read_text_file(test::fixture("tiny/model_config.json"));
    EXPECT_EQ(to_json(upstream_model_config(tiny, "tiny")), to_json(builtin_config("tiny")));
}
