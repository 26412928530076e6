// The peer benchmark's report (bench/peers/report.mjs) on small made-up records: no ONNX files, no
// torch, no fixtures needed. Checks the table, the n/a rows, the tolerance flags, the ratios and the
// machine-readable summary issue 5 asks for.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {buildReport, precisionOf, readRecords, REQUIRED, SPREAD, spreadMultiple, tolerance} from '../../bench/peers/report.mjs';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/peers/report.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'peers-report-'));
after(() => rmSync(tmp, {recursive: true, force: true}));

const rec = (peer, o = {}) => ({peer, ep: 'test', precision: 'f32', threads: 2, unet_step_ms: 100, encode_ms: 50, decode_ms: 60,
                                inpaint_ms: 2000, peak_mem_bytes: 1e9, peak_mem_kind: 'rss', max_abs_diff_latents: 1e-5,
                                max_abs_diff_decoded: 1e-6, model: 'full', ...o});

function writeRecords(dir, list) {
    for (const r of list) writeFileSync(path.join(dir, `${r.peer}.json`), JSON.stringify(r));
}

function run(args) {
    return spawnSync(process.execPath, [script, ...args], {encoding: 'utf8'});
}

test('CPU machine: table, n/a rows, ratio, files and the summary JSON', () => {
    const res = path.join(tmp, 'cpu'), out = path.join(tmp, 'cpu-out');
    mkdirSync(res, {recursive: true});
    writeRecords(res, [
        rec('ours_cpu', {version: 'moebius.cpp abc123', machine: {node: 'v20', cpu: 'Test CPU'}}),
        rec('ort_cpu', {inpaint_ms: 3000, unet_step_ms: 150, ort_version: '1.30.0'}),
        // upstream.py's shape: notes as a list, dtype instead of precision, device string
        {peer: 'pytorch_eager_fp32', device: 'cpu (Test CPU)', dtype: 'fp32', torch_version: '2.11.0', unet_step_ms: 200,
         encode_ms: 80, decode_ms: 90, inpaint_ms: 4000, peak_mem_bytes: 2e9, peak_mem_what: 'peak RSS (VmHWM)',
         max_abs_diff_latents: 2e-5, max_abs_diff_decoded: 2e-6, notes: ['noise: fixture noise.npy', 'stand-in module x'], model: 'full'},
    ]);
    const r = run(['--results', res, '--machine', 'ci box', '--date', '2026-01-02', '--kind', 'auto', '--fixtures', path.join(tmp, 'none'),
                   '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const md = readFileSync(path.join(out, '2026-01-02-ci-box.md'), 'utf8');
    assert.equal(md, r.stdout);
    const j = JSON.parse(readFileSync(path.join(out, '2026-01-02-ci-box.json'), 'utf8'));
    assert.equal(j.machine, 'ci-box');
    assert.equal(j.kind, 'cpu');
    assert.equal(j.baseline, 'ours_cpu');
    for (const p of REQUIRED) assert.ok(p in j.inpaint_ms, `inpaint_ms has ${p}`);
    assert.equal(j.inpaint_ms.ours_cpu, 2000);
    assert.equal(j.inpaint_ms.ort_cpu, 3000);
    assert.equal(j.inpaint_ms.pytorch_eager_fp32, 4000);
    assert.equal(j.inpaint_ms.ours_webgpu_f16, null);
    assert.equal(j.inpaint_ms.ort_web_webgpu, null);
    assert.deepEqual(j.max_abs_diff_vs_reference.ort_cpu, {latents: 1e-5, decoded: 1e-6});
    assert.equal(j.max_abs_diff_vs_reference.pytorch_eager_fp16, null);
    assert.equal(j.ratio_vs_ours.ort_cpu.inpaint, 1.5);
    assert.equal(j.ratio_vs_ours.pytorch_eager_fp32.unet_step, 2);
    assert.deepEqual(j.flags, []);
    assert.equal(j.versions.onnxruntime_node, '1.30.0');
    assert.equal(j.versions.torch, '2.11.0');
    assert.equal(j.versions.moebius_cpp, 'moebius.cpp abc123');
    assert.match(md, /\| ours_webgpu_f16 \| n\/a \(no GPU on this machine\)/);
    assert.match(md, /\| ort_cpu \| test, f32, 2 thr\. \| 150 \| 50\.0 \| 60\.0 \| \*\*3000\*\* \| 1\.00 GB RSS \|.*\| ok \| 1\.50× \| 1\.50× \|/);
    assert.match(md, /pytorch_eager_fp32: noise: fixture noise\.npy; stand-in module x/);
    assert.match(md, /All peers that ran agree/);
    // one table: every row has the header's number of cells
    const rows = md.split('\n').filter((l) => l.startsWith('|'));
    const cells = (l) => l.replace(/\\\|/g, '').split('|').length;
    assert.equal(new Set(rows.map(cells)).size, 1);
    assert.equal(rows.length, 2 + REQUIRED.length);
});

test('a wrong output is flagged, a failed peer is n/a with its reason, --strict fails', () => {
    const res = path.join(tmp, 'flag');
    mkdirSync(res, {recursive: true});
    writeRecords(res, [
        rec('ours_cpu'),
        rec('ort_cpu', {max_abs_diff_latents: 5}),           // a wrong answer: beyond 128·2⁻¹¹·37.2 = 2.3
        rec('ours_webgpu_f32', {max_abs_diff_latents: 1e-3}),  // agrees, but 14× the float32 spread: a note
        {peer: 'pytorch_eager_fp32', error: 'torch cannot be imported | here'},
    ]);
    const args = ['--results', res, '--machine', 'm', '--date', '2026-01-02', '--no-write', '--fixtures', path.join(tmp, 'none')];
    const r = run(args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\| ort_cpu \|.*\| \*\*FLAG\*\* \|/);
    assert.match(r.stdout, /FLAG ort_cpu: max\|Δ\| latents 5\.0e\+0 \(tol 2\.3e\+0\)/);
    assert.match(r.stdout, /\| ours_webgpu_f32 \|.*\| 1\.0e-3 \| 1\.0e-6 \| 14 \| ok \|/);
    assert.match(r.stdout, /note: ours_webgpu_f32 \(f32\): 14× the float32 spread/);
    assert.doesNotMatch(r.stdout, /All peers that ran agree/);
    assert.match(r.stdout, /\| pytorch_eager_fp32 \| n\/a \(torch cannot be imported \/ here\)/);
    assert.equal(run([...args, '--strict']).status, 1);
});

test('GPU machine: f16 tolerance, baseline ours_webgpu_f16, CPU rows also against ours_cpu', () => {
    const recs = [
        rec('ours_webgpu_f16', {precision: 'f16', inpaint_ms: 1000, unet_step_ms: 50, max_abs_diff_latents: 0.08, max_abs_diff_decoded: 0.007,
                                max_abs_ref_latents: 37.2, max_abs_ref_decoded: 3.08, peak_mem_kind: 'gpu_buffers'}),
        rec('ours_webgpu_f32', {inpaint_ms: 1200}),
        rec('ours_cpu', {inpaint_ms: 100000}),
        rec('ort_cpu', {inpaint_ms: 150000}),
        rec('pytorch_eager_fp16', {dtype: 'fp16', precision: undefined, device: 'cuda (H100)', inpaint_ms: 1160, max_abs_diff_latents: 0.1}),
        rec('ort_web_webgpu', {inpaint_ms: 5000, max_abs_diff_latents: 'Infinity'}),  // NaN/Inf as writePeer writes it
    ];
    const {summary, markdown} = buildReport(recs, {machine: 'h100', date: '2026-01-02', kind: 'auto', model: 'full'});
    assert.equal(summary.kind, 'gpu');
    assert.equal(summary.baseline, 'ours_webgpu_f16');
    assert.equal(summary.agreement.ours_webgpu_f16, 'ok');      // 0.08 < 128·2⁻¹¹·37.2 = 2.3
    assert.deepEqual(summary.beyond_fp32_spread, []);           // f16 peers are not held to the float32 spread
    assert.equal(summary.agreement.pytorch_eager_fp16, 'ok');
    assert.equal(summary.agreement.ort_web_webgpu, 'FLAG');
    assert.equal(summary.ratio_vs_ours.pytorch_eager_fp16.inpaint, 1.16);
    assert.equal(summary.ratio_vs_ours.ort_cpu.inpaint, 150);
    assert.match(markdown, /\| ort_cpu \|.*\| 150\.00× \| 2\.00× \| 1\.50× \|/);  // vs f16 GPU; step; vs ours_cpu
    assert.equal(summary.inpaint_ms.ours_webgpu_f32, 1200);
    assert.equal(summary.not_run.ours_webgpu_f16, undefined);
});

test('tolerance rules and record files', () => {
    assert.equal(precisionOf({peer: 'pytorch_eager_fp16'}), 'f16');
    assert.equal(precisionOf({peer: 'x', dtype: 'fp32'}), 'f32');
    assert.equal(precisionOf({peer: 'ours_webgpu_f16'}), 'f16');
    assert.equal(tolerance({peer: 'ort_cpu'}, SPREAD.full).latents, 128 * 2 ** -11 * SPREAD.full.maxLatents);
    assert.equal(tolerance({peer: 'ours_webgpu_f16', max_abs_ref_latents: 32}, SPREAD.full).latents, 128 * 2 ** -11 * 32);
    assert.equal(spreadMultiple({max_abs_diff_latents: 2 * SPREAD.full.latents, max_abs_diff_decoded: 0}, SPREAD.full), 2);
    assert.equal(spreadMultiple({max_abs_diff_latents: null, max_abs_diff_decoded: 0}, SPREAD.full), null);
    const dir = path.join(tmp, 'files');
    mkdirSync(dir, {recursive: true});
    writeFileSync(path.join(dir, 'many.json'), JSON.stringify([rec('a'), rec('b')]));
    writeFileSync(path.join(dir, 'wrapped.json'), JSON.stringify({peers: [rec('c')]}));
    writeFileSync(path.join(dir, 'broken.json'), '{');
    writeFileSync(path.join(dir, '.hidden.json'), JSON.stringify(rec('hidden')));
    const peers = readRecords(dir).map((r) => r.peer).sort();
    assert.deepEqual(peers, ['a', 'b', 'broken', 'c']);
    assert.match(readRecords(dir).find((r) => r.peer === 'broken').error, /unreadable/);
});
