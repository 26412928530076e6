// report.mjs: the peer benchmark's one table (bench/peers/README.md). Reads the peer records of one
// machine (every *.json in --results: one record, an array of records, or {peers: [...]}), checks that
// every peer's output agrees with the float64 reference within a stated tolerance, prints one markdown
// table and writes <out>/<date>-<machine>.md and .json.
//
//   node bench/peers/report.mjs --results DIR [--machine NAME] [--date YYYY-MM-DD] [--out bench/results]
//                               [--kind auto|gpu|cpu] [--fixtures DIR] [--model tiny|full] [--no-write] [--strict]
//
// Rows: the peers (the seven of issue 5 always listed; one that has no record or failed shows
// 'n/a (reason)'). Ratio = peer ms / ours ms for the whole inpaint and the UNet step (> 1: ours is
// faster), ours = ours_webgpu_f16 on a GPU machine (--kind gpu; auto: a record of ours_webgpu_* exists),
// ours_cpu on a CPU machine; on a GPU machine CPU rows get a second ratio against ours_cpu.
// Agreement (max |diff| of the latents after the last step and of the decoded image vs the fixtures'
// float64 reference), for every peer: 128 · 2⁻¹¹ · max|ref| — the bound our own f16 path is held to, i.e.
// "the same answer at reduced precision"; a wrong pipeline (swapped CFG rows, wrong timesteps or scaling,
// NaN) lands far outside it. A peer outside it is flagged (FLAG in the table, a line below it; --strict
// makes that exit 1); NaN/Inf count as outside, a missing comparison as 'unchecked'.
// Float32 faithfulness, shown for every peer: max(err / spread) over latents and decoded, where spread is
// the fixtures' own float32-vs-float64 difference (meta.json); ≤ 8 is what a faithful float32 computation
// reaches (the figure of our GPU parity test). An f32 peer above 8× agrees but is noted below the table.

import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {parseCli} from '../cli.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** The seven peers of issue 5, in table order; GPU ones first. */
export const REQUIRED = ['ours_webgpu_f16', 'ours_webgpu_f32', 'ours_cpu', 'pytorch_eager_fp16', 'pytorch_eager_fp32',
                         'ort_web_webgpu', 'ort_cpu'];
const GPU_ONLY = new Set(['ours_webgpu_f16', 'ours_webgpu_f32', 'pytorch_eager_fp16', 'ort_web_webgpu']);

/** The fixtures' float32-vs-float64 spread and largest |values| (README / meta.json), when no meta.json is at hand. */
export const SPREAD = {
    tiny: {latents: 3.124380659613735e-05, decoded: 4.395992022176998e-06, maxLatents: 34.005950927734375, maxDecoded: 3.431668519973755},
    full: {latents: 7.291209232218598e-05, decoded: 1.0080510202237214e-05, maxLatents: 37.20022964477539, maxDecoded: 3.08187198638916},
};
const U16 = 2 ** -11;

/** Spread of one model: from <fixtures>/<model>/meta.json when readable, else the table above. */
export function spreadFor(model, fixturesDir) {
    const base = SPREAD[model] ?? SPREAD.full;
    const metaPath = fixturesDir && [path.join(fixturesDir, model, 'meta.json'), path.join(fixturesDir, 'meta.json')].find(existsSync);
    if (!metaPath) return {...base, source: 'built-in (fixtures README)'};
    const m = JSON.parse(readFileSync(metaPath, 'utf8'));
    const s = m.float32_vs_float64_max_abs_diff ?? {};
    return {latents: s.latents_last_step ?? base.latents, decoded: s.decoded ?? base.decoded,
            maxLatents: m.max_abs?.latents_steps ?? base.maxLatents, maxDecoded: m.max_abs?.decoded ?? base.maxDecoded, source: metaPath};
}

/** A record's numeric precision: 'f16' for f16/fp16/bf16 peers, else 'f32'. */
export function precisionOf(r) {
    const p = String(r.precision ?? r.dtype ?? '').toLowerCase();
    if (/16/.test(p)) return 'f16';
    if (p) return 'f32';
    return /(f|fp|bf)16/.test(r.peer) ? 'f16' : 'f32';
}

/** 'cpu' or 'gpu': the record's device_class/device, else from the peer's name. */
export function deviceClass(r) {
    const d = String(r.device_class ?? r.device ?? '').toLowerCase();
    if (d) return d.startsWith('cpu') ? 'cpu' : 'gpu';
    return /cpu/.test(r.peer) ? 'cpu' : 'gpu';
}

/** The agreement tolerance (every peer): 128·2⁻¹¹·max|ref| of the latents / decoded image. */
export function tolerance(r, spread) {
    const ml = num(r.max_abs_ref_latents) ?? spread.maxLatents, md = num(r.max_abs_ref_decoded) ?? spread.maxDecoded;
    return {latents: 128 * U16 * ml, decoded: 128 * U16 * md, rule: '128·2⁻¹¹·max|ref|'};
}

/** Float32 faithfulness: max(err / fp32-vs-fp64 spread) over latents and decoded (null if not comparable). */
export function spreadMultiple(r, spread) {
    const dl = num(r.max_abs_diff_latents), dd = num(r.max_abs_diff_decoded);
    if (dl === null || dd === null) return null;
    return Math.max(dl / spread.latents, dd / spread.decoded);
}
export const FAITHFUL_F32 = 8;

/** Reads every *.json under dir (hidden files skipped) into a list of peer records. */
export function readRecords(dir) {
    const recs = [];
    for (const name of readdirSync(dir).sort()) {
        if (!name.endsWith('.json') || name.startsWith('.')) continue;
        let j;
        try {
            j = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
        } catch (e) {
            recs.push({peer: name.replace(/\.json$/, ''), error: `unreadable record ${name}: ${e.message}`, file: name});
            continue;
        }
        const list = Array.isArray(j) ? j : Array.isArray(j.peers) ? j.peers : [j];
        for (const r of list) if (r && typeof r === 'object' && r.peer) recs.push({...r, file: name});
    }
    return recs;
}

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** A record's notes as one string (upstream.py writes a list). */
const notesOf = (r) => (Array.isArray(r.notes) ? r.notes.join('; ') : r.notes ? String(r.notes) : '');
/** Why a record has no figures: error / skipped / reason, else its last note. */
const whyNot = (r) => String(r.error ?? r.skipped ?? r.reason ?? (Array.isArray(r.notes) ? r.notes.at(-1) : r.notes) ?? 'no timings in the record');
const hasTimes = (r) => r && !r.error && !r.skipped && num(r.inpaint_ms) !== null;

/**
 * Builds the report from peer records.
 * @param {any[]} records @param {{machine: string, date: string, kind?: string, model?: string, fixtures?: string}} o
 */
export function buildReport(records, o) {
    // The last record of a peer wins (a re-run overwrites); later files sort after earlier ones.
    const byPeer = new Map(), dupes = [];
    for (const r of records) {
        if (byPeer.has(r.peer)) dupes.push(`${r.peer}: ${byPeer.get(r.peer).file ?? '?'} replaced by ${r.file ?? '?'}`);
        byPeer.set(r.peer, r);
    }
    const model = o.model ?? [...byPeer.values()].find((r) => r.model)?.model ?? 'full';
    const spread = spreadFor(model, o.fixtures);
    const kind = o.kind && o.kind !== 'auto' ? o.kind
        : [...byPeer.keys()].some((p) => p.startsWith('ours_webgpu')) ? 'gpu' : 'cpu';
    const baselineName = kind === 'gpu' ? 'ours_webgpu_f16' : 'ours_cpu';
    const baseline = byPeer.get(baselineName);
    const oursCpu = byPeer.get('ours_cpu');
    const order = [...REQUIRED, ...[...byPeer.keys()].filter((p) => !REQUIRED.includes(p)).sort()];

    const rows = [];
    const flags = [], beyond = [];
    for (const peer of order) {
        const r = byPeer.get(peer);
        if (!r) {
            const why = kind === 'cpu' && GPU_ONLY.has(peer) ? 'no GPU on this machine' : 'no result';
            rows.push({peer, na: why});
            continue;
        }
        if (r.error || r.skipped || !hasTimes(r)) {
            rows.push({peer, na: whyNot(r), record: r});
            continue;
        }
        const tol = tolerance(r, spread);
        const dl = r.max_abs_diff_latents, dd = r.max_abs_diff_decoded;
        let check;
        if (dl === null || dl === undefined || dd === null || dd === undefined) check = 'unchecked';
        else if (!(num(dl) !== null && num(dd) !== null && dl <= tol.latents && dd <= tol.decoded)) check = 'FLAG';
        else check = 'ok';
        if (check !== 'ok') {
            flags.push(`${peer}: ${check === 'unchecked' ? 'output not compared with the reference' :
                `max|Δ| latents ${fmtE(dl)} (tol ${fmtE(tol.latents)}), decoded ${fmtE(dd)} (tol ${fmtE(tol.decoded)}) — outside tolerance (${tol.rule})`}`);
        }
        const mult = spreadMultiple(r, spread);
        if (check === 'ok' && precisionOf(r) === 'f32' && mult > FAITHFUL_F32) {
            beyond.push(`${peer} (f32): ${mult.toFixed(0)}× the float32 spread (latents ${fmtE(dl)}, decoded ${fmtE(dd)}): agrees, but ` +
                        `is less accurate than a faithful float32 computation (≤ ${FAITHFUL_F32}×)`);
        }
        const ratio = (a, b) => (num(a) !== null && num(b) !== null && b > 0 ? a / b : null);
        const same = deviceClass(r) === 'cpu' ? oursCpu : baseline;
        rows.push({
            peer, record: r, check, tol, mult,
            ratio: hasTimes(baseline) ? ratio(r.inpaint_ms, baseline.inpaint_ms) : null,
            stepRatio: hasTimes(baseline) ? ratio(r.unet_step_ms, baseline.unet_step_ms) : null,
            sameRatio: kind === 'gpu' && hasTimes(same) ? ratio(r.inpaint_ms, same.inpaint_ms) : null,
        });
    }

    // Versions, gathered from the records.
    const versions = {};
    const addV = (k, v) => { if (v !== null && v !== undefined && v !== '' && versions[k] === undefined) versions[k] = v; };
    for (const r of byPeer.values()) {
        if (r.peer.startsWith('ours')) addV('moebius_cpp', r.version);
        if (r.peer === 'ort_cpu') addV('onnxruntime_node', r.ort_version);
        if (r.peer === 'ort_web_webgpu') addV('onnxruntime_web', r.ort_version);
        if (r.peer.startsWith('pytorch')) {
            addV('torch', r.torch_version ?? r.versions?.torch);
            addV('diffusers', r.diffusers_version ?? r.versions?.diffusers);
            addV('upstream', r.upstream_commit ?? r.versions?.upstream);
            addV('cuda', r.cuda_version ?? r.versions?.cuda);
        }
        if (r.versions && typeof r.versions === 'object') for (const [k, v] of Object.entries(r.versions)) addV(k, v);
        addV('node', r.machine?.node);
        addV('cpu', r.machine?.cpu);
        addV('gpu', typeof r.adapter === 'string' ? r.adapter : r.adapter ? [r.adapter.description || r.adapter.device, r.adapter.vendor, r.adapter.architecture].filter(Boolean).join(' ') : r.gpu ?? undefined);
    }
    try { addV('npm_webgpu_dawn', JSON.parse(readFileSync(path.join(root, 'node_modules/webgpu/package.json'), 'utf8')).version); } catch { /* not installed */ }

    const pick = (key) => Object.fromEntries(order.filter((p) => REQUIRED.includes(p) || byPeer.has(p)).map((p) => {
        const row = rows.find((x) => x.peer === p);
        return [p, row && !row.na ? num(row.record[key]) : null];
    }));
    const summary = {
        machine: o.machine, date: o.date, kind, model, baseline: baselineName,
        inpaint_ms: pick('inpaint_ms'),
        unet_step_ms: pick('unet_step_ms'),
        encode_ms: pick('encode_ms'),
        decode_ms: pick('decode_ms'),
        peak_mem_bytes: pick('peak_mem_bytes'),
        cpu_ms_per_inpaint: pick('cpu_ms_per_inpaint'),
        max_abs_diff_vs_reference: Object.fromEntries(rows.map((x) => [x.peer, x.na ? null : {
            latents: num(x.record.max_abs_diff_latents) ?? (x.record.max_abs_diff_latents ?? null),
            decoded: num(x.record.max_abs_diff_decoded) ?? (x.record.max_abs_diff_decoded ?? null)}])),
        ratio_vs_ours: Object.fromEntries(rows.filter((x) => !x.na).map((x) => [x.peer, {inpaint: x.ratio, unet_step: x.stepRatio}])),
        agreement: Object.fromEntries(rows.map((x) => [x.peer, x.na ? 'n/a' : x.check])),
        fp32_spread_multiple: Object.fromEntries(rows.filter((x) => !x.na).map((x) => [x.peer, x.mult ?? null])),
        not_run: Object.fromEntries(rows.filter((x) => x.na).map((x) => [x.peer, x.na])),
        tolerance: {agreement: `128·2⁻¹¹·max|ref|: latents ≈ ${fmtE(128 * U16 * spread.maxLatents)}, decoded ≈ ${fmtE(128 * U16 * spread.maxDecoded)}`,
                    fp32_spread: {latents: spread.latents, decoded: spread.decoded, faithful_multiple: FAITHFUL_F32}, spread_source: spread.source},
        flags,
        beyond_fp32_spread: beyond,
        duplicate_records: dupes,
        versions,
        records: [...byPeer.values()],
    };
    return {summary, markdown: markdown(summary, rows, kind, baselineName, spread)};
}

function fmtMs(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
function fmtE(v) {
    if (v === null || v === undefined) return '—';
    if (!Number.isFinite(v)) return String(v);
    return v === 0 ? '0' : v.toExponential(1);
}
function fmtMem(r) {
    const b = num(r.peak_mem_bytes);
    if (b === null) return '—';
    const what = String(r.peak_mem_kind ?? r.peak_mem_what ?? '').toLowerCase();
    const kind = /rss/.test(what) ? 'RSS' : /gpu_buffers/.test(what) ? 'GPU buf.' : /max_memory_allocated/.test(what) ? 'torch alloc.' : what.slice(0, 20);
    return `${(b / 1e9).toFixed(2)} GB ${kind}`.trim();
}
const fmtRatio = (v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)}×`);

function markdown(s, rows, kind, baselineName, spread) {
    const L = [];
    L.push(`# Peer benchmark — ${s.machine}, ${s.date}`);
    L.push('');
    L.push(`Same work for every peer: the fixtures' 512×512 inpaint (${s.model} model, synthetic weights of the fixture rule, ` +
           'image.png / mask.png / noise.npy, 19 DDIM steps, CFG 2.5 on a batch of 2). Times in ms, medians after a warm-up; ' +
           '"inpaint" = image to decoded tensor (PNG post-processing excluded). ' +
           `Ratio = peer / ours (> 1: ours is faster), ours = ${baselineName}${kind === 'gpu' ? '; "vs ours same device" compares CPU rows with ours_cpu' : ''}. ` +
           'max|Δ| = largest absolute difference from the float64 reference (latents after the last step; decoded image before (x+1)/2).');
    L.push('');
    const head = ['peer', 'runtime', 'UNet step', 'encode ×2', 'decode', 'whole inpaint', 'peak memory', 'max\\|Δ\\| latents', 'max\\|Δ\\| decoded',
                  '× fp32 spread', 'check', 'inpaint ratio', 'step ratio'];
    if (kind === 'gpu') head.push('vs ours same device');
    L.push(`| ${head.join(' | ')} |`);
    L.push(`|${head.map((h, i) => (i < 2 || h === 'check' ? '---' : '---:')).join('|')}|`);
    for (const x of rows) {
        if (x.na) {
            const cells = [x.peer, `n/a (${x.na.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 160)})`, ...head.slice(2).map(() => '—')];
            L.push(`| ${cells.join(' | ')} |`);
            continue;
        }
        const r = x.record;
        const rt = [r.ep ?? r.device, r.precision ?? r.dtype, r.threads ? `${r.threads} thr.` : null].filter(Boolean).join(', ');
        const cells = [x.peer === baselineName ? `**${x.peer}**` : x.peer, rt, fmtMs(r.unet_step_ms), fmtMs(r.encode_ms), fmtMs(r.decode_ms),
                       `**${fmtMs(r.inpaint_ms)}**`, fmtMem(r), fmtE(r.max_abs_diff_latents), fmtE(r.max_abs_diff_decoded),
                       x.mult === null || x.mult === undefined ? '—' : x.mult < 10 ? x.mult.toFixed(1) : x.mult.toFixed(0),
                       x.check === 'ok' ? 'ok' : `**${x.check}**`, fmtRatio(x.ratio), fmtRatio(x.stepRatio)];
        if (kind === 'gpu') cells.push(fmtRatio(x.sameRatio));
        L.push(`| ${cells.join(' | ')} |`);
    }
    L.push('');
    L.push(`Check: every peer's max|Δ| must stay within 128·2⁻¹¹·max|ref| (≈ latents ${fmtE(128 * U16 * spread.maxLatents)}, ` +
           `decoded ${fmtE(128 * U16 * spread.maxDecoded)}; the bound our f16 path is held to): a wrong pipeline lands far outside. ` +
           `"× fp32 spread" = max|Δ| / the fixtures' own float32-vs-float64 difference (latents ${fmtE(spread.latents)}, ` +
           `decoded ${fmtE(spread.decoded)}; ${spread.source}), the larger of the two: a faithful float32 computation stays ≤ ${FAITHFUL_F32}.`);
    L.push('');
    if (s.flags.length) {
        L.push('**Outputs that disagree — their timings do not count:**');
        L.push('');
        for (const f of s.flags) L.push(`- FLAG ${f}`);
    } else {
        L.push('All peers that ran agree with the reference within tolerance.');
    }
    for (const d of s.duplicate_records) L.push(`- several records of one peer, the last file used: ${d}`);
    if (s.beyond_fp32_spread.length) {
        L.push('');
        for (const b of s.beyond_fp32_spread) L.push(`- note: ${b}`);
    }
    L.push('');
    L.push('Versions: ' + Object.entries(s.versions).map(([k, v]) => `${k} ${v}`).join('; '));
    const cpuT = rows.filter((x) => !x.na && num(x.record.cpu_ms_per_inpaint) !== null)
        .map((x) => `${x.peer} ${(x.record.cpu_ms_per_inpaint / 1000).toFixed(1)} s`);
    if (cpuT.length) {
        L.push('');
        L.push(`CPU time per inpaint (user + system, all threads; less sensitive than wall time to other jobs on a shared machine): ${cpuT.join(', ')}`);
    }
    const loads = rows.filter((x) => !x.na && Array.isArray(x.record.machine?.loadavg)).map((x) => `${x.peer} ${x.record.machine.loadavg[0]}`);
    if (loads.length) {
        L.push('');
        L.push(`Machine load (1-minute load average when each record was written; other jobs skew the times): ${loads.join(', ')}`);
    }
    const notes = rows.filter((x) => !x.na && notesOf(x.record)).map((x) => `- ${x.peer}: ${notesOf(x.record)}`);
    if (notes.length) {
        L.push('');
        L.push('Notes:');
        L.push('');
        L.push(...notes);
    }
    return L.join('\n') + '\n';
}

const USAGE =
    'usage: node bench/peers/report.mjs --results DIR [--machine NAME] [--date YYYY-MM-DD] [--out bench/results]\n' +
    '                                   [--kind auto|gpu|cpu] [--fixtures DIR] [--model tiny|full] [--no-write] [--strict]';

function main() {
    const opt = parseCli(USAGE, {
        results: {type: 'string', default: '/tmp/peers/results'},
        machine: {type: 'string'},
        date: {type: 'string'},
        out: {type: 'string', default: path.join(root, 'bench/results')},
        kind: {type: 'string', default: 'auto'},
        fixtures: {type: 'string'},
        model: {type: 'string'},
        'no-write': {type: 'boolean', default: false},
        strict: {type: 'boolean', default: false},
    });
    const fixtures = opt.fixtures ?? process.env.MOEBIUS_FIXTURES ?? path.join(root, '../shared/fixtures');
    const machine = (opt.machine ?? os.hostname()).replace(/[^A-Za-z0-9._-]+/g, '-');
    const date = opt.date ?? new Date().toISOString().slice(0, 10);
    const records = readRecords(opt.results);
    const {summary, markdown: md} = buildReport(records, {machine, date, kind: opt.kind, model: opt.model, fixtures});
    process.stdout.write(md);
    if (!opt['no-write']) {
        mkdirSync(opt.out, {recursive: true});
        const base = path.join(opt.out, `${date}-${machine}`);
        writeFileSync(`${base}.md`, md);
        writeFileSync(`${base}.json`, JSON.stringify(summary, null, 1) + '\n');
        console.error(`wrote ${base}.md and ${base}.json`);
    }
    process.exitCode = opt.strict && summary.flags.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
