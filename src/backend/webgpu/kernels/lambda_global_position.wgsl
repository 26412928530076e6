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

alias T = f32;

struct Params { heads: u32, kdim: u32, vdim: u32, N: u32, L: u32 }

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read> e: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> res: array<T>;  // bind any buffer when !HAS_RES

override HAS_RES: bool = false;

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
