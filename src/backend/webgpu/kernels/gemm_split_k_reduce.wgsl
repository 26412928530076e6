// gemm_split_k_reduce.wgsl: the second half of a split-K GEMM (gemm_subgroup_matrix_direct.wgsl with
// SPLIT > 1): C[z](m, n) = act(alpha * sum_s P[z * SPLIT + s](m, n) + bias) (+ res), where the SPLIT
// parts P (f32, row-major M x N each) hold the products over K / SPLIT each, summed here in part order.
// Same Params, bias / activation / residual overrides and bindings as gemm_tiled.wgsl (A and B
// unused), plus the parts.
// Workgroup: 256 invocations, one output each. Grid: (ceil(M*N / 256), batch).

// include: gemm_interface

override SPLIT: u32 = 2u;
@group(0) @binding(6) var<storage, read> parts: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let mn = p.M * p.N;
    let r = wid.x * 256u + li;  // m * N + n
    if (r >= mn) { return; }
    let z = wid.y;
    var v = 0.0;
    for (var s = 0u; s < SPLIT; s++) { v += parts[(z * SPLIT + s) * mn + r]; }
    v *= p.alpha;
    if (BIAS == 1u) { v += f32(bias[r / p.N]); }
    if (BIAS == 2u) { v += f32(bias[r % p.N]); }
    let i = z * mn + r;
    c[i] = out_value(v, i);
}
