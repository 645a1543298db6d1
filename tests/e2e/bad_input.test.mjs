// bad_input.test.mjs — every kind of bad input gets a clear OpenAI-shaped error.
//
// Bad requests from the client (malformed JSON, wrong types, missing fields,
// unknown model, oversize body, wrong method or path, broken HTTP) and bad
// answers from the upstream (invalid JSON, wrong content type, truncated
// stream) each get the right status and an {"error":{...}} body — and none
// of them takes the gateway down.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, rawRequest, startCloudmux } from './helpers.mjs';

let emu;
let gw;
let client;
const MAX_BODY = 8192;

before(async () => {
  emu = await startEmulator();
  gw = await startCloudmux({
    configYaml: `
server: { max_body_bytes: ${MAX_BODY} }
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
models:
  chat: { targets: [ { provider: emu, model: gpt-4o-mini } ] }
  brokenjson: { targets: [ { provider: emu, model: "gpt-4o-mini+fault:invalid_json" } ] }
  htmlpage: { targets: [ { provider: emu, model: "gpt-4o-mini+fault:wrong_content_type" } ] }
  garbage: { targets: [ { provider: emu, model: "gpt-4o-mini+fault:garbage_sse" } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 10000 });
});

// After every bad input the gateway must still answer a good one.
afterEach(async () => {
  assert.ok(gw.alive(), 'the gateway died');
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'still ok') });
  assert.equal(r.status, 200, `follow-up request failed: ${r.status} ${r.body}`);
});

after(async () => {
  assert.ok(gw?.alive(), 'the gateway died');
  await gw?.stop();
  await emu?.close();
});

const post = (body, headers = {}) => httpRequest(`${gw.baseURL}/chat/completions`, { body, headers });

describe('client mistakes', () => {
  test('malformed JSON → 400', async () => {
    for (const body of ['{"model":"chat","messages":[', 'not json at all', '{"model":"chat","messages":[],}', '']) {
      const r = await post(body);
      assert.equal(r.status, 400, `body ${JSON.stringify(body)} → ${r.status}`);
      assertOpenAIError(assert, r.body, { type: 'invalid_request_error' });
    }
  });

  test('messages not an array → 400', async () => {
    const r = await post({ model: 'chat', messages: 'hello' });
    assert.equal(r.status, 400);
    const e = assertOpenAIError(assert, r.body, { type: 'invalid_request_error' });
    assert.match(e.message, /messages/);
  });

  test('a message without role → 400', async () => {
    const r = await post({ model: 'chat', messages: [{ content: 'who am i' }] });
    assert.equal(r.status, 400);
    assert.match(assertOpenAIError(assert, r.body).message, /role/);
  });

  test('missing model → 400', async () => {
    const r = await post({ messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 400);
    assert.match(assertOpenAIError(assert, r.body).message, /model/);
  });

  test('unknown model → 404 naming the available groups', async () => {
    const r = await post(chatBody('no-such-model', 'x'));
    assert.equal(r.status, 404);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /no-such-model/);
    for (const g of ['chat', 'brokenjson', 'htmlpage']) assert.ok(e.message.includes(g), `"${g}" not named in: ${e.message}`);
    await assert.rejects(client.chat.completions.create(chatBody('no-such-model', 'x')), OpenAI.NotFoundError);
  });

  test('body over server.max_body_bytes → 413', async () => {
    const r = await post(chatBody('chat', 'x'.repeat(MAX_BODY * 2)));
    assert.equal(r.status, 413);
    assertOpenAIError(assert, r.body);
  });

  test('GET /v1/chat/completions → 405', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { method: 'GET' });
    assert.equal(r.status, 405);
    assertOpenAIError(assert, r.body);
  });

  test('unknown path → 404', async () => {
    for (const p of ['/v1/nope', '/nothing-here']) {
      const r = await httpRequest(gw.url + p, { method: 'GET' });
      assert.equal(r.status, 404, p);
      assertOpenAIError(assert, r.body);
    }
  });

  test('garbage instead of HTTP → 400', async () => {
    const r = await rawRequest(gw.port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.equal(r.status, 400, r.raw);
  });

  test('Content-Length together with Transfer-Encoding → 400', async () => {
    const body = JSON.stringify(chatBody('chat', 'x'));
    const r = await rawRequest(
      gw.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    assert.equal(r.status, 400, r.raw);
  });

  test('a client that disconnects mid-body does no harm', async () => {
    const r = await rawRequest(gw.port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"model":"chat"', { timeoutMs: 200 });
    assert.equal(r.ended, 'timeout');
  });
});

describe('upstream mistakes', () => {
  test('upstream answers invalid JSON with 200 → 502', async () => {
    const r = await post(chatBody('brokenjson', 'x'));
    assert.equal(r.status, 502, r.body);
    assertOpenAIError(assert, r.body);
  });

  test('upstream answers text/html → 502', async () => {
    const r = await post(chatBody('htmlpage', 'x'));
    assert.equal(r.status, 502, r.body);
    assertOpenAIError(assert, r.body);
  });

  test('upstream streams garbage before any good chunk → 502, nothing relayed', async () => {
    const r = await post({ ...chatBody('garbage', 'x'), stream: true });
    assert.equal(r.status, 502, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.equal(e.attempts[0].error, 'upstream_protocol', r.body);
    assert.match(e.attempts[0].message, /not valid JSON/, r.body);
  });

  test('upstream truncates a stream → error event, no [DONE]', async () => {
    const r = await post({ ...chatBody('chat', 'a b c d [[fault:cut_stream after=2]]'), stream: true });
    assert.equal(r.status, 200);
    assert.ok(!r.events.includes('[DONE]'), r.body);
    assert.ok(r.events.at(-1)?.error, `no error event at the end:\n${r.body}`);
  });
});
