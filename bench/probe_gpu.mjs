// probe_gpu.mjs: two ceilings of the WebGPU path on this adapter, for deciding where kernel work can
// still pay (numbers, not tests; a GPU with shader-f16 and subgroup matrices for the first):
//   1. matrix-unit peak: subgroups multiply-accumulate 16x16x16 f16 -> f32 subgroup matrices held in
//      registers (loaded once, 8 independent accumulators a subgroup, results stored so that nothing
//      is dead), i.e. the most any of our matrix kernels could reach through WGSL subgroup matrices;
//   2. the fixed cost of a dispatch: N tiny dispatches in one compute pass, each writing the buffer the
//      next reads (as the model's chain of ops does: Dawn puts a barrier between them), and N writing
//      buffers of their own; microseconds a dispatch = GPU time / N.
//   node bench/probe_gpu.mjs          env MOEBIUS_DAWN_FEATURES / MOEBIUS_DAWN_ARGS as bench_webgpu.mjs
import {create, globals} from 'webgpu';

import {GpuBridge} from '../src/backend/webgpu/bridge.js';

Object.assign(globalThis, globals);
const args = (process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan').split(/\s+/).filter(Boolean);
const features = process.env.MOEBIUS_DAWN_FEATURES;
const gpu = create([...args, ...(features ? [`enable-dawn-features=${features}`] : [])]);
const g = await GpuBridge.create(gpu, {preferF16: true});
const device = g.device;
console.log(`adapter: ${JSON.stringify(g.describe().adapter)}`);

const STORAGE = GPUBufferUsage.STORAGE, UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;

/** Runs `record(pass)` `reps` times after a warm-up and returns the median wall ms per rep (host-timed around onSubmittedWorkDone). */
async function time(record, reps = 5) {
    const once = async () => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        record(pass);
        pass.end();
        const t0 = performance.now();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - t0;
    };
    await once();
    const ts = [];
    for (let i = 0; i < reps; i++) ts.push(await once());
    return ts.sort((a, b) => a - b)[reps >> 1];
}

function pipeline(code) {
    const module = device.createShaderModule({code});
    return device.createComputePipeline({layout: 'auto', compute: {module, entryPoint: 'main'}});
}

// --- 1. matrix-unit peak ---
if (g.subgroupMatrix && g.dtype === 'f16') {
    const code = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct P { iters: u32 }
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias A = subgroup_matrix_result<f32, 16, 16>;
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_id) s: u32) {
    let base = (wid.x % 8u) * 1536u + (s % 4u) * 16u;
    let l0 = subgroupMatrixLoad<L>(&a, base, false, 64u);
    let l1 = subgroupMatrixLoad<L>(&a, base + 1024u, false, 64u);
    let r0 = subgroupMatrixLoad<R>(&a, base + 8u, false, 64u);
    let r1 = subgroupMatrixLoad<R>(&a, base + 1032u, false, 64u);
    let r2 = subgroupMatrixLoad<R>(&a, base + 4u, false, 64u);
    let r3 = subgroupMatrixLoad<R>(&a, base + 1028u, false, 64u);
    var c00: A; var c01: A; var c02: A; var c03: A; var c10: A; var c11: A; var c12: A; var c13: A;
    for (var i = 0u; i < p.iters; i++) {
        c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
        c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
        c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
        c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
        c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
        c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
        c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
        c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
    }
    let o = (wid.x * 4u + s) * 2048u;
    subgroupMatrixStore(&c, o, c00, false, 16u);
    subgroupMatrixStore(&c, o + 256u, c01, false, 16u);
    subgroupMatrixStore(&c, o + 512u, c02, false, 16u);
    subgroupMatrixStore(&c, o + 768u, c03, false, 16u);
    subgroupMatrixStore(&c, o + 1024u, c10, false, 16u);
    subgroupMatrixStore(&c, o + 1280u, c11, false, 16u);
    subgroupMatrixStore(&c, o + 1536u, c12, false, 16u);
    subgroupMatrixStore(&c, o + 1792u, c13, false, 16u);
}`;
    const pl = pipeline(code);
    const workgroups = 132 * 8;
    const a = device.createBuffer({size: 8 * 1536 * 2 + 4096, usage: STORAGE});
    const c = device.createBuffer({size: workgroups * 4 * 2048 * 4, usage: STORAGE});
    for (const iters of [256, 4096]) {
        const u = device.createBuffer({size: 16, usage: UNIFORM});
        device.queue.writeBuffer(u, 0, new Uint32Array([iters, 0, 0, 0]));
        const bg = device.createBindGroup({layout: pl.getBindGroupLayout(0), entries: [
            {binding: 0, resource: {buffer: a}}, {binding: 1, resource: {buffer: c}}, {binding: 2, resource: {buffer: u}}]});
        const ms = await time((pass) => { pass.setPipeline(pl); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(workgroups); });
        const flop = workgroups * 4 * 8 * 2 * 16 ** 3 * iters;
        console.log(`matrix peak: ${workgroups} workgroups x 4 subgroups x 8 accumulators, ${iters} iterations: ` +
                    `${ms.toFixed(3)} ms, ${(flop / ms / 1e9).toFixed(1)} TFLOP/s`);
    }
} else {
    console.log('matrix peak: skipped (needs shader-f16 and subgroup matrices)');
}

// --- 2. the fixed cost of a dispatch ---
{
    const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) { y[id.x] = x[id.x] + 1.0; }`;
    const pl = pipeline(code);
    const bufs = Array.from({length: 2}, () => device.createBuffer({size: 1 << 16, usage: STORAGE}));
    const own = Array.from({length: 64}, () => device.createBuffer({size: 1 << 16, usage: STORAGE}));
    const bind = (x, y) => device.createBindGroup({layout: pl.getBindGroupLayout(0), entries: [
        {binding: 0, resource: {buffer: x}}, {binding: 1, resource: {buffer: y}}]});
    const chain = [bind(bufs[0], bufs[1]), bind(bufs[1], bufs[0])];
    const apart = own.map((b) => bind(bufs[0], b));
    for (const wg of [1, 132]) {
        for (const N of [1, 1000]) {
            const dep = await time((pass) => { pass.setPipeline(pl); for (let i = 0; i < N; i++) { pass.setBindGroup(0, chain[i & 1]); pass.dispatchWorkgroups(wg); } });
            const ind = await time((pass) => { pass.setPipeline(pl); for (let i = 0; i < N; i++) { pass.setBindGroup(0, apart[i & 63]); pass.dispatchWorkgroups(wg); } });
            console.log(`dispatches: ${N} x ${wg} workgroups: chained ${dep.toFixed(3)} ms (${(1000 * dep / N).toFixed(2)} us each), ` +
                        `independent ${ind.toFixed(3)} ms (${(1000 * ind / N).toFixed(2)} us each)`);
        }
    }
}
process.exit(0);
