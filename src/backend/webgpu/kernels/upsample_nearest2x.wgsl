// upsample_nearest2x.wgsl: F.interpolate(x, scale_factor=2, mode="nearest") on NCHW:
//   y[bc, oy, ox] = x[bc, oy/2, ox/2].
// Layout: x (B*C, H, W), y (B*C, 2H, 2W). Workgroup: 256 threads, one output each.
// Grid: 1-D over ceil(n/256) workgroups (folded).

alias T = f32;

struct Params { H: u32, W: u32, n: u32 }  // n = B*C*2H*2W

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let i = wg_index(wid, nwg) * 256u + li;
    if (i >= p.n) { return; }
    let ow = 2u * p.W;
    let ox = i % ow;
    let oy = (i / ow) % (2u * p.H);
    let bc = i / (ow * 2u * p.H);
    y[i] = x[(bc * p.H + oy / 2u) * p.W + ox / 2u];
}
