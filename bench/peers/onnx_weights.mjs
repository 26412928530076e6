// onnx_weights.mjs: ships the ONNX exports of bench/peers/export_onnx.py to a machine that cannot
// receive their weights (the device machines take 64 MiB of files; the full model's graphs hold ≈1.2 GB)
// by regenerating the weights there from the fixtures' synthetic rule (synth_rule.mjs).
//
//   node bench/peers/onnx_weights.mjs strip --onnx DIR --model full|tiny --out TDIR [--fixtures ROOT]
//       For each of unet.onnx, vae_encoder.onnx, vae_decoder.onnx: finds how every float initializer
//       follows from the rule's state dict (the same tensor, its 2-D transpose, or a convolution with a
//       BatchNorm folded in by the exporter), checks that, and writes TDIR/<graph>.template.onnx (the graph
//       with those initializers' data removed; anything not explained stays inline) and
//       TDIR/<graph>.recipe.json (how to remake each one; the state-dict keys and shapes it needs).
//   node bench/peers/onnx_weights.mjs fill --templates TDIR --out DIR
//       Remakes DIR/<graph>.onnx from the templates and recipes (no fixtures needed).
//
// The remade graphs are the exported ones up to float32 rounding in the BatchNorm folds (computed here in
// the order torch's exporter uses; `strip` reports the largest difference it sees).

import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {parseCli} from '../cli.mjs';
import {fixtureDir, fixturesRoot} from './common.mjs';
import {synthTensor} from './synth_rule.mjs';

const GRAPHS = {unet: {seed: 1, keys: 'keys_unet.json', list: 'unet'},
                vae_encoder: {seed: 2, keys: 'keys_vae.json', list: 'vae'},
                vae_decoder: {seed: 2, keys: 'keys_vae.json', list: 'vae'}};
const BN_EPS = 1e-5;  // torch.nn.BatchNorm2d default (upstream's BN layers keep it)
const f = Math.fround;

// ------------------------------------------------------------------ protobuf

function readVarint(buf, p) {
    let r = 0, mul = 1, b;
    do { b = buf[p++]; r += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return [r, p];
}

/** Top-level fields of a message: [{f, w, v?, s, e, start, end}] (s..e: payload of length-delimited; start..end: whole field). */
function fields(buf, s = 0, e = buf.length) {
    const out = [];
    let p = s;
    while (p < e) {
        const start = p;
        let key;
        [key, p] = readVarint(buf, p);
        const fld = Math.floor(key / 8), w = key & 7;
        if (w === 0) { let v; [v, p] = readVarint(buf, p); out.push({f: fld, w, v, start, end: p}); }
        else if (w === 2) { let n; [n, p] = readVarint(buf, p); out.push({f: fld, w, s: p, e: p + n, start, end: p + n}); p += n; }
        else if (w === 5) { out.push({f: fld, w, s: p, e: p + 4, start, end: p + 4}); p += 4; }
        else if (w === 1) { out.push({f: fld, w, s: p, e: p + 8, start, end: p + 8}); p += 8; }
        else throw new Error(`protobuf: wire type ${w} at ${start}`);
    }
    return out;
}

function varint(n) {
    const b = [];
    do { let x = n % 128; n = Math.floor(n / 128); if (n) x |= 0x80; b.push(x); } while (n);
    return Buffer.from(b);
}
const lenField = (fld, payload) => Buffer.concat([varint(fld * 8 + 2), varint(payload.length), payload]);
const intField = (fld, n) => Buffer.concat([varint(fld * 8), varint(n)]);

/** A TensorProto's name, dims, data type and raw data (float_data converted). */
function parseTensor(buf, x) {
    const t = {name: '', dims: [], dataType: 0, raw: null};
    for (const y of fields(buf, x.s, x.e)) {
        if (y.f === 8) t.name = buf.toString('utf8', y.s, y.e);
        else if (y.f === 1 && y.w === 0) t.dims.push(y.v);
        else if (y.f === 1 && y.w === 2) { for (let p = y.s; p < y.e;) { let v; [v, p] = readVarint(buf, p); t.dims.push(v); } }
        else if (y.f === 2) t.dataType = y.v;
        else if (y.f === 9) t.raw = buf.subarray(y.s, y.e);
        else if (y.f === 4 && y.w === 2) t.raw = buf.subarray(y.s, y.e);  // packed float_data: same bytes
        else if (y.f === 14 && y.v === 1) t.external = true;
    }
    return t;
}

const asF32 = (raw) => new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

function encodeTensor(name, dims, values) {
    return Buffer.concat([...dims.map((d) => intField(1, d)), intField(2, 1), lenField(8, Buffer.from(name, 'utf8')),
                          lenField(9, Buffer.from(values.buffer, values.byteOffset, values.byteLength))]);
}

/** The model with its graph's initializer fields replaced: edit(tensorField) -> Buffer (the new field) or null (keep). */
function rewriteModel(buf, edit) {
    const parts = [];
    for (const x of fields(buf)) {
        if (x.f !== 7) { parts.push(buf.subarray(x.start, x.end)); continue; }
        const g = [];
        for (const y of fields(buf, x.s, x.e)) {
            const repl = y.f === 5 ? edit(y) : null;
            g.push(repl ?? buf.subarray(y.start, y.end));
        }
        parts.push(lenField(7, Buffer.concat(g)));
    }
    return Buffer.concat(parts);
}

function graphNodes(buf) {
    const g = fields(buf).find((x) => x.f === 7);
    const nodes = [], inits = [];
    for (const y of fields(buf, g.s, g.e)) {
        if (y.f === 1) {
            const n = {inputs: [], outputs: [], op: ''};
            for (const z of fields(buf, y.s, y.e)) {
                if (z.f === 1) n.inputs.push(buf.toString('utf8', z.s, z.e));
                else if (z.f === 2) n.outputs.push(buf.toString('utf8', z.s, z.e));
                else if (z.f === 4) n.op = buf.toString('utf8', z.s, z.e);
            }
            nodes.push(n);
        } else if (y.f === 5) inits.push({field: y, ...parseTensor(buf, y)});
    }
    return {nodes, inits};
}

// ------------------------------------------------------------------ recipes

/** Values of one recipe entry. `get(key)` returns the rule's tensor of a state-dict key. */
function remake(r, get) {
    if (r.op === 'key') return get(r.key);
    if (r.op === 't2') {
        const w = get(r.key), [R, C] = r.srcShape, out = new Float32Array(w.length);
        for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) out[j * R + i] = w[i * C + j];
        return out;
    }
    const bn = r.bn, gamma = get(`${bn}.weight`), beta = get(`${bn}.bias`), mean = get(`${bn}.running_mean`), vr = get(`${bn}.running_var`);
    const C = gamma.length, s = new Float32Array(C);
    for (let c = 0; c < C; c++) s[c] = f(gamma[c] / f(Math.sqrt(f(vr[c] + f(r.eps)))));
    if (r.op === 'bnw') {
        const w = get(r.key), per = w.length / C, out = new Float32Array(w.length);
        for (let c = 0; c < C; c++) for (let k = 0; k < per; k++) out[c * per + k] = f(w[c * per + k] * s[c]);
        return out;
    }
    if (r.op === 'bnb') {
        const b = r.key ? get(r.key) : null, out = new Float32Array(C);
        for (let c = 0; c < C; c++) out[c] = f(f(f((b ? b[c] : 0) - mean[c]) * s[c]) + beta[c]);
        return out;
    }
    throw new Error(`recipe op ${r.op}`);
}

function maxRel(a, b) {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
    return m;
}

function strip(onnxDir, model, fixtures, outDir) {
    const fdir = fixtureDir(fixturesRoot(fixtures), model);
    mkdirSync(outDir, {recursive: true});
    for (const [graph, info] of Object.entries(GRAPHS)) {
        const file = path.join(onnxDir, `${graph}.onnx`);
        if (!existsSync(file)) { console.log(`${graph}: ${file} missing, skipped`); continue; }
        const t0 = performance.now();
        const buf = readFileSync(file);
        const table = JSON.parse(readFileSync(path.join(fdir, info.keys), 'utf8'))[info.list];
        const shapes = new Map(table.map((k) => [k.name, k]));
        const cache = new Map();
        const get = (key) => {
            if (!cache.has(key)) { const k = shapes.get(key); cache.set(key, synthTensor(key, k.shape, info.seed, k.dtype)); }
            return cache.get(key);
        };
        const head = new Map();  // first values only, for screening
        const first = (key) => {
            if (!head.has(key)) {
                const k = shapes.get(key);
                head.set(key, synthTensor(key, k.shape, info.seed, k.dtype, Math.min(4, numel(k.shape))) ?? new Float32Array(4));
            }
            return head.get(key);
        };
        const floatKeys = table.filter((k) => k.dtype.startsWith('float'));
        const bns = table.filter((k) => k.name.endsWith('.running_var')).map((k) => k.name.slice(0, -'.running_var'.length));
        const bnS0 = new Map(bns.map((bn) => {
            const g = first(`${bn}.weight`)[0], v = first(`${bn}.running_var`)[0];
            return [bn, {C: shapes.get(`${bn}.weight`).shape[0], s0: f(g / f(Math.sqrt(f(v + f(BN_EPS)))))}];
        }));
        const {nodes, inits} = graphNodes(buf);
        const convOf = new Map();  // weight initializer -> its Conv node's bias input
        for (const n of nodes) if (n.op === 'Conv' && n.inputs[2]) convOf.set(n.inputs[1], n.inputs[2]);
        const recipe = {graph, model, seed: info.seed, entries: {}, keys: {}};
        const found = new Map();
        let inlineBytes = 0, stripped = 0, worst = 0;
        const keyFor = (name) => {
            const parts = name.split('.');
            for (let i = 0; i < parts.length; i++) { const k = parts.slice(i).join('.'); if (shapes.has(k)) return k; }
            return null;
        };
        for (const t of inits) {
            if (t.dataType !== 1 || !t.raw || t.external) continue;
            const vals = asF32(t.raw), n = vals.length;
            let r = null;
            const named = keyFor(t.name);
            if (named && numel(shapes.get(named).shape) === n) r = {op: 'key', key: named};
            if (!r) {  // the same values under an exporter's name
                for (const k of floatKeys) {
                    if (numel(k.shape) !== n) continue;
                    const h = first(k.name);
                    if (h[0] === vals[0] && (n < 2 || h[1] === vals[1])) { r = {op: 'key', key: k.name}; break; }
                    if (k.shape.length === 2 && t.dims.length === 2 && k.shape[0] === t.dims[1] && k.shape[1] === t.dims[0] && h[0] === vals[0]) {
                        const w = get(k.name);
                        if (w[1] === vals[t.dims[1]]) { r = {op: 't2', key: k.name, srcShape: k.shape}; break; }
                    }
                }
            }
            if (!r && t.dims.length >= 2) {  // a conv weight with a BatchNorm folded in
                for (const k of floatKeys) {
                    if (numel(k.shape) !== n || k.shape[0] !== t.dims[0]) continue;
                    const h = first(k.name);
                    if (!h[0]) continue;
                    const ratio = vals[0] / h[0];
                    for (const [bn, b] of bnS0) {
                        if (b.C !== t.dims[0] || Math.abs(ratio - b.s0) > 1e-5 * Math.abs(b.s0)) continue;
                        const cand = {op: 'bnw', key: k.name, bn, eps: BN_EPS};
                        if (maxRel(remake(cand, get), vals) < 1e-5) { r = cand; break; }
                    }
                    if (r) break;
                }
            }
            if (r) found.set(t.name, r);
        }
        for (const t of inits) {  // biases of the folded convs: b' = (b - mean) s + beta
            if (found.has(t.name) || t.dataType !== 1 || !t.raw) continue;
            const w = [...convOf].find(([, b]) => b === t.name)?.[0];
            const wr = w && found.get(w);
            if (!wr || wr.op !== 'bnw') continue;
            const biasKey = wr.key.replace(/\.weight$/, '.bias');
            const cand = {op: 'bnb', key: shapes.has(biasKey) ? biasKey : null, bn: wr.bn, eps: BN_EPS};
            const vals = asF32(t.raw);
            if (maxRel(remake(cand, get), vals) < 1e-4) found.set(t.name, cand);
        }
        // verify every recipe in full, then write
        for (const t of inits) {
            const r = found.get(t.name);
            if (!r) { if (t.raw) inlineBytes += t.raw.length; continue; }
            const vals = asF32(t.raw), got = remake(r, get);
            let d = 0;
            for (let i = 0; i < vals.length; i++) d = Math.max(d, Math.abs(got[i] - vals[i]));
            if (d > 1e-5 * Math.max(1, ...vals.slice(0, 64).map(Math.abs))) { found.delete(t.name); inlineBytes += t.raw.length; continue; }
            worst = Math.max(worst, d);
            recipe.entries[t.name] = {...r, dims: t.dims};
            for (const k of [r.key, ...(r.bn ? ['weight', 'bias', 'running_mean', 'running_var'].map((p) => `${r.bn}.${p}`) : [])]) {
                if (k) recipe.keys[k] = shapes.get(k);
            }
            stripped += t.raw.length;
        }
        const template = rewriteModel(buf, (y) => {
            const t = parseTensor(buf, y);
            if (!found.has(t.name)) return null;
            return lenField(5, Buffer.concat([...t.dims.map((d) => intField(1, d)), intField(2, 1), lenField(8, Buffer.from(t.name, 'utf8'))]));
        });
        writeFileSync(path.join(outDir, `${graph}.template.onnx`), template);
        recipe.max_abs_diff = worst;
        writeFileSync(path.join(outDir, `${graph}.recipe.json`), JSON.stringify(recipe));
        console.log(`${graph}: ${Object.keys(recipe.entries).length} initializers (${(stripped / 1e6).toFixed(1)} MB) from the rule, ` +
                    `${(inlineBytes / 1e6).toFixed(2)} MB left inline; template ${(template.length / 1e6).toFixed(2)} MB; ` +
                    `max |diff| of the remade values ${worst.toExponential(2)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
}

function numel(shape) { return shape.reduce((a, b) => a * b, 1); }
function fill(tdir, outDir) {
    mkdirSync(outDir, {recursive: true});
    for (const graph of Object.keys(GRAPHS)) {
        const tf = path.join(tdir, `${graph}.template.onnx`);
        if (!existsSync(tf)) { console.log(`${graph}: no template, skipped`); continue; }
        const t0 = performance.now();
        const buf = readFileSync(tf);
        const recipe = JSON.parse(readFileSync(path.join(tdir, `${graph}.recipe.json`), 'utf8'));
        const cache = new Map();
        const get = (key) => {
            if (!cache.has(key)) { const k = recipe.keys[key]; cache.set(key, synthTensor(key, k.shape, recipe.seed, k.dtype)); }
            return cache.get(key);
        };
        const out = rewriteModel(buf, (y) => {
            const t = parseTensor(buf, y), r = recipe.entries[t.name];
            return r ? lenField(5, encodeTensor(t.name, t.dims, remake(r, get))) : null;
        });
        writeFileSync(path.join(outDir, `${graph}.onnx`), out);
        console.log(`${graph}: ${(out.length / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
}

const USAGE = 'usage: onnx_weights.mjs strip --onnx DIR --model full|tiny --out TDIR [--fixtures ROOT]\n' +
              '       onnx_weights.mjs fill --templates TDIR --out DIR';
const [cmd, ...rest] = process.argv.slice(2);
// a --help in place of the sub-command is a request for the usage too
const opt = parseCli(USAGE, {onnx: {type: 'string'}, model: {type: 'string', default: 'full'},
    fixtures: {type: 'string'}, out: {type: 'string'}, templates: {type: 'string'}}, cmd === '--help' || cmd === '-h' ? [cmd] : rest);
if (cmd === 'strip' && opt.onnx && opt.out) strip(opt.onnx, opt.model, opt.fixtures, opt.out);
else if (cmd === 'fill' && opt.templates && opt.out) fill(opt.templates, opt.out);
else {
    console.error(USAGE);
    process.exit(2);
}
