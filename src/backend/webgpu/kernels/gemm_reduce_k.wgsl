// gemm_reduce_k.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * op(A[z]) * op(B[z]) + bias) for
// small outputs with a long reduction: the linears on 2-20 rows (time embedding, its per-block
// projections) and the self-lambda's k x v content lambdas (40 x 40 outputs, K = 4096 pixels).
// A tiled kernel gives such shapes a handful of workgroups that each walk all of K; here K is
// spread over 32 lanes per output. Same Params, bindings, layout and bias/activation overrides as
// gemm_tiled.wgsl (see there), so ops.js picks one or the other per call.
//
// Workgroup: 256 invocations = CN output columns x 32 lanes (lane fastest) for one row m of C:
//   lane l of column n sums A(m, k) B(k, n) over k = l, l + 32, ... (consecutive lanes read
//   consecutive k: coalesced when A and B are k-contiguous, as in both uses above), then the 32
//   partial sums are added in workgroup memory (a 5-level tree). Accumulation f32.
// Grid: (ceil(N/CN), M, batch).

// include: gemm_interface
alias AB = T;
// include: residual

const CN: u32 = 8u;      // output columns per workgroup
const LANES: u32 = 32u;  // invocations per output

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
    let lane = li % LANES;
    let col = li / LANES;
    let m = wid.y;
    let n = wid.x * CN + col;
    let z = wid.z;

    var acc = 0.0;
    if (n < p.N) {
        let a_row = (z / A_DIV) * p.a_sz + m * p.a_sm;
        let b_col = z * p.b_sz + n * p.b_sn;
        for (var k = lane; k < p.K; k += LANES) {
            acc += f32(a[a_row + k * p.a_sk]) * f32(b[b_col + k * p.b_sk]);
        }
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) { partial[li] += partial[li + s]; }
        workgroupBarrier();
    }
    if (lane == 0u && n < p.N) {
        var v = p.alpha * partial[li];
        if (BIAS == 1u) { v += f32(bias[m]); }
        if (BIAS == 2u) { v += f32(bias[n]); }
        let i = z * p.M * p.N + m * p.N + n;
        c[i] = out_value(v, i);
    }
}
