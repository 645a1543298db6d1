// fd_limit.test.mjs — at the open-file limit the gateway pauses accepting,
// says so, and serves again once descriptors are free; at start it raises
// its soft limit to the hard one and logs the figure.
//
// cloudmux runs under a shell that sets both limits to 64, so a few dozen
// client connections exhaust them.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { chatBody, httpRequest, sleep, startCloudmux, waitFor } from './helpers.mjs';

let gw;

before(async () => {
  gw = await startCloudmux({
    configYaml: `
providers:
  m: { type: mock }
models:
  m: { targets: [ { provider: m, model: x } ] }
`,
    wrapper: ['sh', '-c', 'ulimit -Sn 32 && ulimit -Hn 64 && exec "$0" "$@"'],
  });
});

after(async () => {
  await gw?.stop();
});

test('the soft limit is raised to the hard limit and logged', () => {
  assert.match(gw.stderr(), /open-file limit raised from 32 to 64/);
});

test('at the limit accepting pauses, and resumes when connections close', async () => {
  const socks = [];
  for (let i = 0; i < 80; i++) {
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  await waitFor(() => /accept failed: .*pausing accepts/i.test(gw.stderr()), { timeoutMs: 5000, what: 'the accept failure in the log' });
  for (const s of socks) s.destroy();
  await sleep(300);
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('m', 'back to normal') });
  assert.equal(r.status, 200, r.body);
  assert.ok(gw.alive());
});
