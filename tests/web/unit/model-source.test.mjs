// Unit tests of web/app/lib/model-source.js (node --test).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as S from '../../../web/app/lib/model-source.js';

test('default source: the official Hugging Face files by their stable resolve/main URLs', () => {
    const s = S.resolveSource(S.defaultSettings(), 'https://example.org/app/');
    assert.equal(s.kind, 'upstream');
    assert.equal(s.unet, 'https://huggingface.co/hustvl/Moebius/resolve/main/ft_places2/diffusion_pytorch_model.bin');
    assert.equal(s.vaeConfig, 'https://huggingface.co/hustvl/PixelHacker/resolve/main/vae/config.json');
    assert.equal(s.vaeWeights, 'https://huggingface.co/hustvl/PixelHacker/resolve/main/vae/diffusion_pytorch_model.safetensors');
    assert.equal(s.modelConfig, null);
    assert.deepEqual(S.VARIANTS.map((v) => v.id), ['ft_places2', 'pretrained', 'ft_celebahq', 'ft_ffhq']);
    const ffhq = S.resolveSource({...S.defaultSettings(), variant: 'ft_ffhq'}, 'https://example.org/');
    assert.equal(ffhq.unet, 'https://huggingface.co/hustvl/Moebius/resolve/main/ft_ffhq/diffusion_pytorch_model.bin');
});

test('a mirror base (with or without slash, relative to a sub-path page) and a model config', () => {
    const page = 'https://user.github.io/moebius/app/index.html';
    const s = S.resolveSource({variant: 'pretrained', moebiusBase: '../mirror/Moebius', vaeBase: '/m/vae',
                               modelConfigUrl: 'cfg/model_config.json', convertedUrl: ''}, page);
    assert.equal(s.unet, 'https://user.github.io/moebius/mirror/Moebius/pretrained/diffusion_pytorch_model.bin');
    assert.equal(s.vaeConfig, 'https://user.github.io/m/vae/config.json');
    assert.equal(s.modelConfig, 'https://user.github.io/moebius/app/cfg/model_config.json');
});

test('a converted model URL replaces the upstream files', () => {
    const s = S.resolveSource({...S.defaultSettings(), convertedUrl: 'models/moebius-f16.safetensors'}, 'https://a.b/x/');
    assert.deepEqual(s, {kind: 'converted', url: 'https://a.b/x/models/moebius-f16.safetensors',
                         key: 'https://a.b/x/models/moebius-f16.safetensors', label: 'moebius-f16.safetensors'});
});

test('cache keys are the UNet URL, told apart by VAE and config', () => {
    const k1 = S.cacheKey('https://h/M/ft/diffusion_pytorch_model.bin', 'https://h/vae/w.safetensors', null);
    const k2 = S.cacheKey('https://h/M/ft/diffusion_pytorch_model.bin', 'https://h/vae2/w.safetensors', null);
    const k3 = S.cacheKey('https://h/M/ft/diffusion_pytorch_model.bin', 'https://h/vae/w.safetensors', 'https://h/c.json');
    assert.ok(k1.startsWith('https://h/M/ft/diffusion_pytorch_model.bin?'));
    assert.equal(new Set([k1, k2, k3]).size, 3);
    const a = S.resolveSource(S.defaultSettings(), 'https://x/'), b = S.resolveSource(S.defaultSettings(), 'https://y/');
    assert.equal(a.key, b.key, 'absolute sources do not depend on the page');
});

test('normalizeSettings repairs what localStorage may hold', () => {
    assert.deepEqual(S.normalizeSettings(null), S.defaultSettings());
    assert.deepEqual(S.normalizeSettings({variant: 'nope', moebiusBase: '', vaeBase: 3}), S.defaultSettings());
    assert.equal(S.normalizeSettings({variant: 'ft_celebahq', convertedUrl: '  u  '}).convertedUrl, 'u');
    assert.throws(() => S.resolveSource({...S.defaultSettings(), moebiusBase: 'http://'}, 'https://x/'));
});

test('formatting of sizes, speeds and durations', () => {
    assert.equal(S.formatBytes(0), '0 B');
    assert.equal(S.formatBytes(999), '999 B');
    assert.equal(S.formatBytes(1500), '1.50 kB');
    assert.equal(S.formatBytes(12_130_042), '12.1 MB');
    assert.equal(S.formatBytes(904_000_000), '904 MB');
    assert.equal(S.formatBytes(1_239_000_000), '1.24 GB');
    assert.equal(S.formatBytes(null), 'unknown size');
    assert.equal(S.formatSpeed(2_500_000), '2.50 MB/s');
    assert.equal(S.formatSpeed(0), '—');
    assert.equal(S.formatDuration(42.4), '42 s');
    assert.equal(S.formatDuration(65), '1 min 05 s');
    assert.equal(S.formatDuration(3725), '1 h 02 min');
    assert.equal(S.fileName('https://h/a/b%20c.bin?x=1'), 'b c.bin');
});

test('SpeedMeter: bytes per second over a sliding window', () => {
    const m = new S.SpeedMeter(1000);
    assert.equal(m.rate, 0);
    m.add(0, 0);
    m.add(500, 1000);
    assert.equal(m.rate, 2000);
    m.add(3000, 2000);  // the window slides: (2000 - 1000) / 2.5 s
    assert.equal(m.rate, 400);
});
