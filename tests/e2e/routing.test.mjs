// routing.test.mjs — fallback groups and data residency, end to end.
//
// Emulators stand for an EU and a US deployment.  Residency must hold
// whatever fails: a request restricted to the EU is answered by an EU target
// or fails, and the US emulator never sees it.  Fallback groups take over
// when a group is exhausted, and a context-window error jumps to the
// group's context_window_fallbacks; the x-cloudmux-fallback header says so.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

let eu;
let us;
let claude;
let gw;
let client;

before(async () => {
  eu = await startEmulator();
  us = await startEmulator();
  claude = await startAnthropic({ key: 'sk-ant-routing' });
  gw = await startCloudmux({
    env: { ROUTING_ANTHROPIC_KEY: 'sk-ant-routing' },
    configYaml: `
providers:
  eu-a: { type: openai, base_url: "${eu.baseURL}", residency: eu }
  us-a: { type: openai, base_url: "${us.baseURL}", residency: us }
  claude: { type: anthropic, base_url: "${claude.baseURL}", api_key: env:ROUTING_ANTHROPIC_KEY }
models:
  mixed: { breaker: false, targets: [ { provider: eu-a, model: gpt-4o-mini }, { provider: us-a, model: gpt-4o-mini } ] }
  eu-down: { breaker: false, targets: [ { provider: eu-a, model: "gpt-4o-mini+fault:status=503" }, { provider: us-a, model: gpt-4o-mini } ] }
  eu-only: { residency: eu, breaker: false, targets: [ { provider: us-a, model: gpt-4o-mini }, { provider: eu-a, model: gpt-4o-mini } ] }
  primary: { breaker: false, fallbacks: [ backup ], targets: [ { provider: eu-a, model: "gpt-4o-mini+fault:status=500" } ] }
  backup: { targets: [ { provider: us-a, model: gpt-4o } ] }
  short: { breaker: false, context_window_fallbacks: [ long ], targets: [ { provider: claude, model: claude-small+fault:prompt_too_long } ] }
  long: { targets: [ { provider: eu-a, model: gpt-4.1-mini } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await eu?.close();
  await us?.close();
  await claude?.close();
});

const post = (model, headers = {}) => httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody(model, 'where am I?'), headers });

describe('data residency', () => {
  test('the x-cloudmux-residency header keeps a healthy request in its region', async () => {
    us.resetStats();
    const r = await post('mixed', { 'x-cloudmux-residency': 'eu' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-cloudmux-provider'], 'eu-a');
    assert.equal(us.stats().total, 0);
  });

  test('when the EU target fails, the request fails rather than leave the EU', async () => {
    us.resetStats();
    const r = await post('eu-down', { 'x-cloudmux-residency': 'eu' });
    assert.equal(r.status, 503, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.deepEqual(e.attempts.map((a) => a.provider), ['eu-a']);
    assert.equal(us.stats().total, 0, 'an EU request reached the US deployment');
    // Without the header the same group fails over to the US as configured.
    const open = await post('eu-down');
    assert.equal(open.status, 200);
    assert.equal(open.headers['x-cloudmux-provider'], 'us-a');
  });

  test("a group's own residency filters its targets", async () => {
    us.resetStats();
    const r = await post('eu-only');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-cloudmux-provider'], 'eu-a');
    assert.equal(r.headers['x-cloudmux-attempts'], '1');
    assert.equal(us.stats().total, 0);
  });

  test('a region no target is in is refused with 403 naming the rule, and nothing is sent', async () => {
    eu.resetStats();
    us.resetStats();
    const r = await post('mixed', { 'x-cloudmux-residency': 'ap' });
    assert.equal(r.status, 403, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /residency 'ap'.*x-cloudmux-residency/);
    assert.equal(eu.stats().total + us.stats().total, 0);
    await assert.rejects(
      client.chat.completions.create(chatBody('eu-only', 'x'), { headers: { 'x-cloudmux-residency': 'us' } }),
      OpenAI.PermissionDeniedError,
    );
  });

  test('a malformed residency tag is a 400', async () => {
    const r = await post('mixed', { 'x-cloudmux-residency': 'EU West' });
    assert.equal(r.status, 400, r.body);
  });
});

describe('fallback groups', () => {
  test('an exhausted group continues with its fallbacks, and the header names the group', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('primary', 'x')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: x');
    assert.equal(response.headers.get('x-cloudmux-fallback'), 'backup');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'us-a');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
  });

  test('a context-window error goes to context_window_fallbacks', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('short', 'a long story')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: a long story');
    assert.equal(response.headers.get('x-cloudmux-fallback'), 'long');
    assert.equal(response.headers.get('x-cloudmux-model'), 'gpt-4.1-mini');
  });

  test('no fallback header when the asked group answered', async () => {
    const { response } = await client.chat.completions.create(chatBody('mixed', 'x')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-fallback'), null);
  });
});

describe('shadow traffic', () => {
  test('mirrors requests to the standby without delaying or changing the answer', async () => {
    const standby = await startEmulator();
    const gw2 = await startCloudmux({
      configYaml: `
providers:
  live: { type: openai, base_url: "${eu.baseURL}" }
  standby: { type: openai, base_url: "${standby.baseURL}" }
models:
  warm: { shadow: { provider: standby, model: "gpt-4o+fault:delay ms=400", percent: 100 }, targets: [ { provider: live, model: gpt-4o-mini } ] }
  hung: { shadow: { provider: standby, model: "gpt-4o+fault:hang", percent: 100 }, targets: [ { provider: live, model: gpt-4o-mini } ] }
`,
    });
    try {
      const c = new OpenAI({ apiKey: 'unused', baseURL: gw2.baseURL, maxRetries: 0 });
      const t0 = performance.now();
      const { data, response } = await c.chat.completions.create(chatBody('warm', 'mirror me')).withResponse();
      const took = performance.now() - t0;
      assert.equal(data.choices[0].message.content, 'echo: mirror me');
      assert.equal(response.headers.get('x-cloudmux-provider'), 'live');
      assert.ok(took < 350, `the answer waited for the 400 ms shadow (${took} ms)`);
      // The standby received the same request.
      await new Promise((r) => setTimeout(r, 100));
      const mirrored = standby.stats().requests.filter((r) => r.model?.startsWith('gpt-4o+fault:delay'));
      assert.equal(mirrored.length, 1);
      // A standby that never answers changes nothing for the client, and
      // the gateway still shuts down cleanly with that mirror in flight.
      const hung = await c.chat.completions.create(chatBody('hung', 'still fine'));
      assert.equal(hung.choices[0].message.content, 'echo: still fine');
    } finally {
      await gw2.stop();
      await standby.close();
    }
  });
});

describe('residency per API key', () => {
  test('a key tied to a region keeps its requests there; other keys are free', async () => {
    const gw3 = await startCloudmux({
      env: { K_EU: 'sk-eu-team', K_ANY: 'sk-global-team' },
      configYaml: `
server:
  api_keys:
    - { key: env:K_EU, residency: eu }
    - env:K_ANY
providers:
  eu-a: { type: openai, base_url: "${eu.baseURL}", residency: eu }
  us-a: { type: openai, base_url: "${us.baseURL}", residency: us }
models:
  eu-down: { breaker: false, targets: [ { provider: eu-a, model: "gpt-4o-mini+fault:status=503" }, { provider: us-a, model: gpt-4o-mini } ] }
`,
    });
    try {
      const ask = (key, headers = {}) =>
        httpRequest(`${gw3.baseURL}/chat/completions`, { body: chatBody('eu-down', 'x'), headers: { authorization: `Bearer ${key}`, ...headers } });
      us.resetStats();
      const bound = await ask('sk-eu-team');
      assert.equal(bound.status, 503, bound.body);
      assert.equal(us.stats().total, 0, 'an EU-bound key reached the US deployment');
      const free = await ask('sk-global-team');
      assert.equal(free.status, 200, free.body);
      assert.equal(free.headers['x-cloudmux-provider'], 'us-a');
      const conflict = await ask('sk-eu-team', { 'x-cloudmux-residency': 'us' });
      assert.equal(conflict.status, 403, conflict.body);
      assert.match(JSON.parse(conflict.body).error.message, /API key/);
      assert.ok(!gw3.stdout().includes('sk-eu-team') && !gw3.stderr().includes('sk-eu-team'));
    } finally {
      await gw3.stop();
    }
  });
});
