// Unit tests of web/app/lib/history.js (node --test).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {History} from '../../../web/app/lib/history.js';

test('undo/redo walk the states; a push drops the redo branch', () => {
    const h = new History();
    assert.equal(h.current, undefined);
    assert.equal(h.undo(), null);
    h.reset('a');
    assert.equal(h.canUndo, false);
    h.push('b');
    h.push('c');
    assert.equal(h.current, 'c');
    assert.equal(h.undo(), 'b');
    assert.equal(h.undo(), 'a');
    assert.equal(h.undo(), null);
    assert.equal(h.redo(), 'b');
    h.push('d');
    assert.equal(h.canRedo, false);
    assert.equal(h.redo(), null);
    assert.deepEqual(h.entries, ['a', 'b', 'd']);
    assert.equal(h.depth, 2);
});

test('push before reset starts the history', () => {
    const h = new History();
    h.push('x');
    assert.equal(h.current, 'x');
    assert.equal(h.canUndo, false);
});

test('oldest entries go past maxEntries; the current one stays', () => {
    const h = new History({maxEntries: 3});
    h.reset(0);
    for (let i = 1; i <= 10; i++) h.push(i);
    assert.deepEqual(h.entries, [8, 9, 10]);
    assert.equal(h.current, 10);
    assert.equal(h.undo(), 9);
    assert.equal(h.undo(), 8);
    assert.equal(h.undo(), null);
});

test('a byte budget trims old entries and keeps the count of bytes right', () => {
    const h = new History({maxBytes: 100, sizeOf: (s) => s.n});
    h.reset({n: 40});
    h.push({n: 40});
    assert.equal(h.entries.length, 2);
    h.push({n: 40});  // 120 > 100: the first goes
    assert.equal(h.entries.length, 2);
    assert.equal(h.bytes, 80);
    h.undo();
    h.push({n: 10});  // the redo branch (40) is dropped first
    assert.equal(h.bytes, 50);
    h.push({n: 500});  // larger than the budget alone: still kept as the current state
    assert.equal(h.entries.length, 1);
    assert.equal(h.current.n, 500);
    assert.equal(h.bytes, 500);
});
