// fleet.test.mjs — three gateways sharing one redis-server behave like one:
// a breaker opened through one replica keeps the others away, one half-open
// probe goes out for the whole fleet, a fleet-wide rpm admits its count
// within 2 % (a burst decided request by request, and steady load decided
// mostly from each replica's allowance, without a round trip), the tokens
// of every answer are what the fleet's tpm holds once settled, a
// Retry-After learned by one is honoured by all, health checks probe once
// per interval for the fleet, the response cache is shared, and Redis
// killed in the middle of load fails no request and is used again once it
// is back.  The emulators count what reaches each provider.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
  steady:
    breaker: false
    targets: [ { provider: b, model: gpt-4.1, rpm: 600 } ]
  metered:
    targets: [ { provider: a, model: gpt-4.1-nano, rpm: 100000, tpm: 10000000 } ]
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

async function metric(gw, name, labels = '') {
  const r = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: 'Bearer admin-key' } });
  const m = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

// The sum of a fleet counter's live buckets, read from Redis itself.
function fleetCount(name) {
  const flat = execFileSync('redis-cli', ['-p', String(redis.port), 'HGETALL', `fleet-test:c:${name}`], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '');
  let sum = 0;
  for (let i = 1; i < flat.length; i += 2) sum += Number(flat[i]);
  return sum;
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

test('steady load on three replicas: rpm 600 admits 600 within 2 %, mostly without a round trip', async () => {
  const before = callsTo(emuB, 'gpt-4.1');
  const decided = async (by) => {
    let n = 0;
    for (const gw of gws) n += await metric(gw, 'cloudmux_state_counter_decisions_total', `by="${by}"`);
    return n;
  };
  const fromAllowance0 = await decided('allowance');
  const fromStore0 = await decided('store');
  // 900 requests, ten at a time on each replica.
  const statuses = [];
  const worker = async (gw, k) => {
    for (let i = 0; i < 30; i++) statuses.push((await chat(gw, 'steady', `steady ${k} ${i}`)).status);
  };
  const loops = [];
  for (let k = 0; k < 30; k++) loops.push(worker(gws[k % 3], k));
  await Promise.all(loops);
  const ok = statuses.filter((s) => s === 200).length;
  const refused = statuses.filter((s) => s === 503).length;
  assert.equal(ok + refused, 900, `statuses: ${[...new Set(statuses)]}`);
  assert.ok(ok <= 600, `admitted ${ok}: never more than the limit`);
  assert.ok(ok >= 600 * 0.98, `admitted ${ok} of rpm 600`);
  assert.equal(callsTo(emuB, 'gpt-4.1') - before, ok, 'what was admitted is what the provider got');
  const fromAllowance = (await decided('allowance')) - fromAllowance0;
  const fromStore = (await decided('store')) - fromStore0;
  assert.equal(fromAllowance + fromStore, 900, 'every request was decided by the fleet');
  assert.ok(fromAllowance > ok / 2, `${fromAllowance} of ${ok} admitted from the allowances (${fromStore} by the store)`);
  // Unspent credit goes back when its second ends: Redis then holds exactly
  // what the provider got.
  await waitFor(() => fleetCount('rpm:steady|b|gpt-4.1') === ok, { timeoutMs: 3000, what: 'credit given back' });
});

test('tokens: the fleet\'s tpm holds what the answers used, once settled', async () => {
  let used = 0;
  const jobs = [];
  for (let i = 0; i < 60; i++) {
    const stream = i % 3 === 0;
    jobs.push(chat(gws[i % 3], 'metered', `tokens ${i} ${'x'.repeat(i * 7)}`, stream ? { stream: true, stream_options: { include_usage: true } } : {}));
  }
  for (const r of await Promise.all(jobs)) {
    assert.equal(r.status, 200);
    const usage = r.events.length ? r.events.at(-2).usage : JSON.parse(r.body).usage;
    assert.ok(usage.total_tokens > 0);
    used += usage.total_tokens;
  }
  // Estimates were reserved, then settled to the reported usage (sent within
  // a few ms); unspent credit goes back when its second ends.
  await waitFor(() => fleetCount('tpm:metered|a|gpt-4.1-nano') === used && fleetCount('rpm:metered|a|gpt-4.1-nano') === 60, {
    timeoutMs: 3000,
    what: `tpm at ${used} (now ${fleetCount('tpm:metered|a|gpt-4.1-nano')})`,
  });
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
