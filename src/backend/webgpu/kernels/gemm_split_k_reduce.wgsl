// gemm_split_k_reduce.wgsl: the second pass of a split-K GEMM (gemm_subgroup_matrix_direct.wgsl with
// SPLIT > 1): C[z] = act(alpha * (parts[z, 0] + ... + parts[z, SPLIT - 1]) + bias) (+ res), the parts
// added in order in f32; bias per row (BIAS = 1) or column (2) as in gemm_tiled.wgsl. One thread per
// output element, 1-D grid (folded) over batch * M * N.

alias T = f32;

override ACT: u32 = 0u;
override BIAS: u32 = 0u;
override SPLIT: u32 = 2u;

struct Params {
    M: u32, N: u32, batch: u32,
    alpha: f32,
}

@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read> parts: array<f32>;

// include: residual

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    let mn = p.M * p.N;
    let z = i / mn;
    if (z >= p.batch) { return; }
    let e = i % mn;
    var v = 0.0;
    for (var q = 0u; q < SPLIT; q++) { v += parts[(z * SPLIT + q) * mn + e]; }
    v *= p.alpha;
    if (BIAS == 1u) { v += f32(bias[e / p.N]); }
    if (BIAS == 2u) { v += f32(bias[e % p.N]); }
    c[i] = out_value(v, i);
}
