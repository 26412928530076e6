// Core pieces: half conversions, HostTensor casts, .npy round trip, model config parsing.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "fixtures.h"
#include "io/file.h"
#include "io/npy.h"
#include "model/config.h"

using namespace moebius;

TEST(Half, RoundTripsAllFiniteF16) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00) continue;  // inf/nan
        EXPECT_EQ(f32_to_f16(f16_to_f32((uint16_t)h)), h) << h;
    }
}

TEST(Half, RoundsToNearestEven) {
    EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);          // halfway, even stays
    EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);          // halfway, odd rounds up
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                    // overflow to inf
    EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);                // halfway to even
    EXPECT_FLOAT_EQ(bf16_to_f32(f32_to_bf16(3.0f)), 3.0f);
}

TEST(Npy, RoundTripAndFixture) {
    HostTensor t = HostTensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6});
    std::string p = test::temp_dir() + "/a.npy";
    save_npy(p, t);
    HostTensor u = load_npy(p);
    EXPECT_EQ(u.shape, t.shape);
    EXPECT_EQ(u.to_f32(), t.to_f32());
    Shape s;
    std::vector<float> noise = test::load_ref("tiny/noise.npy", &s);
    EXPECT_EQ(s, (Shape{1, 4, 64, 64}));
    HostTensor ids = load_npy(test::fixture("tiny/unet_ids.npy"));
    EXPECT_EQ(ids.dtype, DType::I64);
    EXPECT_EQ(ids.to_f32()[0], 10.0f);
}

TEST(Npy, RejectsGarbage) {
    const uint8_t junk[] = "not a numpy file at all";
    EXPECT_THROW(parse_npy(junk, sizeof junk, "junk"), Error);
}

TEST(Config, ParsesFixtureConfigs) {
    for (const char* name : {"tiny", "full"}) {
        ModelConfig c = parse_model_config(read_text_file(test::fixture(std::string(name) + "/model_config.json")), name);
        ModelConfig b = builtin_config(name);
        EXPECT_EQ(c.unet.block_out_channels, b.unet.block_out_channels);
        EXPECT_EQ(c.unet.attention_head_dim, b.unet.attention_head_dim);
        EXPECT_EQ(c.unet.encoder_hid_dim, b.unet.encoder_hid_dim);
        EXPECT_EQ(c.unet.cross_attention_dim, b.unet.cross_attention_dim);
        EXPECT_EQ(c.vae.block_out_channels, b.vae.block_out_channels);
        ModelConfig r = parse_model_config(to_json(c), "roundtrip");
        EXPECT_EQ(r.unet.block_out_channels, c.unet.block_out_channels);
    }
    VaeConfig v = parse_vae_config(read_text_file(test::fixture("tiny/vae/config.json")), "vae/config.json");
    EXPECT_EQ(v.block_out_channels, (std::vector<int>{32, 32, 64, 64}));
    EXPECT_THROW(parse_vae_config("{\"_class_name\": \"UNet2DModel\"}", "x"), Error);
    EXPECT_THROW(parse_unet_config("{not json", "x"), Error);
}

#include "io/state_dict.h"

TEST(Synth, MatchesFixtureRuleCheckValues) {
    EXPECT_EQ(fnv1a64("embedding_layer.weight"), 0x6241971c000ca76aull);
    HostTensor t = synth_tensor({"embedding_layer.weight", {20, 3072}, DType::F32}, 1);
    std::vector<float> v = t.to_f32();
    EXPECT_NEAR(v[0], 0.02968638f, 5e-9);
    EXPECT_NEAR(v[1], 0.0210955f, 5e-9);
    EXPECT_NEAR(v[2], -0.01886716f, 5e-9);
}

TEST(StateDictCheck, ListsEveryProblem) {
    std::vector<ParamSpec> table = {{"a.weight", {2, 3}}, {"b.bias", {3}}, {"c.weight", {4}}};
    StateDict sd = synth_state_dict(table, 1);
    EXPECT_NO_THROW(check_state_dict(sd, table, "m.bin"));
    sd.erase("b.bias");
    sd["a.weight"].shape = {3, 2};
    sd["zzz"] = sd["c.weight"];
    try {
        check_state_dict(sd, table, "m.bin");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("m.bin"), std::string::npos) << m;
        EXPECT_NE(m.find("a.weight: expected [2,3], got [3,2]"), std::string::npos) << m;
        EXPECT_NE(m.find("b.bias"), std::string::npos) << m;
        EXPECT_NE(m.find("zzz"), std::string::npos) << m;
    }
}
