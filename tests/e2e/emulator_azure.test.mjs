// emulator_azure.test.mjs — the Azure OpenAI emulator, judged by the
// official client's AzureOpenAI class.
//
// The gateway's azure tests trust the emulator to behave like an Azure
// OpenAI resource and Entra ID; this file earns that trust: if AzureOpenAI
// (with an api key or an azureADTokenProvider) cannot talk to it, the
// emulator is wrong.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI, { AzureOpenAI } from 'openai';

import { startEmulator } from '../emulators/azure/index.mjs';

const KEY = 'azure-emulator-key';
const TENANT = 'tenant-0001';
const CLIENT_ID = 'app-0001';
const CLIENT_SECRET = 'app-secret-0001';
const API_VERSION = '2024-10-21';
let emu;

before(async () => {
  emu = await startEmulator({ key: KEY, tokens: { tenant: TENANT, clients: { [CLIENT_ID]: CLIENT_SECRET }, managedIdentity: true } });
});
after(async () => {
  await emu.close();
});

const user = (content) => [{ role: 'user', content }];

async function clientCredentialsToken() {
  const r = await fetch(`${emu.authority}/${TENANT}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, scope: 'https://cognitiveservices.azure.com/.default' }),
  });
  return { status: r.status, body: await r.json() };
}

const keyClient = () => new AzureOpenAI({ apiKey: KEY, endpoint: emu.endpoint, apiVersion: API_VERSION, maxRetries: 0, timeout: 5000 });

describe('data plane with an api key (AzureOpenAI)', () => {
  test('chat goes to the deployment named by model, with api-version', async () => {
    emu.resetStats();
    const r = await keyClient().chat.completions.create({ model: 'my-gpt4o', messages: user('hello azure') });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.content, 'echo: hello azure');
    assert.equal(r.model, 'my-gpt4o');
    const rec = emu.stats().azure.requests.at(-1);
    assert.equal(rec.style, 'deployments');
    assert.equal(rec.deployment, 'my-gpt4o');
    assert.equal(rec.api_version, API_VERSION);
    assert.equal(rec.auth, 'key');
  });

  test('streaming ends with the finish chunk and usage when asked', async () => {
    const stream = await keyClient().chat.completions.create({ model: 'dep', messages: user('one two three'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'echo: one two three');
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('api-versions before 2024-09-01 refuse stream_options', async () => {
    const old = new AzureOpenAI({ apiKey: KEY, endpoint: emu.endpoint, apiVersion: '2024-06-01', maxRetries: 0 });
    await assert.rejects(old.chat.completions.create({ model: 'dep', messages: user('x'), stream: true, stream_options: { include_usage: true } }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /stream_options/);
      return true;
    });
    const stream = await old.chat.completions.create({ model: 'dep', messages: user('old version'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'echo: old version');
  });

  test('embeddings by deployment', async () => {
    const r = await keyClient().embeddings.create({ model: 'emb-dep', input: ['a', 'b'] });
    assert.equal(r.data.length, 2);
    assert.equal(emu.stats().azure.requests.at(-1).path, '/openai/deployments/emb-dep/embeddings');
  });

  test('a wrong key is a 401 AuthenticationError', async () => {
    const c = new AzureOpenAI({ apiKey: 'wrong', endpoint: emu.endpoint, apiVersion: API_VERSION, maxRetries: 0 });
    await assert.rejects(c.chat.completions.create({ model: 'dep', messages: user('x') }), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      assert.match(e.message, /Access denied/);
      return true;
    });
  });

  test('the deployments style without api-version is 404 Resource not found', async () => {
    const r = await fetch(`${emu.endpoint}/openai/deployments/dep/chat/completions`, {
      method: 'POST',
      headers: { 'api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: user('x') }),
    });
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.message, 'Resource not found');
  });

  test('the v1 style takes the model from the body (plain OpenAI client)', async () => {
    const c = new OpenAI({ apiKey: 'unused', baseURL: `${emu.endpoint}/openai/v1`, defaultHeaders: { 'api-key': KEY }, maxRetries: 0 });
    const r = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: user('v1 works') });
    assert.equal(r.choices[0].message.content, 'echo: v1 works');
    const rec = emu.stats().azure.requests.at(-1);
    assert.equal(rec.style, 'v1');
    assert.equal(rec.api_version, null);
  });

  test('the Responses API on the v1 surface: responses.create and its stream (plain OpenAI client)', async () => {
    const c = new OpenAI({ apiKey: 'unused', baseURL: `${emu.endpoint}/openai/v1`, defaultHeaders: { 'api-key': KEY }, maxRetries: 0 });
    const r = await c.responses.create({ model: 'my-deployment', input: 'hello responses' });
    assert.equal(r.output_text, 'echo: hello responses');
    assert.equal(r.model, 'my-deployment');
    const stream = c.responses.stream({ model: 'my-deployment', input: 'streamed too' });
    for await (const e of stream) void e;
    assert.equal((await stream.finalResponse()).output_text, 'echo: streamed too');
    const rec = emu.stats().azure.requests.at(-1);
    assert.equal(rec.style, 'v1');
    assert.equal(rec.path, '/openai/v1/responses');
  });

  test('content filter: 400 with code content_filter (BadRequestError)', async () => {
    await assert.rejects(keyClient().chat.completions.create({ model: 'dep', messages: user('bad [[azure:content_filter]]') }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.code, 'content_filter');
      assert.equal(e.param, 'prompt');
      return true;
    });
    emu.setAzureFault('content_filter', { count: 1 });
    await assert.rejects(keyClient().chat.completions.create({ model: 'dep', messages: user('plain') }), (e) => e.status === 400);
    const ok = await keyClient().chat.completions.create({ model: 'dep', messages: user('plain') });
    assert.equal(ok.choices[0].finish_reason, 'stop');
  });

  test('content filter on the answer: 200 with finish_reason content_filter', async () => {
    const r = await keyClient().chat.completions.create({ model: 'dep', messages: user('x [[azure:content_filter_finish]]') });
    assert.equal(r.choices[0].finish_reason, 'content_filter');
    assert.equal(r.choices[0].message.content, null);
  });

  test('OpenAI-emulator faults pass through (status=429)', async () => {
    emu.setFault({ spec: 'status=429,retry_after=1', count: 1 });
    await assert.rejects(keyClient().chat.completions.create({ model: 'dep', messages: user('x') }), (e) => e.status === 429);
  });
});

describe('Entra ID tokens', () => {
  test('client credentials: a token that AzureOpenAI azureADTokenProvider can use', async () => {
    emu.resetStats();
    const { status, body } = await clientCredentialsToken();
    assert.equal(status, 200);
    assert.equal(body.token_type, 'Bearer');
    assert.ok(body.expires_in > 0);
    let calls = 0;
    const c = new AzureOpenAI({
      azureADTokenProvider: async () => {
        calls++;
        return body.access_token;
      },
      endpoint: emu.endpoint,
      apiVersion: API_VERSION,
      maxRetries: 0,
    });
    const r = await c.chat.completions.create({ model: 'dep', messages: user('with a token') });
    assert.equal(r.choices[0].message.content, 'echo: with a token');
    assert.ok(calls >= 1);
    assert.equal(emu.stats().azure.requests.at(-1).auth, 'bearer');
    assert.equal(emu.stats().azure.token_requests, 1);
  });

  test('a wrong client secret is 401 invalid_client without echoing it', async () => {
    const r = await fetch(`${emu.authority}/${TENANT}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: 'nope-secret', scope: 'x/.default' }),
    });
    assert.equal(r.status, 401);
    const b = await r.json();
    assert.equal(b.error, 'invalid_client');
    assert.ok(!JSON.stringify(b).includes('nope-secret'));
  });

  test('a token nobody issued is refused', async () => {
    const c = new AzureOpenAI({ azureADTokenProvider: async () => 'forged', endpoint: emu.endpoint, apiVersion: API_VERSION, maxRetries: 0 });
    await assert.rejects(c.chat.completions.create({ model: 'dep', messages: user('x') }), (e) => e.status === 401);
  });

  test('managed identity: IMDS needs Metadata: true and gives a usable token', async () => {
    const q = `api-version=2018-02-01&resource=${encodeURIComponent('https://cognitiveservices.azure.com')}`;
    const bad = await fetch(`${emu.imdsEndpoint}?${q}`);
    assert.equal(bad.status, 400);
    const r = await fetch(`${emu.imdsEndpoint}?${q}`, { headers: { Metadata: 'true' } });
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.equal(typeof b.expires_in, 'string');
    const c = new AzureOpenAI({ azureADTokenProvider: async () => b.access_token, endpoint: emu.endpoint, apiVersion: API_VERSION, maxRetries: 0 });
    const out = await c.chat.completions.create({ model: 'dep', messages: user('mi') });
    assert.equal(out.choices[0].message.content, 'echo: mi');
  });

  test('a token fault fails the token endpoint once', async () => {
    emu.setTokenFault({ status: 503, count: 1 });
    assert.equal((await clientCredentialsToken()).status, 503);
    assert.equal((await clientCredentialsToken()).status, 200);
  });
});
