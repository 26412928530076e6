// The bench scripts' command lines (bench/cli.mjs): --help prints the usage and exits 0, an unknown
// option names itself and the usage on stderr and exits 2 — no stack trace. Both exit before any GPU,
// wasm or fixture work, so no GPU, build or fixtures are needed.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function run(script, ...args) {
    return spawnSync(process.execPath, [script, ...args], {cwd: root, encoding: 'utf8', timeout: 60_000});
}

test('bench_webgpu: an unknown option is an error with the usage, exit 2', () => {
    const r = run('bench/bench_webgpu.mjs', '--bogus');
    assert.equal(r.status, 2, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^bench_webgpu\.mjs: .*bogus/);
    assert.match(r.stderr, /usage: node bench\/bench_webgpu\.mjs/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '');
});

test('bench_webgpu --help: the usage on stdout, exit 0', () => {
    const r = run('bench/bench_webgpu.mjs', '--help');
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /usage: node bench\/bench_webgpu\.mjs .*--dtype/);
    assert.match(r.stdout, /node bench\/bench_webgpu\.mjs --memory-only \| --record-only/);
});

test('peers/report: an unknown option, exit 2', () => {
    const r = run('bench/peers/report.mjs', '--nope');
    assert.equal(r.status, 2, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^report\.mjs: .*nope/);
    assert.match(r.stderr, /usage: node bench\/peers\/report\.mjs --results DIR/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('peers/ours --help (and -h): the usage, exit 0', () => {
    for (const flag of ['--help', '-h']) {
        const r = run('bench/peers/ours.mjs', flag);
        assert.equal(r.status, 0, `${flag}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /usage: node bench\/peers\/ours\.mjs \[--peers cpu,webgpu\]/);
    }
});

test('a bad value is an error too: an option missing its value', () => {
    const r = run('bench/peers/ours.mjs', '--model');
    assert.equal(r.status, 2, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^ours\.mjs: .*--model/);
});
