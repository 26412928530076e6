// gemm_subgroup_matrix_direct.wgsl: gemm_tiled.wgsl's batched C[z] = act(alpha * A[z] * B[z] + bias)
// on the GPU's matrix units, each subgroup loading its matrices straight from storage (no
// workgroup tiles, no barriers in the K loop): the caches give the reuse between subgroups.
// gemm_subgroup_matrix.wgsl stages its tiles through workgroup memory, which WGSL can only fill
// one f16 at a time: those stores, not the matrix units, bound it.
//
// Whole tiles only: A row-major (M, K), B row-major (K, N) (a_sk = b_sn = 1), M a multiple of TM,
// N of TN, K of SK (ops.js checks; other shapes use gemm_subgroup_matrix). Same Params and
// bindings as gemm_tiled.wgsl, f16 storage (f16 x f16 -> f32 on the matrix units).
//
// Per workgroup a TM x TN tile of C: SGM x SGN subgroups, each owning QM x QN result matrices
// (a (QM*SM) x (QN*SN) block). K steps of SK: the next step's QM left and QN right matrices are
// loaded while the current ones multiply. Epilogue: each subgroup passes its results through its
// own slot of workgroup memory (f32), where its invocations apply alpha, bias and activation.
// Grid: (N / TN, M / TM, batch).

enable subgroups;
enable chromium_experimental_subgroup_matrix;
// Offsets differ per subgroup (uniform within one): not provable at workgroup scope.
diagnostic(off, chromium.subgroup_matrix_uniformity);

// include: gemm_interface

// Subgroup matrix shape (M x K left, K x N right); ops.js defines them from the adapter's config.
const SM: u32 = 16u;
const SN: u32 = 16u;
const SK: u32 = 16u;
const QM: u32 = 2u;        // result matrices per subgroup, down
const QN: u32 = 4u;        // and across
const SGM: u32 = 2u;       // subgroups down
const SGN: u32 = 2u;       // and across
const NSG: u32 = 4u;       // SGM * SGN
const WG: u32 = 128u;      // 32 * NSG
const TM: u32 = 64u;       // SGM * QM * SM
const TN: u32 = 128u;      // SGN * QN * SN

var<workgroup> Cs: array<f32, NSG * SM * SN>;  // one result matrix per subgroup, for the epilogue

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_id) s: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let z = wid.z;
    let m0 = wid.y * TM + (s / SGN) * QM * SM;  // this subgroup's block of C
    let n0 = wid.x * TN + (s % SGN) * QN * SN;
    let a0 = (z / A_DIV) * p.a_sz + m0 * p.a_sm;
    let b0 = z * p.b_sz + n0;

    var acc: array<array<subgroup_matrix_result<f32, SN, SM>, QN>, QM>;
    var left: array<subgroup_matrix_left<T, SK, SM>, QM>;
    var right: array<subgroup_matrix_right<T, SN, SK>, QN>;
    for (var i = 0u; i < QM; i++) {
        left[i] = subgroupMatrixLoad<subgroup_matrix_left<T, SK, SM>>(&a, a0 + i * SM * p.a_sm, false, p.a_sm);
    }
    for (var j = 0u; j < QN; j++) {
        right[j] = subgroupMatrixLoad<subgroup_matrix_right<T, SN, SK>>(&b, b0 + j * SN, false, p.b_sk);
    }
    for (var k = 0u; k < p.K; k += SK) {
        // Next step's matrices (the last step reloads its own: in bounds, unused).
        let kn = min(k + SK, p.K - SK);
        var left_next: array<subgroup_matrix_left<T, SK, SM>, QM>;
        var right_next: array<subgroup_matrix_right<T, SN, SK>, QN>;
        for (var i = 0u; i < QM; i++) {
            left_next[i] = subgroupMatrixLoad<subgroup_matrix_left<T, SK, SM>>(&a, a0 + i * SM * p.a_sm + kn, false, p.a_sm);
        }
        for (var j = 0u; j < QN; j++) {
            right_next[j] = subgroupMatrixLoad<subgroup_matrix_right<T, SN, SK>>(&b, b0 + kn * p.b_sk + j * SN, false, p.b_sk);
        }
        for (var i = 0u; i < QM; i++) {
            for (var j = 0u; j < QN; j++) {
                acc[i][j] = subgroupMatrixMultiplyAccumulate(left[i], right[j], acc[i][j]);
            }
        }
        left = left_next;
        right = right_next;
    }

    // Epilogue, one result matrix at a time through this subgroup's slot of Cs.
    let c_base = z * p.M * p.N;
    let slot = s * SM * SN;
    for (var i = 0u; i < QM; i++) {
        for (var j = 0u; j < QN; j++) {
            subgroupMatrixStore(&Cs, slot, acc[i][j], false, SN);
            workgroupBarrier();
            for (var e = lane; e < SM * SN; e += 32u) {
                let m = m0 + i * SM + e / SN;
                let n = n0 + j * SN + e % SN;
                var v = p.alpha * Cs[slot + e];
                if (BIAS == 1u) { v += f32(bias[m]); }
                if (BIAS == 2u) { v += f32(bias[n]); }
                c[c_base + m * p.N + n] = T(apply_act(v, ACT));
            }
            workgroupBarrier();
        }
    }
}
