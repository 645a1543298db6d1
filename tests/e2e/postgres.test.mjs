// postgres.test.mjs — the store on a real PostgreSQL (Debian's package,
// initdb'd into a temp directory, started and stopped by this test): the
// store's unit tests run against it, and two gateways sharing it share keys
// (made on one, used on the other; revoked on one, refused on both within a
// second), one budget and one ledger.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, admin, cli, eventually, startPostgres } from './governance_helpers.mjs';
import { CLOUDMUX_BIN, chatBody, httpRequest, sleep, startCloudmux } from './helpers.mjs';

let pg;
let emu;
let a;
let b;
const env = { CMX_ADMIN: ADMIN_KEY };

function yaml() {
  return `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini, price: { input: 1000, output: 1000 } } ] }
governance:
  store: "${pg.url}"
  poll: 200ms
  budget_sync: 200ms
teams:
  shared: {}
`;
}

before(async () => {
  pg = await startPostgres();
  emu = await startEmulator();
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await emu?.close();
  await pg?.stop();
});

test("the store's unit tests pass on PostgreSQL", () => {
  const bin = join(dirname(CLOUDMUX_BIN), 'test_store');
  assert.ok(existsSync(bin), `${bin} is built with the unit tests`);
  const r = spawnSync(bin, [], { encoding: 'utf8', env: { ...process.env, CMX_TEST_PG_URL: pg.url }, timeout: 60000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /PASSED/);
});

test('two gateways on one PostgreSQL share keys, one budget and one ledger', async () => {
  // Both start on an empty database at once: the schema is made once.
  [a, b] = await Promise.all([startCloudmux({ configYaml: yaml(), env }), startCloudmux({ configYaml: yaml(), env })]);
  const made = await admin(a, 'POST', '/admin/keys', { name: 'fleet-app', team: 'shared', budget: { usd: 0.03, period: 'monthly' } });
  assert.equal(made.status, 201, made.body);
  const secret = made.json.secret;
  const id = made.json.key.id;
  const call = (gw) => httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${secret}` }, body: chatBody('chat', 'hello') });

  // Made on A, known to B within a second.
  await eventually(async () => (await call(b)).status === 200, { timeoutMs: 1000, what: 'the key on B' });
  // $0.003 a request: 4 on A (B's first made 5: $0.015) ...
  for (let i = 0; i < 4; i++) assert.equal((await call(a)).status, 200);
  // ... and B sees A's spend once it is in the ledger and B has read it.
  await eventually(async () => (await admin(b, 'GET', `/admin/keys/${id}`)).json.budget.spent_usd >= 0.015 - 1e-9, {
    timeoutMs: 2000,
    what: "A's spend on B",
  });
  for (let i = 0; i < 5; i++) assert.equal((await call(b)).status, 200); // $0.03: spent
  // Once A has read B's spend (one commit and one sync later) both refuse:
  // one budget.
  await eventually(async () => (await admin(a, 'GET', `/admin/keys/${id}`)).json.budget.spent_usd >= 0.03 - 1e-9, {
    timeoutMs: 2000,
    what: "B's spend on A",
  });
  for (const gw of [b, a]) {
    const r = await call(gw);
    assert.equal(r.status, 429, r.body);
    const e = JSON.parse(r.body).error;
    assert.equal(e.type, 'insufficient_quota');
    assert.match(e.message, new RegExp(`^budget exceeded for key 'fleet-app' \\(${id}\\): spent \\$0\\.03 of its \\$0\\.03 monthly budget`));
  }
  // The ledger is one: rows from both replicas, one report.
  const replicas = pg.psql('SELECT replica, COUNT(*) FROM cmx_ledger GROUP BY replica ORDER BY replica');
  assert.equal(replicas.length, 2);
  const served = pg.psql("SELECT COUNT(*) FROM cmx_ledger WHERE status = 200")[0][0];
  assert.equal(Number(served), 10);
  const rep = cli(['spend', '--config', a.configPath, '--by', 'key', '--format', 'json'], env);
  assert.equal(rep.status, 0, rep.stderr);
  const line = JSON.parse(rep.stdout).lines.find((l) => l.key === id);
  assert.ok(Math.abs(line.cost_usd - 0.03) < 1e-9);
  assert.deepEqual(JSON.parse(rep.stdout), (await admin(b, 'GET', '/admin/spend?by=key&format=json')).json);

  // Raised on B, in force on A; revoked on B, refused on A within a second.
  assert.equal((await admin(b, 'PATCH', `/admin/keys/${id}`, { budget: { usd: 1 } })).status, 200);
  await eventually(async () => (await call(a)).status === 200, { timeoutMs: 1000, what: 'the raised budget on A' });
  assert.equal((await admin(b, 'POST', `/admin/keys/${id}/revoke`)).status, 200);
  const t0 = Date.now();
  await eventually(async () => (await call(a)).status === 401, { timeoutMs: 1000, intervalMs: 20, what: 'the revoke on A' });
  assert.ok(Date.now() - t0 < 1000);
  const client = new OpenAI({ apiKey: secret, baseURL: a.baseURL, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create(chatBody('chat', 'x')), OpenAI.AuthenticationError);
  await sleep(10);
});

test('a store that is not there stops the gateway from starting, without showing the URL', async () => {
  await assert.rejects(
    startCloudmux({
      configYaml: `providers: { m: { type: mock } }\nmodels: { chat: [ { provider: m } ] }\ngovernance: { store: "postgres://cmx:hunter2@127.0.0.1:1/x?connect_timeout=2" }\n`,
    }),
    (e) => {
      assert.match(e.message, /cannot connect/);
      assert.ok(!e.message.includes('hunter2'));
      return true;
    },
  );
});
