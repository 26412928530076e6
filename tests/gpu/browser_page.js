// The page side of tests/gpu/test_browser.mjs: loads the engine with the tiny model over HTTP (the
// server maps /fixtures/ to the fixtures folder), runs the UNet call at t = 900 of unet_in.npy
// (`rows` of the batch) through WASM + WebGPU, and reports the error against unet_out.npy, plus two
// error paths. window.runTest(params) -> result object (read by the Node side).

import {createEngine, MoebiusError} from '../../web/js/moebius.js';
import {parseNpy} from '../../web/js/npy.js';

const log = (s) => { document.getElementById('log').textContent += `${s}\n`; };
const bytes = async (url) => {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
};

async function errorCode(fn) {
    try {
        await fn();
        return 'resolved';
    } catch (e) {
        return e instanceof MoebiusError ? e.code : `${e?.name}: ${e?.message}`;
    }
}

window.runTest = async ({glue, rows, f16}) => {
    const out = {isSecureContext, crossOriginIsolated, hasGpu: !!navigator.gpu};
    const t0 = performance.now();
    const tiny = '/fixtures/tiny/';
    const model = {
        unet: new URL(`${tiny}removal_model.bin`, location.href),  // streamed (Response body)
        vae: {config: new URL(`${tiny}vae/config.json`, location.href),
              weights: new URL(`${tiny}vae/diffusion_pytorch_model.safetensors`, location.href)},
        config: new URL(`${tiny}model_config.json`, location.href),
    };
    const loads = [];
    const engine = await createEngine({model, glueUrl: new URL(glue, location.href), preferF16: f16,
                                       onProgress: (e) => loads.push(e.loaded)});
    out.info = engine.info;
    out.loadMs = performance.now() - t0;
    out.loadEvents = loads.length;
    log(`loaded: ${engine.info.model} on ${engine.info.adapter.description} (${engine.info.dtype})`);

    // (a) the UNet call at t = 900 through mw_debug_unet.
    const [inp, ids, ref] = await Promise.all(['unet_in', 'unet_ids', 'unet_out'].map(async (n) => parseNpy(await bytes(`${tiny}${n}.npy`))));
    const [, C, S] = inp.shape;
    const nIds = ids.shape[1], per = C * S * S, perOut = ref.data.length / ref.shape[0];
    const M = engine.mod;
    const unet = await bytes(`${tiny}removal_model.bin`);
    const cfg = new TextDecoder().decode(await bytes(`${tiny}model_config.json`));
    const pu = M._malloc(unet.length), ps = M._malloc(4 * rows.length * per), pi = M._malloc(4 * rows.length * nIds);
    const pc = M._malloc(3 * cfg.length + 1);
    M.HEAPU8.set(unet, pu);
    rows.forEach((r, i) => {
        M.HEAPF32.set(inp.data.subarray(r * per, (r + 1) * per), (ps >> 2) + i * per);
        M.HEAP32.set(ids.data.subarray(r * nIds, (r + 1) * nIds), (pi >> 2) + i * nIds);
    });
    M.stringToUTF8(cfg, pc, 3 * cfg.length + 1);
    const t1 = performance.now();
    const t = M._mw_debug_unet(engine.backend, pu, unet.length, pc, ps, rows.length, 900, pi, nIds);
    for (const p of [pu, ps, pi, pc]) M._free(p);
    if (!t) throw new Error(`mw_debug_unet: ${M.UTF8ToString(M._mw_debug_error())}`);
    const got = await engine.gpu.readF32(M._mw_tensor_gpu_buffer(t));
    M._mw_tensor_free(t);
    out.unetMs = performance.now() - t1;
    let maxErr = 0;
    rows.forEach((r, i) => {
        for (let j = 0; j < perOut; j++) maxErr = Math.max(maxErr, Math.abs(got[i * perOut + j] - ref.data[r * perOut + j]));
    });
    out.unetMaxErr = maxErr;
    log(`unet rows [${rows}]: max |err| ${maxErr} in ${out.unetMs.toFixed(0)} ms`);

    // (c) error paths seen from a page.
    out.errBadModel = await errorCode(() => createEngine({model: new URL(`${tiny}image.png`, location.href),
                                                          glueUrl: new URL(glue, location.href)}));
    out.errNoAdapter = await errorCode(() => createEngine({gpu: {requestAdapter: async () => null}, model: new Uint8Array(8),
                                                           glueUrl: new URL(glue, location.href)}));
    const ac = new AbortController();
    ac.abort();
    out.errCancelled = await errorCode(() => engine.inpaint({width: 4, height: 4, data: new Uint8ClampedArray(64)}, null,
                                                            {signal: ac.signal}));
    await engine.dispose();
    return out;
};
log('ready');
