// auth.test.mjs — client keys at the gateway, provider keys upstream.
//
// With server.api_keys set, /v1/* needs one of them as a Bearer token (401 in
// OpenAI's shape otherwise) while the health probes stay open; without it,
// no key is needed.  The client's key is never the one sent upstream: the
// provider's own key is, and a provider rejecting it fails over.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

const CMX_KEY = 'cmx-client-key-5d1e0b';
const EMU_KEY = 'sk-provider-key-93aa11';

let emu;
let secured;
let open;

before(async () => {
  emu = await startEmulator({ key: EMU_KEY });
  const providers = `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
  wrongkey: { type: openai, base_url: "${emu.baseURL}", api_key: "env:WRONG_KEY" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
  keyfail: { targets: [ { provider: wrongkey, model: gpt-4o-mini }, { provider: emu, model: gpt-4o } ] }
`;
  const env = { EMU_KEY, WRONG_KEY: 'sk-not-the-right-one', CMX_TEST_KEY: CMX_KEY };
  secured = await startCloudmux({ env, configYaml: `server: { api_keys: [ "env:CMX_TEST_KEY" ] }\n${providers}` });
  open = await startCloudmux({ env, configYaml: providers });
});

after(async () => {
  await secured?.stop();
  await open?.stop();
  await emu?.close();
});

describe('gateway with api_keys', () => {
  test('no Authorization → 401 OpenAI-shaped', async () => {
    const r = await httpRequest(`${secured.baseURL}/chat/completions`, { body: chatBody('chat', 'x') });
    assert.equal(r.status, 401);
    assertOpenAIError(assert, r.body);
    const m = await httpRequest(`${secured.baseURL}/models`, { method: 'GET' });
    assert.equal(m.status, 401);
  });

  test('wrong key → AuthenticationError from the official client', async () => {
    const c = new OpenAI({ apiKey: 'cmx-wrong', baseURL: secured.baseURL, maxRetries: 0 });
    await assert.rejects(c.chat.completions.create(chatBody('chat', 'x')), OpenAI.AuthenticationError);
    const r = await httpRequest(`${secured.baseURL}/chat/completions`, { headers: { authorization: 'Basic Y214OnNlY3JldA==' }, body: chatBody('chat', 'x') });
    assert.equal(r.status, 401, 'a non-Bearer scheme is refused');
  });

  test('right key → 200, and the provider key (not the client key) goes upstream', async () => {
    emu.resetStats();
    const c = new OpenAI({ apiKey: CMX_KEY, baseURL: secured.baseURL, maxRetries: 0 });
    const r = await c.chat.completions.create(chatBody('chat', 'let me in'));
    assert.equal(r.choices[0].message.content, 'echo: let me in');
    assert.equal(emu.stats().requests[0].auth, 'ok');
  });

  test('health probes need no key', async () => {
    assert.equal((await httpRequest(`${secured.url}/health/live`, { method: 'GET' })).status, 200);
    assert.equal((await httpRequest(`${secured.url}/health/ready`, { method: 'GET' })).status, 200);
  });

  test('keys never reach the logs', () => {
    for (const k of [CMX_KEY, EMU_KEY]) {
      assert.ok(!secured.stdout().includes(k), 'a key in stdout');
      assert.ok(!secured.stderr().includes(k), 'a key in stderr');
    }
  });
});

describe('gateway without api_keys', () => {
  test('no key needed', async () => {
    const r = await httpRequest(`${open.baseURL}/chat/completions`, { body: chatBody('chat', 'anyone') });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'echo: anyone');
    const c = new OpenAI({ apiKey: 'whatever', baseURL: open.baseURL, maxRetries: 0 });
    await c.chat.completions.create(chatBody('chat', 'x'));
  });

  test('a provider rejecting our key fails over to the next target', async () => {
    emu.resetStats();
    const r = await httpRequest(`${open.baseURL}/chat/completions`, { body: chatBody('keyfail', 'x') });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-cloudmux-attempts'], '2');
    assert.deepEqual(emu.stats().requests.map((q) => q.auth), ['wrong', 'ok']);
  });
});
