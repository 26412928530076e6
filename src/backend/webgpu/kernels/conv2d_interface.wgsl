// conv2d_interface.wgsl (included by conv2d_implicit_gemm.wgsl, conv2d_few_outputs.wgsl and the
// subgroup-matrix convs; not a kernel): the storage type, overrides, uniforms and bindings of conv2d
// (layout: see conv2d_implicit_gemm.wgsl). The kernel defines XW, the type x and w are read as: T, or
// vec4<u32> (16-byte words of 8 f16) where it copies whole rows.

alias T = f32;

override ACT: u32 = 0u;
override HAS_BIAS: bool = false;

struct Params {
    Cin: u32, H: u32, W: u32,
    Cout: u32, Ho: u32, Wo: u32,
    kh: u32, kw: u32, stride: u32,
    pad_t: u32, pad_l: u32, groups: u32,
}

@group(0) @binding(0) var<storage, read> x: array<XW>;
@group(0) @binding(1) var<storage, read> w: array<XW>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;
