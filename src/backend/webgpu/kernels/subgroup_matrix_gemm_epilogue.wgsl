// subgroup_matrix_gemm_epilogue.wgsl (included by gemm_subgroup_matrix_direct.wgsl and
// gemm_subgroup_matrix_staged.wgsl; not a kernel): how their result matrices reach C. The kernel
// defines Acc, SM, SN, Cs (a 16 x 16 f32 slot per subgroup) and the GEMM bindings.

// One result matrix (rows m0.., columns n0..) through this subgroup's slot of Cs: alpha, bias,
// activation, stored as T.
fn emit(acc: Acc, m0: u32, n0: u32, c_base: u32, slot: u32, lane: u32) {
    subgroupMatrixStore(&Cs, slot, acc, false, SN);
    workgroupBarrier();
    for (var e = lane; e < SM * SN; e += 32u) {
        let m = m0 + e / SN;
        let n = n0 + e % SN;
        var v = p.alpha * Cs[slot + e];
        if (BIAS == 1u) { v += f32(bias[m]); }
        if (BIAS == 2u) { v += f32(bias[n]); }
        let i = c_base + m * p.N + n;
        c[i] = out_value(v, i);
    }
    workgroupBarrier();
}

// A subgroup's 2 x 4 block of result matrices: rows m0 + 16 i, columns n0 + 16 j.
fn emit_2x4(c00: Acc, c01: Acc, c02: Acc, c03: Acc, c10: Acc, c11: Acc, c12: Acc, c13: Acc,
            m0: u32, n0: u32, c_base: u32, slot: u32, lane: u32) {
    emit(c00, m0 + 0u * SM, n0 + 0u * SN, c_base, slot, lane);
    emit(c01, m0 + 0u * SM, n0 + 1u * SN, c_base, slot, lane);
    emit(c02, m0 + 0u * SM, n0 + 2u * SN, c_base, slot, lane);
    emit(c03, m0 + 0u * SM, n0 + 3u * SN, c_base, slot, lane);
    emit(c10, m0 + 1u * SM, n0 + 0u * SN, c_base, slot, lane);
    emit(c11, m0 + 1u * SM, n0 + 1u * SN, c_base, slot, lane);
    emit(c12, m0 + 1u * SM, n0 + 2u * SN, c_base, slot, lane);
    emit(c13, m0 + 1u * SM, n0 + 3u * SN, c_base, slot, lane);
}
