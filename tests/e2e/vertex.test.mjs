// vertex.test.mjs — Gemini on Vertex AI through cloudmux, as an OpenAI client
// sees it.
//
// The official `openai` client talks to cloudmux; cloudmux's vertex provider
// signs a JWT with a service-account key generated here, trades it for an
// access token at the Vertex emulator's token endpoint (which verifies the
// signature) and calls the emulator's Gemini endpoints with it (the emulator
// is itself checked against the official @google/genai client).  Each test
// looks at both ends: what the client got back in the OpenAI format and what
// the emulator received in Gemini's.  Faults are per model name in the
// emulator, so a group can fail over from a broken Gemini to a healthy one.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { makeServiceAccount, startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux, tempDir } from './helpers.mjs';

const MODEL = 'gemini-2.5-flash';
let sa;
let vertex;
let counted;
let short;
let gpt;
let gw;
let client;

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

function keyFile(dir, name, key) {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(key, null, 2), { mode: 0o600 });
  return path;
}

before(async () => {
  sa = makeServiceAccount();
  vertex = await startVertex({ serviceAccount: sa });
  counted = await startVertex({ serviceAccount: sa });
  short = await startVertex({ serviceAccount: sa, tokenTTL: 3 });
  gpt = await startOpenAI();
  const dir = tempDir('cmx-vertex-');
  const saFile = keyFile(dir, 'sa.json', { ...sa, token_uri: vertex.tokenURL });
  const countedFile = keyFile(dir, 'sa-counted.json', { ...sa, token_uri: counted.tokenURL });
  const shortFile = keyFile(dir, 'sa-short.json', { ...sa, token_uri: short.tokenURL });
  const strangerFile = keyFile(dir, 'stranger.json', { ...makeServiceAccount({ email: sa.client_email }), token_uri: vertex.tokenURL });
  vertex.setFault({ spec: 'status=503', model: 'gemini-down' });
  vertex.setFault({ spec: 'status=429', model: 'gemini-limited', retry_after: 7 });
  vertex.setFault({ spec: 'safety', model: 'gemini-safety' });
  vertex.setFault({ spec: 'blocked', model: 'gemini-blocked' });
  vertex.setFault({ spec: 'cut_stream', model: 'gemini-cut', after: 2 });
  vertex.setFault({ spec: 'too_long', model: 'gemini-long' });
  vertex.setFault({ spec: 'cut_stream', model: 'claude-cut', after: 6 });
  vertex.setFault({ spec: 'status=529', model: 'claude-down' });
  const fast = '{ connect: 1s, first_byte: 2s, idle: 2s, total: 10s }';
  const common = `project: emu-project, location: us-central1, timeouts: ${fast}`;
  gw = await startCloudmux({
    configYaml: `
providers:
  gemini: { type: vertex, ${common}, endpoint_url: "${vertex.baseURL}", service_account_file: "${saFile}" }
  gemini-lenient: { type: vertex, ${common}, endpoint_url: "${vertex.baseURL}", service_account_file: "${saFile}", drop_unsupported_params: true }
  gemini-counted: { type: vertex, ${common}, endpoint_url: "${counted.baseURL}", service_account_file: "${countedFile}" }
  gemini-meta: { type: vertex, ${common}, endpoint_url: "${counted.baseURL}", metadata_server: true, metadata_url: "${counted.metadataURL}" }
  gemini-short: { type: vertex, ${common}, endpoint_url: "${short.baseURL}", service_account_file: "${shortFile}" }
  gemini-stranger: { type: vertex, ${common}, endpoint_url: "${vertex.baseURL}", service_account_file: "${strangerFile}" }
  gpt: { type: openai, base_url: "${gpt.baseURL}", timeouts: ${fast} }
models:
  gemini: { targets: [ { provider: gemini, model: ${MODEL} } ] }
  lenient: { targets: [ { provider: gemini-lenient, model: ${MODEL} } ] }
  counted: { targets: [ { provider: gemini-counted, model: ${MODEL} } ] }
  meta: { targets: [ { provider: gemini-meta, model: ${MODEL} } ] }
  claude: { targets: [ { provider: gemini, model: "claude-sonnet-4-5@20250929" } ] }
  claude-cut: { targets: [ { provider: gemini, model: claude-cut } ] }
  claude-down-to-gemini: { targets: [ { provider: gemini, model: claude-down }, { provider: gemini, model: ${MODEL} } ] }
  embed: { targets: [ { provider: gemini, model: text-embedding-005 } ] }
  short: { targets: [ { provider: gemini-short, model: ${MODEL} } ] }
  stranger: { targets: [ { provider: gemini-stranger, model: ${MODEL} } ] }
  down-to-gpt: { targets: [ { provider: gemini, model: gemini-down }, { provider: gpt, model: gpt-4o-mini } ] }
  limited: { targets: [ { provider: gemini, model: gemini-limited } ] }
  safety: { targets: [ { provider: gemini, model: gemini-safety } ] }
  blocked: { targets: [ { provider: gemini, model: gemini-blocked } ] }
  cut: { targets: [ { provider: gemini, model: gemini-cut } ] }
  toolong: { targets: [ { provider: gemini, model: gemini-long }, { provider: gpt, model: gpt-4o-mini } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await vertex?.close();
  await counted?.close();
  await short?.close();
  await gpt?.close();
});

const lastRec = (emu) => emu.stats().requests.at(-1);

describe('chat through the vertex provider', () => {
  test('a chat completion comes back in the OpenAI format, and Vertex got Gemini with a bearer token', async () => {
    const { data: r, response } = await client.chat.completions
      .create({ model: 'gemini', temperature: 0.5, max_tokens: 50, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello big world' }] })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-emu-/);
    assert.equal(r.model, `${MODEL}-emulated-001`);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'echo: hello big world');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [5, 4, 9]);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gemini');

    const rec = lastRec(vertex);
    assert.equal(rec.path, `/v1/projects/emu-project/locations/us-central1/publishers/google/models/${MODEL}:generateContent`);
    assert.equal(rec.auth, 'ok');
    assert.deepEqual(rec.body, {
      contents: [{ role: 'user', parts: [{ text: 'hello big world' }] }],
      systemInstruction: { parts: [{ text: 'be brief' }] },
      generationConfig: { temperature: 0.5, maxOutputTokens: 50 },
    });
  });

  test('max_tokens reached is finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: 'gemini', max_tokens: 2, messages: [{ role: 'user', content: 'one two three' }] });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].message.content, 'echo: one');
  });

  test('a stream: role first, content word by word, finish reason, usage chunk when asked, then [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'gemini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'streamed words here' }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'echo: streamed words here');
    assert.deepEqual(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason), ['stop']);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens], [3, 4, 7]);
    const rec = lastRec(vertex);
    assert.match(rec.path, /:streamGenerateContent$/);
    assert.equal(rec.alt, 'sse');
  });

  test('a stream without include_usage has no usage chunk but ends with [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('gemini', 'plain stream'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.events.at(-1), '[DONE]');
    const objs = raw.events.filter((e) => typeof e === 'object');
    assert.ok(objs.every((c) => c.choices.length === 1), 'a usage chunk was sent unasked');
    assert.equal(objs.map((c) => c.choices[0].delta.content ?? '').join(''), 'echo: plain stream');
  });

  test('tool calls: declarations and ANY go over, functionCall comes back as tool_calls, the result round-trips with its name', async () => {
    const r = await client.chat.completions.create({ model: 'gemini', tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'Paris' }] });
    const sent = lastRec(vertex).body;
    assert.deepEqual(sent.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
    assert.deepEqual(sent.tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Weather for a city', parameters: weatherTool.function.parameters }] }]);
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.tool_calls.length, 1);
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris' });

    const r2 = await client.chat.completions.create({
      model: 'gemini',
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Paris' }, m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: '{"temp":18}' }],
    });
    assert.equal(r2.choices[0].message.content, 'tool result: {"temp":18}');
    const turns = lastRec(vertex).body.contents;
    assert.deepEqual(turns[1], { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] });
    assert.deepEqual(turns[2], { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 18 } } }] });
  });

  test('streamed tool call: one delta with id, name and the whole arguments', async () => {
    const stream = await client.chat.completions.create({
      model: 'gemini',
      stream: true,
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      messages: [{ role: 'user', content: 'Oslo' }],
    });
    const calls = [];
    let finish = null;
    for await (const c of stream) {
      calls.push(...(c.choices[0]?.delta?.tool_calls || []));
      finish = c.choices[0]?.finish_reason || finish;
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0].function.name, 'get_weather');
    assert.ok(calls[0].id);
    assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Oslo' });
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(lastRec(vertex).body.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  });

  test('image input: a data URL becomes inlineData with its MIME type', async () => {
    const png = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');
    const r = await client.chat.completions.create({
      model: 'gemini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] }],
    });
    assert.equal(r.choices[0].message.content, 'echo: what is this [image/png 8 bytes]');
    assert.deepEqual(lastRec(vertex).body.contents[0].parts[1], { inlineData: { mimeType: 'image/png', data: png } });
  });

  test('response_format json_object asks Gemini for application/json', async () => {
    await client.chat.completions.create({ model: 'gemini', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'json' }] });
    assert.equal(lastRec(vertex).body.generationConfig.responseMimeType, 'application/json');
  });
});

describe('Claude on Vertex', () => {
  test('a claude model goes to publishers/anthropic rawPredict in the Messages format and comes back as a chat.completion', async () => {
    const r = await client.chat.completions.create({ model: 'claude', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello claude' }] });
    assert.equal(r.choices[0].message.content, 'echo: hello claude');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens], [4, 3]);
    const rec = lastRec(vertex);
    assert.equal(rec.path, '/v1/projects/emu-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict');
    assert.equal(rec.auth, 'ok');
    assert.deepEqual(rec.body, { anthropic_version: 'vertex-2023-10-16', max_tokens: 4096, system: 'be brief', messages: [{ role: 'user', content: 'hello claude' }] });
  });

  test('a claude stream goes to streamRawPredict and arrives as OpenAI chunks with usage', async () => {
    const stream = await client.chat.completions.create({ model: 'claude', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'streamed claude' }] });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'echo: streamed claude');
    assert.equal(chunks.at(-1).usage.completion_tokens, 3);
    assert.match(lastRec(vertex).path, /:streamRawPredict$/);
  });

  test('a claude stream cut before message_stop is an error; a 529 fails over', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('claude-cut', 'one two three four five'), stream: true } });
    assert.ok(!raw.events.includes('[DONE]'));
    assert.ok(raw.events.at(-1)?.error, `last event: ${JSON.stringify(raw.events.at(-1))}`);
    const { data, response } = await client.chat.completions.create(chatBody('claude-down-to-gemini', 'over')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: over');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
  });
});

describe('embeddings', () => {
  test('embeddings go to :predict, one instance per input, and come back as an OpenAI list with usage', async () => {
    const r = await client.embeddings.create({ model: 'embed', input: ['hello world', 'bye'], dimensions: 16 });
    assert.equal(r.object, 'list');
    assert.deepEqual(r.data.map((d) => [d.index, d.object, d.embedding.length]), [[0, 'embedding', 16], [1, 'embedding', 16]]);
    assert.ok(r.data[0].embedding.every((x) => typeof x === 'number' && x >= -1 && x <= 1));
    assert.deepEqual([r.usage.prompt_tokens, r.usage.total_tokens], [3, 3]);
    const rec = lastRec(vertex);
    assert.equal(rec.path, '/v1/projects/emu-project/locations/us-central1/publishers/google/models/text-embedding-005:predict');
    assert.deepEqual(rec.body, { instances: [{ content: 'hello world' }, { content: 'bye' }], parameters: { outputDimensionality: 16 } });
  });

  test('the same text gives the same vector; token arrays are a 400', async () => {
    const a = await client.embeddings.create({ model: 'embed', input: 'same', encoding_format: 'float' });
    const b = await client.embeddings.create({ model: 'embed', input: 'same', encoding_format: 'float' });
    assert.deepEqual(a.data[0].embedding, b.data[0].embedding);
    const r = await httpRequest(`${gw.baseURL}/embeddings`, { body: { model: 'embed', input: [[1, 2, 3]] } });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /text inputs only/);
  });
});

describe('parameters Gemini cannot do', () => {
  test('n=2 is a 400 naming the parameter and the provider; nothing is sent upstream', async () => {
    vertex.resetStats();
    await assert.rejects(client.chat.completions.create({ ...chatBody('gemini', 'x'), n: 2 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name} ${e.status}`);
      assert.match(e.message, /parameter 'n' \(2\) is not supported by provider 'gemini' \(vertex\)/);
      return true;
    });
    assert.equal(vertex.stats().total, 0);
  });

  test('with drop_unsupported_params they are dropped and the call succeeds', async () => {
    const r = await client.chat.completions.create({ ...chatBody('lenient', 'still fine'), n: 2, logprobs: true });
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.content, 'echo: still fine');
    assert.equal(lastRec(vertex).body.generationConfig, undefined);
  });
});

describe('tokens', () => {
  test('the access token is fetched once and reused across requests, streams included', async () => {
    counted.resetStats();
    await client.chat.completions.create(chatBody('counted', 'one'));
    await client.chat.completions.create(chatBody('counted', 'two'));
    const s = await client.chat.completions.create({ ...chatBody('counted', 'three'), stream: true });
    for await (const c of s) void c;
    const st = counted.stats();
    assert.equal(st.token_calls, 1);
    assert.equal(st.requests.length, 3);
    assert.ok(st.requests.every((r) => r.auth === 'ok'));
  });

  test('concurrent first requests wait for one token fetch instead of failing', async () => {
    // the metadata-server provider has fetched nothing yet: all four find no token
    counted.resetStats();
    const all = await Promise.all([1, 2, 3, 4].map((i) => client.chat.completions.create(chatBody('meta', `q${i}`))));
    assert.deepEqual(all.map((r) => r.choices[0].message.content), ['echo: q1', 'echo: q2', 'echo: q3', 'echo: q4']);
    const st = counted.stats();
    assert.equal(st.metadata_calls, 1);
    assert.equal(st.token_calls, 0);
  });

  test('a token near its end is renewed in the background while requests go on with the old one', async () => {
    // tokens live 3 s here, so cloudmux renews them after 1.5 s
    await client.chat.completions.create(chatBody('short', 'first'));
    assert.equal(short.stats().token_calls, 1);
    await new Promise((r) => setTimeout(r, 1800));
    const r = await client.chat.completions.create(chatBody('short', 'second'));
    assert.equal(r.choices[0].message.content, 'echo: second');
    await client.chat.completions.create(chatBody('short', 'third'));
    const st = short.stats();
    assert.equal(st.token_calls, 2);
    assert.equal(st.unauthenticated, 0);
    assert.ok(st.requests.every((q) => q.auth === 'ok'));
  });

  test('a token Vertex refuses (401) is dropped: that call fails over as provider_auth, the next one fetches anew', async () => {
    await client.chat.completions.create(chatBody('counted', 'warm'));
    counted.resetStats();
    counted.expireTokens();
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('counted', 'x') });
    assert.equal(r.status, 502, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /rejected the credentials \(HTTP 401, UNAUTHENTICATED\)/);
    const ok = await client.chat.completions.create(chatBody('counted', 'again'));
    assert.equal(ok.choices[0].message.content, 'echo: again');
    assert.equal(counted.stats().token_calls, 1);
  });

  test('a key the token endpoint refuses is provider_auth, with a message and no key material', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('stranger', 'x') });
    assert.equal(r.status, 502, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /token endpoint answered 400: invalid_grant: Invalid JWT Signature/);
    assert.ok(!r.body.includes('PRIVATE KEY'));
  });
});

describe('failures', () => {
  test('Vertex down (503 UNAVAILABLE) fails over to an openai target', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('down-to-gpt', 'try again')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: try again');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
  });

  test('a stream fails over too when Vertex is down before the first chunk', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('down-to-gpt', 'streamed'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['x-cloudmux-provider'], 'gpt');
    assert.equal(raw.events.at(-1), '[DONE]');
  });

  test('429 RESOURCE_EXHAUSTED comes back as 429 with Retry-After', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('limited', 'x') });
    assert.equal(r.status, 429, r.body);
    assert.equal(r.headers['retry-after'], '7');
    assertOpenAIError(assert, r.body, { type: 'rate_limit_error' });
  });

  test('a SAFETY finish with no content is a 400 content_policy, whole or streamed', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('safety', 'x') });
    assert.equal(r.status, 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /refused the content: the answer was withheld \(SAFETY\)/);
    const s = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('safety', 'x'), stream: true } });
    assert.equal(s.status, 400, s.body);
    assert.ok(!s.body.includes('[DONE]'));
  });

  test('a blocked prompt is a 400 content_policy', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('blocked', 'x') });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /prompt was blocked \(PROHIBITED_CONTENT\)/);
  });

  test('a stream cut without a finishReason is an error, never a complete answer', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('cut', 'one two three four five'), stream: true } });
    assert.ok(!raw.events.includes('[DONE]'));
    assert.ok(raw.events.at(-1)?.error, `last event: ${JSON.stringify(raw.events.at(-1))}`);
    assert.match(raw.events.at(-1).error.message, /without a finishReason/);
  });

  test('a prompt over the token limit is a context-window 400, not retried on the next target', async () => {
    gpt.resetStats?.();
    const before = gpt.stats ? gpt.stats().total : 0;
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('toolong', 'x') });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /exceeds the maximum number of tokens/);
    if (gpt.stats) assert.equal(gpt.stats().total, before);
  });
});

test('no key material or access token appears in cloudmux output', async () => {
  await client.chat.completions.create(chatBody('gemini', 'one more'));
  const out = gw.stdout() + gw.stderr();
  assert.ok(out.length > 0, 'no output at all: the access log is off?');
  const keyBody = sa.private_key.split('\n').slice(1, -2).join('');
  for (const piece of [keyBody.slice(0, 40), keyBody.slice(200, 240), 'PRIVATE KEY', 'ya29.']) assert.ok(!out.includes(piece), `'${piece}' leaked into stdout/stderr`);
});
