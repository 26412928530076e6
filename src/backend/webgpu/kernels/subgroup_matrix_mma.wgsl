// subgroup_matrix_mma.wgsl (included inside the K loop of gemm_subgroup_matrix.wgsl and
// conv2d_subgroup_matrix.wgsl; not a kernel): one K step on the matrix units — each subgroup
// multiplies its QM x QN result matrices acc (block sm0, sn0 of the tile) by the As / Bs tiles.
            for (var kk = 0u; kk < TK; kk += SK) {
                var left: array<subgroup_matrix_left<f16, SK, SM>, QM>;
                for (var i = 0u; i < QM; i++) {
                    left[i] = subgroupMatrixLoad<subgroup_matrix_left<f16, SK, SM>>(
                        &As, (sm0 + i * SM) * AST + kk, false, AST);
                }
                for (var jn = 0u; jn < QN; jn++) {
                    let right = subgroupMatrixLoad<subgroup_matrix_right<f16, SN, SK>>(
                        &Bs, kk * BST + sn0 + jn * SN, false, BST);
                    for (var i = 0u; i < QM; i++) {
                        acc[i][jn] = subgroupMatrixMultiplyAccumulate(left[i], right, acc[i][jn]);
                    }
                }
            }
