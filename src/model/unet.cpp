#include "model/unet.h"

#include <cmath>

#include "core/error.h"

namespace moebius {

namespace {

// One transformer block per MixTransformer2DModel (diffusers transformer_layers_per_block default 1).
constexpr int kTransformerLayers = 1;
// diffusers GroupNorm eps of Transformer2DModel's input norm (transformer_2d.py _init_continuous_input).
constexpr float kTransformerGroupNormEps = 1e-6f;
// diffusers BasicTransformerBlock LayerNorm eps (MixTransformer2DModel norm_eps default).
constexpr float kLayerNormEps = 1e-5f;
// Timesteps max_period (embeddings.py get_timestep_embedding).
constexpr double kMaxPeriod = 10000.0;

int64_t time_embed_dim(const UNetConfig& c) { return 4 * (int64_t)c.block_out_channels[0]; }  // _set_time_proj
int64_t ffn_hidden(const UNetConfig& c, int64_t dim) { return (int64_t)(dim * (double)c.mix_mlp_ratio); }

// Latent side at each down / up block (the λ position tables are tied to it): the UNet constructor
// halves after every down block but the last and doubles after every up block but the last.
std::vector<int64_t> block_sides(const UNetConfig& c, bool up) {
    const int n = (int)c.block_out_channels.size();
    int64_t side = c.sample_size;
    if (up) side >>= (n - 1);
    std::vector<int64_t> s;
    for (int i = 0; i < n; ++i) {
        s.push_back(side);
        if (i != n - 1) side = up ? side * 2 : side / 2;
    }
    return s;
}

// x with `rows` rows: itself, or its one row (shared by the batch, see UNet::denoise) repeated.
Tensor with_rows(Backend& be, const Tensor& x, int64_t rows) {
    MOEBIUS_CHECK(x.dim(0) == 1 || x.dim(0) == rows, ErrorKind::Internal,
                  "UNet: " + std::to_string(x.dim(0)) + " rows for a batch of " + std::to_string(rows));
    Tensor y = x;
    while (y.dim(0) < rows) y = be.concat_batch(y, x);
    return y;
}

void check_sample(const UNetConfig& c, const Tensor& sample) {
    MOEBIUS_CHECK(sample.ndim() == 4 && sample.dim(1) == c.in_channels && sample.dim(2) == c.sample_size &&
                      sample.dim(3) == c.sample_size,
                  ErrorKind::Invalid,
                  "UNet: expected input (B, " + std::to_string(c.in_channels) + ", " + std::to_string(c.sample_size) +
                      ", " + std::to_string(c.sample_size) + "), got " + shape_str(sample.shape()));
}

// --- parameter table pieces (upstream module order: own parameters, then children in creation order) ---

void resnet_params(ParamTable& t, const std::string& p, int64_t in, int64_t out, int64_t temb) {
    t.norm(p + ".norm1", in);
    t.dw_separable(p + ".conv1", in, out, 3);
    t.linear(p + ".time_emb_proj", out, temb);
    t.norm(p + ".norm2", out);
    t.dw_separable(p + ".conv2", out, out, 3);
    if (in != out) t.conv(p + ".conv_shortcut", out, in, 1);
}

void transformer_params(ParamTable& t, const std::string& p, const UNetConfig& c, int64_t dim, int64_t side) {
    const int64_t heads = c.attention_head_dim, hidden = ffn_hidden(c, dim);
    t.norm(p + ".norm", dim);
    t.conv(p + ".proj_in", dim, dim, 1);
    for (int l = 0; l < kTransformerLayers; ++l) {
        const std::string b = p + ".transformer_blocks." + std::to_string(l);
        t.norm(b + ".norm1", dim);
        self_lambda_params(t, b + ".attn1", dim, heads, c.local_r);
        t.norm(b + ".norm2", dim);
        cross_lambda_params(t, b + ".attn2", dim, heads, c.cross_attention_dim, side, c.num_embeddings / 2);
        t.norm(b + ".norm3", dim);
        t.conv(b + ".ff.inverted_conv.conv", 2 * hidden, dim, 1);
        t.conv(b + ".ff.depth_conv.conv", 2 * hidden, 1, 3);
        t.conv(b + ".ff.point_conv.conv", dim, hidden, 1, false);
    }
    t.conv(p + ".proj_out", dim, dim, 1);
}

}  // namespace

std::vector<ParamSpec> unet_param_table(const UNetConfig& c) {
    ParamTable t;
    const std::vector<int>& ch = c.block_out_channels;
    const int n = (int)ch.size();
    const int64_t temb = time_embed_dim(c);
    t.add("embedding_layer.weight", {c.num_embeddings, c.encoder_hid_dim});
    const std::string d = "diff_model.";
    t.dw_separable(d + "conv_in", c.in_channels, ch[0], c.conv_in_kernel);
    t.linear(d + "time_embedding.linear_1", temb, ch[0]);
    t.linear(d + "time_embedding.linear_2", temb, temb);
    t.linear(d + "encoder_hid_proj", c.cross_attention_dim, c.encoder_hid_dim);

    const std::vector<int64_t> down_side = block_sides(c, false), up_side = block_sides(c, true);
    for (int i = 0; i < n; ++i) {
        const std::string p = d + "down_blocks." + std::to_string(i);
        const int64_t in = ch[i == 0 ? 0 : i - 1], out = ch[i];
        for (int j = 0; j < c.layers_per_block; ++j)
            transformer_params(t, p + ".attentions." + std::to_string(j), c, out, down_side[i]);
        for (int j = 0; j < c.layers_per_block; ++j)
            resnet_params(t, p + ".resnets." + std::to_string(j), j == 0 ? in : out, out, temb);
        if (i != n - 1) t.conv(p + ".downsamplers.0.conv", out, out, 3);
    }
    for (int i = 0; i < n; ++i) {
        const std::string p = d + "up_blocks." + std::to_string(i);
        const int64_t prev = ch[n - 1 - (i == 0 ? 0 : i - 1)], out = ch[n - 1 - i],
                      in = ch[n - 1 - std::min(i + 1, n - 1)];
        const int layers = c.layers_per_block + 1;
        for (int j = 0; j < layers; ++j)
            transformer_params(t, p + ".attentions." + std::to_string(j), c, out, up_side[i]);
        for (int j = 0; j < layers; ++j) {
            const int64_t res_skip = j == layers - 1 ? in : out, res_in = j == 0 ? prev : out;
            resnet_params(t, p + ".resnets." + std::to_string(j), res_in + res_skip, out, temb);
        }
        if (i != n - 1) t.conv(p + ".upsamplers.0.conv", out, out, 3);
    }
    t.norm(d + "conv_norm_out", ch[0]);
    t.dw_separable(d + "conv_out", ch[0], c.out_channels, c.conv_out_kernel);
    return t.v;
}

std::vector<int64_t> cfg_ids(const UNetConfig& c) {
    const int half = c.num_embeddings / 2;
    std::vector<int64_t> ids;
    for (int i = half; i < c.num_embeddings; ++i) ids.push_back(i);  // unconditional
    for (int i = 0; i < half; ++i) ids.push_back(i);                 // conditional
    return ids;
}

std::vector<float> timestep_features(float t, int dim, bool flip_sin_to_cos, int freq_shift) {
    // torch: exponent = -math.log(max_period) * arange(half, float32) / (half - shift); emb = exp(exponent);
    // emb = t.float() * emb; cat(sin, cos). Every step rounds to float32: the Python scalars enter as
    // floats, and torch's CUDA division by a scalar multiplies by its float32 reciprocal (the reference
    // ran on CUDA). exp / sin / cos are taken in double and rounded once (correctly rounded, the same
    // on every platform); CUDA's expf is within 2 ulp of that, which moves the t=900 features by up to
    // ~900 ulp(emb) — part of upstream's own device-to-device spread.
    const int half = dim / 2;
    const float neg_log = (float)(-std::log(kMaxPeriod));
    const float inv_den = 1.0f / (float)(half - freq_shift);
    std::vector<float> out(dim, 0.0f);  // odd dim: zero pad at the end
    for (int i = 0; i < half; ++i) {
        const float exponent = (neg_log * (float)i) * inv_den;
        const float arg = t * (float)std::exp((double)exponent);
        const float s = (float)std::sin((double)arg), co = (float)std::cos((double)arg);
        out[flip_sin_to_cos ? half + i : i] = s;
        out[flip_sin_to_cos ? i : half + i] = co;
    }
    return out;
}

// --- blocks ---

Tensor ResnetBlock::forward(Backend& be, const Tensor& x, const Tensor& temb_act) const {
    // h = conv1(norm1 + SiLU x) + time_emb_proj(temb): conv1's pointwise bias is in time_emb_proj's
    // (load_resnet), and a time embedding of one row (the CFG rows' shared timestep) is conv1's output
    // bias, with no pass of its own.
    Tensor t = time_emb_proj(be, temb_act);  // (rows, out)
    Tensor h = t.dim(0) == 1 ? conv1(be, norm1(be, x), t.reshape({t.dim(1)}))
                             : be.add(conv1(be, norm1(be, x)), t.reshape({t.dim(0), t.dim(1), 1, 1}));
    h = conv2(be, norm2(be, h));  // norm2 + SiLU, dropout (eval: none), conv2
    // shortcut(x) + h, output_scale_factor 1: the 1×1 shortcut adds h in its own epilogue
    return conv_shortcut ? (*conv_shortcut)(be, x, h) : be.add(x, h);
}

Tensor MixFFN::forward(Backend& be, const Tensor& x, const Tensor& residual) const {
    const Tensor h = inverted_conv(be, x);  // (B, 2·hidden, H, W)
    const Conv2d& dw = depth_conv;
    return point_conv(be, be.conv2d_glu_silu(h, dw.w, dw.b, dw.p, dw.act), residual);  // chunk(2): x * silu(gate)
}

Tensor MixTransformerBlock::forward(Backend& be, const Tensor& x, const CrossContext& ctx, DebugTaps* taps) const {
    // Each skip is added inside the layer it follows (the attentions' last kernels, ff's point_conv).
    Tensor n1 = norm1(be, x);
    Tensor h1 = attn1.forward(be, n1, x);  // attn1(norm1 x) + x
    Tensor n2 = norm2(be, h1);
    if (taps) {  // the attentions' own outputs, recovered from the sums
        taps->put("self_lambda_in", n1);
        taps->put("self_lambda", be.axpby(1.0f, h1, -1.0f, x));
    }
    // A row shared by the context's rows is repeated here, for the first layer that tells them apart.
    h1 = with_rows(be, h1, ctx.states.dim(0));
    n2 = with_rows(be, n2, ctx.states.dim(0));
    Tensor h2 = attn2.forward(be, n2, ctx, h1);  // attn2(norm2 h1) + h1
    if (taps) {
        taps->put("cross_lambda_in", n2);
        taps->put("cross_lambda_ctx", ctx.states);
        taps->put("cross_lambda", be.axpby(1.0f, h2, -1.0f, h1));
    }
    return ff.forward(be, norm3(be, h2), h2);  // ff(norm3 h2) + h2
}

Tensor MixTransformer2D::forward(Backend& be, const Tensor& x, const CrossContext& ctx, DebugTaps* taps) const {
    Tensor h = proj_in(be, norm(be, x));
    for (const MixTransformerBlock& b : transformer_blocks) {
        h = b.forward(be, h, ctx, taps);
        taps = nullptr;  // only the first block is tapped
    }
    return proj_out(be, h, with_rows(be, x, h.dim(0)));  // proj_out(h) + x
}

// --- loading ---

namespace {

ResnetBlock load_resnet(const WeightLoader& ld, const std::string& p, const UNetConfig& c) {
    ResnetBlock r;
    r.norm1 = load_group_norm(ld, p + ".norm1", c.norm_num_groups, c.norm_eps, Act::SiLU);
    r.conv1 = load_dw_separable(ld, p + ".conv1");
    r.time_emb_proj = load_linear(ld, p + ".time_emb_proj");
    // Both are per-channel constants added to conv1's output: one bias, applied where ResnetBlock::forward
    // adds the time embedding.
    r.time_emb_proj.b = ld.backend().add(r.time_emb_proj.b, r.conv1.pw.b);
    r.conv1.pw.b = Tensor();
    r.norm2 = load_group_norm(ld, p + ".norm2", c.norm_num_groups, c.norm_eps, Act::SiLU);
    r.conv2 = load_dw_separable(ld, p + ".conv2");
    if (ld.shape(p + ".norm1.weight")[0] != ld.shape(p + ".norm2.weight")[0])
        r.conv_shortcut = load_conv2d(ld, p + ".conv_shortcut");
    return r;
}

MixTransformer2D load_transformer(const WeightLoader& ld, const std::string& p, const UNetConfig& c) {
    MixTransformer2D m;
    m.norm = load_group_norm(ld, p + ".norm", c.norm_num_groups, kTransformerGroupNormEps);
    m.proj_in = load_conv2d(ld, p + ".proj_in");
    for (int l = 0; l < kTransformerLayers; ++l) {
        const std::string b = p + ".transformer_blocks." + std::to_string(l);
        MixTransformerBlock blk;
        blk.norm1 = load_layer_norm(ld, b + ".norm1", kLayerNormEps);
        blk.attn1 = SelfLambda(ld, b + ".attn1", c.attention_head_dim);
        blk.norm2 = load_layer_norm(ld, b + ".norm2", kLayerNormEps);
        blk.attn2 = CrossLambda(ld, b + ".attn2", c.attention_head_dim);
        blk.norm3 = load_layer_norm(ld, b + ".norm3", kLayerNormEps);
        const int depth_groups = (int)ld.shape(b + ".ff.depth_conv.conv.weight")[0];
        blk.ff.inverted_conv = load_conv2d(ld, b + ".ff.inverted_conv.conv", true, Act::SiLU);
        blk.ff.depth_conv = load_conv2d(ld, b + ".ff.depth_conv.conv", true, Act::None, 1, depth_groups);
        blk.ff.point_conv = load_conv2d(ld, b + ".ff.point_conv.conv", false);
        m.transformer_blocks.push_back(std::move(blk));
    }
    m.proj_out = load_conv2d(ld, p + ".proj_out");
    return m;
}

UNetBlock load_block(const WeightLoader& ld, const std::string& p, const UNetConfig& c, int layers, bool down,
                     bool resample) {
    UNetBlock blk;
    for (int j = 0; j < layers; ++j) {
        blk.attentions.push_back(load_transformer(ld, p + ".attentions." + std::to_string(j), c));
        blk.resnets.push_back(load_resnet(ld, p + ".resnets." + std::to_string(j), c));
    }
    if (resample && down) blk.downsampler = load_conv2d(ld, p + ".downsamplers.0.conv", true, Act::None, 2);
    if (resample && !down) blk.upsampler = load_conv2d(ld, p + ".upsamplers.0.conv");
    return blk;
}

}  // namespace

UNet::UNet(const UNetConfig& c, const StateDict& sd, Backend& be) : cfg_(c), be_(be) {
    check_state_dict(sd, unet_param_table(c), "UNet");
    WeightLoader ld(sd, be);
    const std::string d = "diff_model.";
    embedding_ = ld.host("embedding_layer.weight");
    conv_in = load_dw_separable(ld, d + "conv_in");
    time_linear_1 = load_linear(ld, d + "time_embedding.linear_1", true, Act::SiLU);
    time_linear_2 = load_linear(ld, d + "time_embedding.linear_2");
    encoder_hid_proj = load_linear(ld, d + "encoder_hid_proj");
    const int n = (int)c.block_out_channels.size();
    for (int i = 0; i < n; ++i)
        down_blocks.push_back(load_block(ld, d + "down_blocks." + std::to_string(i), c, c.layers_per_block, true,
                                         i != n - 1));
    for (int i = 0; i < n; ++i)
        up_blocks.push_back(load_block(ld, d + "up_blocks." + std::to_string(i), c, c.layers_per_block + 1, false,
                                       i != n - 1));
    conv_norm_out = load_group_norm(ld, d + "conv_norm_out", c.norm_num_groups, c.norm_eps, Act::SiLU);
    conv_out = load_dw_separable(ld, d + "conv_out");
}

Tensor UNet::time_embedding(float timestep, int64_t batch) const {
    const int dim = cfg_.block_out_channels[0];  // timestep_input_dim
    const std::vector<float> f = timestep_features(timestep, dim, cfg_.flip_sin_to_cos, cfg_.freq_shift);
    std::vector<float> rows;
    for (int64_t b = 0; b < batch; ++b) rows.insert(rows.end(), f.begin(), f.end());  // timesteps.expand(B)
    Tensor t = be_.upload({batch, dim}, rows);
    return time_linear_2(be_, time_linear_1(be_, t));
}

Tensor UNet::encoder_hidden_states(const std::vector<int64_t>& ids, int64_t batch) const {
    const int64_t L = cfg_.num_embeddings / 2, D = cfg_.encoder_hid_dim;
    MOEBIUS_CHECK((int64_t)ids.size() == batch * L, ErrorKind::Invalid,
                  "UNet: expected " + std::to_string(batch) + " rows of " + std::to_string(L) + " ids, got " +
                      std::to_string(ids.size()) + " ids");
    std::vector<float> e(batch * L * D);
    for (size_t i = 0; i < ids.size(); ++i) {
        MOEBIUS_CHECK(ids[i] >= 0 && ids[i] < cfg_.num_embeddings, ErrorKind::Invalid,
                      "UNet: embedding id " + std::to_string(ids[i]) + " out of range");
        std::copy_n(embedding_.begin() + ids[i] * D, D, e.begin() + i * D);
    }
    return encoder_hid_proj(be_, be_.upload({batch, L, D}, e));  // (B, L, cross_attention_dim)
}

const CrossContext& UNet::cross_context(const std::vector<int64_t>& ids, int64_t batch) const {
    if (context_.stamp == 0 || ids != context_ids_) {
        context_ = {encoder_hidden_states(ids, batch), CrossContext::next_stamp()};
        context_ids_ = ids;
    }
    return context_;
}

Tensor UNet::forward(const Tensor& sample, float timestep, const std::vector<int64_t>& ids, DebugTaps* taps) const {
    check_sample(cfg_, sample);
    return denoise(sample, timestep, cross_context(ids, sample.dim(0)), taps);
}

Tensor UNet::denoise(const Tensor& sample, float timestep, const CrossContext& ctx, DebugTaps* taps) const {
    Backend& be = be_;
    const int64_t B = ctx.states.dim(0);
    const int n = (int)down_blocks.size();
    auto tap = [&](const std::string& name, const Tensor& x) {
        if (taps) taps->put(name, x);
    };

    // 1. time; DWResnetBlock2D applies its nonlinearity to temb before time_emb_proj, once for all blocks.
    // As many rows as the sample: for a shared row, ResnetBlock's add broadcasts it over the batch.
    Tensor temb = time_embedding(timestep, sample.dim(0));
    tap("time_emb", temb);
    Tensor temb_act = be.act(temb, Act::SiLU);
    tap("encoder_hidden_states", ctx.states);

    // 2. pre-process
    Tensor h = conv_in(be, sample);
    tap("conv_in", h);

    // 3. down: every (resnet, attention) pair and every downsampler output is kept for the up path, with B
    // rows (a shared row parts inside down_blocks[0]'s first attention; conv_in's output is repeated here)
    std::vector<Tensor> res{with_rows(be, h, B)};
    for (int i = 0; i < n; ++i) {
        const UNetBlock& blk = down_blocks[i];
        for (size_t j = 0; j < blk.resnets.size(); ++j) {
            h = blk.resnets[j].forward(be, h, temb_act);
            h = blk.attentions[j].forward(be, h, ctx, i == 0 && j == 0 ? taps : nullptr);
            res.push_back(h);
        }
        if (blk.downsampler) {
            h = (*blk.downsampler)(be, h);
            res.push_back(h);
        }
        tap("down" + std::to_string(i), h);
    }

    // 4. no mid block. 5. up: each resnet takes cat([h, skip]) with the skips popped last-in first-out
    for (int i = 0; i < n; ++i) {
        const UNetBlock& blk = up_blocks[i];
        for (size_t j = 0; j < blk.resnets.size(); ++j) {
            h = be.concat_channels(h, res.back());
            res.pop_back();
            h = blk.resnets[j].forward(be, h, temb_act);
            h = blk.attentions[j].forward(be, h, ctx, nullptr);
        }
        if (blk.upsampler) {  // nearest 2x, then the conv (one op: some backends make the upsampled input on the way)
            const Conv2d& up = *blk.upsampler;
            h = be.upsample_nearest2x_conv2d(h, up.w, up.b, up.p);
        }
        tap("up" + std::to_string(i), h);
    }

    // 6. post-process
    h = conv_norm_out(be, h);  // GroupNorm + SiLU
    tap("conv_out_in", h);
    return conv_out(be, h);
}

Tensor UNet::forward_cfg(const Tensor& latents, const Tensor& mask_latent, const Tensor& masked_latents,
                         float timestep, float guidance) const {
    MOEBIUS_CHECK(latents.dim(0) == 1 && mask_latent.dim(0) == 1 && masked_latents.dim(0) == 1, ErrorKind::Invalid,
                  "UNet::forward_cfg: expects a batch of one image");
    Tensor x = be_.concat_channels(be_.concat_channels(latents, mask_latent), masked_latents);  // (1, 9, S, S)
    check_sample(cfg_, x);
    // [uncond; cond] share the input and differ only in the cross-λ context: x goes in as one shared row, so
    // that the layers before the first cross-λ run at batch 1 (see denoise).
    Tensor noise = denoise(x, timestep, cross_context(cfg_ids(cfg_), 2), nullptr);
    return be_.cfg_combine(noise, guidance);
}

}  // namespace moebius
