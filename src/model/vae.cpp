#include "model/vae.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace moebius {

namespace {

// diffusers hard-codes these for the VAE (autoencoders/vae.py Encoder/Decoder: resnet_eps=1e-6,
// conv_norm_out eps=1e-6; UNetMidBlock2D passes resnet_eps to the attention's GroupNorm).
constexpr float kEps = 1e-6f;

// --- parameter table ------------------------------------------------------------------------------

struct TableBuilder {
    std::vector<ParamSpec> t;
    void add(const std::string& name, Shape s) { t.push_back({name, std::move(s), DType::F32}); }
    void conv(const std::string& p, int64_t cout, int64_t cin, int64_t k) {
        add(p + ".weight", {cout, cin, k, k});
        add(p + ".bias", {cout});
    }
    void norm(const std::string& p, int64_t c) {
        add(p + ".weight", {c});
        add(p + ".bias", {c});
    }
    void linear(const std::string& p, int64_t out, int64_t in) {
        add(p + ".weight", {out, in});
        add(p + ".bias", {out});
    }
    // ResnetBlock2D registers norm1, conv1, norm2, conv2, then conv_shortcut.
    void resnet(const std::string& p, int64_t cin, int64_t cout) {
        norm(p + ".norm1", cin);
        conv(p + ".conv1", cout, cin, 3);
        norm(p + ".norm2", cout);
        conv(p + ".conv2", cout, cout, 3);
        if (cin != cout) conv(p + ".conv_shortcut", cout, cin, 1);
    }
    // UNetMidBlock2D registers attentions before resnets.
    void mid(const std::string& p, int64_t c, bool attn) {
        if (attn) {
            std::string a = p + ".attentions.0";
            norm(a + ".group_norm", c);
            linear(a + ".to_q", c, c);
            linear(a + ".to_k", c, c);
            linear(a + ".to_v", c, c);
            linear(a + ".to_out.0", c, c);
        }
        resnet(p + ".resnets.0", c, c);
        resnet(p + ".resnets.1", c, c);
    }
};

// --- loading --------------------------------------------------------------------------------------

struct Loader {
    const StateDict& sd;
    Backend& be;
    Tensor get(const std::string& name) const {
        auto it = sd.find(name);
        MOEBIUS_CHECK(it != sd.end(), ErrorKind::Model, "VAE: missing tensor " + name);
        return be.upload(it->second.shape, it->second.to_f32());
    }
    // weight + bias of a conv, norm or linear
    void wb(const std::string& p, Tensor& w, Tensor& b) const {
        w = get(p + ".weight");
        b = get(p + ".bias");
    }
    VaeResnet resnet(const std::string& p, int cin, int cout) const {
        VaeResnet r;
        wb(p + ".norm1", r.norm1_w, r.norm1_b);
        wb(p + ".conv1", r.conv1_w, r.conv1_b);
        wb(p + ".norm2", r.norm2_w, r.norm2_b);
        wb(p + ".conv2", r.conv2_w, r.conv2_b);
        if (cin != cout) wb(p + ".conv_shortcut", r.shortcut_w, r.shortcut_b);
        return r;
    }
    VaeMidBlock mid(const std::string& p, int c, bool attn) const {
        VaeMidBlock m;
        m.has_attn = attn;
        if (attn) {
            std::string a = p + ".attentions.0";
            wb(a + ".group_norm", m.attn.norm_w, m.attn.norm_b);
            wb(a + ".to_q", m.attn.q_w, m.attn.q_b);
            wb(a + ".to_k", m.attn.k_w, m.attn.k_b);
            wb(a + ".to_v", m.attn.v_w, m.attn.v_b);
            wb(a + ".to_out.0", m.attn.out_w, m.attn.out_b);
        }
        m.resnet0 = resnet(p + ".resnets.0", c, c);
        m.resnet1 = resnet(p + ".resnets.1", c, c);
        return m;
    }
};

Tensor conv3x3(Backend& be, const Tensor& x, const Tensor& w, const Tensor& b) {
    return be.conv2d(x, w, b, Conv2dParams::same(3));
}

}  // namespace

std::vector<ParamSpec> vae_param_table(const VaeConfig& cfg) {
    const std::vector<int>& ch = cfg.block_out_channels;
    const int n = (int)ch.size();
    const int L = cfg.layers_per_block;
    TableBuilder tb;

    // encoder (vae.py Encoder): conv_in, down_blocks, mid_block, conv_norm_out, conv_out (double_z)
    tb.conv("encoder.conv_in", ch[0], cfg.in_channels, 3);
    for (int i = 0; i < n; ++i) {
        std::string p = "encoder.down_blocks." + std::to_string(i);
        int cin = i == 0 ? ch[0] : ch[i - 1];
        for (int j = 0; j < L; ++j) tb.resnet(p + ".resnets." + std::to_string(j), j == 0 ? cin : ch[i], ch[i]);
        if (i != n - 1) tb.conv(p + ".downsamplers.0.conv", ch[i], ch[i], 3);
    }
    tb.mid("encoder.mid_block", ch[n - 1], cfg.mid_block_add_attention);
    tb.norm("encoder.conv_norm_out", ch[n - 1]);
    tb.conv("encoder.conv_out", 2 * cfg.latent_channels, ch[n - 1], 3);

    // decoder (vae.py Decoder): conv_in, up_blocks (registered before mid_block), mid_block, norm, conv_out
    tb.conv("decoder.conv_in", ch[n - 1], cfg.latent_channels, 3);
    for (int i = 0; i < n; ++i) {
        std::string p = "decoder.up_blocks." + std::to_string(i);
        int cin = ch[n - 1 - (i == 0 ? 0 : i - 1)], cout = ch[n - 1 - i];
        for (int j = 0; j <= L; ++j) tb.resnet(p + ".resnets." + std::to_string(j), j == 0 ? cin : cout, cout);
        if (i != n - 1) tb.conv(p + ".upsamplers.0.conv", cout, cout, 3);
    }
    tb.mid("decoder.mid_block", ch[n - 1], cfg.mid_block_add_attention);
    tb.norm("decoder.conv_norm_out", ch[0]);
    tb.conv("decoder.conv_out", cfg.out_channels, ch[0], 3);

    const int z2 = 2 * cfg.latent_channels;
    if (cfg.use_quant_conv) tb.conv("quant_conv", z2, z2, 1);
    if (cfg.use_post_quant_conv) tb.conv("post_quant_conv", cfg.latent_channels, cfg.latent_channels, 1);
    return tb.t;
}

// --- forward passes -------------------------------------------------------------------------------

Tensor VaeResnet::forward(Backend& be, const Tensor& x, int groups) const {
    // norm1 + SiLU, conv1; norm2 + SiLU, (dropout: identity at inference), conv2; + skip (x, or its 1x1
    // shortcut). Each norm goes into its conv (Backend::group_norm_conv2d); x is added in conv2's
    // epilogue, conv2's output in the shortcut's: made after conv2, the shortcut's output is not alive
    // beside conv2's input and output (the VAE decoder's largest live set, 512² f16: 449 -> 385 MiB).
    const Conv2dParams same3 = Conv2dParams::same(3);
    Tensor h = be.group_norm_conv2d(x, norm1_w, norm1_b, groups, kEps, Act::SiLU, conv1_w, conv1_b, same3);
    if (shortcut_w.empty()) return be.group_norm_conv2d(h, norm2_w, norm2_b, groups, kEps, Act::SiLU, conv2_w, conv2_b, same3, x);
    Tensor y = be.group_norm_conv2d(h, norm2_w, norm2_b, groups, kEps, Act::SiLU, conv2_w, conv2_b, same3);
    h = Tensor();
    return be.conv2d(x, shortcut_w, shortcut_b, Conv2dParams{}, Act::None, y);
}

Tensor VaeAttention::forward(Backend& be, const Tensor& x, int groups) const {
    const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), N = H * W;
    // AttnProcessor2_0 on the tokens (B, HW, C) of the normed x; heads = C / attention_head_dim = 1, so
    // one head of width C, SDPA's default scale 1/sqrt(C). The projections run as 1x1 convs on the NCHW
    // layout (a linear's (out, in) weight is a 1x1 conv's): K stays channel-major, so QK^T and PV are
    // plain products of row-major operands (the GPU's matrix kernels take those), and to_out adds x in
    // its epilogue (residual_connection=True, rescale_output_factor=1; to_out.1 is dropout).
    const Conv2dParams one;
    const auto proj = [&](const Tensor& t, const Tensor& w, const Tensor& b, const Tensor& residual = Tensor()) {
        return be.conv2d(t, w.reshape({C, C, 1, 1}), b, one, Act::None, residual);
    };
    Tensor t = be.group_norm(x, norm_w, norm_b, groups, kEps);
    Tensor kt = proj(t, k_w, k_b).reshape({B, C, N});                  // K^T
    Tensor q = be.transpose12(proj(t, q_w, q_b).reshape({B, C, N}));   // (B, HW, C)
    Tensor v = be.transpose12(proj(t, v_w, v_b).reshape({B, C, N}));   // (B, HW, C)
    t = Tensor();
    Tensor p = be.softmax(be.matmul(q, kt, false, false, (float)(1.0 / std::sqrt((double)C))));  // (B, HW, HW)
    q = kt = Tensor();
    Tensor o = be.transpose12(be.matmul(p, v, false, false));          // (B, C, HW)
    p = v = Tensor();
    return proj(o.reshape({B, C, H, W}), out_w, out_b, x);
}

Tensor VaeMidBlock::forward(Backend& be, const Tensor& x, int groups) const {
    Tensor h = resnet0.forward(be, x, groups);
    if (has_attn) h = attn.forward(be, h, groups);
    return resnet1.forward(be, h, groups);
}

Vae::Vae(const VaeConfig& cfg, const StateDict& sd, Backend& be) : cfg_(cfg), be_(be) {
    check_state_dict(sd, vae_param_table(cfg), "VAE");
    const std::vector<int>& ch = cfg.block_out_channels;
    const int n = (int)ch.size();
    const int L = cfg.layers_per_block;
    Loader ld{sd, be};

    ld.wb("encoder.conv_in", enc_conv_in_w_, enc_conv_in_b_);
    for (int i = 0; i < n; ++i) {
        std::string p = "encoder.down_blocks." + std::to_string(i);
        int cin = i == 0 ? ch[0] : ch[i - 1];
        VaeBlock blk;
        for (int j = 0; j < L; ++j)
            blk.resnets.push_back(ld.resnet(p + ".resnets." + std::to_string(j), j == 0 ? cin : ch[i], ch[i]));
        if (i != n - 1) ld.wb(p + ".downsamplers.0.conv", blk.resample_w, blk.resample_b);
        down_blocks_.push_back(std::move(blk));
    }
    enc_mid_ = ld.mid("encoder.mid_block", ch[n - 1], cfg.mid_block_add_attention);
    ld.wb("encoder.conv_norm_out", enc_norm_out_w_, enc_norm_out_b_);
    ld.wb("encoder.conv_out", enc_conv_out_w_, enc_conv_out_b_);

    ld.wb("decoder.conv_in", dec_conv_in_w_, dec_conv_in_b_);
    for (int i = 0; i < n; ++i) {
        std::string p = "decoder.up_blocks." + std::to_string(i);
        int cin = ch[n - 1 - (i == 0 ? 0 : i - 1)], cout = ch[n - 1 - i];
        VaeBlock blk;
        for (int j = 0; j <= L; ++j)
            blk.resnets.push_back(ld.resnet(p + ".resnets." + std::to_string(j), j == 0 ? cin : cout, cout));
        if (i != n - 1) ld.wb(p + ".upsamplers.0.conv", blk.resample_w, blk.resample_b);
        up_blocks_.push_back(std::move(blk));
    }
    dec_mid_ = ld.mid("decoder.mid_block", ch[n - 1], cfg.mid_block_add_attention);
    ld.wb("decoder.conv_norm_out", dec_norm_out_w_, dec_norm_out_b_);
    ld.wb("decoder.conv_out", dec_conv_out_w_, dec_conv_out_b_);

    if (cfg.use_quant_conv) ld.wb("quant_conv", quant_w_, quant_b_);
    if (cfg.use_post_quant_conv) ld.wb("post_quant_conv", post_quant_w_, post_quant_b_);
}

Tensor Vae::encode_moments(const Tensor& x) {
    const int G = cfg_.norm_num_groups;
    const int64_t down = int64_t(1) << (cfg_.block_out_channels.size() - 1);
    MOEBIUS_CHECK(x.ndim() == 4 && x.dim(1) == cfg_.in_channels && x.dim(2) % down == 0 && x.dim(3) % down == 0,
                  ErrorKind::Invalid,
                  "VAE encode: expected (B," + std::to_string(cfg_.in_channels) + ",H,W) with H, W multiples of " +
                      std::to_string(down) + ", got " + shape_str(x.shape()));
    Tensor h = conv3x3(be_, x, enc_conv_in_w_, enc_conv_in_b_);
    for (const VaeBlock& blk : down_blocks_) {
        for (const VaeResnet& r : blk.resnets) h = r.forward(be_, h, G);
        // Downsample2D(padding=0): F.pad(0,1,0,1) then a 3x3 stride-2 conv.
        if (blk.resample_w.empty()) continue;
        be_.next_level();  // the downsampled tensor is the next level's: it may take a buffer of this one
        h = be_.conv2d(h, blk.resample_w, blk.resample_b, Conv2dParams{2, 0, 0, 1, 1, 1});
        be_.next_level();  // and the downsample's scratch (a padded copy of this level's tensor) goes
    }
    h = enc_mid_.forward(be_, h, G);
    // conv_norm_out + conv_act, conv_out: (B, 2*latent, H/8, W/8)
    h = be_.group_norm_conv2d(h, enc_norm_out_w_, enc_norm_out_b_, G, kEps, Act::SiLU, enc_conv_out_w_, enc_conv_out_b_,
                              Conv2dParams::same(3));
    if (!quant_w_.empty()) h = be_.conv2d(h, quant_w_, quant_b_, Conv2dParams{});
    return h;
}

Tensor Vae::encode_mean(const Tensor& x) {
    Tensor m = encode_moments(x);
    const int64_t B = m.dim(0), lat = cfg_.latent_channels, h = m.dim(2), w = m.dim(3);
    // (B, 2*lat, h, w) viewed as (2B, lat, h, w): row 2b is the mean of item b, row 2b+1 its logvar.
    Tensor halves = m.reshape({2 * B, lat, h, w});
    Tensor mean = be_.slice_batch(halves, 0, 1);
    for (int64_t b = 1; b < B; ++b) mean = be_.concat_batch(mean, be_.slice_batch(halves, 2 * b, 1));
    return mean;
}

Tensor Vae::decode(const Tensor& z) {
    const int G = cfg_.norm_num_groups;
    MOEBIUS_CHECK(z.ndim() == 4 && z.dim(1) == cfg_.latent_channels, ErrorKind::Invalid,
                  "VAE decode: expected (B," + std::to_string(cfg_.latent_channels) + ",h,w), got " +
                      shape_str(z.shape()));
    Tensor h = post_quant_w_.empty() ? z : be_.conv2d(z, post_quant_w_, post_quant_b_, Conv2dParams{});
    h = conv3x3(be_, h, dec_conv_in_w_, dec_conv_in_b_);
    h = dec_mid_.forward(be_, h, G);
    for (const VaeBlock& blk : up_blocks_) {
        for (const VaeResnet& r : blk.resnets) h = r.forward(be_, h, G);
        // Upsample2D: nearest 2x (F.interpolate scale_factor=2) then a 3x3 conv.
        if (!blk.resample_w.empty()) {
            be_.next_level();  // the upsampled tensors are the next level's
            h = be_.upsample_nearest2x_conv2d(h, blk.resample_w, blk.resample_b, Conv2dParams::same(3));
        }
    }
    // conv_norm_out + conv_act, conv_out
    return be_.group_norm_conv2d(h, dec_norm_out_w_, dec_norm_out_b_, G, kEps, Act::SiLU, dec_conv_out_w_, dec_conv_out_b_,
                                 Conv2dParams::same(3));
}

}  // namespace moebius
