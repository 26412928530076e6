// Unit tests of web/app/lib/model-files.js on the fixture files (node --test).
import assert from 'node:assert/strict';
import {existsSync, openSync, readSync, closeSync} from 'node:fs';
import path from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {groupModelFiles, SNIFF_BYTES, sniffModelFile} from '../../../web/app/lib/model-files.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = process.env.MOEBIUS_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const skip = existsSync(path.join(fixtures, 'tiny')) ? false : `fixtures not found at ${fixtures}`;

function head(rel) {
    const fd = openSync(path.join(fixtures, rel), 'r');
    const b = Buffer.alloc(SNIFF_BYTES);
    const n = readSync(fd, b, 0, SNIFF_BYTES, 0);
    closeSync(fd);
    return new Uint8Array(b.buffer, b.byteOffset, n);
}
const sniff = (rel) => sniffModelFile(path.basename(rel), head(rel)).role;

test('upstream files are told apart by content', {skip}, () => {
    assert.equal(sniff('tiny/removal_model.bin'), 'unet');
    assert.equal(sniff('tiny/removal_model_fp16.safetensors'), 'unet');
    assert.equal(sniff('tiny/vae/diffusion_pytorch_model.safetensors'), 'vae');
    assert.equal(sniff('tiny/vae_fp16_bin/diffusion_pytorch_model.bin'), 'vae');
    assert.equal(sniff('tiny/vae/config.json'), 'vae-config');
    assert.equal(sniff('tiny/model_config.json'), 'model-config');
    assert.equal(sniff('tiny/image.png'), 'unknown');
    assert.equal(sniff('tiny/noise.npy'), 'unknown');
});

test('a converted model file is recognised by its metadata', () => {
    const header = JSON.stringify({__metadata__: {format: 'moebius', version: '1'}, 'unet.x': {dtype: 'F16', shape: [1], data_offsets: [0, 2]}});
    const b = new Uint8Array(8 + header.length + 2);
    new DataView(b.buffer).setUint32(0, header.length, true);
    b.set(new TextEncoder().encode(header), 8);
    assert.equal(sniffModelFile('m.safetensors', b).role, 'converted');
    // as written by serialize_model_file: the config (an escaped JSON string with braces) comes first
    const h2 = JSON.stringify({__metadata__: {config: JSON.stringify({unet: {a: [1, 2]}, vae: {}}), format: 'moebius', version: '1'},
                               'unet.embedding_layer.weight': {dtype: 'F16', shape: [1], data_offsets: [0, 2]}});
    const b2 = new Uint8Array(8 + h2.length + 2);
    new DataView(b2.buffer).setUint32(0, h2.length, true);
    b2.set(new TextEncoder().encode(h2), 8);
    assert.equal(sniffModelFile('m.safetensors', b2).role, 'converted');
    const cut = 8 + h2.indexOf('"version"');
    assert.equal(sniffModelFile('m.safetensors', b2.subarray(0, cut)).role, 'converted', 'header cut off by the sniff window');
    assert.equal(sniffModelFile('x.json', new TextEncoder().encode('{"a": ')).role, 'unknown');
    assert.equal(sniffModelFile('x', new Uint8Array(3)).role, 'unknown');
});

test('grouping: a complete upstream set, a converted file alone, and what is missing or doubled', () => {
    const f = (name, role) => ({file: name, name, role, why: role});
    assert.deepEqual(groupModelFiles([f('u', 'unet'), f('v', 'vae'), f('c', 'vae-config')]),
                     {ok: true, unet: 'u', vae: 'v', vaeConfig: 'c', modelConfig: null});
    assert.deepEqual(groupModelFiles([f('u', 'unet'), f('v', 'vae'), f('c', 'vae-config'), f('m', 'model-config')]).modelConfig, 'm');
    assert.deepEqual(groupModelFiles([f('m', 'converted')]), {ok: true, converted: 'm'});
    const missing = groupModelFiles([f('u', 'unet')]);
    assert.equal(missing.ok, false);
    assert.match(missing.message, /VAE weights.*VAE config/);
    assert.match(groupModelFiles([f('u', 'unet'), f('u2', 'unet'), f('v', 'vae'), f('c', 'vae-config')]).message, /2 files look like the UNet/);
    assert.match(groupModelFiles([f('m', 'converted'), f('u', 'unet')]).message, /not both/);
    assert.match(groupModelFiles([f('x.png', 'unknown')]).message, /x\.png/);
});
