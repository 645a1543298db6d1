// emulator_openai.test.mjs — the OpenAI emulator, judged by the official client.
//
// The gateway tests trust the emulator to behave like api.openai.com; this
// file earns that trust.  If the official `openai` client cannot talk to the
// emulator, the emulator is wrong.  It also pins down what the client does
// with each fault, since the gateway tests rely on the same behaviour.

import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { httpRequest, makeCerts } from './helpers.mjs';

const KEY = 'sk-emulator-test-key';
let emu;
let client;

before(async () => {
  emu = await startEmulator({ key: KEY });
  client = new OpenAI({ apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0, timeout: 5000 });
});
after(async () => {
  await emu.close();
});

const user = (content) => [{ role: 'user', content }];
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
};

describe('answers', () => {
  test('chat completion echoes the last user message with word-count usage', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'be brief' }, ...user('hello big world')] });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'echo: hello big world');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [5, 4, 9]);
  });

  test('max_tokens truncates the answer with finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 2, messages: user('one two three four') });
    assert.equal(r.choices[0].message.content, 'echo: one');
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('stream with include_usage: role delta, content deltas, finish, usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: user('alpha beta gamma'),
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'echo: alpha beta gamma');
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finish.length, 1);
    assert.equal(finish[0].choices[0].finish_reason, 'stop');
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens], [3, 4]);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  test('stream without include_usage has no usage chunk and ends with [DONE]', async () => {
    const r = await httpRequest(`${emu.baseURL}/chat/completions`, {
      headers: { authorization: `Bearer ${KEY}` },
      body: { model: 'gpt-4o-mini', stream: true, messages: user('x y') },
    });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    assert.equal(r.events.at(-1), '[DONE]');
    const objs = r.events.slice(0, -1);
    assert.ok(objs.every((c) => c.object === 'chat.completion.chunk' && !('usage' in c)));
    assert.equal(objs.length, 5); // role, "echo:", " x", " y", finish
  });

  test('embeddings: the client default (base64) decodes to deterministic unit vectors', async () => {
    const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['the cat', 'a dog sat'] });
    const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'the cat', encoding_format: 'float' });
    assert.equal(a.data.length, 2);
    assert.equal(a.data[0].embedding.length, 8);
    assert.equal(a.usage.prompt_tokens, 5);
    assert.deepEqual(a.data[0].embedding, b.data[0].embedding);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    const norm = Math.sqrt(a.data[1].embedding.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    const c = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', dimensions: 32 });
    assert.equal(c.data[0].embedding.length, 32);
  });

  test('models list', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('gpt-4o-mini'));
    const one = await client.models.retrieve('gpt-4o');
    assert.equal(one.id, 'gpt-4o');
  });

  test('image parts are accepted and counted (85 tokens each)', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
    });
    assert.equal(r.choices[0].message.content, 'echo: what is this [images: 1]');
    assert.equal(r.usage.prompt_tokens, 3 + 85);
  });
});

describe('tool calls', () => {
  test('tool_choice required returns a tool_calls message', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: [weatherTool], tool_choice: 'required', messages: user('Paris') });
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.content, null);
    assert.equal(m.tool_calls.length, 1);
    assert.equal(m.tool_calls[0].type, 'function');
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris', days: 1 });
    // Second turn: the tool result comes back, the answer is text.
    const r2 = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: [weatherTool],
      messages: [...user('Paris'), m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: 'sunny' }],
    });
    assert.equal(r2.choices[0].message.content, 'echo: tool result: sunny');
  });

  test('streamed tool call deltas assemble in the client helper', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o-mini', tools: [weatherTool], messages: user('Oslo [[tool]]') });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo', days: 1 });
  });

  test('no tool call without a reason to call one', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: [weatherTool], messages: user('hi') });
    assert.equal(r.choices[0].message.tool_calls, undefined);
  });
});

describe('errors the client maps', () => {
  test('wrong key → AuthenticationError (401, invalid_api_key)', async () => {
    const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: emu.baseURL, maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: user('x') }), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'invalid_api_key');
      return true;
    });
  });

  test('invalid request → BadRequestError with param', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ content: 'no role' }] }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, 'messages[0].role');
      return true;
    });
    const raw = await httpRequest(`${emu.baseURL}/chat/completions`, { headers: { authorization: `Bearer ${KEY}` }, body: '{"model":' });
    assert.equal(raw.status, 400);
    assert.deepEqual(Object.keys(JSON.parse(raw.body).error).sort(), ['code', 'message', 'param', 'type']);
  });

  test('429 with retry-after (model suffix) → RateLimitError carrying the header', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini+fault:status=429,retry_after=2', messages: user('x') }), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError);
      assert.equal(e.headers.get('retry-after'), '2');
      assert.equal(e.code, 'rate_limit_exceeded');
      return true;
    });
  });

  test('run fault with count applies once; the retrying client then succeeds', async () => {
    emu.resetStats();
    emu.setFault({ fault: 'status', status: 503, retry_after_ms: 10, count: 1 });
    const retrying = new OpenAI({ apiKey: KEY, baseURL: emu.baseURL, maxRetries: 1 });
    const r = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: user('again') });
    assert.equal(r.choices[0].message.content, 'echo: again');
    const s = emu.stats();
    assert.equal(s.by_path['/v1/chat/completions'], 2);
    assert.deepEqual(s.requests.map((q) => q.status), [503, 200]);
  });

  test('control endpoint sets and clears run faults over HTTP', async () => {
    const set = await httpRequest(`${emu.url}/_emulator/faults`, { body: { spec: 'status=500', path: '/v1/embeddings' } });
    assert.equal(set.status, 200);
    await assert.rejects(client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }), OpenAI.InternalServerError);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('unaffected') });
    const del = await httpRequest(`${emu.url}/_emulator/faults`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    const bad = await httpRequest(`${emu.url}/_emulator/faults`, { body: { fault: 'nonsense' } });
    assert.equal(bad.status, 400);
    const stats = await httpRequest(`${emu.url}/_emulator/stats`, { method: 'GET' });
    assert.ok(JSON.parse(stats.body).total > 0);
  });
});

describe('faults as the client sees them', () => {
  test('hang → the client times out (APIConnectionTimeoutError)', async () => {
    const quick = new OpenAI({ apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0, timeout: 300 });
    await assert.rejects(quick.chat.completions.create({ model: 'gpt-4o-mini+fault:hang', messages: user('x') }), OpenAI.APIConnectionTimeoutError);
  });

  test('reset → APIConnectionError', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('x [[fault:reset]]') }), OpenAI.APIConnectionError);
  });

  test('reset after some body bytes → the client fails', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: user('x [[fault:reset after_bytes=20]]') }));
  });

  test('stream cut with a clean end: the client iteration ends quietly after the first chunks', async () => {
    // This is why a gateway must turn an upstream cut into an error event:
    // the official client cannot tell a cleanly ended truncated stream from a whole one.
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('a b c d e [[fault:cut_stream after=3]]') });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every((c) => c.choices[0].finish_reason === null));
  });

  test('stream cut by a socket destroy: the client iteration throws', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('a b c d e [[fault:cut_stream after=2 mode=destroy]]') });
    const chunks = [];
    await assert.rejects(async () => {
      for await (const c of stream) chunks.push(c);
    });
    assert.equal(chunks.length, 2);
  });

  test('an SSE error event makes the client throw APIError mid-stream', async () => {
    // The shape the gateway uses after the first byte; checked here against the client.
    const { createServer } = await import('node:http');
    const srv = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n');
      res.end('data: {"error":{"message":"upstream stream cut","type":"api_error","param":null,"code":"upstream_stream_cut"}}\n\n');
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const c = new OpenAI({ apiKey: 'x', baseURL: `http://127.0.0.1:${srv.address().port}/v1`, maxRetries: 0 });
      const stream = await c.chat.completions.create({ model: 'm', stream: true, messages: user('x') });
      const seen = [];
      await assert.rejects(
        async () => {
          for await (const ch of stream) seen.push(ch);
        },
        (e) => e instanceof OpenAI.APIError && /stream cut/.test(e.message),
      );
      assert.equal(seen.length, 1);
    } finally {
      srv.close();
    }
  });

  test('slow stream spaces chunks by interval_ms (emulator timestamps)', async () => {
    emu.resetStats();
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('a b [[fault:slow interval_ms=60]]') });
    for await (const _ of stream);
    const rec = emu.stats().requests[0];
    assert.equal(rec.chunks_sent, 5);
    assert.ok(rec.chunk_times.at(-1) - rec.chunk_times[0] >= 4 * 60 - 5);
  });

  test('invalid JSON with 200 → the client throws', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini+fault:invalid_json', messages: user('x') }));
  });

  test('wrong content type → the client hands back the text, not a completion', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini+fault:wrong_content_type', messages: user('x') });
    assert.equal(typeof r, 'string');
    assert.match(r, /<html>/);
  });

  test('garbage SSE → the client throws on the first bad event', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('x [[fault:garbage_sse]]') });
    await assert.rejects(async () => {
      for await (const _ of stream);
    });
  });
});

describe('tls', () => {
  let certs;
  let temu;
  before(async () => {
    certs = makeCerts();
    temu = await startEmulator({ key: KEY, tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
  });
  after(async () => {
    await temu.close();
    certs.rm();
  });

  test('serves HTTPS with a certificate the test CA verifies for localhost and 127.0.0.1', async () => {
    const ca = readFileSync(certs.caFile);
    for (const host of ['localhost', '127.0.0.1']) {
      const body = await new Promise((resolve, reject) => {
        https
          .get({ host, port: temu.port, path: '/v1/models', ca, headers: { authorization: `Bearer ${KEY}` } }, (res) => {
            let t = '';
            res.on('data', (d) => (t += d));
            res.on('end', () => resolve(t));
          })
          .on('error', reject);
      });
      assert.equal(JSON.parse(body).object, 'list');
    }
  });

  test('an untrusted client is refused by certificate verification', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => https.get({ host: 'localhost', port: temu.port, path: '/v1/models' }, resolve).on('error', reject)),
      (e) => /self.signed|unable to (verify|get local issuer)/i.test(e.message),
    );
  });
});

describe('the Responses API', () => {
  const fnTool = { type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: weatherTool.function.parameters, strict: false };

  test('responses.create answers with a message item, output_text and usage', async () => {
    const r = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'be brief', input: 'hello big world' });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'echo: hello big world');
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.usage.input_tokens, 5);
    assert.equal(r.usage.output_tokens, 4);
    assert.equal(r.usage.total_tokens, 9);
  });

  test('max_output_tokens cuts the answer: status incomplete, reason max_output_tokens', async () => {
    const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: long, max_output_tokens: 16 });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.output_text.split(' ').length, 16);
  });

  test('a required function tool gives a function_call item', async () => {
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'Paris' }], tools: [fnTool], tool_choice: 'required' });
    const call = r.output.find((o) => o.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris', days: 1 });
  });

  test('a function_call_output is answered in text', async () => {
    const r = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: 'Paris' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      ],
      tools: [fnTool],
    });
    assert.equal(r.output_text, 'echo: tool result: sunny');
  });

  test('text.format json_schema answers JSON that follows the schema', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, warm: { type: 'boolean' } }, required: ['city', 'warm'], additionalProperties: false };
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Rome', text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } } });
    assert.deepEqual(JSON.parse(r.output_text), { city: 'Rome', warm: true });
  });

  test('responses.stream: the SDK accumulates the event sequence into the final response', async () => {
    const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'one two three' });
    const types = [];
    let text = '';
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'response.output_text.delta') text += e.delta;
    }
    const final = await stream.finalResponse();
    assert.equal(text, 'echo: one two three');
    assert.equal(final.output_text, 'echo: one two three');
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  });

  test('a streamed function call: argument deltas assemble into the final arguments', async () => {
    const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'Oslo', tools: [fnTool], tool_choice: 'required' });
    let deltas = 0;
    for await (const e of stream) if (e.type === 'response.function_call_arguments.delta') deltas++;
    const final = await stream.finalResponse();
    assert.ok(deltas > 1);
    assert.deepEqual(JSON.parse(final.output[0].arguments), { city: 'Oslo', days: 1 });
  });

  test('a failure mid-stream: an error event, then response.failed the SDK reports', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o-mini+fault:error_event,after=4', input: 'x y', stream: true });
    const types = [];
    for await (const e of stream) types.push(e.type);
    assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
    assert.ok(!types.includes('response.completed'));
  });

  test('previous_response_id points at nothing the emulator stored: 404', async () => {
    await assert.rejects(client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_nope' }), (e) => e.status === 404);
  });
});
