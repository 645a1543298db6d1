// lifecycle.test.mjs — what happens around requests rather than in them:
// a client that hangs up mid-stream cancels its upstream request, and
// SIGTERM drains (in-flight streams finish, new connections are refused,
// exit code 0).

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, sleep, startCloudmux, waitFor } from './helpers.mjs';

let emu;

before(async () => {
  emu = await startEmulator();
});

after(async () => {
  await emu?.close();
});

const config = () => `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
`;

// Opens a raw streaming request and resolves once `n` SSE events arrived.
function openStream(port, text, n) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ ...chatBody('chat', text), stream: true });
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('connect', () =>
      sock.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    );
    sock.on('data', (d) => {
      data += d;
      if ((data.match(/data: /g) || []).length >= n) resolve({ sock, data: () => data });
    });
    sock.on('error', reject);
  });
}

test('a client that hangs up mid-stream cancels the upstream request', async () => {
  const gw = await startCloudmux({ configYaml: config() });
  try {
    emu.resetStats();
    const words = 'one two three four five six seven eight nine ten';
    const { sock } = await openStream(gw.port, `${words} [[fault:slow interval_ms=150]]`, 2);
    sock.destroy();
    // The upstream sees its connection closed and stops producing chunks.
    await sleep(600);
    const rec = emu.stats().requests[0];
    const sentAtCancel = rec.chunks_sent;
    assert.ok(sentAtCancel < 13, `upstream sent ${sentAtCancel} chunks: the stream ran on`);
    await sleep(600);
    assert.equal(emu.stats().requests[0].chunks_sent, sentAtCancel, 'upstream kept streaming after the client left');
    assert.equal(rec.t_end, null, 'the upstream stream was completed, not cancelled');
    // The gateway is fine and logged the request as cancelled.
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'still there?') });
    assert.equal(r.status, 200);
    const line = await waitFor(() => gw.accessLog().find((l) => l.status === 499 && l.error === 'cancelled'), {
      what: 'an access log line for the cancelled request',
    });
    // The line names the attempt that was running, and the time spent
    // waiting on it is the provider's, not the gateway's overhead.
    assert.equal(line.provider, 'emu');
    assert.equal(line.attempts, 1);
    assert.ok(line.upstream_ms > 100, `upstream_ms ${line.upstream_ms}`);
    assert.ok(line.overhead_us < 100000, `overhead_us ${line.overhead_us} counts the provider's time`);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const count = (le) => Number(metrics.match(new RegExp(`^cloudmux_gateway_overhead_seconds_bucket\\{le="${le}"\\} (\\d+)`, 'm'))?.[1]);
    const total = Number(metrics.match(/^cloudmux_gateway_overhead_seconds_count (\d+)/m)?.[1]);
    assert.ok(total >= 2, metrics);
    assert.equal(count('0.1'), total, 'an overhead sample above 100 ms');
  } finally {
    await gw.stop();
  }
});

test('SIGTERM lets an in-flight stream finish, refuses new connections and exits 0', async () => {
  const gw = await startCloudmux({ configYaml: config() });
  emu.resetStats();
  const { sock, data } = await openStream(gw.port, 'a b c d e f [[fault:slow interval_ms=150]]', 1);
  const closed = new Promise((r) => sock.on('close', r));
  const exited = gw.stop({ timeoutMs: 10000 });
  await sleep(150);
  // New connections are refused (or closed at once) while draining.
  const refused = await new Promise((resolve) => {
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => resolve(true));
    s.on('connect', () => {
      s.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      s.on('data', () => resolve(false));
      s.on('close', () => resolve(true));
    });
  });
  assert.ok(refused, 'a new request was served while draining');
  await closed;
  assert.match(data(), /data: \[DONE\]/, 'the in-flight stream was cut by the shutdown');
  const res = await exited;
  assert.equal(res.code, 0);
});
