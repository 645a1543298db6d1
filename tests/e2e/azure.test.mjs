// azure.test.mjs — Azure OpenAI through cloudmux, as an OpenAI client sees it.
//
// The official `openai` client talks to cloudmux; cloudmux's azure provider
// talks to the Azure emulator (itself checked against the official
// AzureOpenAI client).  Each test looks at both ends: what the client got
// back, and what the emulator received — the deployment in the URL, the
// api-version, which credential, how many token requests.  Credentials come
// three ways (api-key, Entra ID client credentials, managed identity through
// an IMDS endpoint moved to loopback), and none of them may show up in
// cloudmux's output.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, sseEvents, startCloudmux } from './helpers.mjs';

const KEY = 'azure-key-SECRET-e2e-41b7';
const TENANT = 'tenant-e2e';
const CLIENT_ID = 'cloudmux-app';
const CLIENT_SECRET = 'client-secret-SECRET-e2e-9c2d';
const WRONG_SECRET = 'wrong-secret-SECRET-e2e-0000';
let az;
let gpt;
let gw;
let client;

before(async () => {
  az = await startAzure({ key: KEY, tokens: { tenant: TENANT, clients: { [CLIENT_ID]: CLIENT_SECRET }, managedIdentity: { clientId: 'mi-client' } } });
  gpt = await startOpenAI();
  const fast = '{ connect: 1s, first_byte: 2s, idle: 2s, total: 10s }';
  const cc = (secret) => `{ tenant_id: ${TENANT}, client_id: ${CLIENT_ID}, client_secret: ${secret}, authority: "${az.authority}" }`;
  gw = await startCloudmux({
    env: { CMX_TEST_AZURE_KEY: KEY, CMX_TEST_AZURE_SECRET: CLIENT_SECRET, CMX_TEST_AZURE_WRONG: WRONG_SECRET },
    configYaml: `
providers:
  az-key: { type: azure, endpoint: "${az.endpoint}", api_key: env:CMX_TEST_AZURE_KEY, timeouts: ${fast} }
  az-v1: { type: azure, endpoint: "${az.endpoint}", url_style: v1, api_key: env:CMX_TEST_AZURE_KEY, timeouts: ${fast} }
  az-cc: { type: azure, endpoint: "${az.endpoint}", auth: ${cc('env:CMX_TEST_AZURE_SECRET')}, timeouts: ${fast} }
  az-wrong: { type: azure, endpoint: "${az.endpoint}", auth: ${cc('env:CMX_TEST_AZURE_WRONG')}, timeouts: ${fast} }
  az-mi: { type: azure, endpoint: "${az.endpoint}", api_version: 2024-06-01, auth: { managed_identity: true, client_id: mi-client, imds_endpoint: "${az.imdsEndpoint}" }, timeouts: ${fast} }
  gpt: { type: openai, base_url: "${gpt.baseURL}", timeouts: ${fast} }
models:
  azure-chat: { targets: [ { provider: az-key, model: my-deployment } ] }
  azure-emb: { targets: [ { provider: az-key, model: emb-deployment } ] }
  azure-v1: { targets: [ { provider: az-v1, model: gpt-4o-mini } ] }
  azure-cc: { targets: [ { provider: az-cc, model: cc-deployment } ] }
  azure-mi: { targets: [ { provider: az-mi, model: mi-deployment } ] }
  azure-wrong: { targets: [ { provider: az-wrong, model: dep } ] }
  azure-down-to-gpt: { targets: [ { provider: az-key, model: "dep+fault:status=503" }, { provider: gpt, model: gpt-4o-mini } ] }
  azure-auth-to-gpt: { targets: [ { provider: az-wrong, model: dep }, { provider: gpt, model: gpt-4o-mini } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await az?.close();
  await gpt?.close();
});

const lastAzure = () => az.stats().azure.requests.at(-1);
const user = (text) => [{ role: 'user', content: text }];

describe('azure with an api key', () => {
  test('chat goes to the deployment with the api-version and the api-key header', async () => {
    const r = await client.chat.completions.create({ model: 'azure-chat', messages: user('hello azure') });
    assert.equal(r.choices[0].message.content, 'echo: hello azure');
    assert.equal(r.model, 'my-deployment');
    const rec = lastAzure();
    assert.equal(rec.path, '/openai/deployments/my-deployment/chat/completions');
    assert.equal(rec.api_version, '2024-10-21');
    assert.equal(rec.auth, 'key');
    assert.equal(rec.body_model, 'azure-chat', 'the deployments style leaves the body as the client wrote it');
  });

  test('streaming relays every chunk and ends with [DONE]', async () => {
    const stream = await client.chat.completions.create({ model: 'azure-chat', messages: user('one two three four'), stream: true });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'echo: one two three four');
    assert.equal(finish, 'stop');
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('azure-chat', 'raw stream', { stream: true }) });
    assert.equal(raw.status, 200);
    const events = sseEvents(raw.body);
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(events.length > 3);
  });

  test('embeddings go to the deployment embeddings path', async () => {
    const r = await client.embeddings.create({ model: 'azure-emb', input: ['a', 'b', 'c'] });
    assert.equal(r.data.length, 3);
    assert.equal(lastAzure().path, '/openai/deployments/emb-deployment/embeddings');
    assert.ok(r.usage.prompt_tokens > 0);
  });

  test('url_style v1 puts the model in the body and sends no api-version', async () => {
    const r = await client.chat.completions.create({ model: 'azure-v1', messages: user('v1 style') });
    assert.equal(r.choices[0].message.content, 'echo: v1 style');
    const rec = lastAzure();
    assert.equal(rec.path, '/openai/v1/chat/completions');
    assert.equal(rec.api_version, null);
    assert.equal(rec.body_model, 'gpt-4o-mini');
  });

  test('a content-filter refusal is a 400 invalid_request_error', async () => {
    const res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('azure-chat', 'bad words [[azure:content_filter]]') });
    assert.equal(res.status, 400);
    const e = assertOpenAIError(assert, res.body, { type: 'invalid_request_error' });
    assert.match(e.message, /content/i);
    await assert.rejects(client.chat.completions.create({ model: 'azure-chat', messages: user('again [[azure:content_filter]]') }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      return true;
    });
  });

  test('a 200 with finish_reason content_filter passes through as an answer', async () => {
    const r = await client.chat.completions.create({ model: 'azure-chat', messages: user('x [[azure:content_filter_finish]]') });
    assert.equal(r.choices[0].finish_reason, 'content_filter');
    assert.equal(r.choices[0].message.content, null);
  });

  test('a failing azure target fails over to an openai target', async () => {
    const { data: r, response } = await client.chat.completions.create({ model: 'azure-down-to-gpt', messages: user('fail over') }).withResponse();
    assert.equal(r.choices[0].message.content, 'echo: fail over');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
    assert.equal(lastAzure().deployment, 'dep+fault:status=503');
  });
});

describe('azure with Entra ID', () => {
  test('client credentials: one token fetched and reused across requests', async () => {
    az.resetStats();
    const first = await Promise.all([1, 2, 3].map((i) => client.chat.completions.create({ model: 'azure-cc', messages: user(`cc ${i}`) })));
    assert.deepEqual(
      first.map((r) => r.choices[0].message.content),
      ['echo: cc 1', 'echo: cc 2', 'echo: cc 3'],
    );
    for (let i = 0; i < 2; i++) await client.chat.completions.create({ model: 'azure-cc', messages: user('again') });
    const s = az.stats().azure;
    assert.equal(s.token_requests, 1, 'queued requests share one token fetch; later ones reuse the token');
    assert.equal(s.requests.length, 5);
    assert.ok(s.requests.every((r) => r.auth === 'bearer' && r.deployment === 'cc-deployment'));
  });

  test('client credentials: streaming with a token', async () => {
    const stream = await client.chat.completions.create({ model: 'azure-cc', messages: user('streamed with token'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'echo: streamed with token');
  });

  test('a token the resource rejects is forgotten and a new one fetched', async () => {
    await client.chat.completions.create({ model: 'azure-cc', messages: user('warm') });
    az.resetStats();
    az.revokeTokens();
    await assert.rejects(client.chat.completions.create({ model: 'azure-cc', messages: user('revoked') }), (e) => e.status >= 400);
    const r = await client.chat.completions.create({ model: 'azure-cc', messages: user('fresh token') });
    assert.equal(r.choices[0].message.content, 'echo: fresh token');
    assert.equal(az.stats().azure.token_requests, 1);
  });

  test('managed identity through the IMDS endpoint', async () => {
    az.resetStats();
    for (let i = 0; i < 2; i++) {
      const r = await client.chat.completions.create({ model: 'azure-mi', messages: user(`mi ${i}`) });
      assert.equal(r.choices[0].message.content, `echo: mi ${i}`);
    }
    const s = az.stats().azure;
    assert.equal(s.imds_requests, 1);
    assert.equal(s.requests.at(-1).auth, 'bearer');
    assert.equal(s.requests.at(-1).api_version, '2024-06-01');
  });

  test('streaming with an api-version that predates stream_options still works', async () => {
    const stream = await client.chat.completions.create({ model: 'azure-mi', messages: user('old api version'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'echo: old api version');
    assert.equal(lastAzure().status, 'forwarded');
  });

  test('a rejected client secret is a provider_auth error that says why, without the secret', async () => {
    const res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('azure-wrong', 'x') });
    assert.ok(res.status >= 400, `status ${res.status}`);
    assert.match(res.body, /token endpoint/);
    assert.match(res.body, /invalid_client/);
    assert.ok(!res.body.includes(WRONG_SECRET));
  });

  test('a token failure fails over to the next target', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // past the provider's one-second failure hold
    const { data: r, response } = await client.chat.completions.create({ model: 'azure-auth-to-gpt', messages: user('auth fail over') }).withResponse();
    assert.equal(r.choices[0].message.content, 'echo: auth fail over');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
  });
});

describe('secrets', () => {
  test('no key, client secret or token in stdout or stderr', async () => {
    const out = gw.stdout() + gw.stderr();
    for (const s of [KEY, CLIENT_SECRET, WRONG_SECRET]) assert.ok(!out.includes(s), `output contains a secret`);
    assert.ok(!out.includes('eyJ0eXAiOiJKV1Qi'), 'output contains an access token');
  });
});
