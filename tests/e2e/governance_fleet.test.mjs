// governance_fleet.test.mjs — governance in a fleet and across reloads:
// two gateways with ledgers of their own share one budget through a real
// redis-server (state.redis), each learning the other's spend at its next
// charge; and a config reload (SIGHUP, POST /admin/reload) brings in the new
// file's keys, drops the removed ones, and is recorded in the audit log.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, admin, eventually, stateDir } from './governance_helpers.mjs';
import { chatBody, httpRequest, startCloudmux, startRedis } from './helpers.mjs';

const KEY_A = 'cmx-fleet-key-a-0123456789abcdef0123456789';
const KEY_B = 'cmx-fleet-key-b-0123456789abcdef0123456789';
const env = { CMX_ADMIN: ADMIN_KEY, KEY_A, KEY_B };

let emu;
before(async () => {
  emu = await startEmulator();
});
after(async () => {
  await emu?.close();
});

const call = (gw, key) =>
  httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${key}` }, body: chatBody('chat', 'hello') });

async function metric(gw, name) {
  const r = await admin(gw, 'GET', '/metrics');
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : null;
}

describe('one budget through Redis', () => {
  let redis;
  const gws = [];
  const dirs = [];
  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const st = stateDir();
      dirs.push(st);
      gws.push(
        await startCloudmux({
          env,
          configYaml: `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
state:
  redis: { url: "${redis.url}", timeout: 250ms, key_prefix: "gov-test:" }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini, price: { input: 1000, output: 1000 } } ] }
governance:
  store: "sqlite://${st.db}"
  budget_sync: 1h   # the ledgers are not shared here: only Redis is
keys:
  shared: { key: env:KEY_A, budget: { usd: 0.03, period: monthly } }
`,
        }),
      );
    }
    for (const gw of gws) await eventually(async () => (await metric(gw, 'cloudmux_state_store_up')) === 1, { what: 'Redis up' });
  });
  after(async () => {
    for (const gw of gws) await gw.stop();
    await redis?.stop();
    for (const d of dirs) d.rm();
  });

  test('two gateways with their own ledgers enforce one budget, overshooting by at most a request each', async () => {
    const [a, b] = gws;
    const cost = 0.003;
    let served = 0;
    // Five on A ($0.015 in the fleet's counter) ...
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(a, KEY_A)).status, 200);
      served++;
    }
    // ... B's own ledger knows nothing of them: its first request goes
    // through and its answer brings the fleet's total back.
    assert.equal((await call(b, KEY_A)).status, 200);
    served++;
    await eventually(async () => (await admin(b, 'GET', '/admin/keys/shared')).json.budget.spent_usd >= 6 * cost - 1e-9, {
      what: "the fleet's total on B",
    });
    // B goes on until the fleet's budget is spent ...
    for (;;) {
      const r = await call(b, KEY_A);
      if (r.status !== 200) {
        assert.equal(r.status, 429);
        assert.equal(JSON.parse(r.body).error.code, 'budget_exceeded');
        break;
      }
      served++;
      assert.ok(served < 20, 'B never stopped');
    }
    // ... and A, which last heard $0.015, lets at most one more through:
    // its charge brings the fleet's total back, and A refuses from then on.
    let aMore = 0;
    const first = await call(a, KEY_A);
    if (first.status === 200) {
      aMore = 1;
      await eventually(async () => (await admin(a, 'GET', '/admin/keys/shared')).json.budget.spent_usd >= 0.03 - 1e-9, {
        what: "the fleet's total on A",
      });
    }
    const then = first.status === 200 ? await call(a, KEY_A) : first;
    assert.equal(then.status, 429, then.body);
    assert.equal(JSON.parse(then.body).error.code, 'budget_exceeded');
    served += aMore;
    const budget = 0.03;
    assert.ok(served * cost >= budget - 1e-9);
    assert.ok(served * cost <= budget + 2 * cost + 1e-9, `the fleet served ${served} requests`);
    // Each ledger has its own rows; the fleet's spend is their sum.
    await new Promise((r) => setTimeout(r, 300));
    const rows = await Promise.all(gws.map(async (gw) => (await admin(gw, 'GET', '/admin/spend?format=json')).json.total));
    assert.equal(rows[0].requests + rows[1].requests - 2, served); // each refused once
  });
});

describe('config reload', () => {
  test('a reload brings in new keys, drops removed ones, and is audited', async () => {
    const st = stateDir();
    const yaml = (keys) => `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
governance: { store: "sqlite://${st.db}" }
keys:
${keys}
audit: { file: "${st.audit}" }
`;
    const gw = await startCloudmux({ env, configYaml: yaml('  a: { key: env:KEY_A }') });
    try {
      assert.equal((await call(gw, KEY_A)).status, 200);
      assert.equal((await call(gw, KEY_B)).status, 401);
      writeFileSync(gw.configPath, yaml('  b: { key: env:KEY_B }'));
      const r = await httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.equal(r.status, 200, r.body);
      await eventually(async () => (await call(gw, KEY_B)).status === 200 && (await call(gw, KEY_A)).status === 401, {
        timeoutMs: 2000,
        what: 'the new keys',
      });
      // A changed store needs a restart: said so, and the old one stays.
      writeFileSync(gw.configPath, yaml('  b: { key: env:KEY_B }').replace(`sqlite://${st.db}`, `sqlite://${st.dir}/other.db`));
      const again = await httpRequest(`${gw.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.match(JSON.parse(again.body).restart_required.join(' '), /governance/);
      await eventually(() => readFileSync(st.audit, 'utf8').split('\n').filter((l) => l.includes('"config.reloaded"')).length === 2, {
        what: 'the audit records',
      });
      const recs = readFileSync(st.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const reloads = recs.filter((x) => x.action === 'config.reloaded');
      assert.match(reloads[0].actor, /^admin:[0-9a-f]{8}$/);
      assert.equal(reloads[0].details.keys, 1);
      assert.equal(reloads[0].target, gw.configPath);
    } finally {
      await gw.stop();
      st.rm();
    }
  });
});
