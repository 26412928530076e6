// convert.wgsl: copies between f32 and the storage type T, on the GPU: the f16 bridge's uploads
// (writeF32: f32 values into an f32 staging buffer, then to_storage_main) and readbacks (readF32:
// to_f32_main into an f32 staging buffer, then a copy to the CPU) of large tensors, instead of a
// conversion of every value in JS. T(x) rounds to the nearest f16 (ties to even), as f32ToF16Array;
// f32(x) is exact. One thread per element, 1-D grid (folded); dst_off offsets the T side.

alias T = f32;

struct Params {
    n: u32,
    off: u32,
}

@group(0) @binding(0) var<storage, read> src32: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<storage, read> src: array<T>;
@group(0) @binding(3) var<storage, read_write> dst32: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn to_storage_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    dst[p.off + i] = T(src32[i]);
}

@compute @workgroup_size(256, 1, 1)
fn to_f32_main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    dst32[i] = f32(src[p.off + i]);
}
