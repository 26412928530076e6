// Unit tests of web/app/lib/options.js and lib/messages.js (node --test).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {explain} from '../../../web/app/lib/messages.js';
import {DEFAULTS, denoisingSteps, newSeed, validateOptions} from '../../../web/app/lib/options.js';

test("defaults are upstream's", () => {
    assert.deepEqual({...DEFAULTS}, {steps: 20, guidance: 2.5, strength: 0.99, seed: 0, mode: 'auto', paste: true, compensate: false});
    const r = validateOptions({});
    assert.ok(r.ok);
    assert.deepEqual(r.options, {...DEFAULTS});
    assert.equal(denoisingSteps(DEFAULTS), 19);  // int(20 * 0.99), as diffusers
});

test('strings from inputs are parsed; bad values are named', () => {
    const r = validateOptions({steps: '4', guidance: '1.5', strength: '0.5', seed: '123', mode: 'crop', paste: false, compensate: true});
    assert.ok(r.ok);
    assert.deepEqual(r.options, {steps: 4, guidance: 1.5, strength: 0.5, seed: 123, mode: 'crop', paste: false, compensate: true});
    const bad = validateOptions({steps: '2.5', guidance: 'x', strength: '0', seed: '-1', mode: 'zoom'});
    assert.equal(bad.ok, false);
    assert.deepEqual(Object.keys(bad.errors).sort(), ['guidance', 'mode', 'seed', 'steps', 'strength']);
    assert.equal(validateOptions({steps: ''}).ok, false);
    assert.equal(validateOptions({seed: 2 ** 53}).ok, false);
    assert.ok(validateOptions({seed: 2 ** 53 - 1}).ok);
});

test('steps x strength must leave a denoising step', () => {
    const r = validateOptions({steps: 1, strength: 0.99});
    assert.equal(r.ok, false);
    assert.match(r.errors.steps, /at least 1/);
    assert.ok(validateOptions({steps: 2, strength: 0.99}).ok);
    assert.equal(denoisingSteps({steps: 2, strength: 0.99}), 1);
});

test('newSeed gives 32-bit integers', () => {
    for (let i = 0; i < 50; i++) {
        const s = newSeed();
        assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
    }
    assert.equal(newSeed(() => 0.5), 2 ** 31);
});

test('every error code has a plain-language message; runs say the work is kept', () => {
    const codes = ['cancelled', 'no-adapter', 'device-lost', 'out-of-memory', 'quota', 'corrupt', 'unavailable', 'http', 'network',
                   'size', 'io', 'bad-model', 'bad-image', 'bad-option', 'empty-mask', 'no-image', 'no-model', 'internal', 'whatever'];
    for (const code of codes) {
        for (const during of ['model', 'run', 'image']) {
            const m = explain({code, message: 'detail text'}, /** @type {any} */ (during));
            assert.ok(m.title.length > 3 && m.text.length > 10, `${code}/${during}`);
            assert.equal(m.detail, 'detail text');
        }
    }
    for (const code of ['device-lost', 'out-of-memory', 'internal']) assert.match(explain({code}, 'run').text, /image and mask are kept/);
    assert.match(explain({code: 'http', status: 404}, 'model').title, /not found/i);
    assert.equal(explain({code: 'cancelled'}, 'run').severity, 'info');
});
