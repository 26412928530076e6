// ctest-labels: parity
// The UNet (RemovalModel) on the CPU backend against upstream's float64 run of the tiny model:
// parameter tables (tiny and full) and one UNet call at t=900 with every debug activation.
#include <cmath>

#include "core/error.h"
#include "unet_parity.h"

using namespace moebius;
using namespace moebius::test;

TEST(UNetParams, TableMatchesUpstreamKeysTiny) { expect_table_matches("tiny"); }
TEST(UNetParams, TableMatchesUpstreamKeysFull) { expect_table_matches("full"); }

TEST(UNetParams, RejectsMisshapenWeights) {
    const UNetConfig cfg = config_of("tiny");
    StateDict sd = synth_state_dict(unet_param_table(cfg), 1);
    sd["diff_model.conv_in.conv_pw.weight"].shape = {32, 8, 1, 1};
    auto be = make_cpu_backend();
    try {
        UNet unet(cfg, sd, *be);
        FAIL() << "accepted a mis-shaped tensor";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind, ErrorKind::Model);
        EXPECT_NE(std::string(e.what()).find("diff_model.conv_in.conv_pw.weight: expected [32,9,1,1], got [32,8,1,1]"),
                  std::string::npos)
            << e.what();
    }
}

TEST(UNet, CfgIdsAreUncondThenCond) {
    const std::vector<int64_t> ids = cfg_ids(config_of("tiny"));
    const HostTensor ref = load_npy(test::fixture("tiny/unet_ids.npy"));  // row 0 = 10..19, row 1 = 0..9
    const std::vector<float> r = ref.to_f32();
    ASSERT_EQ(ids.size(), r.size());
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ((float)ids[i], r[i]);
}

TEST(UNet, MatchesUpstreamTiny) { run_unet_parity("tiny", 5.5e-6); }

// The tiny UNet (fixture-rule weights) and the fixture call's input row, cut as forward_cfg takes it.
struct TinyCfgCall {
    const UNetConfig cfg = config_of("tiny");
    const StateDict sd = synth_state_dict(unet_param_table(cfg), 1);
    std::unique_ptr<Backend> be = make_cpu_backend();
    UNet unet{cfg, sd, *be};
    const int64_t S = cfg.sample_size, plane = S * S;
    const std::vector<float> in = test::load_ref("tiny/unet_in.npy");  // row 0 of (2, 9, S, S)
    Tensor part(int64_t c0, int64_t nc) const {
        return be->upload({1, nc, S, S}, std::vector<float>(in.begin() + c0 * plane, in.begin() + (c0 + nc) * plane));
    }
    std::vector<float> forward_cfg(float g) const {
        return be->download(unet.forward_cfg(part(0, 4), part(4, 1), part(5, 4), 900.0f, g));
    }
};

TEST(UNet, ForwardCfgBatchesBothBranches) {
    // forward_cfg must equal uncond + g·(cond − uncond) of the fixture call (whose two rows share the input).
    const TinyCfgCall c;
    const float g = 2.5f;
    const std::vector<float> got = c.forward_cfg(g);
    const std::vector<float> ref = test::load_ref("tiny/unet_out.npy");
    std::vector<float> guided(4 * c.plane);
    for (int64_t i = 0; i < 4 * c.plane; ++i) guided[i] = ref[i] + g * (ref[4 * c.plane + i] - ref[i]);
    // Each branch is within 4 × 5.5e-6 (see run_unet_parity); (1 − g)·uncond + g·cond adds |1 − g| + g of those.
    EXPECT_CLOSE(got, guided, (std::fabs(1 - g) + g) * 4 * 5.5e-6, "tiny forward_cfg");
}

TEST(UNet, ForwardCfgEqualsForwardOnTheDuplicatedBatch) {
    // forward_cfg runs the layers before the first cross-λ once, at batch 1, for both rows (they share the
    // input); from there on it must compute what forward() does on the duplicated batch.
    const TinyCfgCall c;
    const float g = 2.5f;
    const Tensor x = c.part(0, 9);
    const std::vector<float> ref =
        c.be->download(c.be->cfg_combine(c.unet.forward(c.be->concat_batch(x, x), 900.0f, cfg_ids(c.cfg)), g));
    // The same float32 operations; only a kernel's choice at batch 1 (GEMM blocking, threads) may round
    // differently (0 apart with OpenBLAS; 1e-4 leaves room for other GEMMs, far below a wrong row's error).
    EXPECT_CLOSE(c.forward_cfg(g), ref, 1e-4, "tiny forward_cfg vs forward");
}
