// ours.mjs: this project's rows of the peer benchmark (bench/peers/README.md), on the same work as the
// other peers — the fixtures' 512×512 inpaint (image.png, mask.png, noise.npy; synthetic weights of the
// fixture rule made in memory, 19 DDIM steps, CFG 2.5) — written as peer records:
//
//   node bench/peers/ours.mjs [--peers cpu,webgpu] [--model tiny|full] [--fixtures DIR] [--out DIR]
//                             [--threads N] [--repeat N] [--bench-cpu PATH] [--dtype f16,f32]
//
//   cpu     -> ours_cpu: the native engine, `bench_cpu --fixtures` (bench/bench_cpu.cpp; default binary
//              build/release/bench_cpu, or --bench-cpu / $MOEBIUS_BENCH_CPU), --threads (default: all cores)
//   webgpu  -> ours_webgpu_f16 / ours_webgpu_f32: the WebAssembly engine on Dawn through web/js/moebius.js,
//              `bench/bench_webgpu.mjs --fixtures` (needs build/wasm/moebius.{js,wasm} or $MOEBIUS_WASM;
//              Dawn options in MOEBIUS_DAWN_ARGS / MOEBIUS_DAWN_FEATURES, f16 on NVIDIA needs
//              MOEBIUS_DAWN_FEATURES=allow_unsafe_apis,vulkan_enable_f16_on_nvidia)
// Records go to OUT/<peer>.json (default /tmp/peers/results); a peer that cannot run gets a record with
// `error` (report.mjs prints 'n/a (reason)').
// WebGPU figures, from bench_webgpu's engine.inpaint() runs (median of --repeat after a warm-up run):
// unet_step_ms = median step-to-step time, encode_ms / decode_ms = the API's stages (decode includes the
// readback), inpaint_ms = the whole call minus its CPU post-processing (paste: not part of every peer);
// peak_mem_bytes = peak bytes of the GPUBuffers alive on the device; the max |diff|s come from one more,
// untimed run with readbacks.

import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, rmSync} from 'node:fs';
import path from 'node:path';

import {parseCli} from '../cli.mjs';
import {fixtureDir, fixturesRoot, machineInfo, root, writePeer} from './common.mjs';

const USAGE =
    'usage: node bench/peers/ours.mjs [--peers cpu,webgpu] [--model tiny|full] [--fixtures DIR] [--out DIR]\n' +
    '                                 [--threads N] [--repeat N] [--bench-cpu PATH] [--dtype f16,f32]';
const opt = parseCli(USAGE, {
    peers: {type: 'string', default: 'cpu,webgpu'},
    model: {type: 'string', default: 'full'},
    fixtures: {type: 'string'},
    out: {type: 'string', default: '/tmp/peers/results'},
    threads: {type: 'string'},
    repeat: {type: 'string', default: '3'},
    'bench-cpu': {type: 'string'},
    dtype: {type: 'string', default: 'f16,f32'},
});
const dir = fixtureDir(fixturesRoot(opt.fixtures), opt.model);
mkdirSync(opt.out, {recursive: true});
const commit = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {encoding: 'utf8'}).stdout?.trim() || null;
const dirty = spawnSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], {encoding: 'utf8'}).stdout?.trim() ? '+changes' : '';
const version = commit ? `moebius.cpp ${commit}${dirty}` : 'moebius.cpp';
const common = {version, model: opt.model, fixtures: dir};
const file = (peer) => path.join(opt.out, `${peer}.json`);
let failed = 0;

function fail(peer, reason, extra = {}) {
    failed++;
    console.error(`${peer}: ${reason}`);
    writePeer(file(peer), {peer, ...extra, ...common, machine: machineInfo(), date: new Date().toISOString(), error: reason});
}

for (const which of opt.peers.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (which === 'cpu') {
        const bin = path.resolve(opt['bench-cpu'] ?? process.env.MOEBIUS_BENCH_CPU ?? path.join(root, 'build/release/bench_cpu'));
        if (!existsSync(bin)) { fail('ours_cpu', `${bin} is missing (cmake --build build/release --target bench_cpu)`); continue; }
        const tmp = path.join(opt.out, '.ours_cpu.raw.json');
        rmSync(tmp, {force: true});
        const args = ['--fixtures', dir, '--config', opt.model, '--repeat', opt.repeat, '--json', tmp];
        if (opt.threads) args.push('--threads', opt.threads);
        console.log(`ours_cpu: ${bin} ${args.join(' ')}`);
        const r = spawnSync(bin, args, {stdio: 'inherit'});
        if (r.status !== 0 || !existsSync(tmp)) { fail('ours_cpu', `bench_cpu exited with ${r.status ?? r.signal}`); continue; }
        const raw = JSON.parse(readFileSync(tmp, 'utf8'));
        rmSync(tmp, {force: true});
        writePeer(file('ours_cpu'), {...raw, ort_version: null, ...common, machine: machineInfo(), date: new Date().toISOString(), binary: bin});
    } else if (which === 'webgpu') {
        const tmp = path.join(opt.out, '.ours_webgpu.raw.json');
        rmSync(tmp, {force: true});
        const args = [path.join(root, 'bench/bench_webgpu.mjs'), '--config', opt.model, '--fixtures', dir, '--dtype', opt.dtype,
                      '--runs', opt.repeat, '--json', tmp];
        console.log(`ours_webgpu: node ${args.join(' ')}`);
        const r = spawnSync(process.execPath, args, {stdio: 'inherit'});
        const dtypes = opt.dtype.split(',').map((s) => s.trim()).filter(Boolean);
        if (r.status !== 0 || !existsSync(tmp)) {
            for (const d of dtypes) fail(`ours_webgpu_${d}`, `bench_webgpu.mjs exited with ${r.status ?? r.signal}`);
            continue;
        }
        const raw = JSON.parse(readFileSync(tmp, 'utf8'));
        rmSync(tmp, {force: true});
        for (const d of dtypes) {
            const peer = `ours_webgpu_${d}`, x = raw.dtypes?.[d];
            const gpu = {ep: `moebius.cpp WebGPU (WebAssembly + Dawn, Node), ${d} storage`, precision: d, adapter: raw.adapter ?? null,
                         dawn_args: `${raw.dawnArgs ?? ''}${raw.dawnFeatures ? ` features=${raw.dawnFeatures}` : ''}`};
            if (!x) {
                fail(peer, raw.failures?.[d] ?? (d === 'f16' ? 'no shader-f16 on this adapter' : 'did not run'), gpu);
                continue;
            }
            if (!x.check) { fail(peer, 'no fixture check in bench_webgpu output', gpu); continue; }
            writePeer(file(peer), {
                peer, ...gpu, threads: null, ort_version: null,
                unet_step_ms: x.api.stepMedian, encode_ms: x.api.encode2, decode_ms: x.api.decode,
                inpaint_ms: x.api.whole - x.api.post,
                peak_mem_bytes: x.peakLiveBytes, peak_mem_kind: 'gpu_buffers', smi_peak_mib: x.smiPeakMiB ?? null,
                max_abs_diff_latents: x.check.maxAbsDiffLatents, max_abs_diff_decoded: x.check.maxAbsDiffDecoded,
                max_abs_ref_latents: x.check.maxAbsRefLatents, max_abs_ref_decoded: x.check.maxAbsRefDecoded,
                repeat: Number(opt.repeat), runs_inpaint_ms: x.api.wholeAll, inpaint_with_post_ms: x.api.whole, post_ms: x.api.post,
                pipelined_inpaint_ms: x.pipelined?.whole ?? null, unet_step_api_mean_ms: x.api.step,
                ...common, machine: machineInfo(), date: new Date().toISOString(),
                notes: 'engine.inpaint() (GPU awaited after the encode and each step; step i recorded while step i-1 runs); ' +
                       'inpaint = whole call minus CPU post-processing; warm-up = one whole inpaint (compiles pipelines); ' +
                       'weights made in wasm memory (fixture rule); peak_mem = GPUBuffers alive on the device',
            });
        }
    } else {
        console.error(`--peers: cpu or webgpu, got ${which}`);
        process.exit(2);
    }
}
process.exit(failed ? 1 : 0);
