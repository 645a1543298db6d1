// governance.test.mjs — virtual keys, teams and budgets as the official
// `openai` client sees them: keys from the config and from the admin API,
// each refusal with its status, type, code and message, a budget spent by
// concurrent traffic that overshoots by at most the requests in flight, a
// period that resets on an injected clock, revocation and rotation in force
// on every worker within a second (from the API and from `cloudmux keys`),
// the audit log of all of it, and no secret in any log, metric, error,
// listing or report.  The Messages and Responses APIs take the same keys
// (Anthropic's client sends its as x-api-key) and are charged alike.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, admin, cli, eventually, stateDir, writeFile } from './governance_helpers.mjs';
import { assertOpenAIError, chatBody, httpRequest, sleep, startCloudmux } from './helpers.mjs';

const CONFIG_KEY = 'cmx-gitops-5c8e1f0a9b7d6e5f4a3b2c1d0e9f8a7b';
const PEPPER = 'pepper-7e6d5c4b3a29181706f5e4d3c2b1a09f';
const HMAC_KEY = 'hmac-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const EMU_KEY = 'sk-provider-9f8e7d6c5b4a';
// $0.001 a token: a "hello" chat (1 prompt word, "echo: hello" back) costs $0.003.
const PRICE = '{ input: 1000, output: 1000 }';

let emu;
let gw;
let st;
let clockFile;
const secrets = [CONFIG_KEY, PEPPER, HMAC_KEY, ADMIN_KEY, EMU_KEY];

function configYaml(s) {
  return `
server:
  admin_keys: [ "env:CMX_ADMIN" ]
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini, price: ${PRICE} } ] }
  chat-large: { targets: [ { provider: emu, model: gpt-4o, price: ${PRICE} } ] }
  embed: { targets: [ { provider: emu, model: text-embedding-3-small, price: ${PRICE} } ] }
governance:
  store: "sqlite://${s.db}"
  pepper: env:CMX_PEPPER
  poll: 200ms
  budget_sync: 300ms
teams:
  web: { models: [ "chat*" ], budget: { usd: 100, period: monthly } }
keys:
  gitops:
    key: env:CMX_GITOPS_KEY
    team: web
    models: [ chat ]
audit:
  file: "${s.audit}"
  hmac_key: env:CMX_HMAC
`;
}

const client = (apiKey, extra = {}) => new OpenAI({ apiKey, baseURL: gw.baseURL, maxRetries: 0, ...extra });
const hello = (model = 'chat', text = 'hello') => chatBody(model, text);

async function createKey(body) {
  const r = await admin(gw, 'POST', '/admin/keys', body);
  assert.equal(r.status, 201, r.body);
  secrets.push(r.json.secret);
  return r.json;
}

before(async () => {
  emu = await startEmulator({ key: EMU_KEY });
  st = stateDir();
  clockFile = writeFile(join(st.dir, 'clock-offset'), '0');
  gw = await startCloudmux({
    configYaml: configYaml(st),
    args: ['--workers', '2'],
    env: {
      CMX_ADMIN: ADMIN_KEY,
      EMU_KEY,
      CMX_GITOPS_KEY: CONFIG_KEY,
      CMX_PEPPER: PEPPER,
      CMX_HMAC: HMAC_KEY,
      CLOUDMUX_TEST_CLOCK_OFFSET_FILE: clockFile,
    },
  });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
  st?.rm();
});

describe('keys', () => {
  test('a key from the config works with the official client', async () => {
    const r = await client(CONFIG_KEY).chat.completions.create(hello());
    assert.equal(r.choices[0].message.content, 'echo: hello');
    const models = await client(CONFIG_KEY).models.list();
    assert.ok(models.data.some((m) => m.id === 'chat'));
  });

  test('a key made through the admin API works at once, its secret shown only then', async () => {
    const made = await createKey({ name: 'frontend', models: ['chat', 'embed'], tags: { owner: 'ana' } });
    assert.match(made.secret, /^cmx-[A-Za-z0-9_-]{43}$/);
    assert.equal(made.key.hint, `cmx-…${made.secret.slice(-4)}`);
    const r = await client(made.secret).chat.completions.create(hello());
    assert.equal(r.choices[0].message.content, 'echo: hello');
    const e = await client(made.secret).embeddings.create({ model: 'embed', input: 'x' });
    assert.equal(e.data.length, 1);
    const one = await admin(gw, 'GET', `/admin/keys/${made.key.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.tags.owner, 'ana');
    assert.ok(!one.body.includes(made.secret));
    const list = await admin(gw, 'GET', '/admin/keys');
    assert.deepEqual(
      list.json.data.map((k) => k.id).sort(),
      ['gitops', made.key.id].concat(list.json.data.map((k) => k.id).filter((id) => id !== 'gitops' && id !== made.key.id)).sort(),
    );
    assert.equal(list.json.data.find((k) => k.id === 'gitops').source, 'config');
  });

  test('the admin API needs an admin key, and a client key is not one', async () => {
    const r = await admin(gw, 'GET', '/admin/keys', undefined, { key: CONFIG_KEY });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'invalid_admin_key');
    const c = await admin(gw, 'PATCH', '/admin/keys/gitops', { rpm: 1 });
    assert.equal(c.status, 409);
    assert.equal(c.json.error.code, 'defined_in_config');
  });
  test('the Messages API (x-api-key from the Anthropic client) and the Responses API take the same keys and are charged', async () => {
    const k = await createKey({ name: 'claude-code', models: ['chat'], budget: { usd: 10, period: 'monthly' } });
    const spent = async () => (await admin(gw, 'GET', `/admin/keys/${k.key.id}`)).json.budget?.spent_usd ?? 0;
    const anthropic = new Anthropic({ apiKey: k.secret, baseURL: gw.url, maxRetries: 0 });
    const m = await anthropic.messages.create({ model: 'chat', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    assert.equal(m.content[0].text, 'echo: hello');
    const streamed = await anthropic.messages.stream({ model: 'chat', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] }).finalMessage();
    assert.equal(streamed.content[0].text, 'echo: hello');
    const r = await client(k.secret).responses.create({ model: 'chat', input: 'hello' });
    assert.equal(r.output_text, 'echo: hello');
    await eventually(async () => (await spent()) >= 0.009, { what: 'three answers charged' });
    // The model list in Anthropic's shape.
    const models = await anthropic.models.list();
    assert.ok(models.data.some((x) => x.id === 'chat' && x.type === 'model'));
    // Refusals in Anthropic's shape on its API.
    await assert.rejects(anthropic.messages.create({ model: 'chat-large', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (e) => {
      assert.ok(e instanceof Anthropic.PermissionDeniedError, String(e));
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'permission_error');
      return true;
    });
    const bad = new Anthropic({ apiKey: `${k.secret}x`, baseURL: gw.url, maxRetries: 0 });
    await assert.rejects(bad.messages.create({ model: 'chat', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
      assert.equal(e.error.error.type, 'authentication_error');
      return true;
    });
  });
});

describe('refusals', () => {
  test('unknown, revoked and expired keys: 401 authentication_error', async () => {
    await assert.rejects(client('cmx-not-a-key-at-all-0000000000000000000000').chat.completions.create(hello()), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'invalid_api_key');
      assert.match(e.error.message, /^invalid API key/);
      return true;
    });
    const revoked = await createKey({ name: 'gone' });
    assert.equal((await admin(gw, 'POST', `/admin/keys/${revoked.key.id}/revoke`)).status, 200);
    await assert.rejects(client(revoked.secret).chat.completions.create(hello()), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.code, 'key_revoked');
      assert.match(e.error.message, new RegExp(`^API key 'gone' \\(${revoked.key.id}\\) was revoked at \\d{4}-\\d\\d-\\d\\dT.*; ask an administrator for a new key`));
      return true;
    });
    const expired = await createKey({ name: 'old', expires_at: '2020-01-01T00:00:00Z' });
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${expired.secret}` }, body: hello() });
    assert.equal(r.status, 401);
    const e = assertOpenAIError(assert, r.body, { type: 'authentication_error' });
    assert.equal(e.code, 'key_expired');
    assert.match(e.message, /expired at 2020-01-01T00:00:00Z; ask an administrator to extend it/);
    const none = await httpRequest(`${gw.baseURL}/chat/completions`, { body: hello() });
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).error.code, 'missing_api_key');
  });

  test('a group the key or its team may not use: 403 permission_error', async () => {
    // The team allows chat*, the key only chat.
    await assert.rejects(client(CONFIG_KEY).chat.completions.create(hello('chat-large')), (e) => {
      assert.ok(e instanceof OpenAI.PermissionDeniedError);
      assert.equal(e.status, 403);
      assert.equal(e.code, 'model_not_allowed');
      assert.equal(e.type, 'permission_error');
      assert.match(e.error.message, /^key 'gitops' \(gitops\) may not use model 'chat-large'; it may use: chat\./);
      return true;
    });
  });

  test('over a limit: 429 with Retry-After', async () => {
    const k = await createKey({ name: 'slow', rpm: 2 });
    const c = client(k.secret);
    await c.chat.completions.create(hello());
    await c.chat.completions.create(hello());
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${k.secret}` }, body: hello() });
    assert.equal(r.status, 429);
    const e = assertOpenAIError(assert, r.body, { type: 'rate_limit_error' });
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.match(e.message, /rate limit reached for key 'slow' .*: at most 2 requests per minute; retry after \d+ s/);
    const after = Number(r.headers['retry-after']);
    assert.ok(after >= 1 && after <= 60, `Retry-After ${r.headers['retry-after']}`);
    await assert.rejects(c.chat.completions.create(hello()), OpenAI.RateLimitError);
  });

  test('over budget: 429 insufficient_quota / budget_exceeded naming spend, budget and reset', async () => {
    const k = await createKey({ name: 'tiny', budget: { usd: 0.005, period: 'monthly' } });
    // The client's default retries must not hammer a spent budget.
    const c = client(k.secret, { maxRetries: 2 });
    await c.chat.completions.create(hello()); // $0.003
    await c.chat.completions.create(hello()); // $0.006: over now
    const t0 = Date.now();
    await assert.rejects(c.chat.completions.create(hello()), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.type, 'insufficient_quota');
      assert.equal(e.code, 'budget_exceeded');
      const reset = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1)).toISOString().replace('.000', '');
      assert.equal(
        e.error.message,
        `budget exceeded for key 'tiny' (${k.key.id}): spent $0.006 of its $0.005 monthly budget; it resets at ${reset}. Ask an administrator to raise the budget, or wait for the reset`,
      );
      assert.equal(e.headers.get('x-should-retry'), 'false');
      return true;
    });
    assert.ok(Date.now() - t0 < 400, 'the client did not retry');
    // The listing says the same.
    const one = await admin(gw, 'GET', `/admin/keys/${k.key.id}`);
    assert.equal(one.json.budget.spent_usd, 0.006);
    // Raising the budget lets it through again.
    assert.equal((await admin(gw, 'PATCH', `/admin/keys/${k.key.id}`, { budget: { usd: 1 } })).status, 200);
    await c.chat.completions.create(hello());
  });

  test('a team over its budget refuses its keys, naming the team', async () => {
    assert.equal((await admin(gw, 'POST', '/admin/teams', { id: 'lab', budget: { usd: 0.004 } })).status, 201);
    const k = await createKey({ name: 'lab-app', team: 'lab' });
    await client(k.secret).chat.completions.create(hello());
    await client(k.secret).chat.completions.create(hello());
    await assert.rejects(client(k.secret).chat.completions.create(hello()), (e) => {
      assert.equal(e.code, 'budget_exceeded');
      assert.match(e.error.message, /^budget exceeded for team 'lab' \(lab\): spent \$0\.006 of its \$0\.004 monthly budget/);
      return true;
    });
  });
});

describe('budgets under load and over time', () => {
  test('concurrent traffic overshoots a budget by at most the requests in flight', async () => {
    const budget = 0.05;
    const k = await createKey({ name: 'busy', budget: { usd: budget, period: 'monthly' } });
    const inFlight = 8;
    let ok = 0;
    let spent = 0;
    const refusals = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const r = await httpRequest(`${gw.baseURL}/chat/completions`, {
          headers: { authorization: `Bearer ${k.secret}` },
          body: hello('chat', 'hello [[fault:delay ms=40]]'),
        });
        if (r.status === 200) {
          ok++;
          spent += Number(r.headers['x-cloudmux-cost-usd']);
        } else {
          refusals.push(r);
          stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const cost = 0.003;
    assert.ok(spent >= budget, `the budget was reached (${spent})`);
    assert.ok(spent < budget + inFlight * cost + 1e-9, `overshoot ${spent - budget} is more than ${inFlight} requests in flight`);
    assert.ok(ok >= Math.ceil(budget / cost));
    for (const r of refusals) {
      assert.equal(r.status, 429);
      const e = JSON.parse(r.body).error;
      assert.equal(e.code, 'budget_exceeded');
      assert.match(e.message, /^budget exceeded for key 'busy' .*: spent \$0\.0\d+ of its \$0\.05 monthly budget; it resets at /);
      const said = Number(e.message.match(/spent \$([0-9.]+)/)[1]);
      assert.ok(said >= budget && said <= spent + 1e-9, `message says ${said}, spent ${spent}`);
    }
  });

  test('a 1-day budget resets at midnight UTC (clock moved by the test)', async () => {
    const k = await createKey({ name: 'daily', budget: { usd: 0.003, period: '1d' } });
    await client(k.secret).chat.completions.create(hello());
    let message;
    await assert.rejects(client(k.secret).chat.completions.create(hello()), (e) => ((message = e.error.message), e.code === 'budget_exceeded'));
    const resetAt = Date.parse(message.match(/resets at (\S+)\./)[1]);
    const now = Date.now();
    assert.ok(resetAt > now && resetAt <= now + 86400000);
    assert.equal(new Date(resetAt).getUTCHours(), 0);
    // Move the gateway's clock past the reset.
    writeFile(clockFile, String(resetAt - now + 5000));
    try {
      await eventually(
        async () => (await httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${k.secret}` }, body: hello() })).status === 200,
        { timeoutMs: 3000, what: 'the new period' },
      );
      await assert.rejects(client(k.secret).chat.completions.create(hello()), (e) => {
        assert.equal(e.code, 'budget_exceeded');
        assert.match(e.error.message, new RegExp(`resets at ${new Date(resetAt + 86400000).toISOString().replace('.000', '')}`));
        return true;
      });
    } finally {
      writeFile(clockFile, '0');
      await sleep(200);
    }
  });
});

describe('changes in force everywhere', () => {
  // Fresh connections, so both workers serve them.
  async function statuses(secret, n = 12) {
    const rs = await Promise.all(
      Array.from({ length: n }, () => httpRequest(`${gw.baseURL}/models`, { method: 'GET', headers: { authorization: `Bearer ${secret}` } })),
    );
    return rs.map((r) => r.status);
  }

  test('a revoke through the admin API is in force on every worker within 1 s', async () => {
    const k = await createKey({ name: 'to-revoke' });
    assert.deepEqual([...new Set(await statuses(k.secret))], [200]);
    const t0 = Date.now();
    assert.equal((await admin(gw, 'POST', `/admin/keys/${k.key.id}/revoke`)).status, 200);
    await eventually(async () => (await statuses(k.secret)).every((s) => s === 401), { timeoutMs: 1000, intervalMs: 20, what: 'the revoke' });
    assert.ok(Date.now() - t0 < 1000);
  });

  test('a revoke by `cloudmux keys revoke` (another process) is in force within 1 s', async () => {
    const k = await createKey({ name: 'cli-revoke' });
    assert.deepEqual([...new Set(await statuses(k.secret))], [200]);
    const env = { CMX_ADMIN: ADMIN_KEY, EMU_KEY, CMX_GITOPS_KEY: CONFIG_KEY, CMX_PEPPER: PEPPER, CMX_HMAC: HMAC_KEY };
    const r = cli(['keys', 'revoke', '--config', gw.configPath, k.key.id], env);
    const t0 = Date.now();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`revoked key ${k.key.id} \\(cli-revoke\\)`));
    await eventually(async () => (await statuses(k.secret)).every((s) => s === 401), { timeoutMs: 1000, intervalMs: 20, what: 'the revoke' });
    assert.ok(Date.now() - t0 < 1000);
    // And a key made by the command line works on the running gateway.
    const made = cli(['keys', 'create', '--config', gw.configPath, '--name', 'from-cli', '--models', 'chat', '--json'], env);
    assert.equal(made.status, 0, made.stderr);
    const secret = JSON.parse(made.stdout).secret;
    secrets.push(secret);
    await eventually(async () => (await statuses(secret, 4)).every((s) => s === 200), { timeoutMs: 1000, what: 'the new key' });
  });

  test('a rotated key keeps its old secret for the grace, then only the new one works', async () => {
    const k = await createKey({ name: 'rotating' });
    const r = await admin(gw, 'POST', `/admin/keys/${k.key.id}/rotate`, { grace: '1500ms' });
    assert.equal(r.status, 200, r.body);
    secrets.push(r.json.secret);
    assert.notEqual(r.json.secret, k.secret);
    assert.deepEqual([...new Set(await statuses(k.secret, 4))], [200]);
    assert.deepEqual([...new Set(await statuses(r.json.secret, 4))], [200]);
    await sleep(1600);
    const old = await httpRequest(`${gw.baseURL}/models`, { method: 'GET', headers: { authorization: `Bearer ${k.secret}` } });
    assert.equal(old.status, 401);
    assert.equal(JSON.parse(old.body).error.code, 'key_rotated');
    assert.deepEqual([...new Set(await statuses(r.json.secret, 4))], [200]);
  });
});

describe('records', () => {
  test('the audit log holds every admin action and verifies', async () => {
    await admin(gw, 'GET', '/admin/keys', undefined, { key: 'adm-wrong' });
    await sleep(300); // the failure is recorded off the event loop
    const lines = readFileSync(st.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const actions = new Set(lines.map((l) => l.action));
    for (const a of ['key.created', 'key.revoked', 'key.rotated', 'key.updated', 'key.budget_changed', 'team.created', 'admin.auth_failed'])
      assert.ok(actions.has(a), `no ${a} in the audit log`);
    assert.ok(lines.some((l) => l.actor.startsWith('cli:')), 'the command line is an actor too');
    assert.ok(lines.filter((l) => l.action === 'key.created').every((l) => /^admin:[0-9a-f]{8}$|^cli:/.test(l.actor)));
    lines.forEach((l, i) => assert.equal(l.seq, i + 1));
    const v = cli(['audit', 'verify', st.audit, '--hmac-key', 'env:CMX_HMAC'], { CMX_HMAC: HMAC_KEY });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /ok: .*chain intact; checkpoint .* matches; every HMAC matches/);
  });

  test('spend from the command line and from the admin API are the same numbers', async () => {
    await sleep(300); // the last rows committed
    const q = 'by=day,key,group&format=json';
    const api = await admin(gw, 'GET', `/admin/spend?${q}`);
    assert.equal(api.status, 200);
    const env = { CMX_ADMIN: ADMIN_KEY, EMU_KEY, CMX_GITOPS_KEY: CONFIG_KEY, CMX_PEPPER: PEPPER, CMX_HMAC: HMAC_KEY };
    const c = cli(['spend', '--config', gw.configPath, '--by', 'day,key,group', '--format', 'json'], env);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(JSON.parse(c.stdout), api.json);
    assert.ok(api.json.total.requests > 20);
    const busy = api.json.lines.find((l) => l.key && l.group === 'chat' && l.cost_usd > 0.04);
    assert.ok(busy, 'the busy key is in the report');
    const csv = await admin(gw, 'GET', '/admin/spend?by=provider&format=csv');
    assert.match(csv.headers.get('content-type'), /text\/csv/);
    assert.match(csv.body, /^provider,requests,errors,/);
  });

  test('no secret in any log, metric, error, listing or report', async () => {
    const metrics = await admin(gw, 'GET', '/metrics');
    assert.match(metrics.body, /cloudmux_governance_refusals_total\{reason="budget"\} [1-9]/);
    assert.match(metrics.body, /cloudmux_ledger_rows_written_total [1-9]/);
    const texts = {
      stdout: gw.stdout(),
      stderr: gw.stderr(),
      metrics: metrics.body,
      keys: (await admin(gw, 'GET', '/admin/keys')).body,
      teams: (await admin(gw, 'GET', '/admin/teams')).body,
      spend: (await admin(gw, 'GET', '/admin/spend?by=key,team')).body,
      audit: readFileSync(st.audit, 'utf8'),
      error: (await httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${CONFIG_KEY}x` }, body: hello() })).body,
    };
    for (const [where, text] of Object.entries(texts))
      for (const s of secrets) assert.ok(!text.includes(s), `a secret (${s.slice(0, 8)}…) in ${where}`);
  });
});
