// shutdown.test.mjs — the SIGTERM sequence as Kubernetes and cloud load
// balancers need it, SIGHUP, and a port that is already taken.
//
// SIGTERM: /health/ready answers 503 at once while new requests are still
// served for server.shutdown.drain_delay; then the listener closes, in-flight
// streams finish within server.shutdown.grace, what is left is ended with an
// error event (never [DONE]) and the process exits 0.  A second SIGTERM ends
// everything at once.  SIGHUP reloads the config and ends nothing.

import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { CLOUDMUX_BIN, REPO_ROOT, chatBody, httpRequest, sleep, startCloudmux, waitFor } from './helpers.mjs';

let emu;

before(async () => {
  emu = await startEmulator();
});

after(async () => {
  await emu?.close();
});

const config = (shutdown = '') => `
server:
  ${shutdown}
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
`;

// A streaming request whose upstream sends `words` chunks `intervalMs` apart.
function slowStream(gw, words, intervalMs) {
  const text = `${Array.from({ length: words }, (_, i) => `w${i}`).join(' ')} [[fault:slow interval_ms=${intervalMs}]]`;
  return httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('chat', text), stream: true }, timeoutMs: 20000 });
}

async function readyStatus(gw) {
  try {
    const r = await fetch(`${gw.url}/health/ready`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 'refused';
  }
}

// Resolves true when a new TCP connection is refused (or closed unanswered).
function connectionRefused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => resolve(true));
    s.on('connect', () => {
      s.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      s.on('data', () => {
        s.destroy();
        resolve(false);
      });
      s.on('close', () => resolve(true));
    });
  });
}

test('SIGTERM: readiness fails at once, serving goes on for the drain delay, an in-flight stream finishes, exit 0', async () => {
  const gw = await startCloudmux({ configYaml: config('shutdown: { drain_delay: 1s, grace: 5s }'), drainDelay: null });
  assert.equal(await readyStatus(gw), 200);
  // 14 chunks 150 ms apart: about 2.1 s, longer than the delay, well inside the grace.
  const stream = slowStream(gw, 12, 150);
  await sleep(200);
  const t0 = Date.now();
  gw.signal('SIGTERM');
  await waitFor(async () => (await readyStatus(gw)) === 503, { timeoutMs: 300, intervalMs: 10, what: '/health/ready to answer 503' });
  assert.ok(Date.now() - t0 < 300, 'readiness took too long to flip');
  // During the delay a new request is still served, and told to close its connection.
  const during = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'served while draining?') });
  assert.equal(during.status, 200);
  assert.equal(during.headers.connection, 'close');
  assert.ok(Date.now() - t0 < 1000, 'the request during the delay came too late to prove anything');
  // After the delay the listener is closed.
  await sleep(Math.max(0, 1200 - (Date.now() - t0)));
  assert.ok(await connectionRefused(gw.port), 'a new connection was served after the drain delay');
  // The stream that was running finishes completely.
  const r = await stream;
  assert.equal(r.status, 200);
  assert.equal(r.events.at(-1), '[DONE]', 'the in-flight stream was cut');
  const res = await gw.stop();
  assert.equal(res.code, 0);
  assert.match(gw.stderr(), /received SIGTERM/);
});

test('SIGTERM: a stream still running at the end of the grace period ends with an error event, never [DONE]; a waiting request gets 503', async () => {
  const gw = await startCloudmux({ configYaml: config('shutdown: { drain_delay: 200ms, grace: 600ms }'), drainDelay: null });
  const stream = slowStream(gw, 40, 150); // about 6 s
  const waiting = httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'no answer [[fault:hang]]') });
  await sleep(300);
  const t0 = Date.now();
  gw.signal('SIGTERM');
  const [r, w] = await Promise.all([stream, waiting]);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 700 && elapsed < 3000, `cut after ${elapsed} ms, expected about 800 ms`);
  assert.equal(r.status, 200);
  assert.ok(r.events.length > 2, 'the stream had not started');
  assert.ok(!r.events.includes('[DONE]'), 'a cut stream ended with [DONE]');
  const last = r.events.at(-1);
  assert.equal(last.error?.code, 'gateway_shutdown', `last event: ${JSON.stringify(last)}`);
  assert.equal(w.status, 503);
  assert.equal(JSON.parse(w.body).error.code, 'gateway_shutdown');
  const res = await gw.stop();
  assert.equal(res.code, 0);
  const log = gw.accessLog();
  assert.ok(log.some((l) => l.stream && l.error === 'gateway_shutdown' && l.provider === 'emu'), 'no log line for the cut stream');
});

test('a second SIGTERM during the drain delay ends everything at once', async () => {
  const gw = await startCloudmux({ configYaml: config(), drainDelay: null }); // default delay: 5 s
  const stream = slowStream(gw, 40, 150);
  await sleep(300);
  const t0 = Date.now();
  gw.signal('SIGTERM');
  await sleep(200);
  assert.equal(await readyStatus(gw), 503);
  gw.signal('SIGTERM');
  const r = await stream;
  const res = await gw.exited();
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms to stop after the second SIGTERM`);
  assert.equal(res.code, 0);
  assert.ok(!r.events.includes('[DONE]'));
  assert.equal(r.events.at(-1).error?.code, 'gateway_shutdown');
  await gw.stop();
});

test('SIGHUP reloads: the process and its streams go on', async () => {
  const gw = await startCloudmux({ configYaml: config() });
  try {
    const stream = slowStream(gw, 6, 100);
    await sleep(150);
    gw.signal('SIGHUP');
    await waitFor(() => /config reloaded: generation 2/.test(gw.stderr()), { what: 'the reload log line' });
    const r = await stream;
    assert.equal(r.events.at(-1), '[DONE]');
    assert.ok(gw.alive());
    assert.equal(await readyStatus(gw), 200);
  } finally {
    await gw.stop();
  }
});

test('a port held by another process is refused with one clear error', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const { port } = blocker.address();
  try {
    const r = spawnSync(CLOUDMUX_BIN, ['serve', '--config', join(REPO_ROOT, 'examples/quickstart.yaml'), '--listen', `127.0.0.1:${port}`, '--workers', '2'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    const lines = r.stderr.split('\n').filter((l) => /cannot listen/.test(l));
    assert.equal(lines.length, 1, `stderr:\n${r.stderr}`);
    assert.match(lines[0], new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test('a second cloudmux on the same port is refused; the first keeps every connection', async () => {
  const first = await startCloudmux({ configYaml: config(), workers: 2 });
  try {
    const r = spawnSync(CLOUDMUX_BIN, ['serve', '--config', join(REPO_ROOT, 'examples/quickstart.yaml'), '--listen', `127.0.0.1:${first.port}`, '--workers', '2'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, `the second cloudmux started:\n${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter((l) => /cannot listen/.test(l)).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /listening/);
    // Every call lands on the first gateway (its own two workers share the port).
    for (let i = 0; i < 8; i++) {
      const res = await httpRequest(`${first.baseURL}/chat/completions`, { body: chatBody('chat', `call ${i}`) });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-cloudmux-provider'], 'emu');
    }
  } finally {
    await first.stop();
  }
});
