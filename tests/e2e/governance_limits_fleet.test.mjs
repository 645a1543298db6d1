// governance_limits_fleet.test.mjs — virtual keys' and teams' rpm, tpm and
// max_parallel held by a fleet of three gateways sharing one real
// redis-server: a key's rpm admits its count within 2 % (a burst decided by
// the store request by request, steady load mostly from each replica's
// allowance), a team's rpm is shared by two keys on different replicas, the
// fleet's tpm ends up holding the tokens the answers reported, max_parallel
// holds across replicas and frees as requests end, and the slots of a
// replica killed with -9 stop counting within the documented 3 s.  The
// emulator counts what reaches the provider.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, stateDir } from './governance_helpers.mjs';
import { chatBody, freePort, httpRequest, sleep, startCloudmux, startRedis, waitFor } from './helpers.mjs';

const KEYS = {
  KEY_BURST: 'cmx-limits-burst-0123456789abcdef0123456789ab',
  KEY_STEADY: 'cmx-limits-steady-0123456789abcdef0123456789a',
  KEY_T1: 'cmx-limits-team-one-0123456789abcdef01234567',
  KEY_T2: 'cmx-limits-team-two-0123456789abcdef01234567',
  KEY_PAR: 'cmx-limits-parallel-0123456789abcdef0123456',
  KEY_CRASH: 'cmx-limits-crash-0123456789abcdef0123456789a',
  KEY_TOK: 'cmx-limits-tokens-0123456789abcdef0123456789',
  KEY_FREE: 'cmx-limits-free-0123456789abcdef0123456789abc',
};
const env = { CMX_ADMIN: ADMIN_KEY, ...KEYS };

let redis;
let emu;
const gws = [];
const dirs = [];

const config = (st, redisUrl = redis.url, failClosed = false) => `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
state:
  redis: { url: "${redisUrl}", timeout: 250ms, key_prefix: "lim-test:", fail_closed: ${failClosed} }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { breaker: false, targets: [ { provider: emu, model: gpt-4o-mini } ] }
governance: { store: "sqlite://${st.db}" }
teams:
  shared-team: { rpm: 60 }
keys:
  burst: { key: env:KEY_BURST, rpm: 150 }
  steady: { key: env:KEY_STEADY, rpm: 600 }
  t1: { key: env:KEY_T1, team: shared-team }
  t2: { key: env:KEY_T2, team: shared-team }
  par: { key: env:KEY_PAR, max_parallel: 4 }
  crash: { key: env:KEY_CRASH, max_parallel: 2 }
  tok: { key: env:KEY_TOK, tpm: 10000000 }
  free: { key: env:KEY_FREE }
`;

async function gateway(...rest) {
  const st = stateDir();
  dirs.push(st);
  return startCloudmux({ env, configYaml: config(st, ...rest) });
}

async function metric(gw, name, labels = '') {
  const r = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const m = new RegExp(`^${name}(?:\\{[^}]*${labels}[^}]*\\})? (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

before(async () => {
  redis = await startRedis();
  emu = await startEmulator();
  for (let i = 0; i < 3; i++) gws.push(await gateway());
  for (const gw of gws) await waitFor(async () => (await metric(gw, 'cloudmux_state_store_up')) === 1, { what: 'state store up' });
});

after(async () => {
  for (const gw of gws) await gw.stop();
  await redis?.stop();
  await emu?.close();
  for (const d of dirs) d.rm();
});

const chat = (gw, key, text, extra = {}) =>
  httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${key}` }, body: chatBody('chat', text, extra) });
const served = () => emu.stats().by_model['gpt-4o-mini'] || 0;

// The sum of a fleet counter's live buckets, or a slot set's live shares,
// read from Redis itself.
function redisHash(key) {
  const flat = execFileSync('redis-cli', ['-p', String(redis.port), 'HGETALL', `lim-test:${key}`], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '');
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = Number(flat[i + 1]);
  return out;
}
const counterSum = (name) => Object.values(redisHash(`c:${name}`)).reduce((a, b) => a + b, 0);
const slotsHeld = (name) =>
  Object.entries(redisHash(`slots:${name}`))
    .filter(([k]) => !k.endsWith(':t'))
    .reduce((a, [, v]) => a + Math.max(0, v), 0);

function assertRateLimited(r, what) {
  assert.equal(r.status, 429, r.body);
  const e = JSON.parse(r.body).error;
  assert.equal(e.type, 'rate_limit_error');
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.match(e.message, what);
  const wait = Number(r.headers['retry-after']);
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${r.headers['retry-after']}`);
}

describe('rpm and tpm', () => {
  test("a key's rpm admits its count within 2 % from three replicas at once", async () => {
    const before = served();
    const results = await Promise.all(Array.from({ length: 240 }, (_, i) => chat(gws[i % 3], KEYS.KEY_BURST, `burst ${i}`)));
    const ok = results.filter((r) => r.status === 200).length;
    assert.equal(ok + results.filter((r) => r.status === 429).length, 240, `statuses: ${[...new Set(results.map((r) => r.status))]}`);
    assert.ok(ok <= 150, `admitted ${ok}: never more than the limit`);
    assert.ok(ok >= 150 * 0.98, `admitted ${ok} of rpm 150`);
    assertRateLimited(
      results.find((r) => r.status === 429),
      /^rate limit reached for key 'burst' \(burst\): at most 150 requests per minute across the fleet; retry after \d+ s$/,
    );
    assert.equal(served() - before, ok, 'what was admitted is what the provider got');
    assert.equal(counterSum('gov:rpm:key:burst'), ok, "the fleet's counter holds what was admitted");
  });

  test('steady load: rpm 600 admits 600 within 2 %, mostly without a round trip to Redis', async () => {
    const decided = async (by) => {
      let n = 0;
      for (const gw of gws) n += await metric(gw, 'cloudmux_state_counter_decisions_total', `by="${by}"`);
      return n;
    };
    const fromAllowance0 = await decided('allowance');
    const before = served();
    const statuses = [];
    const worker = async (gw, k) => {
      for (let i = 0; i < 30; i++) statuses.push((await chat(gw, KEYS.KEY_STEADY, `steady ${k} ${i}`)).status);
    };
    await Promise.all(Array.from({ length: 30 }, (_, k) => worker(gws[k % 3], k)));
    const ok = statuses.filter((s) => s === 200).length;
    assert.equal(ok + statuses.filter((s) => s === 429).length, 900);
    assert.ok(ok <= 600, `admitted ${ok}: never more than the limit`);
    assert.ok(ok >= 600 * 0.98, `admitted ${ok} of rpm 600`);
    assert.equal(served() - before, ok);
    const fromAllowance = (await decided('allowance')) - fromAllowance0;
    assert.ok(fromAllowance > ok / 2, `${fromAllowance} of ${ok} admitted from the allowances`);
    // Unspent credit goes back when its second ends.
    await waitFor(() => counterSum('gov:rpm:key:steady') === ok, { timeoutMs: 3000, what: 'credit given back' });
  });

  test("a team's rpm is shared by its two keys on different replicas", async () => {
    const jobs = [];
    for (let i = 0; i < 50; i++) {
      jobs.push(chat(gws[i % 2], KEYS.KEY_T1, `team one ${i}`));
      jobs.push(chat(gws[2], KEYS.KEY_T2, `team two ${i}`));
    }
    const results = await Promise.all(jobs);
    const ok = results.filter((r) => r.status === 200).length;
    assert.equal(ok, 60, `admitted ${ok} of the team's rpm 60`);
    assertRateLimited(
      results.find((r) => r.status === 429),
      /^rate limit reached for team 'shared-team' \(shared-team\): at most 60 requests per minute across the fleet/,
    );
    assert.equal(counterSum('gov:rpm:team:shared-team'), 60);
    assert.equal(counterSum('gov:rpm:key:t1'), 0, 'the keys have no rpm of their own');
  });

  test("the fleet's tpm holds the tokens the answers reported, once settled", async () => {
    let used = 0;
    const jobs = [];
    for (let i = 0; i < 30; i++) {
      const stream = i % 3 === 0;
      jobs.push(chat(gws[i % 3], KEYS.KEY_TOK, `tokens ${i} ${'word '.repeat(i)}`, stream ? { stream: true, stream_options: { include_usage: true } } : {}));
    }
    for (const r of await Promise.all(jobs)) {
      assert.equal(r.status, 200);
      used += (r.events.length ? r.events.at(-2).usage : JSON.parse(r.body).usage).total_tokens;
    }
    await waitFor(() => counterSum('gov:tpm:key:tok') === used, {
      timeoutMs: 3000,
      what: `tpm at ${used} (now ${counterSum('gov:tpm:key:tok')})`,
    });
  });
});

describe('max_parallel', () => {
  test('holds across replicas, and frees as requests end', async () => {
    const t0 = Date.now();
    // Twelve at once, four on each replica, each held 1.5 s by the provider.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => chat(gws[i % 3], KEYS.KEY_PAR, `parallel ${i} [[fault:delay ms=1500]]`)),
    );
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 4, `statuses: ${results.map((r) => r.status)}`);
    assertRateLimited(
      results.find((r) => r.status === 429),
      /^rate limit reached for key 'par' \(par\): at most 4 requests at a time across the fleet; retry after 1 s or when a request of this key finishes$/,
    );
    // The provider never had more than four of them at a time.
    const reqs = emu.stats().requests.filter((q) => q.t_start >= t0 - 1);
    const most = Math.max(...reqs.map((q) => reqs.filter((o) => o.t_start <= q.t_start && o.t_end > q.t_start).length));
    assert.ok(most <= 4, `${most} at a time at the provider`);
    // Given back as they ended: four more go through, on any replica.
    await waitFor(() => slotsHeld('gov:par:key:par') === 0, { timeoutMs: 1000, what: 'the slots given back' });
    const again = await Promise.all(Array.from({ length: 4 }, (_, i) => chat(gws[(i + 1) % 3], KEYS.KEY_PAR, `again ${i}`)));
    assert.deepEqual(
      again.map((r) => r.status),
      [200, 200, 200, 200],
    );
  });

  test('the slots of a replica killed with -9 stop counting within 3 s', async () => {
    const victim = await gateway();
    await waitFor(async () => (await metric(victim, 'cloudmux_state_store_up')) === 1, { what: 'victim up' });
    // The victim holds both slots with requests the provider keeps for 5 s.
    const held = [0, 1].map((i) => chat(victim, KEYS.KEY_CRASH, `held ${i} [[fault:delay ms=5000]]`).catch(() => null));
    await waitFor(() => slotsHeld('gov:par:key:crash') === 2, { timeoutMs: 2000, what: 'both slots held' });
    assertRateLimited(await chat(gws[0], KEYS.KEY_CRASH, 'refused'), /at most 2 requests at a time across the fleet/);
    victim.signal('SIGKILL');
    await victim.exited();
    const killed = Date.now();
    let status = 429;
    while (status !== 200 && Date.now() - killed < 6000) {
      await sleep(100);
      status = (await chat(gws[1], KEYS.KEY_CRASH, 'after the crash')).status;
    }
    const took = Date.now() - killed;
    assert.equal(status, 200);
    // Its last heartbeat was at most 1 s before the kill, and its share
    // counts 3 s past a heartbeat; the polling and a loaded machine add a little.
    assert.ok(took <= 3000 + 500, `free again ${took} ms after the kill`);
    await Promise.all(held);
  });
});

describe('when the state store cannot answer', () => {
  test("fail-open: each replica holds the limit on its own; fail_closed: 503 limits_unavailable", async () => {
    // Nothing listens on this port: the store never comes up.
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const open = await gateway(nowhere, false);
    const closed = await gateway(nowhere, true);
    try {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await chat(open, KEYS.KEY_CRASH, `open ${i}`));
      assert.deepEqual(
        results.map((r) => r.status),
        [200, 200, 200, 200],
      );
      // This replica's own count still holds max_parallel.
      const par = await Promise.all(Array.from({ length: 3 }, (_, i) => chat(open, KEYS.KEY_CRASH, `open par ${i} [[fault:delay ms=300]]`)));
      assert.deepEqual(par.map((r) => r.status).sort(), [200, 200, 429]);
      assertRateLimited(par.find((r) => r.status === 429), /^rate limit reached for key 'crash' \(crash\): at most 2 requests at a time; retry after 1 s/);

      const r = await chat(closed, KEYS.KEY_CRASH, 'closed');
      assert.equal(r.status, 503, r.body);
      const e = JSON.parse(r.body).error;
      assert.equal(e.code, 'limits_unavailable');
      assert.match(e.message, /^the fleet's shared limits of key 'crash' cannot be checked .*; retry shortly$/);
      assert.equal(r.headers['retry-after'], '1');
      // So is a key whose team has limits; a key without any does not need the store.
      assert.equal((await chat(closed, KEYS.KEY_T1, 'team limits')).status, 503);
      assert.equal((await chat(closed, KEYS.KEY_FREE, 'no limits')).status, 200);
      assert.equal(await metric(closed, 'cloudmux_governance_refusals_total', 'reason="limits_unavailable"'), 2);
    } finally {
      await open.stop();
      await closed.stop();
    }
  });
});
