// common.wgsl: helpers that bridge.js prepends to every kernel (not a kernel itself).
//
// Conventions shared by all kernels in this folder:
// - Tensors are contiguous NCHW float arrays. The storage element type is `T`: each kernel file
//   declares `alias T = f32;` and bridge.js builds the f16 variant by replacing that line with
//   `alias T = f16;` (and prepending `enable f16;`). Arithmetic is always f32: loads are `f32(x[i])`,
//   stores `T(v)`. Scratch statistics are always f32.
// - Scalars come in one uniform `struct Params` of 4-byte fields (u32, i32, f32); bridge.js reads
//   the field order from the struct, so the struct is the single source of truth for its layout.
// - 1-D kernels (one thread per output element, or one workgroup per row) receive a 1-D logical grid
//   that bridge.js folds into (x, y, z) when it exceeds maxComputeWorkgroupsPerDimension (65535 by
//   default); they recover the linear workgroup index with wg_index() and bounds-check it.
// - Workgroups stay within WebGPU's default limits (256 invocations, 16 KiB workgroup memory) so
//   every kernel runs on any conformant device.

// Activation codes: the ordinals of the C++ `enum class Act { None, SiLU, ReLU }` (backend.h).
const ACT_NONE: u32 = 0u;
const ACT_SILU: u32 = 1u;
const ACT_RELU: u32 = 2u;

// x * sigmoid(x); exp(-x) overflows to +inf for x < -88 and the quotient is then -0, as in PyTorch.
fn silu(x: f32) -> f32 {
    return x / (1.0 + exp(-x));
}

fn apply_act(x: f32, act: u32) -> f32 {
    switch act {
        case ACT_SILU: { return silu(x); }
        case ACT_RELU: { return max(x, 0.0); }
        default: { return x; }
    }
}

// Linear index of this workgroup in a 1-D logical grid folded into (x, y, z) by bridge.js.
fn wg_index(wid: vec3u, nwg: vec3u) -> u32 {
    return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}
