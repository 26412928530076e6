// Unit tests of scripts/serve.mjs: sub-path, isolation headers, MIME types, ranges, no escaping
// the root, test routes only when asked. node --test.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {createServer} from '../../../scripts/serve.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let s, plain;
before(async () => {
    s = createServer({root: path.join(root, 'web/app'), base: '/a/b'});
    plain = createServer({root: path.join(root, 'web/app')});
    await new Promise((r) => s.server.listen(0, '127.0.0.1', r));
    await new Promise((r) => plain.server.listen(0, '127.0.0.1', r));
});
after(() => { s.server.close(); plain.server.close(); });

/** Raw GET (no URL normalisation by a client). */
function raw(server, p, headers = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request({host: '127.0.0.1', port: server.server.address().port, path: p, headers}, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks)}));
        });
        req.on('error', reject);
        req.end();
    });
}

test('serves the app under its sub-path with COOP/COEP and MIME types', async () => {
    assert.equal(s.url().replace(/:\d+/, ':P'), 'http://localhost:P/a/b/');
    const r = await raw(s, '/a/b/');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /text\/html/);
    assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.match((await raw(s, '/a/b/main.js')).headers['content-type'], /text\/javascript/);
    assert.equal((await raw(s, '/a/b/manifest.webmanifest')).headers['content-type'], 'application/manifest+json');
    assert.equal((await raw(s, '/a/b')).status, 301);
    assert.equal((await raw(s, '/main.js')).status, 404);
});

test('byte ranges', async () => {
    const whole = (await raw(s, '/a/b/index.html')).body;
    const r = await raw(s, '/a/b/index.html', {Range: 'bytes=10-19'});
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 10-19/${whole.length}`);
    assert.deepEqual(r.body, whole.subarray(10, 20));
    const tail = await raw(s, '/a/b/index.html', {Range: 'bytes=-5'});
    assert.deepEqual(tail.body, whole.subarray(whole.length - 5));
    assert.equal((await raw(s, '/a/b/index.html', {Range: `bytes=${whole.length}-`})).status, 416);
});

test('no path escapes the root; test routes are off by default', async () => {
    for (const p of ['/a/b/../../../etc/passwd', '/a/b/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/a/b/..%2f..%2f..%2fetc%2fpasswd', '/a/b/%00']) {
        const r = await raw(s, p);
        assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
        assert.ok(!r.body.toString().includes('root:'), p);
    }
    assert.equal((await raw(plain, '/__test/fixtures/tiny/model_config.json')).status, 404);
});
