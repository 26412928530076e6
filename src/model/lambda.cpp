#include "model/lambda.h"

#include <atomic>

#include "core/error.h"

namespace moebius {

Tensor lambda_content(Backend& be, const Tensor& q, const Tensor& lambda_c, const Tensor& residual) {
    const int64_t B = q.dim(0), h = q.dim(1), k = q.dim(2), N = q.dim(3), v = lambda_c.dim(2);
    // λc of image b (k, v) is shared by its h heads: λcᵀ (v, k) · q[b, hh] (k, N) for the B·h items
    // (matmul's grouped broadcast: λc item i / h).
    const Tensor r = residual.empty() ? residual : residual.reshape({B * h, v, N});
    Tensor y = be.matmul(lambda_c, q.reshape({B * h, k, N}), /*ta=*/true, /*tb=*/false, 1.0f, r);  // (B·h, v, N)
    return y.reshape({B, h, v, N});
}

// --- self ---

SelfLambda::SelfLambda(const WeightLoader& ld, const std::string& prefix, int heads_) : heads(heads_) {
    to_q = load_conv2d_bn(ld, prefix + ".to_q", prefix + ".norm_q");
    to_k = load_conv2d(ld, prefix + ".to_k", /*bias=*/false);
    to_v = load_conv2d_bn(ld, prefix + ".to_v", prefix + ".norm_v");
    const Shape& pw = ld.shape(prefix + ".pos_conv.weight");  // (k, u=1, 1, r, r)
    dim_k = (int)pw[0];
    r = (int)pw[4];
    dim_v = (int)to_v.w.dim(0);
    MOEBIUS_CHECK(pw[1] == 1 && to_q.w.dim(0) == (int64_t)heads * dim_k && to_k.w.dim(0) == dim_k, ErrorKind::Model,
                  prefix + ": unexpected lambda layer shapes (dim_u must be 1)");
    pos_w = ld.tensor(prefix + ".pos_conv.weight", {dim_k, (int64_t)r * r});
    pos_b = ld.tensor(prefix + ".pos_conv.bias");
}

Tensor SelfLambda::forward(Backend& be, const Tensor& x, const Tensor& residual) const {
    const int64_t B = x.dim(0), H = x.dim(2), W = x.dim(3), N = H * W;
    Tensor q = to_q(be, x).reshape({B, heads, dim_k, N});
    Tensor k = be.softmax(to_k(be, x).reshape({B, dim_k, N}));  // softmax over positions
    Tensor v = to_v(be, x).reshape({B, dim_v, N});
    Tensor lambda_c = be.matmul(k, v, false, /*tb=*/true);  // (B, k, v) = Σ_m K[k,m] V[v,m]
    Tensor yc = lambda_content(be, q, lambda_c, residual);                           // (+ residual)
    Tensor y = be.lambda_local_position(q, v, pos_w, pos_b, (int)H, (int)W, r, yc);  // Yp + Yc, (B, h, v, N)
    return y.reshape({B, (int64_t)heads * dim_v, H, W});
}

// --- cross ---

CrossLambda::CrossLambda(const WeightLoader& ld, const std::string& prefix, int heads_) : heads(heads_) {
    to_q = load_conv2d_bn(ld, prefix + ".to_q", prefix + ".norm_q");
    to_k = load_linear(ld, prefix + ".to_k", /*bias=*/false);
    {
        std::vector<float> w = ld.host(prefix + ".to_v.weight"), b;
        fold_batch_norm(w, b, load_batch_norm(ld, prefix + ".norm_v"));
        const Shape& s = ld.shape(prefix + ".to_v.weight");
        to_v.w = ld.backend().upload(s, w);
        to_v.b = ld.backend().upload({s[0]}, b);
    }
    const Shape& e = ld.shape(prefix + ".rel_pos_emb");  // (n·n, m, k, u=1)
    dim_k = (int)e[2];
    dim_v = (int)to_v.w.dim(0);
    MOEBIUS_CHECK(e[3] == 1 && to_q.w.dim(0) == (int64_t)heads * dim_k && to_k.w.dim(0) == dim_k, ErrorKind::Model,
                  prefix + ": unexpected lambda layer shapes (dim_u must be 1)");
    // (N, L, k) -> (L, k, N): the layout Backend::lambda_global_position reads coalesced.
    const std::vector<float> t = ld.host(prefix + ".rel_pos_emb");
    const int64_t N = e[0], L = e[1], K = e[2];
    std::vector<float> lkn(t.size());
    for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < L; ++m)
            for (int64_t kk = 0; kk < K; ++kk) lkn[(m * K + kk) * N + n] = t[(n * L + m) * K + kk];
    rel_pos = ld.backend().upload({L, K, N}, lkn);
}

uint64_t CrossContext::next_stamp() {
    static std::atomic<uint64_t> stamp{0};
    return ++stamp;
}

Tensor CrossLambda::forward(Backend& be, const Tensor& x, const CrossContext& context, const Tensor& residual) const {
    const Tensor& c = context.states;
    const int64_t B = x.dim(0), H = x.dim(2), W = x.dim(3), N = H * W;
    MOEBIUS_CHECK(N == rel_pos.dim(2) && c.dim(1) == rel_pos.dim(0), ErrorKind::Invalid,
                  "cross lambda: position table is for " + std::to_string(rel_pos.dim(2)) + " pixels and " +
                      std::to_string(rel_pos.dim(0)) + " context tokens, got " + std::to_string(N) + " and " +
                      std::to_string(c.dim(1)));
    if (context.stamp == 0 || context.stamp != cached_stamp_) {
        Tensor k = be.softmax(be.transpose12(to_k(be, c)));     // (B, k, M), softmax over the M tokens
        cached_v_ = be.transpose12(to_v(be, c));                // (B, v, M)
        cached_lambda_c_ = be.matmul(k, cached_v_, false, /*tb=*/true);  // (B, k, v)
        cached_stamp_ = context.stamp;
    }
    Tensor q = to_q(be, x).reshape({B, heads, dim_k, N});
    Tensor yc = lambda_content(be, q, cached_lambda_c_, residual);  // (+ residual)
    Tensor y = be.lambda_global_position(q, cached_v_, rel_pos, yc);  // Yp + Yc, (B, h, v, N)
    return y.reshape({B, (int64_t)heads * dim_v, H, W});
}

// --- parameter tables ---

void self_lambda_params(ParamTable& t, const std::string& p, int64_t dim, int64_t heads, int64_t r) {
    const int64_t dim_k = dim / heads, dim_v = dim / heads;  // dim_k = attention_head_dim, dim_out = dim
    t.conv(p + ".to_q", dim_k * heads, dim, 1, false);
    t.conv(p + ".to_k", dim_k, dim, 1, false);
    t.conv(p + ".to_v", dim_v, dim, 1, false);
    t.batch_norm(p + ".norm_q", dim_k * heads);
    t.batch_norm(p + ".norm_v", dim_v);
    t.add(p + ".pos_conv.weight", {dim_k, 1, 1, r, r});
    t.add(p + ".pos_conv.bias", {dim_k});
}

void cross_lambda_params(ParamTable& t, const std::string& p, int64_t dim, int64_t heads, int64_t dim_cross, int64_t n,
                         int64_t m) {
    const int64_t dim_k = dim / heads, dim_v = dim / heads;
    t.add(p + ".rel_pos_emb", {n * n, m, dim_k, 1});  // a module's own parameters come before its children's
    t.conv(p + ".to_q", dim_k * heads, dim, 1, false);
    t.linear(p + ".to_k", dim_k, dim_cross, false);
    t.linear(p + ".to_v", dim_v, dim_cross, false);
    t.batch_norm(p + ".norm_q", dim_k * heads);
    t.batch_norm(p + ".norm_v", dim_v);
}

}  // namespace moebius
