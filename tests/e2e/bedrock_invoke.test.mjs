// bedrock_invoke.test.mjs — Bedrock's InvokeModel through cloudmux, as an
// OpenAI client sees it: Claude with `api: invoke` (Anthropic Messages
// bodies, streams of base64 `chunk` events) and embeddings with Titan and
// Cohere.
//
// The official `openai` client talks to cloudmux; the Bedrock emulator
// (held to @aws-sdk/client-bedrock-runtime's InvokeModelCommand and
// InvokeModelWithResponseStreamCommand) checks each signature and each body
// the way the models do.  Each test looks at both ends: what the client got
// in OpenAI's format, and the model-native body the emulator received.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

const CREDS = { accessKeyId: 'AKIDE2EINVOKE01', secretAccessKey: 'invoke-SECRET-e2e-77ab', sessionToken: 'SESSION-invoke-e2e' };
const CLAUDE = 'anthropic.claude-3-haiku-20240307-v1:0';
const PROFILE = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const TITAN = 'amazon.titan-embed-text-v2:0';
const COHERE = 'cohere.embed-english-v3';
let aws;
let gpt;
let gw;
let client;

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } },
};

before(async () => {
  aws = await startBedrock(CREDS);
  gpt = await startOpenAI();
  const creds = `
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_SECRET
    session_token: env:CMX_TEST_AWS_TOKEN
    timeouts: { connect: 1s, first_byte: 2s, idle: 2s, total: 10s }`;
  gw = await startCloudmux({
    env: { CMX_TEST_AWS_ID: CREDS.accessKeyId, CMX_TEST_AWS_SECRET: CREDS.secretAccessKey, CMX_TEST_AWS_TOKEN: CREDS.sessionToken },
    configYaml: `
providers:
  aws-invoke:
    type: bedrock
    api: invoke${creds}
  aws:
    type: bedrock${creds}
  gpt: { type: openai, base_url: "${gpt.baseURL}" }
models:
  claude: { targets: [ { provider: aws-invoke, model: "${CLAUDE}" } ] }
  claude-profile: { targets: [ { provider: aws-invoke, model: "${PROFILE}" } ] }
  claude-converse: { targets: [ { provider: aws, model: "${CLAUDE}" } ] }
  llama: { targets: [ { provider: aws-invoke, model: "meta.llama3-8b-instruct-v1:0" } ] }
  early-throttle-to-gpt: { targets: [ { provider: aws-invoke, model: "${CLAUDE}+fault:exception_event,after=1" }, { provider: gpt, model: gpt-4o-mini } ] }
  midstream: { targets: [ { provider: aws-invoke, model: "${CLAUDE}+fault:exception_event,after=4" } ] }
  cut: { targets: [ { provider: aws-invoke, model: "${CLAUDE}+fault:cut_stream,after=4" } ] }
  throttled-to-gpt: { targets: [ { provider: aws-invoke, model: "${CLAUDE}+fault:status=429" }, { provider: gpt, model: gpt-4o-mini } ] }
  titan: { targets: [ { provider: aws, model: "${TITAN}" } ] }
  cohere: { targets: [ { provider: aws, model: "${COHERE}" } ] }
  not-embed: { targets: [ { provider: aws, model: "${CLAUDE}" } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await aws?.close();
  await gpt?.close();
});

const lastRec = () => aws.stats().requests.at(-1);

describe('Claude through InvokeModel (api: invoke)', () => {
  test('a chat completion: a signed Messages body with bedrock-2023-05-31 and no model, an OpenAI answer back', async () => {
    aws.resetStats();
    const r = await client.chat.completions.create({
      model: 'claude',
      max_tokens: 50,
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello big world' }],
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.content, 'echo: hello big world');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [5, 4, 9]);
    const rec = lastRec();
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.path, `/model/${encodeURIComponent(CLAUDE)}/invoke`);
    assert.equal(rec.body.anthropic_version, 'bedrock-2023-05-31');
    assert.equal('model' in rec.body, false);
    assert.equal(rec.body.max_tokens, 50);
    assert.equal(rec.body.system, 'be brief');
    assert.deepEqual(rec.body.messages.map((m) => m.role), ['user']);
  });

  test('inference profiles (us.anthropic.*) go through invoke too; other models and the default stay on Converse', async () => {
    await client.chat.completions.create(chatBody('claude-profile', 'x'));
    assert.equal(lastRec().path, `/model/${encodeURIComponent(PROFILE)}/invoke`);
    const r = await client.chat.completions.create(chatBody('llama', 'via converse'));
    assert.equal(r.choices[0].message.content, 'echo: via converse');
    assert.match(lastRec().path, /\/converse$/);
    await client.chat.completions.create(chatBody('claude-converse', 'x'));
    assert.match(lastRec().path, /\/converse$/);
  });

  test('a stream with include_usage: role, words, finish reason, usage chunk, [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude',
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
    assert.equal(lastRec().path, `/model/${encodeURIComponent(CLAUDE)}/invoke-with-response-stream`);
    assert.equal(lastRec().auth, 'ok');
  });

  test('tool calls: tools go over in Anthropic form, tool_use comes back as tool_calls, also streamed', async () => {
    const r = await client.chat.completions.create({ model: 'claude', tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'Paris' }] });
    assert.deepEqual(lastRec().body.tool_choice, { type: 'any' });
    assert.equal(lastRec().body.tools[0].name, 'get_weather');
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris', days: 1 });

    const stream = await client.chat.completions.create({ model: 'claude', stream: true, tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'Oslo' }] });
    let args = '';
    let name = null;
    let finish = null;
    for await (const c of stream) {
      const tc = c.choices[0]?.delta?.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      if (tc?.function?.arguments) args += tc.function.arguments;
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { city: 'Oslo', days: 1 });
    assert.equal(finish, 'tool_calls');
  });

  test('what Anthropic cannot do is a 400 naming the parameter and the bedrock provider; nothing is sent', async () => {
    aws.resetStats();
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('claude', 'x'), n: 2 } });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /parameter 'n' \(2\) is not supported by provider 'aws-invoke' \(bedrock\)/);
    assert.equal(aws.stats().total, 0);
  });

  test('a throttlingException before any text fails over to the next target', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('early-throttle-to-gpt', 'early'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['x-cloudmux-provider'], 'gpt');
    assert.equal(raw.events.at(-1), '[DONE]');
  });

  test('a throttlingException mid-stream ends the stream with an error event and no [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('midstream', 'one two three four five'), stream: true } });
    assert.equal(raw.status, 200);
    assert.ok(!raw.events.includes('[DONE]'), 'a broken stream ended with [DONE]');
    const last = raw.events.at(-1);
    assert.ok(last?.error, `last event is not an error: ${JSON.stringify(last)}`);
    assert.match(last.error.message, /throttlingException/);
  });

  test('a stream cut before message_stop is an error, never a complete answer', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('cut', 'one two three four five'), stream: true } });
    assert.ok(!raw.events.includes('[DONE]'));
    assert.ok(raw.events.at(-1)?.error, `last event: ${JSON.stringify(raw.events.at(-1))}`);
  });

  test('a 429 from invoke fails over', async () => {
    const r = await client.chat.completions.create(chatBody('throttled-to-gpt', 'x')).withResponse();
    assert.equal(r.response.headers.get('x-cloudmux-provider'), 'gpt');
  });
});

describe('embeddings through InvokeModel', () => {
  test('Titan: one input, dimensions and normalize go over; the official client gets floats (asked as base64)', async () => {
    aws.resetStats();
    const r = await client.embeddings.create({ model: 'titan', input: 'the quick brown fox', dimensions: 256 });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 1);
    assert.equal(r.data[0].embedding.length, 256);
    const norm = Math.sqrt(r.data[0].embedding.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    assert.deepEqual([r.usage.prompt_tokens, r.usage.total_tokens], [4, 4]);
    const rec = lastRec();
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.path, `/model/${encodeURIComponent(TITAN)}/invoke`);
    assert.deepEqual(rec.body, { inputText: 'the quick brown fox', dimensions: 256, normalize: true });

    const f = await client.embeddings.create({ model: 'titan', input: 'the quick brown fox', dimensions: 256, encoding_format: 'float' });
    // the float answer has nine digits: the same float32s once rounded to them
    assert.deepEqual(f.data[0].embedding.map(Math.fround), r.data[0].embedding, 'base64 and float disagree');
  });

  test('Titan: several inputs are a 400 saying one per request; nothing is sent', async () => {
    aws.resetStats();
    const r = await httpRequest(`${gw.baseURL}/embeddings`, { body: { model: 'titan', input: ['a', 'b'] } });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /one input per request/);
    assert.equal(aws.stats().total, 0);
  });

  test('Cohere: all inputs in one call with input_type, vectors in order, usage from the token header', async () => {
    const r = await client.embeddings.create({ model: 'cohere', input: ['hello world', 'bye'] });
    assert.deepEqual(r.data.map((d) => [d.index, d.embedding.length]), [[0, 1024], [1, 1024]]);
    assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
    assert.deepEqual([r.usage.prompt_tokens, r.usage.total_tokens], [3, 3]);
    assert.deepEqual(lastRec().body, { texts: ['hello world', 'bye'], input_type: 'search_document' });
    const raw = await httpRequest(`${gw.baseURL}/embeddings`, { body: { model: 'cohere', input: 'hello world', encoding_format: 'base64' } });
    assert.equal(raw.status, 200, raw.body);
    const b64 = JSON.parse(raw.body).data[0].embedding;
    const floats = Array.from(new Float32Array(new Uint8Array(Buffer.from(b64, 'base64')).buffer));
    assert.deepEqual(floats, r.data[0].embedding);
  });

  test('embeddings on a chat model are a 400 naming the embedding models', async () => {
    const r = await httpRequest(`${gw.baseURL}/embeddings`, { body: { model: 'not-embed', input: 'x' } });
    assert.equal(r.status, 400, r.body);
    assert.match(assertOpenAIError(assert, r.body).message, /titan-embed-text.*cohere\.embed/);
  });
});
