// install.test.mjs — cloudmux outside the checkout.
//
// `make install` (cmake --install with PREFIX and DESTDIR) puts the binary,
// the price list, the examples and the docs where README.md says; the
// installed binary finds its price list; and a binary copied anywhere, with
// no price list file at all, still prices requests from the list built into
// it, without a warning.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { CLOUDMUX_BIN, chatBody, httpRequest, startCloudmux, tempDir } from './helpers.mjs';

test('make install puts every file where the README says, with PREFIX and DESTDIR', () => {
  const stage = tempDir('cmx-install-');
  try {
    const r = spawnSync('cmake', ['--install', dirname(CLOUDMUX_BIN), '--prefix', '/opt/cmx'], {
      encoding: 'utf8', env: { ...process.env, DESTDIR: stage }, timeout: 60000,
    });
    assert.equal(r.status, 0, r.stderr);
    const root = join(stage, 'opt/cmx');
    for (const f of ['bin/cloudmux', 'share/cloudmux/pricing.yaml', 'share/cloudmux/examples/quickstart.yaml',
      'share/cloudmux/examples/multicloud.yaml', 'share/doc/cloudmux/README.md', 'share/doc/cloudmux/config.md'])
      assert.ok(existsSync(join(root, f)), `${f} is not installed`);
    // The installed binary checks the installed example and finds its price list.
    const check = spawnSync(join(root, 'bin/cloudmux'), ['check', '--config', join(root, 'share/cloudmux/examples/quickstart.yaml')], {
      encoding: 'utf8', env: { ...process.env, CLOUDMUX_PRICING: '' }, timeout: 30000,
    });
    assert.equal(check.status, 0, check.stderr + check.stdout);
    assert.doesNotMatch(check.stderr, /price list/i);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
});

test('a binary copied anywhere prices requests from its built-in list', async () => {
  const dir = tempDir('cmx-lonely-');
  const bin = join(dir, 'cloudmux');
  copyFileSync(CLOUDMUX_BIN, bin);
  const emu = await startEmulator();
  let gw;
  try {
    gw = await startCloudmux({
      // This copy has no data/ or share/ near it, and no list is named.
      env: { CLOUDMUX_PRICING: '' },
      configYaml: `
providers:
  oa: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: [ { provider: oa, model: gpt-4o-mini } ]
`,
      bin,
    });
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'what does this cost') });
    assert.equal(r.status, 200);
    assert.ok(Number(r.headers['x-cloudmux-cost-usd']) > 0, `no cost: ${JSON.stringify(r.headers)}`);
    assert.doesNotMatch(gw.stderr(), /price list/i);
  } finally {
    await gw?.stop();
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
