// resize_nearest.wgsl: F.interpolate(x, size=(OH, OW), mode="nearest") on NCHW, PyTorch's rule
// (ATen UpSample.h nearest_neighbor_compute_source_index):
//   src = min(floor(f32(dst) * scale), in - 1),  scale = f32(in) / f32(out) rounded once to f32.
// The scales are computed in JS (Math.fround(in/out)) because WGSL's f32 division is not
// correctly rounded; the product and floor here are exact-rounded f32 as in ATen's float path.
// Layout: x (B*C, H, W), y (B*C, OH, OW). Workgroup: 256 threads, one output each.
// Grid: 1-D over ceil(n/256) workgroups (folded).

alias T = f32;

struct Params { H: u32, W: u32, OH: u32, OW: u32, scale_h: f32, scale_w: f32, n: u32 }

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    let ox = i % p.OW;
    let oy = (i / p.OW) % p.OH;
    let bc = i / (p.OW * p.OH);
    let sy = min(u32(floor(f32(oy) * p.scale_h)), p.H - 1u);
    let sx = min(u32(floor(f32(ox) * p.scale_w)), p.W - 1u);
    y[i] = x[(bc * p.H + sy) * p.W + sx];
}
