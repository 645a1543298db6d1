// fleet.test.mjs — three gateways sharing one redis-server behave like one:
// a breaker opened through one replica keeps the others away, one half-open
// probe goes out for the whole fleet, a fleet-wide rpm admits its count
// within 2 %, a Retry-After learned by one is honoured by all, health checks
// probe once per interval for the fleet, the response cache is shared, and
// Redis killed in the middle of load fails no request and is used again once
// it is back.  The emulators count what reaches each provider.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, sleep, startCloudmux, startRedis, waitFor } from './helpers.mjs';

let redis;
let emuA;
let emuB;
let gws = [];

const config = (redisUrl) => `
server:
  admin_keys: [ "env:ADMIN" ]
state:
  redis: { url: "${redisUrl}", timeout: 250ms, key_prefix: "fleet-test:" }
providers:
  a: { type: openai, base_url: "${emuA.baseURL}" }
  b: { type: openai, base_url: "${emuB.baseURL}" }
  probed: { type: openai, base_url: "${emuB.baseURL}", health_check: { interval: 400ms, timeout: 300ms } }
models:
  brk:
    breaker: { consecutive_failures: 2, error_rate: 0, cooldown: 2s, max_cooldown: 10s }
    targets: [ { provider: a, model: gpt-4o-mini }, { provider: b, model: gpt-4o-mini } ]
  limited:
    breaker: false
    targets: [ { provider: a, model: gpt-4o, rpm: 120 } ]
  cool:
    targets: [ { provider: a, model: gpt-4.1-mini }, { provider: b, model: gpt-4.1-mini } ]
  roomy:
    targets: [ { provider: b, model: gpt-4o, rpm: 1000000 } ]
  cached:
    cache: { ttl: 10m }
    targets: [ { provider: b, model: gpt-4o-mini } ]
  watched:
    targets: [ { provider: probed, model: gpt-4o-mini } ]
`;

before(async () => {
  redis = await startRedis();
  emuA = await startEmulator();
  emuB = await startEmulator();
  for (let i = 0; i < 3; i++)
    gws.push(await startCloudmux({ configYaml: config(redis.url), env: { ADMIN: 'admin-key' } }));
  // Every replica connected before the tests start.
  for (const gw of gws) await waitFor(async () => (await metric(gw, 'cloudmux_state_store_up')) === 1, { what: 'state store up' });
});

after(async () => {
  for (const gw of gws) await gw.stop();
  await redis?.stop();
  await emuA?.close();
  await emuB?.close();
});

const chat = (gw, model, text, extra = {}) => httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody(model, text, extra) });

async function metric(gw, name) {
  const r = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: 'Bearer admin-key' } });
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

async function breakerState(gw, group) {
  const r = await httpRequest(`${gw.url}/v1/status`, { method: 'GET', headers: { authorization: 'Bearer admin-key' } });
  return JSON.parse(r.body).models.find((m) => m.name === group).targets[0].breaker.state;
}

const callsTo = (emu, model) => emu.stats().by_model[model] || 0;

describe('circuit breakers', () => {
  test('a breaker opened through one replica keeps the other two away within 1 s', async () => {
    emuA.setFault({ spec: 'status=503', model: 'gpt-4o-mini' });
    for (let i = 0; i < 2; i++) {
      const r = await chat(gws[0], 'brk', `trip ${i}`);
      assert.equal(r.status, 200, 'failed over to b');
      assert.equal(r.headers['x-cloudmux-provider'], 'b');
    }
    assert.equal(await breakerState(gws[0], 'brk'), 'open');
    const t0 = Date.now();
    for (const gw of gws.slice(1)) await waitFor(async () => (await breakerState(gw, 'brk')) === 'open', { timeoutMs: 1000, what: 'the breaker open on another replica' });
    const took = Date.now() - t0;
    assert.ok(took < 1000, `seen open after ${took} ms`);
    const before = callsTo(emuA, 'gpt-4o-mini');
    for (const gw of gws.slice(1)) {
      const r = await chat(gw, 'brk', 'stay away');
      assert.equal(r.headers['x-cloudmux-provider'], 'b');
      assert.equal(r.headers['x-cloudmux-attempts'], '1');
    }
    assert.equal(callsTo(emuA, 'gpt-4o-mini'), before, 'no replica sent to the open target');
  });

  test('after the cooldown one half-open probe goes out for the whole fleet', async () => {
    const before = callsTo(emuA, 'gpt-4o-mini');
    await sleep(2100); // the 2 s cooldown is over everywhere
    // Steady traffic on all three replicas for a second: each sees the
    // cooldown end, only the lease holder probes.
    const jobs = [];
    for (let i = 0; i < 30; i++) {
      jobs.push(chat(gws[i % 3], 'brk', `probe window ${i}`));
      await sleep(30);
    }
    const results = await Promise.all(jobs);
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(callsTo(emuA, 'gpt-4o-mini') - before, 1, 'exactly one probe reached the target');
    // The probe failed: every replica has the breaker open again.
    for (const gw of gws) assert.equal(await breakerState(gw, 'brk'), 'open');
    emuA.clearFaults();
  });
});

test('a fleet-wide rpm admits the configured count within 2 % under load on three replicas', async () => {
  const before = callsTo(emuA, 'gpt-4o');
  const jobs = [];
  for (let i = 0; i < 180; i++) jobs.push(chat(gws[i % 3], 'limited', `limited ${i}`));
  const results = await Promise.all(jobs);
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 503).length;
  assert.equal(ok + refused, 180, `statuses: ${[...new Set(results.map((r) => r.status))]}`);
  assert.ok(Math.abs(ok - 120) <= 120 * 0.02, `admitted ${ok} of rpm 120`);
  assert.equal(callsTo(emuA, 'gpt-4o') - before, ok, 'what was admitted is what the provider got');
});

test('a Retry-After cooldown learned by one replica is honoured by the others', async () => {
  emuA.setFault({ spec: 'status=429,retry_after=3', model: 'gpt-4.1-mini', count: 1 });
  const first = await chat(gws[0], 'cool', 'learn the cooldown');
  assert.equal(first.status, 200);
  assert.equal(first.headers['x-cloudmux-provider'], 'b');
  const before = callsTo(emuA, 'gpt-4.1-mini');
  await sleep(150);
  // Without sharing, these would go to a first (its one 429 is spent, so a
  // would answer): they must go to b.
  for (const gw of gws.slice(1)) {
    const r = await chat(gw, 'cool', 'honour it');
    assert.equal(r.headers['x-cloudmux-provider'], 'b');
    assert.equal(r.headers['x-cloudmux-attempts'], '1');
  }
  assert.equal(callsTo(emuA, 'gpt-4.1-mini'), before);
});

test('health checks: one probe per interval for the whole fleet', async () => {
  const count = () => emuB.stats().by_path['/v1/models'] || 0;
  const c0 = count();
  await sleep(2000); // five 400 ms intervals
  const probes = count() - c0;
  // Three replicas probing on their own would make about 15.
  assert.ok(probes >= 3 && probes <= 7, `${probes} health probes in 2 s`);
});

test('the response cache is shared by the replicas', async () => {
  const a = await chat(gws[0], 'cached', 'shared cache');
  assert.equal(a.headers['x-cloudmux-cache'], 'miss');
  await sleep(50);
  const before = callsTo(emuB, 'gpt-4o-mini');
  const b = await chat(gws[1], 'cached', 'shared cache');
  assert.equal(b.headers['x-cloudmux-cache'], 'hit');
  const c = await chat(gws[2], 'cached', 'shared cache', { stream: true });
  assert.equal(c.headers['x-cloudmux-cache'], 'hit');
  assert.equal(c.events.at(-1), '[DONE]');
  assert.equal(callsTo(emuB, 'gpt-4o-mini'), before);
  assert.deepEqual(JSON.parse(b.body).choices, JSON.parse(a.body).choices);
});

test('Redis killed mid-load and restarted: no client request fails, and sharing resumes', async () => {
  const statuses = [];
  let stop = false;
  const load = async (gw, n) => {
    for (let i = 0; !stop; i++) {
      const r = await chat(gw, i % 2 ? 'roomy' : 'cached', `load ${n} ${i}`, i % 3 === 0 ? { stream: true } : {});
      statuses.push(r.status === 200 && (!r.events.length || r.events.at(-1) === '[DONE]') ? 200 : r.status || 'cut');
    }
  };
  const loops = [];
  for (let k = 0; k < 6; k++) loops.push(load(gws[k % 3], k));
  await sleep(300);
  await redis.stop();
  await sleep(700);
  await redis.start();
  await sleep(300);
  stop = true;
  await Promise.all(loops);
  assert.ok(statuses.length > 30, `${statuses.length} requests under load`);
  assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every request succeeded');
  for (const gw of gws) await waitFor(async () => (await metric(gw, 'cloudmux_state_store_up')) === 1, { timeoutMs: 8000, what: 'the store up again' });
  assert.ok((await metric(gws[0], 'cloudmux_state_store_errors_total')) !== null);
  // Sharing works again: a cache entry written through one replica is read
  // through another.
  await chat(gws[0], 'cached', 'after the restart');
  await sleep(50);
  const hit = await chat(gws[2], 'cached', 'after the restart');
  assert.equal(hit.headers['x-cloudmux-cache'], 'hit');
});
