// bench/probe_gpu.mjs on whatever WebGPU adapter Dawn gives (SwiftShader in CI): it runs end to end and
// prints its two figures well formed — the matrix-unit peak (or why it is skipped: SwiftShader has no
// shader-f16 or subgroup matrices) and the fixed cost of a dispatch, for 1 and 1000 dispatches of 1 and
// 132 workgroups, chained and independent. The numbers themselves are not checked (a benchmark).

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = {...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
             XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp'};

test('probe_gpu: matrix peak line and dispatch costs', () => {
    const r = spawnSync(process.execPath, ['bench/probe_gpu.mjs'], {cwd: root, env, encoding: 'utf8', timeout: 300_000});
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^matrix peak: (skipped \(needs shader-f16 and subgroup matrices\)|\d+ workgroups .* [\d.]+ TFLOP\/s)$/m);
    const d = [...r.stdout.matchAll(/^dispatches: (\d+) x (\d+) workgroups: chained ([\d.]+) ms \(([\d.]+) us each\), independent ([\d.]+) ms \(([\d.]+) us each\)$/gm)];
    assert.deepEqual(d.map((m) => `${m[1]}x${m[2]}`), ['1x1', '1000x1', '1x132', '1000x132'], r.stdout);
    for (const m of d) assert.ok([3, 4, 5, 6].every((i) => Number(m[i]) > 0), m[0]);
});
