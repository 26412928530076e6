// bench/bench_webgpu.mjs --record-only on the tiny model, on whatever WebGPU adapter Dawn gives
// (SwiftShader in CI): the benchmark program runs end to end and prints its recording figures —
// CPU time per stage, dispatch count, GPU buffers created, the time in the timed WebGPU calls and the
// peak GPU buffer memory per stage.
// Numbers are not checked (a benchmark, not a test); that they are present and well formed is.
// f16 on an adapter without shader-f16 (SwiftShader) simulates the H100's f16 + subgroup-matrix plan
// (bench_webgpu.mjs simulateF16): it must run, and take the direct matrix conv where the shapes allow
// (its padded-input and weight-layout dispatches: more dispatches than f32).

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('bench_webgpu --record-only (tiny model, f32 and simulated f16)', () => {
    const env = {...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
                 XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp'};
    const r = spawnSync(process.execPath, ['bench/bench_webgpu.mjs', '--record-only', '--dtype', 'f32,f16', '--config', 'tiny', '--runs', '1'],
                        {cwd: root, env, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    const m = /f32 \(tiny\): recording CPU time, median of 1: encode ([\d.]+) ms, step ([\d.]+) ms \(step 1 ([\d.]+)\), decode ([\d.]+) ms; (\d+) dispatches per inpaint, GPU buffers created: encode (\d+), step 1 (\d+), steps 2-19 (\d+), decode (\d+)/.exec(r.stdout);
    assert.ok(m, `no recording line in:\n${r.stdout}`);
    assert.ok(Number(m[5]) > 1000, `dispatches per inpaint: ${m[5]}`);
    assert.ok(Number(m[6]) > 0 && Number(m[9]) > 0, 'the VAE stages create buffers after a trim');
    assert.ok(Number(m[7]) > 0, 'step 1 creates the steps\' buffers after the trim');
    assert.match(r.stdout, /WebGPU calls within the recording \(ms, run 1 of 1\): encode: .*createBuffer [\d.]+.*; step 1: .*createBuffer [\d.]+.*; steps 2-19: .*; decode: .*createBuffer [\d.]+/);
    const p = /peak GPU buffer memory, weights included \(GB, run 1 of 1\): encode ([\d.]+), steps ([\d.]+), decode ([\d.]+)/.exec(r.stdout);
    assert.ok(p && [p[1], p[2], p[3]].every((v) => Number(v) > 0), `no peak memory line in:\n${r.stdout}`);
    const h = /f16 \(tiny\): recording CPU time, median of 1: .* (\d+) dispatches per inpaint, GPU buffers created: encode (\d+), step 1 (\d+), steps 2-19 (\d+), decode (\d+)/.exec(r.stdout);
    assert.ok(h, `no f16 recording line in:\n${r.stdout}`);
    assert.ok(Number(h[1]) > Number(m[5]), `f16 (simulated matrix units) ${h[1]} dispatches, f32 ${m[5]}: the direct matrix conv was not taken`);
});
