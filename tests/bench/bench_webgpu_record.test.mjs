// bench/bench_webgpu.mjs --record-only on the tiny model, on whatever WebGPU adapter Dawn gives
// (SwiftShader in CI): the benchmark program runs end to end and prints its recording figures —
// CPU time per stage, dispatch count, GPU buffers created, the time in the timed WebGPU calls and the
// peak GPU buffer memory per stage.
// Numbers are not checked (a benchmark, not a test); that they are present and well formed is, and
// what the tensor arena promises: a replayed inpaint makes no GPU buffers (MOEBIUS_ARENA=off: the
// buffer per tensor of before, made anew after each stage's trim).
// f16 on an adapter without shader-f16 (SwiftShader) simulates the H100's f16 + subgroup-matrix plan
// (bench_webgpu.mjs simulateF16): it must run, and take the direct matrix conv where the shapes allow
// (its padded-input and weight-layout dispatches: more dispatches than f32).

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const env = {...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
             XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp'};
const recordLine = (dtype) => new RegExp(`${dtype} \\(tiny\\): recording CPU time, median of 1: encode ([\\d.]+) ms, step ([\\d.]+) ms \\(step 1 ([\\d.]+)\\), ` +
                                         'decode ([\\d.]+) ms; (\\d+) dispatches per inpaint, GPU buffers created: encode (\\d+), step 1 (\\d+), steps 2-19 (\\d+), decode (\\d+)');

test('bench_webgpu --record-only (tiny model, f32 and simulated f16; tensor arena)', () => {
    const r = spawnSync(process.execPath, ['bench/bench_webgpu.mjs', '--record-only', '--dtype', 'f32,f16', '--config', 'tiny', '--runs', '1'],
                        {cwd: root, env, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    const m = recordLine('f32').exec(r.stdout);
    assert.ok(m, `no recording line in:\n${r.stdout}`);
    assert.ok(Number(m[5]) > 1000, `dispatches per inpaint: ${m[5]}`);
    // The measured run replays the traced one in the arena: at most its buffers (one a space) are made (at their first use).
    const made = Number(m[6]) + Number(m[7]) + Number(m[8]) + Number(m[9]);
    assert.ok(made <= 2, `GPU buffers created in a replayed inpaint: ${made}`);
    assert.match(r.stdout, /WebGPU calls within the recording \(ms, run 1 of 1\): encode: .*; step 1: .*; steps 2-19: .*; decode: /);
    const p = /peak GPU buffer memory, weights included \(GB, run 1 of 1\): encode ([\d.]+), steps ([\d.]+), decode ([\d.]+)/.exec(r.stdout);
    assert.ok(p && [p[1], p[2], p[3]].every((v) => Number(v) > 0), `no peak memory line in:\n${r.stdout}`);
    const a = [...r.stdout.matchAll(/space (\d): ([\d.]+) MiB buffer \(plan (?:[\d.]+|—) MiB, (\d+) tensors\), segments (\d+), replayed (\d+), plans (\d+), off-plan (\d+)/g)];
    assert.equal(a.length, 4, `no tensor arena lines (2 dtypes, 2 spaces) in:\n${r.stdout}`);
    // (the measured run's replay is counted when the next segment starts: plans made, none strayed;
    // f32 keeps every tensor in space 0, f16 puts the convs' outputs beside their inputs' space)
    const used = a.filter((x) => Number(x[3]) > 0);
    assert.equal(used.map((x) => x[1]).join(), '0,0,1', `spaces with tensors (f32, f16): ${used.map((x) => x[0]).join('\n')}`);
    for (const x of used) assert.ok(Number(x[2]) > 0 && Number(x[6]) === 1 && Number(x[7]) === 0, `arena: ${x[0]}`);
    const h = recordLine('f16').exec(r.stdout);
    assert.ok(h, `no f16 recording line in:\n${r.stdout}`);
    assert.ok(Number(h[5]) > Number(m[5]), `f16 (simulated matrix units) ${h[5]} dispatches, f32 ${m[5]}: the direct matrix conv was not taken`);
});

test('bench_webgpu --record-only, MOEBIUS_ARENA=off (tiny model, f32): a buffer per tensor, made anew after each trim', () => {
    const r = spawnSync(process.execPath, ['bench/bench_webgpu.mjs', '--record-only', '--dtype', 'f32', '--config', 'tiny', '--runs', '1'],
                        {cwd: root, env: {...env, MOEBIUS_ARENA: 'off'}, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    const m = recordLine('f32').exec(r.stdout);
    assert.ok(m, `no recording line in:\n${r.stdout}`);
    assert.ok(Number(m[6]) > 0 && Number(m[9]) > 0, 'the VAE stages create buffers after a trim');
    assert.ok(Number(m[7]) > 0, 'step 1 creates the steps\' buffers after the trim');
    assert.match(r.stdout, /WebGPU calls within the recording \(ms, run 1 of 1\): encode: .*createBuffer [\d.]+.*; step 1: .*createBuffer [\d.]+.*; steps 2-19: .*; decode: .*createBuffer [\d.]+/);
    assert.match(r.stdout, /tensor arena: off \(a GPU buffer per tensor\)/);
});
