// reload.test.mjs — config reload without dropping a request.
//
// 20 reloads (SIGHUP and POST /admin/reload, in turn) while 200 clients keep
// requests and slow streams going: no request fails and no stream is cut.
// A broken file changes nothing and says where it is broken.  A new group is
// served after a reload, state carries over for targets that still exist,
// and settings that need a restart are reported, not applied.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, sleep, startCloudmux, waitFor } from './helpers.mjs';

let emu;
let gw;

const configYaml = (variant) => `
server:
  admin_keys: [ "env:ADMIN" ]
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat:
    strategy: ${variant % 2 ? 'round-robin' : 'priority'}
    targets: [ { provider: emu, model: gpt-4o-mini }, { provider: emu, model: gpt-4o } ]
  tripped:
    breaker: { consecutive_failures: 1, error_rate: 0, cooldown: 60s }
    targets: [ { provider: emu, model: "gpt-4.1-mini+fault:status=503" }, { provider: emu, model: gpt-4o-mini } ]
${variant >= 1 ? '  extra: [ { provider: emu, model: gpt-4o-mini } ]\n' : ''}`;

before(async () => {
  emu = await startEmulator();
  gw = await startCloudmux({ configYaml: configYaml(0), env: { ADMIN: 'admin-key' }, args: ['--workers', '2'] });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
});

const admin = { authorization: 'Bearer admin-key' };
const adminReload = () => httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: admin });

async function metric(name, label = '') {
  const r = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: admin });
  const m = new RegExp(`^${name}${label.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

async function breakerOf(group) {
  const r = await httpRequest(`${gw.url}/v1/status`, { method: 'GET', headers: admin });
  return JSON.parse(r.body).models.find((m) => m.name === group).targets[0].breaker;
}

test('a new group is served after a reload, and an open breaker stays open', async () => {
  assert.equal((await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('extra', 'x') })).status, 404);
  const trip = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('tripped', 'trip it') });
  assert.equal(trip.status, 200);
  assert.equal((await breakerOf('tripped')).state, 'open');
  writeFileSync(gw.configPath, configYaml(1));
  const r = await adminReload();
  assert.equal(r.status, 200, r.body);
  const body = JSON.parse(r.body);
  assert.equal(body.status, 'reloaded');
  assert.equal(body.generation, 2);
  // Each worker takes the new generation on its next loop turn.
  await waitFor(async () => (await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('extra', 'x') })).status === 200, {
    what: 'the new group on every worker',
  });
  for (let i = 0; i < 4; i++) assert.equal((await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('extra', 'x') })).status, 200);
  const b = await breakerOf('tripped');
  assert.equal(b.state, 'open', 'carried over to the new generation');
  assert.ok(b.trips >= 1);
});

test('20 reloads under 200 concurrent clients with streams: no failed or cut request', async () => {
  let stop = false;
  const failures = [];
  let done = 0;
  const client = async (n) => {
    for (let i = 0; !stop; i++) {
      const stream = (n + i) % 3 === 0;
      // Slow streams (20 ms between chunks) straddle the reloads.
      const text = stream ? `one two three four five six [[fault:slow interval_ms=20]] ${n}` : `plain ${n} ${i}`;
      const r = await httpRequest(`${gw.baseURL}/chat/completions`, {
        body: chatBody('chat', text, stream ? { stream: true } : {}),
        timeoutMs: 20000,
      });
      done++;
      const whole = r.status === 200 && (!stream || r.events.at(-1) === '[DONE]');
      if (!whole) failures.push({ status: r.status, stream, error: String(r.error ?? ''), tail: r.body.slice(-200) });
    }
  };
  const clients = [];
  for (let n = 0; n < 200; n++) clients.push(client(n));
  const gen0 = await metric('cloudmux_config_generation');
  for (let k = 0; k < 20; k++) {
    await sleep(120);
    writeFileSync(gw.configPath, configYaml(k % 2 ? 1 : 2));
    if (k % 2) {
      const r = await adminReload();
      assert.equal(r.status, 200, r.body);
    } else {
      process.kill(gw.pid, 'SIGHUP');
    }
  }
  await sleep(300);
  stop = true;
  await Promise.all(clients);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${done} requests failed or were cut`);
  assert.ok(done > 400, `only ${done} requests ran`);
  await waitFor(async () => (await metric('cloudmux_config_generation')) === gen0 + 20, { what: 'all 20 reloads applied' });
  assert.ok((await metric('cloudmux_config_reloads_total', '{result="ok"}')) >= 21);
  // Counters carried over every generation: nothing counted was lost.
  const m = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: admin });
  const counted = [...m.body.matchAll(/^cloudmux_requests_total\{model="chat",[^}]*code="200"[^}]*\} (\d+)$/gm)].reduce((a, x) => a + Number(x[1]), 0);
  assert.ok(counted >= done, `requests_total says ${counted}, ${done} were made`);
});

test('a broken file during load changes nothing and is reported with its line', async () => {
  const gen = await metric('cloudmux_config_generation');
  const failedBefore = await metric('cloudmux_config_reloads_total', '{result="error"}');
  let stop = false;
  const statuses = [];
  const load = (async () => {
    while (!stop) statuses.push((await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'still here') })).status);
  })();
  writeFileSync(gw.configPath, configYaml(1).replace('strategy: round-robin', 'strategy: round-robin\n    num_retries: many'));
  const r = await adminReload();
  assert.equal(r.status, 422);
  const e = JSON.parse(r.body).error;
  assert.equal(e.code, 'invalid_config');
  assert.ok(e.errors.some((m) => /cloudmux\.yaml:\d+:\d+: .*num_retries/.test(m)), JSON.stringify(e.errors));
  process.kill(gw.pid, 'SIGHUP');
  await waitFor(() => /config reload failed[^\n]*\n[^\n]*num_retries/.test(gw.stderr()), { what: 'the SIGHUP failure in the log' });
  await sleep(200);
  stop = true;
  await load;
  assert.ok(statuses.length > 5);
  assert.deepEqual([...new Set(statuses)], [200]);
  assert.equal(await metric('cloudmux_config_generation'), gen);
  assert.equal(await metric('cloudmux_config_reloads_total', '{result="error"}'), failedBefore + 2);
  assert.match(gw.stderr(), /cloudmux\.yaml:\d+:\d+: [^\n]*num_retries/);
});

test('settings that need a restart are reported and left as they were', async () => {
  writeFileSync(gw.configPath, configYaml(1).replace('server:\n', 'server:\n  workers: 7\n  listen: 127.0.0.1:1\n'));
  const r = await adminReload();
  assert.equal(r.status, 200);
  const needs = JSON.parse(r.body).restart_required.join('\n');
  assert.match(needs, /server\.workers/);
  assert.match(needs, /server\.listen/);
  // still serving where it was
  assert.equal((await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'same port') })).status, 200);
});

test('/admin/reload needs an admin key', async () => {
  const r = await httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
  assert.equal(r.status, 401);
  const g = await httpRequest(`${gw.url}/admin/reload`, { method: 'GET', headers: admin });
  assert.equal(g.status, 405);
});

test('cached cloud credentials carry over a reload: no new token is fetched', async () => {
  const az = await startAzure({ tokens: { tenant: 't1', clients: { app: 'app-secret' } } });
  const yaml = (strategy) => `
server:
  admin_keys: [ "env:ADMIN" ]
providers:
  az: { type: azure, endpoint: "${az.endpoint}", auth: { tenant_id: t1, client_id: app, client_secret: env:AZ_SECRET, authority: "${az.authority}" } }
models:
  chat: { strategy: ${strategy}, targets: [ { provider: az, model: dep } ] }
${strategy === 'priority' ? '' : '  chat2: [ { provider: az, model: dep } ]'}
`;
  const g = await startCloudmux({ configYaml: yaml('priority'), env: { ADMIN: 'admin-key', AZ_SECRET: 'app-secret' }, args: ['--workers', '2'] });
  try {
    for (let i = 0; i < 4; i++)
      assert.equal((await httpRequest(`${g.baseURL}/chat/completions`, { body: chatBody('chat', `before ${i}`) })).status, 200);
    const fetched = az.stats().azure.token_requests;
    assert.equal(fetched, 1, 'one token for the process');
    writeFileSync(g.configPath, yaml('round-robin'));
    const r = await httpRequest(`${g.url}/admin/reload`, { method: 'POST', headers: admin });
    assert.equal(r.status, 200);
    // chat2 exists only in the new generation: its answers come from it.
    await waitFor(async () => (await httpRequest(`${g.baseURL}/chat/completions`, { body: chatBody('chat2', 'x') })).status === 200, {
      what: 'the new generation',
    });
    for (let i = 0; i < 8; i++)
      assert.equal((await httpRequest(`${g.baseURL}/chat/completions`, { body: chatBody('chat2', `after ${i}`) })).status, 200);
    assert.equal(az.stats().azure.token_requests, fetched, 'the new generation used the cached token');
  } finally {
    await g.stop();
    await az.close();
  }
});
