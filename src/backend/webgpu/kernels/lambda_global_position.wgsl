// lambda_global_position.wgsl: global (cross) positional lambda (model/lambda.h, upstream
// MultiQueryCrossLambda without r):
//   lambda_p[b,n,k,v] = sum_m e[n,m,k] V[b,v,m];  Yp[b,h,v,n] = sum_k Q[b,h,k,n] lambda_p[b,n,k,v]
// computed in the cheaper order (L, the context length, is 10 in Moebius; k and v are 40..160):
//   QE[n,m] = sum_k Q[b,h,k,n] e[m,k,n]     (phase 1, into workgroup memory)
//   Yp[b,h,v,n] = sum_m QE[n,m] V[b,v,m]    (phase 2)
// Layout: q (B, h, k, N), v (B, vdim, L), e (L, k, N) (upstream's (N, L, k) table stored
// pixel-minor), y (B, h, vdim, N). With HAS_RES, y = Yp + res (res of y's layout: the lambda's
// content term, added here instead of in a pass of its own).
// Workgroup: 256 threads = PT = 16 positions n x 16 lanes j, for one (b, h). Phase 1: lane j sums
//   QE[n, m0 + j] over k (Q and e reads coalesce across n); phase 2: lane j makes Yp[v, n] for
//   v = j, j + 16, ... (V reads are shared by the 16 positions). The earlier one-thread-per-position
//   kernel walked all of k, m and v serially on 64 threads per workgroup: 0.8 ms for N = 256 on an H100.
// Grid: (ceil(N/16), B*h). Any k, v, L; for L > 16 the partial sums of Yp go through y between
//   chunks of m (exact in f32, one extra rounding per chunk with f16 storage).
// main_regs (L <= 16, the model's 10; override LC = L so that the loops over m unroll): a thread per
//   position n and item z = (b, h) keeps all L sums QE[n, m] in registers, so each e value it loads
//   serves the ZW = 16 items of a workgroup from the cache (main reads e once per item, and its phase 1
//   keeps only L of 16 lanes busy); a thread then makes Yp[v, n] for its part of v. Workgroup: 16
//   positions x 16 items. Grid: (ceil(N/16), ceil(B*h / 16), VS parts of v) (ops.js takes VS so that
//   the small levels still have enough workgroups).

alias T = f32;

struct Params { heads: u32, kdim: u32, vdim: u32, N: u32, L: u32, items: u32 }

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read> e: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> res: array<T>;  // bind any buffer when !HAS_RES

override HAS_RES: bool = false;
override LC: u32 = 16u;  // main_regs: L

const PT: u32 = 16u;  // positions per workgroup
const MC: u32 = 16u;  // lanes per position = context positions m per chunk
var<workgroup> qe: array<f32, 256>;  // [MC][PT]

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let pn = li % PT;
    let j = li / PT;
    let n = wid.x * PT + pn;
    let inside = n < p.N;
    let z = wid.y;  // b*heads + hh
    let b = z / p.heads;
    let q_base = z * p.kdim * p.N + n;
    let y_base = z * p.vdim * p.N + n;
    for (var m0 = 0u; m0 < p.L; m0 += MC) {
        let mc = min(MC, p.L - m0);
        var s = 0.0;
        if (inside && j < mc) {
            let e_base = (m0 + j) * p.kdim * p.N + n;
            for (var k = 0u; k < p.kdim; k++) { s += f32(q[q_base + k * p.N]) * f32(e[e_base + k * p.N]); }
        }
        qe[j * PT + pn] = s;
        workgroupBarrier();
        if (inside) {
            for (var vc = j; vc < p.vdim; vc += MC) {
                var acc = 0.0;
                if (m0 > 0u) { acc = f32(y[y_base + vc * p.N]); } else if (HAS_RES) { acc = f32(res[y_base + vc * p.N]); }
                let v_base = (b * p.vdim + vc) * p.L + m0;
                for (var mm = 0u; mm < mc; mm++) { acc += qe[mm * PT + pn] * f32(v[v_base + mm]); }
                y[y_base + vc * p.N] = T(acc);
            }
        }
        workgroupBarrier();
    }
}

const ZW: u32 = 16u;  // main_regs: items a workgroup

@compute @workgroup_size(256, 1, 1)
fn main_regs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) li: u32) {
    let n = wid.x * PT + li % PT;
    let z = wid.y * ZW + li / PT;
    if (n >= p.N || z >= p.items) { return; }
    let b = z / p.heads;
    var qe: array<f32, 16>;  // QE[n, m], m < LC
    let q_base = z * p.kdim * p.N + n;
    for (var k = 0u; k < p.kdim; k++) {
        let qv = f32(q[q_base + k * p.N]);
        for (var m = 0u; m < LC; m++) { qe[m] += qv * f32(e[(m * p.kdim + k) * p.N + n]); }
    }
    let per = (p.vdim + nwg.z - 1u) / nwg.z;
    let y_base = z * p.vdim * p.N + n;
    for (var vc = wid.z * per; vc < min(p.vdim, (wid.z + 1u) * per); vc++) {
        var acc = 0.0;
        if (HAS_RES) { acc = f32(res[y_base + vc * p.N]); }
        let v_base = (b * p.vdim + vc) * LC;
        for (var m = 0u; m < LC; m++) { acc += qe[m] * f32(v[v_base + m]); }
        y[y_base + vc * p.N] = T(acc);
    }
}
