// test_wgsl_null.mjs: every kernel's f16 variants, the subgroup-matrix kernels included, through
// Dawn's WGSL front end (parsing, types, uniformity) on its null backend, which offers shader-f16
// and chromium-experimental-subgroup-matrix without a GPU. SwiftShader (the CI adapter of
// test_kernels.mjs) has neither, so without this the f16 and matrix-unit shaders would only ever be
// compiled on a real GPU. Nothing runs: the results are checked on a GPU (test_kernels.mjs with
// MOEBIUS_WEBGPU_F16=1).
//
//   node tests/webgpu/test_wgsl_null.mjs [kernel ...]      exit code 1 on any compile error
//
// Pipelines are created too (entry points, 'auto' layouts); the null device's own limits (16 KiB of
// workgroup memory, subgroups up to 128) are below the H100's, so errors about those limits alone are
// not failures: ops.js checks the real adapter's limits before it picks a kernel.

import {create, globals} from 'webgpu';

import {GpuBridge, KERNEL_NAMES, loadKernelSources, parseKernel} from '../../src/backend/webgpu/bridge.js';

Object.assign(globalThis, globals);

// The variants ops.js dispatches, by their `defines` (one {} per kernel otherwise).
const VARIANTS = {
    gemm_subgroup_matrix_direct: [{}, {TM: 32, NSG: 2, WG: 64, SPLIT: 1}, {TM: 32, NSG: 2, WG: 64, SPLIT: 4},
                                  {BM: 4, TM: 64, NSG: 2, WG: 64}],
    conv2d_subgroup_matrix_direct: [{}, {BN: 4}],
    conv2d_subgroup_matrix_staged: [{}, {TK: 64, ST: 72}],
    gemm_subgroup_matrix: [{SM: 16, SN: 16, SK: 16, QM: 2, QN: 4}],  // as test_kernels.mjs compiles them
    conv2d_subgroup_matrix: [{SM: 16, SN: 16, SK: 16, QM: 2, QN: 4}],
};
const LIMIT_ONLY = /workgroup storage|maxSubgroupSize/;

const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
const adapter = await gpu.requestAdapter();
const wanted = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'];
const missing = wanted.filter((f) => !adapter?.features.has(f));
if (!adapter || missing.length) {
    console.log(`FAIL Dawn's null backend offers no ${missing.join(', ') || 'adapter'}: nothing to compile against`);
    process.exit(1);
}
const device = await adapter.requestDevice({requiredFeatures: wanted});
const sources = await loadKernelSources();
const kernels = Object.fromEntries(KERNEL_NAMES.map((n) => [n, parseKernel(n, sources[n])]));
const assembler = {kernels, prelude: sources.common};  // what GpuBridge.shaderCode reads

const only = process.argv.slice(2);
let failures = 0, count = 0;
for (const name of only.length ? only : KERNEL_NAMES) {
    if (!kernels[name]) { console.log(`FAIL unknown kernel '${name}'`); failures++; continue; }
    if (!kernels[name].hasTypeAlias) continue;  // f32 only: compiled by test_kernels.mjs
    for (const defines of VARIANTS[name] ?? [{}]) {
        count++;
        const label = `${name} f16 ${JSON.stringify(defines)}`;
        const errors = [];
        try {
            const code = GpuBridge.prototype.shaderCode.call(assembler, name, 'f16', defines);
            device.pushErrorScope('validation');
            const module = device.createShaderModule({label, code});
            for (const m of (await module.getCompilationInfo()).messages) {
                if (m.type === 'error') errors.push(`${m.lineNum}:${m.linePos} ${m.message}`);
            }
            for (const entryPoint of Object.keys(kernels[name].entries)) {
                try {
                    await device.createComputePipelineAsync({layout: 'auto', compute: {module, entryPoint}});
                } catch (e) {
                    if (!LIMIT_ONLY.test(e.message)) errors.push(`pipeline ${entryPoint}: ${e.message}`);
                }
            }
            const scope = await device.popErrorScope();
            if (scope && !LIMIT_ONLY.test(scope.message) && !errors.length) errors.push(scope.message);
        } catch (e) {
            errors.push(`threw ${e?.name}: ${e?.message}`);
        }
        if (errors.length) failures++;
        console.log(`${errors.length ? 'FAIL' : 'ok  '} ${label}${errors.length ? `: ${errors.join(' | ').slice(0, 800)}` : ''}`);
    }
}
console.log(`\n${count - failures}/${count} f16 kernel variants compiled (Dawn null backend)`);
process.exit(failures ? 1 : 0);
