// Unit tests of web/app/lib/idle.js (the worker's idle release of the engine's GPU memory), on
// node:test's mocked timers. node --test.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {idleRelease} from '../../../web/app/lib/idle.js';

test('releases once, the given time after idle()', (t) => {
    t.mock.timers.enable({apis: ['setTimeout']});
    let n = 0;
    const r = idleRelease(60_000, () => n++);
    r.idle();
    t.mock.timers.tick(59_999);
    assert.equal(n, 0);
    t.mock.timers.tick(1);
    assert.equal(n, 1);
    t.mock.timers.tick(600_000);
    assert.equal(n, 1, 'once per idle()');
});

test('busy() disarms; idle() again re-arms from then', (t) => {
    t.mock.timers.enable({apis: ['setTimeout']});
    let n = 0;
    const r = idleRelease(1000, () => n++);
    r.idle();
    t.mock.timers.tick(900);
    r.busy();                 // an inpaint starts
    t.mock.timers.tick(5000);
    assert.equal(n, 0);
    r.idle();                 // it ends
    t.mock.timers.tick(900);
    r.idle();                 // another one ends (no busy() between: the timer restarts)
    t.mock.timers.tick(999);
    assert.equal(n, 0);
    t.mock.timers.tick(1);
    assert.equal(n, 1);
    r.busy();                 // after the release: nothing to disarm
    assert.equal(n, 1);
});

test('takes the timers it is given', () => {
    const calls = [];
    const timers = {setTimeout: (f, ms) => { calls.push(['set', ms]); return 7; }, clearTimeout: (id) => calls.push(['clear', id])};
    const r = idleRelease(5, () => {}, /** @type {any} */ (timers));
    r.idle();
    r.idle();
    r.busy();
    assert.deepEqual(calls, [['set', 5], ['clear', 7], ['set', 5], ['clear', 7]]);
});
