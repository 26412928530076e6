// What a dispatch costs on the GPU beyond its work: N one-workgroup dispatches in one pass, each
// reading the previous one's output (a barrier each) or all writing their own buffers (independent),
// timed by wall clock around onSubmittedWorkDone (median of 5).
import {create, globals} from 'webgpu';
import {GpuBridge} from '../../src/backend/webgpu/bridge.js';
import * as ops from '../../src/backend/webgpu/ops.js';
Object.assign(globalThis, globals);
const args = (process.env.MOEBIUS_DAWN_ARGS ?? 'backend=vulkan').split(/\s+/).filter(Boolean);
if (process.env.MOEBIUS_DAWN_FEATURES) args.push(`enable-dawn-features=${process.env.MOEBIUS_DAWN_FEATURES}`);
const g = await GpuBridge.create(create(args), {preferF16: true, maxBatchDispatches: 1000});
const n = 256, N = 600;
const x = g.createTensor(n), y = g.createTensor(n);
const outs = Array.from({length: N}, () => g.createTensor(n));
const time = async (record) => {
    const t = [];
    for (let r = 0; r < 6; r++) {
        await g.sync();
        const t0 = performance.now();
        record();
        await g.sync();
        t.push(performance.now() - t0);
    }
    t.shift();
    t.sort((a, b) => a - b);
    return t[2];
};
const chain = await time(() => { for (let i = 0; i < N; i++) ops.act(g, {x: i % 2 ? y : x, y: i % 2 ? x : y, n, act: 2}); });
const indep = await time(() => { for (let i = 0; i < N; i++) ops.act(g, {x, y: outs[i], n, act: 2}); });
const empty = await time(() => {});
console.log(`dispatch cost (${g.dtype}, ${N} one-workgroup dispatches in a pass): chained ${((chain - empty) / N * 1000).toFixed(2)} us each, ` +
            `independent ${((indep - empty) / N * 1000).toFixed(2)} us each (wall, incl. recording; empty sync ${empty.toFixed(2)} ms)`);
process.exit(0);
