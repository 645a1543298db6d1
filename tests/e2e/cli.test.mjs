// cli.test.mjs — the command line: `check` accepts a good file and reports a
// broken one with file:line, `serve` refuses a broken config and a busy
// port with a clear message and a non-zero exit, usage mistakes exit 2.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { CLOUDMUX_BIN, REPO_ROOT, tempDir } from './helpers.mjs';

const run = (args) => spawnSync(CLOUDMUX_BIN, args, { encoding: 'utf8', timeout: 15000 });

test('check accepts the quickstart and says what it holds', () => {
  const r = run(['check', '--config', join(REPO_ROOT, 'examples/quickstart.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok \(3 providers, 2 model groups\)/);
});

test('check and serve report every problem of a broken config with file:line and exit 1', () => {
  const dir = tempDir();
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'server:\n  workerz: 2\nmodels:\n  g: {targets: [{provider: nope}]}\n');
  for (const args of [['check', '--config', file], ['serve', '--config', file]]) {
    const r = run(args);
    assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${file}:2:3: unknown key 'workerz'`));
    assert.match(r.stderr, new RegExp(`${file}:4:.*unknown provider 'nope'`));
  }
});

test('serve on a port already taken exits 1 naming the address', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const port = blocker.address().port;
  try {
    const r = run(['serve', '--config', join(REPO_ROOT, 'examples/quickstart.yaml'), '--listen', `127.0.0.1:${port}`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
  } finally {
    blocker.close();
  }
});

test('usage mistakes exit 2 with the usage', () => {
  for (const args of [[], ['frobnicate'], ['serve'], ['serve', '--config', 'x', '--workers', '0'], ['check', '--bogus']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage|unexpected argument|expects/);
  }
});
