// subgroup_matrix_conv_epilogue.wgsl (included by conv2d_subgroup_matrix_direct.wgsl and
// conv2d_subgroup_matrix_staged.wgsl; not a kernel): where their pixels start in the padded NHWC
// input, and how their result matrices reach y. The kernel defines Acc, SM, SN, Cs (a 16 x 16 f32
// slot per subgroup) and the conv2d bindings.

// Offset in the padded input of output pixel n's tap (0, 0), channel 0, image 0.
fn pixel_offset(n: u32) -> u32 {
    let oy = n / p.Wo;
    let ox = n % p.Wo;
    return (oy * p.stride * p.W + ox * p.stride) * p.Cin;
}

// One result matrix (pixels n0.., output channels co0..) through this subgroup's slot of Cs,
// column-major so that consecutive lanes write consecutive pixels of one channel: bias, activation.
fn emit(acc: Acc, n0: u32, co0: u32, y_base: u32, NP: u32, slot: u32, lane: u32) {
    subgroupMatrixStore(&Cs, slot, acc, true, SM);
    workgroupBarrier();
    for (var e = lane; e < SM * SN; e += 32u) {
        let co = co0 + e / SM;
        var v = Cs[slot + e];
        if (HAS_BIAS) { v += f32(bias[co]); }
        let i = y_base + co * NP + n0 + e % SM;
        y[i] = out_value(v, i);
    }
    workgroupBarrier();
}

// A subgroup's 4 x 2 block of result matrices: pixel runs n0 + 16 i, output channels co0 + 16 j.
fn emit_4x2(c00: Acc, c01: Acc, c10: Acc, c11: Acc, c20: Acc, c21: Acc, c30: Acc, c31: Acc,
            n0: u32, co0: u32, y_base: u32, NP: u32, slot: u32, lane: u32) {
    emit(c00, n0 + 0u * SM, co0 + 0u * SN, y_base, NP, slot, lane);
    emit(c01, n0 + 0u * SM, co0 + 1u * SN, y_base, NP, slot, lane);
    emit(c10, n0 + 1u * SM, co0 + 0u * SN, y_base, NP, slot, lane);
    emit(c11, n0 + 1u * SM, co0 + 1u * SN, y_base, NP, slot, lane);
    emit(c20, n0 + 2u * SM, co0 + 0u * SN, y_base, NP, slot, lane);
    emit(c21, n0 + 2u * SM, co0 + 1u * SN, y_base, NP, slot, lane);
    emit(c30, n0 + 3u * SM, co0 + 0u * SN, y_base, NP, slot, lane);
    emit(c31, n0 + 3u * SM, co0 + 1u * SN, y_base, NP, slot, lane);
}

// Split-K: a subgroup's 4 x 2 block of result matrices of a K part, stored unscaled to `parts` as
// (Cout, Ho*Wo) from part_base (the kernel declares `parts`; gemm_split_k_reduce.wgsl adds the parts).
fn store_parts_4x2(c00: Acc, c01: Acc, c10: Acc, c11: Acc, c20: Acc, c21: Acc, c30: Acc, c31: Acc,
                   n0: u32, co0: u32, part_base: u32, NP: u32) {
    let o = part_base + co0 * NP + n0;  // pixel runs down the matrices' rows, channels across
    subgroupMatrixStore(&parts, o + 0u * SM, c00, true, NP);
    subgroupMatrixStore(&parts, o + 0u * SM + SN * NP, c01, true, NP);
    subgroupMatrixStore(&parts, o + 1u * SM, c10, true, NP);
    subgroupMatrixStore(&parts, o + 1u * SM + SN * NP, c11, true, NP);
    subgroupMatrixStore(&parts, o + 2u * SM, c20, true, NP);
    subgroupMatrixStore(&parts, o + 2u * SM + SN * NP, c21, true, NP);
    subgroupMatrixStore(&parts, o + 3u * SM, c30, true, NP);
    subgroupMatrixStore(&parts, o + 3u * SM + SN * NP, c31, true, NP);
}
