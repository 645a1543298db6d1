// chat.test.mjs — cloudmux answers chat, embeddings and models like OpenAI.
//
// The official client talks to the gateway, the gateway to the emulator (and
// to its built-in mock provider).  Also checks the response headers that say
// what happened, the health endpoints and the access log (one JSON line per
// request, no secrets, no message content).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, startCloudmux, waitFor } from './helpers.mjs';

const EMU_KEY = 'sk-upstream-secret-7f3a9c';
const SECRET_WORD = 'zebracontent42'; // must never appear in the access log

let emu;
let gw;
let client;

before(async () => {
  emu = await startEmulator({ key: EMU_KEY });
  gw = await startCloudmux({
    env: { EMU_KEY },
    configYaml: `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
  sim: { type: mock, latency: 5ms, failure_rate: 0, stream_chunks: 3 }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
  embed: { targets: [ { provider: emu, model: text-embedding-3-small } ] }
  simulated: { targets: [ { provider: sim, model: mock-1 } ] }
`,
  });
  client = new OpenAI({ apiKey: 'not-checked', baseURL: gw.baseURL, maxRetries: 0, timeout: 10000 });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
});

describe('chat through an openai provider', () => {
  test('answers with the upstream content and usage', async () => {
    emu.resetStats();
    const { data, response } = await client.chat.completions.create(chatBody('chat', 'hello gateway')).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, 'echo: hello gateway');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.deepEqual([data.usage.prompt_tokens, data.usage.completion_tokens, data.usage.total_tokens], [2, 3, 5]);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'emu');
    assert.equal(response.headers.get('x-cloudmux-model'), 'gpt-4o-mini');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '1');
    assert.ok(response.headers.get('x-request-id'), 'x-request-id missing');
    const s = emu.stats();
    assert.equal(s.total, 1);
    assert.equal(s.requests[0].model, 'gpt-4o-mini', 'the upstream model replaces the group name');
    assert.equal(s.requests[0].auth, 'ok', 'the provider key is sent upstream');
  });

  test('echoes the client x-request-id, and generates distinct ones otherwise', async () => {
    const { response } = await client.chat.completions
      .create(chatBody('chat', 'with id'), { headers: { 'x-request-id': 'e2e-req-0001' } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), 'e2e-req-0001');
    const a = await client.chat.completions.create(chatBody('chat', 'a')).withResponse();
    const b = await client.chat.completions.create(chatBody('chat', 'b')).withResponse();
    assert.notEqual(a.response.headers.get('x-request-id'), b.response.headers.get('x-request-id'));
  });

  test('passes tool calls through', async () => {
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
    const r = await client.chat.completions.create({ ...chatBody('chat', 'find it'), tools, tool_choice: 'required' });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.tool_calls[0].function.name, 'lookup');
    assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { q: 'find it' });
  });

  test('passes image content parts through', async () => {
    const r = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'describe' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
    });
    assert.equal(r.choices[0].message.content, 'echo: describe [images: 1]');
    assert.equal(r.usage.prompt_tokens, 1 + 85);
  });

  test('passes unknown fields and max_tokens through to an OpenAI-compatible upstream', async () => {
    const r = await client.chat.completions.create({ ...chatBody('chat', 'one two three four'), max_tokens: 2, user: 'someone' });
    assert.equal(r.choices[0].message.content, 'echo: one');
    assert.equal(r.choices[0].finish_reason, 'length');
  });
});

describe('embeddings and models', () => {
  test('embeddings (client default base64 and explicit float)', async () => {
    const a = await client.embeddings.create({ model: 'embed', input: ['one', 'two words'] });
    assert.equal(a.data.length, 2);
    assert.equal(a.data[0].embedding.length, 8);
    assert.equal(a.usage.prompt_tokens, 3);
    const b = await client.embeddings.create({ model: 'embed', input: 'one', encoding_format: 'float' });
    assert.deepEqual(b.data[0].embedding, a.data[0].embedding);
  });

  test('GET /v1/models lists the model groups', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      assert.equal(m.owned_by, 'cloudmux');
      assert.equal(typeof m.created, 'number');
      ids.push(m.id);
    }
    assert.deepEqual(ids.sort(), ['chat', 'embed', 'simulated']);
    const raw = await httpRequest(`${gw.baseURL}/models`, { method: 'GET' });
    assert.equal(JSON.parse(raw.body).object, 'list');
  });

  test('health endpoints answer 200', async () => {
    for (const p of ['/health/live', '/health/ready']) {
      const r = await httpRequest(gw.url + p, { method: 'GET' });
      assert.equal(r.status, 200, p);
    }
  });
});

describe('mock provider', () => {
  test('answers chat with simulated content', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('simulated', 'hi')).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.match(data.choices[0].message.content, /simulat|mock/i);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'sim');
    assert.equal(typeof data.usage.total_tokens, 'number');
  });

  test('streams stream_chunks content chunks and [DONE]', async () => {
    const stream = await client.chat.completions.create({ ...chatBody('simulated', 'hi'), stream: true });
    const contents = [];
    for await (const c of stream) if (c.choices[0]?.delta?.content) contents.push(c.choices[0].delta.content);
    assert.equal(contents.length, 3);
    assert.match(contents.join(''), /simulat|mock/i);
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('simulated', 'hi'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.events.at(-1), '[DONE]');
    assert.equal(raw.headers['x-cloudmux-provider'], 'sim');
  });
});

describe('access log', () => {
  test('one JSON line per request with the outcome, without secrets or content', async () => {
    const id = 'e2e-log-check-1';
    await client.chat.completions.create(chatBody('chat', `remember ${SECRET_WORD}`), { headers: { 'x-request-id': id } });
    const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === id), { what: 'access log line' });
    assert.equal(line.model, 'chat');
    assert.equal(line.provider, 'emu');
    assert.equal(line.status, 200);
    assert.equal(line.attempts, 1);
    assert.equal(typeof line.latency_ms, 'number');
    // UTC to the millisecond, and the time the request was served.
    assert.match(line.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(line.ts) - Date.now()) < 60_000, `ts ${line.ts} is not now`);
    const out = gw.stdout();
    assert.ok(!out.includes(EMU_KEY), 'provider key in the access log');
    assert.ok(!out.includes(SECRET_WORD), 'message content in the access log');
    assert.ok(!gw.stderr().includes(EMU_KEY), 'provider key in stderr');
    // Every request so far produced a line (the loop above made at least 10).
    assert.ok(gw.accessLog().filter((l) => l.request_id).length >= 10);
  });
});
