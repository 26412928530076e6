// lambda_local_position.wgsl: the gather half of the local positional lambda (model/lambda.h,
// upstream MultiQuerySelfLambda with r set). Upstream computes lambda_p = Conv3d(1, k, (1, r, r),
// pad r/2)(V) and Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,k,v,n]; reassociated, with t = dy*r + dx:
//   QW[b,h,t,n] = sum_k Q[b,h,k,n] w[k,t], QW[b,h,r*r,n] = sum_k Q[b,h,k,n] bias[k]
//                                   (one GEMM run first by ops.js, A from lambda_local_weights.wgsl)
//   Yp[b,h,v,n] = QW[b,h,r*r,n] + sum_t QW[b,h,t,n] * V[b, v, y + dy - r/2, x + dx - r/2]
//                                   (this kernel; V is 0 outside the picture)
// where n = y*W + x. Conv3d is a cross-correlation, hence +dy, +dx. With HAS_RES, y = Yp + res (the
// lambda's content term, added here instead of in a pass of its own).
// Layout: qw (B*h, r*r + 1, N), v (B, vdim, N), y and res (B, h, vdim, N); N = H*W.
// Workgroup: 16x16 threads = a 16x16 pixel tile of one (b, h) and VB value channels (VB = 4: one
//   vec4; ops.js defines VB = 8 on the f16 path). The (16+R-1)^2 halo of those channels of V sits in
//   workgroup memory as T (<= 14,400 B for R <= 15 in f32 with VB = 4 or f16 with VB = 8); each
//   thread reads its R*R + 1 QW entries (coalesced across the tile rows) once per VB channels.
//   R is an override (the pipeline is specialised per r), so the tap loops have constant trip counts.
// Grid: (ceil(W/16)*ceil(H/16), ceil(vdim/VB), B*h). Assumes R odd, R <= 15 (ops.js checks).

alias T = f32;

struct Params { heads: u32, vdim: u32, H: u32, W: u32, tiles_x: u32 }

@group(0) @binding(0) var<storage, read> qw: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> res: array<T>;  // bind any buffer when !HAS_RES

override R: u32 = 15u;
override HAS_RES: bool = false;
const TS: u32 = 16u;
const VB: u32 = 4u;          // value channels a workgroup: 4 or 8
const NV: u32 = VB / 4u;     // vec4s of them per halo pixel
var<workgroup> vt: array<vec4<T>, 900u * NV>;  // [side*side][NV], side = TS + R - 1 <= 30

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
    let N = p.H * p.W;
    let z = wid.z;                // b*heads + hh
    let b = z / p.heads;
    let v0 = wid.y * VB;
    let ty0 = (wid.x / p.tiles_x) * TS;
    let tx0 = (wid.x % p.tiles_x) * TS;
    let half = i32(R / 2u);
    let side = TS + R - 1u;

    for (var idx = li; idx < side * side; idx += 256u) {
        let gy = i32(ty0 + idx / side) - half;
        let gx = i32(tx0 + idx % side) - half;
        let inside = gy >= 0 && gy < i32(p.H) && gx >= 0 && gx < i32(p.W);
        let at = (b * p.vdim + v0) * N + u32(max(gy, 0)) * p.W + u32(max(gx, 0));
        for (var j = 0u; j < NV; j++) {
            var val = vec4<T>(0.0);
            for (var c = 0u; c < 4u; c++) {
                if (inside && v0 + 4u * j + c < p.vdim) { val[c] = v[at + (4u * j + c) * N]; }
            }
            vt[idx * NV + j] = val;
        }
    }
    workgroupBarrier();

    let py = ty0 + lid.y;
    let px = tx0 + lid.x;
    if (py >= p.H || px >= p.W) { return; }
    let n = py * p.W + px;

    let qw_base = z * (R * R + 1u) * N + n;
    let q_bias = f32(qw[qw_base + R * R * N]);
    var acc0 = vec4<f32>(q_bias);
    var acc1 = vec4<f32>(q_bias);
    for (var dy = 0u; dy < R; dy++) {
        let row = (lid.y + dy) * side + lid.x;
        let qrow = qw_base + dy * R * N;
        for (var dx = 0u; dx < R; dx++) {
            let q = f32(qw[qrow + dx * N]);
            acc0 += q * vec4<f32>(vt[(row + dx) * NV]);
            if (NV == 2u) { acc1 += q * vec4<f32>(vt[(row + dx) * NV + 1u]); }
        }
    }
    for (var c = 0u; c < VB; c++) {
        let vc = v0 + c;
        if (vc < p.vdim) {
            let i = (z * p.vdim + vc) * N + n;
            var o = select(acc1[c % 4u], acc0[c % 4u], c < 4u);
            if (HAS_RES) { o += f32(res[i]); }
            y[i] = T(o);
        }
    }
}
