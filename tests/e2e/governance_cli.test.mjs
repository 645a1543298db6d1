// governance_cli.test.mjs — `cloudmux keys update` and `cloudmux teams
// create|list|update|disable` against the store of a running gateway: each
// change is in force on the gateway within a second, leaves the audit
// records the admin API leaves (actor cli:USER), and is refused with the
// admin API's own message when a value is wrong or the record belongs to
// the config file.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { ADMIN_KEY, admin, cli, eventually, stateDir } from './governance_helpers.mjs';
import { chatBody, httpRequest, startCloudmux } from './helpers.mjs';

let emu;
let gw;
let st;
const env = { CMX_ADMIN: ADMIN_KEY };

before(async () => {
  emu = await startEmulator();
  st = stateDir();
  gw = await startCloudmux({
    env,
    configYaml: `
server: { admin_keys: [ "env:CMX_ADMIN" ] }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
  chat-large: { targets: [ { provider: emu, model: gpt-4o } ] }
governance: { store: "sqlite://${st.db}", poll: 100ms }
teams:
  gitops-team: { models: [ "chat" ] }
audit: { file: "${st.audit}" }
`,
  });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
  st?.rm();
});

const run = (...args) => cli([...args, '--config', gw.configPath], env);
const chat = (secret, model = 'chat') =>
  httpRequest(`${gw.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${secret}` }, body: chatBody(model, 'hello') });
const auditRecords = () =>
  readFileSync(st.audit, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('cloudmux keys update', () => {
  test('changes a key on the running gateway and records what changed, as PATCH does', async () => {
    const made = run('keys', 'create', '--name', 'updatable', '--json');
    assert.equal(made.status, 0, made.stderr);
    const { key, secret } = JSON.parse(made.stdout);
    await eventually(async () => (await chat(secret, 'chat-large')).status === 200, { timeoutMs: 1000, what: 'the new key' });

    const r = run('keys', 'update', key.id, '--models', 'chat', '--rpm', '50', '--budget', '2', '--period', '7d', '--tag', 'owner=ana');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^updated key ${key.id} \\(updatable\\)`));
    await eventually(async () => (await chat(secret, 'chat-large')).status === 403, { timeoutMs: 1000, what: 'the new models' });
    assert.equal((await chat(secret)).status, 200);
    const now = (await admin(gw, 'GET', `/admin/keys/${key.id}`)).json;
    assert.deepEqual(now.models, ['chat']);
    assert.equal(now.rpm, 50);
    assert.equal(now.budget.usd, 2);
    assert.equal(now.budget.period, '7d');
    assert.deepEqual(now.tags, { owner: 'ana' });

    const recs = auditRecords().filter((x) => x.target === `key:${key.id}`);
    const upd = recs.find((x) => x.action === 'key.updated');
    assert.match(upd.actor, /^cli:/);
    assert.deepEqual(upd.details.changes.models, { from: null, to: ['chat'] });
    assert.deepEqual(upd.details.changes.rpm, { from: null, to: 50 });
    const budget = recs.find((x) => x.action === 'key.budget_changed');
    assert.equal(budget.details.from, null);
    assert.equal(budget.details.to.usd, 2);

    // --clear gives null (every group again, no budget), --disable refuses the key.
    const c = run('keys', 'update', key.id, '--clear', 'models', '--clear', 'budget', '--disable', '--json');
    assert.equal(c.status, 0, c.stderr);
    const after = JSON.parse(c.stdout);
    assert.equal(after.models, null);
    assert.equal(after.budget, null);
    assert.equal(after.disabled, true);
    await eventually(async () => (await chat(secret)).status === 401, { timeoutMs: 1000, what: 'the disabled key' });
    assert.equal(JSON.parse((await chat(secret)).body).error.code, 'key_disabled');
    assert.equal(run('keys', 'update', key.id, '--enable').status, 0);
    await eventually(async () => (await chat(secret, 'chat-large')).status === 200, { timeoutMs: 1000, what: 'the enabled key' });
  });

  test('a wrong value is refused with the admin API\'s message, and nothing changes', async () => {
    const { key } = JSON.parse(run('keys', 'create', '--name', 'strict', '--json').stdout);
    const api = await admin(gw, 'PATCH', `/admin/keys/${key.id}`, { budget: { usd: 1, period: 'weekly' } });
    assert.equal(api.status, 400);
    const r = run('keys', 'update', key.id, '--budget', '1', '--period', 'weekly');
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `cloudmux keys: ${api.json.error.message}`);
    const team = run('keys', 'update', key.id, '--team', 'no-such-team');
    assert.equal(team.status, 1);
    assert.match(team.stderr, /no-such-team/);
    assert.equal(run('keys', 'update', key.id, '--rpm', 'many').status, 2);
    assert.equal(run('keys', 'update', key.id, '--clear', 'nothing').status, 2);
    assert.equal(run('keys', 'update', key.id).status, 2, 'nothing to change');
    assert.equal(run('keys', 'update', 'key_does_not_exist', '--rpm', '1').status, 1);
    assert.equal((await admin(gw, 'GET', `/admin/keys/${key.id}`)).json.updated_at, key.updated_at);
  });
});

describe('cloudmux teams', () => {
  test('create, list, update and disable a team; its keys follow on the running gateway', async () => {
    const c = run('teams', 'create', '--id', 'research', '--name', 'Research', '--models', 'chat*', '--budget', '5', '--period', 'monthly');
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout.trim(), 'created team research (Research)');
    const { secret } = JSON.parse(run('keys', 'create', '--name', 'r1', '--team', 'research', '--json').stdout);
    await eventually(async () => (await chat(secret)).status === 200, { timeoutMs: 1000, what: 'the key in its team' });

    const list = run('teams', 'list');
    assert.equal(list.status, 0);
    assert.match(list.stdout, /^research\s+Research\s+active\s+store\s+\$0\.0000 of \$5\.00 monthly$/m);
    assert.match(list.stdout, /^gitops-team\s+gitops-team\s+active\s+config\s+-$/m);
    // The same listing as the admin API's (spend aside: the gateway also
    // counts what its ledger has not committed yet).
    const brief = (l) => l.data.map((t) => ({ ...t, budget: t.budget && { ...t.budget, spent_usd: undefined } }));
    const listed = JSON.parse(run('teams', 'list', '--json').stdout);
    assert.deepEqual(brief(listed), brief((await admin(gw, 'GET', '/admin/teams')).json));

    const u = run('teams', 'update', 'research', '--models', 'chat-large', '--max-parallel', '3', '--budget', '7', '--period', '7d');
    assert.equal(u.status, 0, u.stderr);
    await eventually(async () => (await chat(secret)).status === 403, { timeoutMs: 1000, what: "the team's new models" });
    assert.equal(JSON.parse((await chat(secret)).body).error.code, 'model_not_allowed');
    assert.equal((await chat(secret, 'chat-large')).status, 200);

    const d = run('teams', 'disable', 'research');
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout.trim(), 'disabled team research (Research)');
    await eventually(async () => (await chat(secret, 'chat-large')).status === 403, { timeoutMs: 1000, what: 'the disabled team' });
    assert.equal(JSON.parse((await chat(secret, 'chat-large')).body).error.code, 'team_disabled');
    assert.match(run('teams', 'list').stdout, /^research\s+Research\s+disabled\s+store/m);

    const recs = auditRecords().filter((x) => x.target === 'team:research');
    assert.deepEqual(
      recs.map((x) => x.action),
      ['team.created', 'team.updated', 'team.budget_changed', 'team.updated'],
    );
    assert.ok(recs.every((x) => /^cli:/.test(x.actor)));
    assert.deepEqual(recs[1].details.changes.max_parallel, { from: null, to: 3 });
    assert.deepEqual(recs[3].details.changes, { disabled: { from: false, to: true } });
    const v = cli(['audit', 'verify', st.audit]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  test('refusals match the admin API: a team of the config file, a missing id, a duplicate', async () => {
    const api = await admin(gw, 'PATCH', '/admin/teams/gitops-team', { rpm: 5 });
    assert.equal(api.status, 409);
    const r = run('teams', 'update', 'gitops-team', '--rpm', '5');
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `cloudmux teams: ${api.json.error.message}`);
    const noId = run('teams', 'create', '--name', 'nameless');
    assert.equal(noId.status, 1);
    assert.match(noId.stderr, /'id' is required/);
    assert.equal(run('teams', 'create', '--id', 'twice').status, 0);
    const again = run('teams', 'create', '--id', 'twice');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /twice/);
    assert.equal(run('teams', 'disable').status, 2, 'which team?');
    assert.equal(run('teams', 'update', 'twice', '--team', 'x').status, 2, 'teams have no team');
    assert.equal(run('teams', 'remove', 'twice').status, 2);
  });
});
