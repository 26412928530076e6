// gemm_interface.wgsl (included by gemm_tiled.wgsl, gemm_reduce_k.wgsl and the subgroup-matrix GEMMs;
// not a kernel): the storage type, overrides, uniforms and bindings of the batched GEMM (layout: see
// gemm_tiled.wgsl). The kernel defines AB, the type A and B are read as: T, or vec4<u32> (16-byte words
// of 8 f16) where it copies whole rows.

alias T = f32;

override ACT: u32 = 0u;
override BIAS: u32 = 0u;
override A_DIV: u32 = 1u;  // batch item z multiplies A item z / A_DIV (grouped broadcast)

struct Params {
    M: u32, N: u32, K: u32,
    a_sm: u32, a_sk: u32, a_sz: u32,
    b_sk: u32, b_sn: u32, b_sz: u32,
    alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<AB>;
@group(0) @binding(1) var<storage, read> b: array<AB>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> c: array<T>;
@group(0) @binding(4) var<uniform> p: Params;
