// Unit tests of web/app/lib/download.js against scripts/serve.mjs (ranges, a dropped connection on
// the flaky test route) and small ad-hoc servers (no ranges, 5xx, abort). node --test.
import assert from 'node:assert/strict';
import {readFileSync, existsSync} from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {arraySink, download, DownloadError, probeSize} from '../../../web/app/lib/download.js';
import {createServer} from '../../../scripts/serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const skip = existsSync(path.join(fixtures, 'tiny')) ? false : `fixtures not found at ${fixtures}`;

/** @type {ReturnType<typeof createServer>} */
let srv;
let base = '';
before(async () => {
    srv = createServer({root: path.join(root, 'web/app'), base: '/sub/', fixtures});
    await new Promise((r) => srv.server.listen(0, '127.0.0.1', r));
    base = srv.url();
});
after(() => srv.server.close());

/** A server from a handler, listening on a free port. */
async function adhoc(handler) {
    const s = http.createServer(handler);
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    return {url: `http://127.0.0.1:${s.address().port}/f`, close: () => new Promise((r) => s.close(r))};
}

test('a whole file, with byte progress that ends at the total', {skip}, async () => {
    const want = readFileSync(path.join(fixtures, 'tiny/vae/diffusion_pytorch_model.safetensors'));
    const seen = [];
    const got = await download(`${base}__test/hf/PixelHacker/vae/diffusion_pytorch_model.safetensors`,
                               {onProgress: (p) => seen.push(p)});
    assert.deepEqual(Buffer.from(got), want);
    assert.equal(seen.at(-1).loaded, want.length);
    assert.equal(seen.at(-1).total, want.length);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].loaded >= seen[i - 1].loaded);
});

test('a dropped connection resumes with a Range request', {skip}, async () => {
    const want = readFileSync(path.join(fixtures, 'tiny/removal_model.bin'));
    const url = `${base}__test/flaky/hf/Moebius/ft_places2/diffusion_pytorch_model.bin`;
    const n0 = srv.requests.length;
    let retries = 0;
    const got = await download(url, {retryDelayMs: 10, onProgress: (p) => { retries = p.retries; }});
    assert.deepEqual(Buffer.from(got), want);
    const reqs = srv.requests.slice(n0).filter((r) => r.url.includes('flaky'));
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].range, null);
    assert.match(reqs[1].range, /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(reqs[1].range)[0]) > 0, 'resumed past 0');
    assert.equal(reqs[1].status, 206);
    assert.equal(retries, 1);
});

test('HEAD gives the size; a missing file is an http error without retries', {skip}, async () => {
    assert.equal(await probeSize(`${base}__test/fixtures/tiny/model_config.json`), 1335);
    assert.equal(await probeSize(`${base}__test/nothing`), null);
    const n0 = srv.requests.length;
    await assert.rejects(download(`${base}__test/hf/Moebius/x/missing.bin`, {retryDelayMs: 1}),
                         (e) => e instanceof DownloadError && e.code === 'http' && e.status === 404);
    assert.equal(srv.requests.length - n0, 1);
});

test('a server without ranges starts over after a drop', async () => {
    const body = Buffer.from(Array.from({length: 100000}, (_, i) => (i * 31) & 255));
    let calls = 0;
    const s = await adhoc((req, res) => {
        calls++;
        res.setHeader('Content-Length', String(body.length));
        if (calls === 1) { res.write(body.subarray(0, 30000)); setTimeout(() => res.socket.destroy(), 20); return; }
        res.end(body);  // ignores Range: 200 with everything
    });
    try {
        const sink = arraySink();
        let begins = 0;
        const wrapped = {...sink, begin(t) { begins++; sink.begin(t); }};
        const got = await download(s.url, {sink: wrapped, retryDelayMs: 5});
        assert.deepEqual(Buffer.from(got), body);
        assert.equal(calls, 2);
        assert.equal(begins, 2, 'the sink starts over');
    } finally {
        await s.close();
    }
});

test('5xx is retried, then reported', async () => {
    let calls = 0;
    const s = await adhoc((req, res) => { calls++; res.statusCode = calls < 3 ? 503 : 200; res.end(calls < 3 ? '' : 'ok'); });
    try {
        assert.equal(new TextDecoder().decode(await download(s.url, {retryDelayMs: 1})), 'ok');
        calls = -100;
        await assert.rejects(download(s.url, {retryDelayMs: 1, retries: 2}), (e) => e.code === 'http' && e.status === 503);
    } finally {
        await s.close();
    }
});

test('unknown length (no Content-Length) still arrives whole', async () => {
    const s = await adhoc((req, res) => { res.write('abc'); setTimeout(() => res.end('def'), 10); });
    try {
        assert.equal(new TextDecoder().decode(await download(s.url)), 'abcdef');
    } finally {
        await s.close();
    }
});

test('an aborted download rejects as cancelled', async () => {
    const s = await adhoc((req, res) => { res.setHeader('Content-Length', '1000000'); res.write(Buffer.alloc(1000)); });
    try {
        const ac = new AbortController();
        const p = download(s.url, {signal: ac.signal, onProgress: (pr) => { if (pr.loaded > 0) ac.abort(); }});
        await assert.rejects(p, (e) => e instanceof DownloadError && e.code === 'cancelled' && e.name === 'AbortError');
    } finally {
        await s.close();
    }
});
