// fleet_transport.test.mjs — how a gateway reaches Redis: rediss:// (TLS,
// verified against a CA file), unix:// and a password, each against a real
// redis-server; a wrong CA or a wrong password keeps the store down (and
// says so in cloudmux_state_store_up) while every request is still served.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, freePort, httpRequest, makeCerts, sleep, startCloudmux, startRedis, tempDir, waitFor } from './helpers.mjs';

let emu;
let certs;
let otherCerts;

before(async () => {
  emu = await startEmulator();
  certs = makeCerts({ hosts: ['localhost'], ips: ['127.0.0.1'] });
  otherCerts = makeCerts({ hosts: ['localhost'], ips: ['127.0.0.1'] });
});

after(async () => {
  await emu?.close();
  certs?.rm();
  otherCerts?.rm();
});

const gatewayConfig = (redisBlock) => `
server:
  admin_keys: [ "env:ADMIN" ]
state:
  redis: ${redisBlock}
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  cached:
    cache: { ttl: 10m }
    targets: [ { provider: emu, model: gpt-4o-mini } ]
`;

async function storeUp(gw) {
  const r = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: 'Bearer admin-key' } });
  return Number(/^cloudmux_state_store_up\{backend="redis"\} (\d)$/m.exec(r.body)?.[1]);
}

// Two gateways on the same store: an answer cached through one is a hit on
// the other only when they really share it.
async function sharesCache(block, env = {}) {
  const a = await startCloudmux({ configYaml: gatewayConfig(block), env: { ADMIN: 'admin-key', ...env } });
  const b = await startCloudmux({ configYaml: gatewayConfig(block), env: { ADMIN: 'admin-key', ...env } });
  try {
    await waitFor(async () => (await storeUp(a)) === 1 && (await storeUp(b)) === 1, { what: 'both connected' });
    const text = `transport ${Math.random()}`;
    const first = await httpRequest(`${a.baseURL}/chat/completions`, { body: chatBody('cached', text) });
    assert.equal(first.headers['x-cloudmux-cache'], 'miss');
    await sleep(50);
    const second = await httpRequest(`${b.baseURL}/chat/completions`, { body: chatBody('cached', text) });
    assert.equal(second.headers['x-cloudmux-cache'], 'hit');
  } finally {
    await a.stop();
    await b.stop();
  }
}

test('rediss:// verifies the server against ca_file and shares state over TLS', async () => {
  const port = await freePort();
  const s = await startRedis({ port, tls: certs });
  try {
    await sharesCache(`{ url: "rediss://127.0.0.1:${port}/0", ca_file: "${certs.caFile}", timeout: 200ms }`);
    await sharesCache(`{ url: "rediss://localhost:${port}/0", ca_file: "${certs.caFile}", timeout: 200ms }`);
  } finally {
    await s.stop();
  }
});

test('rediss:// with the wrong CA stays down, and requests are still served', async () => {
  const port = await freePort();
  const s = await startRedis({ port, tls: certs });
  const gw = await startCloudmux({
    configYaml: gatewayConfig(`{ url: "rediss://127.0.0.1:${port}/0", ca_file: "${otherCerts.caFile}", timeout: 50ms }`),
    env: { ADMIN: 'admin-key' },
  });
  try {
    await sleep(500);
    assert.equal(await storeUp(gw), 0);
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('cached', `served ${i}`) });
      assert.equal(r.status, 200);
    }
    // the local cache serves meanwhile
    const again = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('cached', 'served 0') });
    assert.equal(again.headers['x-cloudmux-cache'], 'hit');
  } finally {
    await gw.stop();
    await s.stop();
  }
});

test('unix:// sockets and passwords', async () => {
  const dir = tempDir('cmx-redis-');
  const sock = join(dir, 'redis.sock');
  const redis = await startRedis({ args: ['--unixsocket', sock, '--requirepass', 's3cret'] });
  try {
    await sharesCache(`{ url: "unix://${sock}", password: "env:REDIS_PASSWORD", timeout: 200ms }`, { REDIS_PASSWORD: 's3cret' });
    await sharesCache(`{ url: "redis://:s3cret@127.0.0.1:${redis.port}/2", timeout: 200ms }`);
    const gw = await startCloudmux({
      configYaml: gatewayConfig(`{ url: "redis://127.0.0.1:${redis.port}/0", password: "env:REDIS_PASSWORD", timeout: 50ms }`),
      env: { ADMIN: 'admin-key', REDIS_PASSWORD: 'wrong' },
    });
    try {
      await sleep(400);
      assert.equal(await storeUp(gw), 0, 'a refused password keeps the store down');
      assert.equal((await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('cached', 'still') })).status, 200);
      assert.doesNotMatch(gw.stderr() + gw.stdout(), /wrong/, 'the password never appears in the logs');
    } finally {
      await gw.stop();
    }
  } finally {
    await redis.stop();
  }
});

test('with Redis unreachable, limits fail open by default and refuse with fail_closed', async () => {
  const dead = await freePort(); // nothing listens there
  const yaml = (failClosed) => `
server:
  admin_keys: [ "env:ADMIN" ]
state:
  redis: { url: "redis://127.0.0.1:${dead}/0", timeout: 20ms, fail_closed: ${failClosed} }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  limited: [ { provider: emu, model: gpt-4o-mini, rpm: 1000 } ]
  free: [ { provider: emu, model: gpt-4o-mini } ]
`;
  const open = await startCloudmux({ configYaml: yaml(false), env: { ADMIN: 'admin-key' } });
  const closed = await startCloudmux({ configYaml: yaml(true), env: { ADMIN: 'admin-key' } });
  try {
    assert.equal(await storeUp(open), 0);
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      const r = await httpRequest(`${open.baseURL}/chat/completions`, { body: chatBody('limited', `open ${i}`) });
      assert.equal(r.status, 200, 'fail-open: the replica counts the limit itself');
    }
    assert.ok(Date.now() - t0 < 2000, 'no request waited on the dead store');
    const refused = await httpRequest(`${closed.baseURL}/chat/completions`, { body: chatBody('limited', 'closed') });
    assert.equal(refused.status, 503);
    assert.match(JSON.parse(refused.body).error.message, /rate limit|available/);
    const free = await httpRequest(`${closed.baseURL}/chat/completions`, { body: chatBody('free', 'no limit') });
    assert.equal(free.status, 200, 'fail_closed touches only targets with limits');
  } finally {
    await open.stop();
    await closed.stop();
  }
});
