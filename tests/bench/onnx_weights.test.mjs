// bench/peers/synth_rule.mjs (the fixtures' weight rule in JS) and onnx_weights.mjs (ONNX files shipped
// as templates + recipes, remade from the rule): the README's check values, and a strip/fill round trip
// on a small made-up ONNX graph whose initializers are a state-dict tensor under its own name, the same
// values under an exporter's name, a 2-D transpose, a convolution with a BatchNorm folded in (weight and
// bias) and an int64 table that must stay inline. No fixtures or torch needed.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {fnv1a64, synthTensor} from '../../bench/peers/synth_rule.mjs';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/peers/onnx_weights.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'onnx-weights-'));
after(() => rmSync(tmp, {recursive: true, force: true}));

test('the rule matches the fixtures README check values', () => {
    const [hi, lo] = fnv1a64('embedding_layer.weight');
    assert.equal(hi.toString(16) + lo.toString(16).padStart(8, '0'), '6241971c000ca76a');
    const v = synthTensor('embedding_layer.weight', [20, 3072], 1);
    assert.deepEqual([...v.slice(0, 3)].map((x) => +x.toPrecision(7)), [0.02968638, 0.0210955, -0.01886716]);
    assert.deepEqual([...synthTensor('embedding_layer.weight', [20, 3072], 1, 'float32', 3)], [...v.slice(0, 3)]);
    assert.equal(synthTensor('x.num_batches_tracked', [], 1, 'int64'), null);
    const rv = synthTensor('a.bn.running_var', [64], 1);
    assert.ok(rv.every((x) => x >= 1 && x <= 1.5));
});

// --- a minimal ONNX writer
const varint = (n) => { const b = []; do { let x = n % 128; n = Math.floor(n / 128); if (n) x |= 0x80; b.push(x); } while (n); return b; };
const ld = (f, arr) => [...varint(f * 8 + 2), ...varint(arr.length), ...arr];
const str = (f, s) => ld(f, [...Buffer.from(s)]);
const int = (f, n) => [...varint(f * 8), ...varint(n)];
const tensor = (name, dims, type, bytes) => ld(5, [...dims.flatMap((d) => int(1, d)), ...int(2, type), ...str(8, name), ...ld(9, [...bytes])]);
const f32 = (a) => new Uint8Array(Float32Array.from(a).buffer);
const node = (ins, outs, op) => ld(1, [...ins.flatMap((s) => str(1, s)), ...outs.flatMap((s) => str(2, s)), ...str(4, op)]);

test('strip + fill remake the graph byte for byte', () => {
    const keys = {vae: [], unet: [
        {name: 'lin.weight', shape: [6, 5], dtype: 'float32'},
        {name: 'emb.weight', shape: [4, 8], dtype: 'float32'},
        {name: 'blk.conv.weight', shape: [4, 3, 3, 3], dtype: 'float32'},
        {name: 'blk.conv.bias', shape: [4], dtype: 'float32'},
        ...['weight', 'bias', 'running_mean', 'running_var'].map((p) => ({name: `blk.bn.${p}`, shape: [4], dtype: 'float32'})),
        {name: 'blk.bn.num_batches_tracked', shape: [], dtype: 'int64'},
    ]};
    const fx = path.join(tmp, 'fx', 'full');
    mkdirSync(fx, {recursive: true});
    writeFileSync(path.join(fx, 'meta.json'), '{}');
    writeFileSync(path.join(fx, 'keys_unet.json'), JSON.stringify({unet: keys.unet}));
    writeFileSync(path.join(fx, 'keys_vae.json'), JSON.stringify({vae: []}));
    const g = (n, s) => synthTensor(n, s, 1);
    const lin = g('lin.weight', [6, 5]), linT = new Float32Array(30);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 5; j++) linT[j * 6 + i] = lin[i * 5 + j];
    const W = g('blk.conv.weight', [4, 3, 3, 3]), b = g('blk.conv.bias', [4]);
    const [gm, bt, mu, vr] = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => g(`blk.bn.${p}`, [4]));
    const F = Math.fround, s = gm.map((x, c) => F(x / F(Math.sqrt(F(vr[c] + F(1e-5))))));
    const Wf = W.map((x, i) => F(x * s[Math.floor(i / 27)])), bf = b.map((x, c) => F(F(F(x - mu[c]) * s[c]) + bt[c]));
    const table = new BigInt64Array([3n, 1n, 4n, 1n, 5n]);
    const graph = [
        ...node(['x', 'onnx::Conv_7', 'onnx::Conv_8'], ['y'], 'Conv'),
        ...str(2, 'g'),
        ...tensor('m.emb.weight', [4, 8], 1, f32(g('emb.weight', [4, 8]))),
        ...tensor('onnx::Mul_3', [4, 8], 1, f32(g('emb.weight', [4, 8]))),
        ...tensor('onnx::MatMul_5', [5, 6], 1, f32(linT)),
        ...tensor('onnx::Conv_7', [4, 3, 3, 3], 1, f32(Wf)),
        ...tensor('onnx::Conv_8', [4], 1, f32(bf)),
        ...tensor('onnx::Gather_9', [5], 7, new Uint8Array(table.buffer)),
    ];
    const model = Buffer.from([...int(1, 8), ...ld(8, [...str(1, ''), ...int(2, 17)]), ...ld(7, graph)]);
    const onnx = path.join(tmp, 'onnx'), tdir = path.join(tmp, 'tmpl'), out = path.join(tmp, 'remade');
    mkdirSync(onnx, {recursive: true});
    writeFileSync(path.join(onnx, 'unet.onnx'), model);
    let r = spawnSync(process.execPath, [script, 'strip', '--onnx', onnx, '--model', 'full', '--fixtures', path.join(tmp, 'fx'), '--out', tdir],
                      {encoding: 'utf8'});
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /unet: 5 initializers/);
    const recipe = JSON.parse(readFileSync(path.join(tdir, 'unet.recipe.json'), 'utf8'));
    assert.deepEqual(Object.fromEntries(Object.entries(recipe.entries).map(([k, v]) => [k, v.op])),
                     {'m.emb.weight': 'key', 'onnx::Mul_3': 'key', 'onnx::MatMul_5': 't2', 'onnx::Conv_7': 'bnw', 'onnx::Conv_8': 'bnb'});
    assert.ok(readFileSync(path.join(tdir, 'unet.template.onnx')).length < model.length / 2);
    r = spawnSync(process.execPath, [script, 'fill', '--templates', tdir, '--out', out], {encoding: 'utf8'});
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(path.join(out, 'unet.onnx')).equals(model), 'remade file differs');
});
