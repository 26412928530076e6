// test_arena.mjs: the tensor arena's planner and its record / replay (bridge.js, class Arena), without
// a GPU (a stub makes its buffers). The bridge's use of it, on a real adapter, is in test_kernels.mjs
// ("arena" cases) and in every engine test.
//
//   node --test tests/webgpu/test_arena.mjs

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {Arena} from '../../src/backend/webgpu/bridge.js';

const ALIGN = 256;

/** An arena whose buffers are records of their size; made[] lists them. */
function stubArena(maxBytes = 1 << 30, unplanned = 0) {
    const made = [];
    const arena = new Arena((size) => { const b = {size, destroyed: false}; made.push(b); return b; }, maxBytes, ALIGN, unplanned);
    return {arena, made};
}

/** Deterministic random integers (mulberry32). */
function rng(seed) {
    let s = seed >>> 0;
    return (n) => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = Math.imul(s ^ (s >>> 15), s | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
    };
}

/** A random segment: allocations and frees interleaved, everything freed at the end. */
function randomSegment(seed, count = 60) {
    const r = rng(seed);
    const ops = [];
    let live = [];
    for (let k = 0; k < count; k++) {
        ops.push(['a', k, (1 + r(40)) * 1000 + r(256)]);
        while (live.length && r(3) === 0) ops.push(['f', live.splice(r(live.length), 1)[0]]);
        live.push(k);
    }
    while (live.length) ops.push(['f', live.splice(r(live.length), 1)[0]]);
    return ops;
}

/**
 * Starts a segment and runs its ops on the arena -> per request {offset, len}, and the largest live
 * byte count. Requests in `keep` are not freed (as the model's caches). */
function runSegment(arena, ops, keep = new Set()) {
    arena.begin();
    const got = new Map();
    let live = 0, maxLive = 0;
    for (const op of ops) {
        if (op[0] === 'a') {
            const r = arena.alloc(op[2]);
            const len = arena.span(op[2]);
            got.set(op[1], {...r, len});
            live += len;
            maxLive = Math.max(maxLive, live);
        } else if (!keep.has(op[1])) {
            const {k, segment, offset, len} = got.get(op[1]);
            arena.free(k, segment, offset);
            live -= len;
        }
    }
    return {got, maxLive};
}

/** Ranges of requests alive at the same time never overlap (checked by replaying the op order). */
function assertNoOverlap(ops, got) {
    const live = new Set();
    for (const op of ops) {
        if (op[0] === 'f') { live.delete(op[1]); continue; }
        const a = got.get(op[1]);
        if (a.offset === null) continue;
        for (const j of live) {
            const b = got.get(j);
            if (b.offset === null) continue;
            assert.ok(a.offset + a.len <= b.offset || b.offset + b.len <= a.offset,
                      `requests ${op[1]} and ${j} overlap: ${a.offset}+${a.len} vs ${b.offset}+${b.len}`);
        }
        live.add(op[1]);
    }
}

test('pack: time-overlapping requests get disjoint ranges, within 1.25x of the largest live set', () => {
    for (let seed = 1; seed <= 20; seed++) {
        const ops = randomSegment(seed);
        const sizes = [], events = [];
        for (const op of ops) {
            if (op[0] === 'a') { sizes.push(Math.ceil(op[2] / ALIGN) * ALIGN); events.push(op[1]); } else events.push(~op[1]);
        }
        const plan = Arena.pack(sizes, events);
        const got = new Map(sizes.map((len, k) => [k, {offset: plan.offsets[k], len}]));
        assertNoOverlap(ops, got);
        let live = 0, maxLive = 0;
        for (const e of events) { live += e >= 0 ? sizes[e] : -sizes[~e]; maxLive = Math.max(maxLive, live); }
        assert.ok(plan.bytes >= maxLive && plan.bytes <= 1.25 * maxLive, `seed ${seed}: ${plan.bytes} bytes for a live peak of ${maxLive}`);
        assert.ok(plan.offsets.every((o) => o % ALIGN === 0), 'offsets aligned');
    }
});

test('pack: requests alive at different times share memory', () => {
    // a, b alive together; c after both: c reuses the lower range.
    const plan = Arena.pack([1024, 512, 1024], [0, 1, ~0, ~1, 2, ~2]);
    assert.equal(plan.bytes, 1536);
    assert.equal(plan.offsets[2], 0);
});

test('record, then replay: the same segment gets the planned ranges in one buffer', () => {
    const {arena, made} = stubArena();
    const ops = randomSegment(7);
    const first = runSegment(arena, ops);
    assert.ok([...first.got.values()].every((a) => a.offset === null), 'first segment: buffers of their own');
    assert.equal(made.length, 0);
    for (let r = 0; r < 3; r++) {
        const {got, maxLive} = runSegment(arena, ops);
        assert.ok(arena.plan, 'a plan from the first segment');
        assert.ok([...got.values()].every((a, k) => a.offset === arena.plan.offsets[k]), `replay ${r}: planned offsets`);
        assertNoOverlap(ops, got);
        assert.equal(made.length, 1, 'one buffer, made once');
        assert.equal(made[0].size, arena.plan.bytes);
        assert.ok(arena.plan.bytes <= 1.25 * maxLive);
    }
    arena.end();
    assert.deepEqual(arena.stats, {segments: 4, replayed: 3, plans: 1, misses: 0});
});

test('a replay skips planned requests it does not make (the first run\'s cache temporaries)', () => {
    const {arena} = stubArena();
    const ops = randomSegment(9);
    runSegment(arena, ops);
    const fewer = ops.filter((op) => op[1] !== 10 && op[1] !== 11);
    const {got} = runSegment(arena, fewer);
    assert.equal(arena.stats.misses, 0);
    assert.ok([...got.entries()].every(([k, a]) => a.offset === arena.plan.offsets[k]), 'the others at their planned ranges');
    arena.begin();
    assert.equal(arena.stats.replayed, 1, 'the plan is kept');
});

test('tensors alive at the end of the traced segment (caches) are left out of the plan', () => {
    const {arena} = stubArena();
    const ops = randomSegment(5);
    const cached = new Set([3, 17]);
    const first = runSegment(arena, ops, cached);
    // The next inpaint does not make the cached tensors again: its requests are the others, in order.
    const rest = ops.filter((op) => !cached.has(op[1]));
    const {got} = runSegment(arena, rest);
    assert.equal(arena.stats.misses, 0);
    assert.ok([...got.values()].every((a) => a.offset !== null), 'all replayed');
    assert.ok(first.got.get(3).offset === null && first.got.get(17).offset === null);
});

test('requests off the plan go as high as they fit (else buffers of their own); the segment becomes the next plan', () => {
    const {arena, made} = stubArena();
    const ops = randomSegment(11);
    runSegment(arena, ops);
    runSegment(arena, ops);  // replays: the buffer is made
    assert.equal(made.length, 1);
    const other = ops.map((op) => (op[0] === 'a' && op[1] >= 5 ? ['a', op[1], op[2] + 40960] : op));
    const {got} = runSegment(arena, other);
    assert.ok([...got.entries()].every(([k, a]) => k >= 5 || a.offset === arena.plan.offsets[k]), 'planned up to request 5');
    assert.ok([...got.entries()].some(([k, a]) => k >= 5 && a.offset !== null), 'strays in the buffer where they fit');
    assert.ok([...got.entries()].some(([k, a]) => k >= 5 && a.offset === null), 'and buffers of their own where it is full');
    assertNoOverlap(other, got);
    assert.equal(arena.stats.misses, 55, 'each request from 5 on is a stray');
    // The next plan is larger: the old buffer is dropped (its owner destroys it), a new one made at the replay.
    const again = runSegment(arena, other);
    assert.equal(arena.stats.plans, 2);
    assert.ok([...again.got.values()].every((a) => a.offset !== null), 'the new plan replays');
    assert.equal(made.length, 2);
});

test('the first segments given as unplanned are traced but not planned from', () => {
    const {arena, made} = stubArena(1 << 30, 1);
    const ops = randomSegment(3);
    runSegment(arena, ops);
    const second = runSegment(arena, ops);
    assert.ok([...second.got.values()].every((a) => a.offset === null), 'segment 2: no plan yet');
    const third = runSegment(arena, ops);
    assert.ok([...third.got.values()].every((a) => a.offset !== null), 'segment 3 replays segment 2');
    assert.equal(made.length, 1);
});

test('requests outside a segment (before the first begin) are not traced', () => {
    const {arena} = stubArena();
    const r = arena.alloc(1000);
    assert.deepEqual(r, {k: 0, segment: 0, offset: null});
    arena.free(r.k, r.segment, r.offset);
    arena.begin();
    arena.end();
    assert.equal(arena.plan, null);
});

test('a planned range still taken (frees in another order) is not handed out twice', () => {
    const {arena} = stubArena();
    // Recorded: a freed before b is made, so b may take a's range.
    const ops = [['a', 0, 4096], ['a', 1, 1024], ['f', 0], ['a', 2, 4096], ['f', 1], ['f', 2]];
    runSegment(arena, ops);
    // Replayed with a freed late: request 2's planned range is still a's.
    const late = [['a', 0, 4096], ['a', 1, 1024], ['a', 2, 4096], ['f', 0], ['f', 1], ['f', 2]];
    const {got} = runSegment(arena, late);
    assert.equal(arena.plan.offsets[2], arena.plan.offsets[0]);
    assert.ok(got.get(0).offset !== null && got.get(1).offset !== null);
    assert.notEqual(got.get(2).offset, arena.plan.offsets[2]);
    assertNoOverlap(late, got);
    assert.equal(arena.stats.misses, 1);
});

test('release gives the buffer back only while nothing lives in it; double frees are errors', () => {
    const {arena} = stubArena();
    const ops = [['a', 0, 5000], ['a', 1, 300], ['f', 1], ['f', 0]];
    runSegment(arena, ops);
    arena.begin();
    const a = arena.alloc(5000);
    assert.equal(a.offset, 0);
    assert.equal(arena.release(), null, 'a tensor lives in it');
    arena.free(a.k, a.segment, a.offset);
    assert.throws(() => arena.free(a.k, a.segment, a.offset));
    const b = arena.release();
    assert.ok(b && arena.buffer === null);
});

test('a plan larger than maxBufferSize is not used', () => {
    const {arena} = stubArena(4096);
    runSegment(arena, [['a', 0, 3000], ['a', 1, 3000], ['f', 0], ['f', 1]]);
    arena.begin();
    assert.equal(arena.plan, null);
    assert.equal(arena.alloc(3000).offset, null);
});
