// bedrock.test.mjs — models on AWS Bedrock through cloudmux, as an OpenAI
// client sees them.
//
// The official `openai` client talks to cloudmux; cloudmux's bedrock
// provider signs Converse / ConverseStream requests to the Bedrock emulator
// (itself held to the official @aws-sdk/client-bedrock-runtime, which checks
// every signature with the SDK's own signer).  Each test looks at both ends:
// what the client got back in the OpenAI format, and what the emulator
// received in Converse's.  Failures are tested as a user meets them: a
// throttled target fails over, a throttlingException mid-stream ends the
// stream with an error event and no [DONE], a wrong secret is provider_auth,
// and no credential ever shows in cloudmux's output.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux, waitFor } from './helpers.mjs';

const CREDS = { accessKeyId: 'AKIDE2EBEDROCK7', secretAccessKey: 'bedrock-SECRET-e2e-4c1d9a', sessionToken: 'SESSIONTOKEN-e2e-88f2' };
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
let aws;
let gpt;
let gw;
let client;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
};

before(async () => {
  aws = await startBedrock(CREDS);
  gpt = await startOpenAI();
  const fast = '{ connect: 1s, first_byte: 2s, idle: 2s, total: 10s }';
  gw = await startCloudmux({
    env: {
      CMX_TEST_AWS_ID: CREDS.accessKeyId,
      CMX_TEST_AWS_SECRET: CREDS.secretAccessKey,
      CMX_TEST_AWS_TOKEN: CREDS.sessionToken,
      CMX_TEST_AWS_WRONG: 'not-the-secret',
    },
    configYaml: `
providers:
  aws:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_SECRET
    session_token: env:CMX_TEST_AWS_TOKEN
    timeouts: ${fast}
  aws-lenient:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_SECRET
    session_token: env:CMX_TEST_AWS_TOKEN
    drop_unsupported_params: true
  aws-quick:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_SECRET
    session_token: env:CMX_TEST_AWS_TOKEN
    timeouts: { connect: 1s, first_byte: 300ms, idle: 1s, total: 5s }
  aws-wrong:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_WRONG
    session_token: env:CMX_TEST_AWS_TOKEN
  gpt: { type: openai, base_url: "${gpt.baseURL}", timeouts: ${fast} }
models:
  claude: { targets: [ { provider: aws, model: "${MODEL}" } ] }
  lenient: { targets: [ { provider: aws-lenient, model: "${MODEL}" } ] }
  wrong: { targets: [ { provider: aws-wrong, model: "${MODEL}" } ] }
  throttled-to-gpt: { targets: [ { provider: aws, model: "${MODEL}+fault:status=429" }, { provider: gpt, model: gpt-4o-mini } ] }
  notready-to-gpt: { targets: [ { provider: aws, model: "${MODEL}+fault:model_not_ready" }, { provider: gpt, model: gpt-4o-mini } ] }
  early-throttle-to-gpt: { targets: [ { provider: aws, model: "${MODEL}+fault:exception_event,after=1" }, { provider: gpt, model: gpt-4o-mini } ] }
  midstream: { targets: [ { provider: aws, model: "${MODEL}+fault:exception_event,after=4" }, { provider: gpt, model: gpt-4o-mini } ] }
  cut: { targets: [ { provider: aws, model: "${MODEL}+fault:cut_stream,after=4" } ] }
  limited: { targets: [ { provider: aws, model: "${MODEL}+fault:status=429,retry_after=7" } ] }
  hang-to-gpt: { targets: [ { provider: aws-quick, model: "${MODEL}+fault:hang" }, { provider: gpt, model: gpt-4o-mini } ] }
  toolong: { targets: [ { provider: aws, model: "${MODEL}+fault:too_long" }, { provider: gpt, model: gpt-4o-mini } ] }
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

describe('chat through the bedrock provider', () => {
  test('a chat completion: signed Converse request out, OpenAI chat.completion back', async () => {
    aws.resetStats();
    const { data: r, response } = await client.chat.completions
      .create({ model: 'claude', max_tokens: 50, temperature: 0.2, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello big world' }] })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, MODEL);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'echo: hello big world');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [5, 4, 9]);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'aws');

    const rec = lastRec();
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.path, `/model/${encodeURIComponent(MODEL)}/converse`);
    assert.equal(rec.headers['x-amz-security-token'], CREDS.sessionToken);
    assert.deepEqual(rec.body, {
      system: [{ text: 'be brief' }],
      messages: [{ role: 'user', content: [{ text: 'hello big world' }] }],
      inferenceConfig: { maxTokens: 50, temperature: 0.2 },
    });
  });

  test('max_tokens reached is finish_reason length', async () => {
    const r = await client.chat.completions.create({ model: 'claude', max_tokens: 2, messages: [{ role: 'user', content: 'one two three' }] });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].message.content, 'echo: one');
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
    assert.match(lastRec().path, /\/converse-stream$/);
    assert.equal(lastRec().auth, 'ok');
  });

  test('a stream without include_usage has no usage chunk and ends with [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('claude', 'plain stream'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.events.at(-1), '[DONE]');
    const objs = raw.events.filter((e) => typeof e === 'object');
    assert.ok(objs.every((c) => c.choices.length === 1), 'a usage chunk was sent unasked');
    assert.equal(objs.map((c) => c.choices[0].delta.content ?? '').join(''), 'echo: plain stream');
  });

  test('tool calls: toolConfig goes over, toolUse comes back as tool_calls, the result round-trips', async () => {
    const r = await client.chat.completions.create({ model: 'claude', tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'Paris' }] });
    assert.deepEqual(lastRec().body.toolConfig, {
      tools: [{ toolSpec: { name: 'get_weather', description: 'Weather for a city', inputSchema: { json: weatherTool.function.parameters } } }],
      toolChoice: { any: {} },
    });
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.content, null);
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris', days: 1 });

    const r2 = await client.chat.completions.create({
      model: 'claude',
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Paris' }, m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: '18C sunny' }],
    });
    assert.equal(r2.choices[0].message.content, 'echo: tool result: 18C sunny');
    const turns = lastRec().body.messages;
    assert.deepEqual(turns[1].content[0], { toolUse: { toolUseId: m.tool_calls[0].id, name: 'get_weather', input: { city: 'Paris', days: 1 } } });
    assert.deepEqual(turns[2].content, [{ toolResult: { toolUseId: m.tool_calls[0].id, content: [{ text: '18C sunny' }] } }]);
  });

  test('streamed tool calls: id and name first, then argument fragments that join into the input', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude',
      stream: true,
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      messages: [{ role: 'user', content: 'Oslo' }],
    });
    let id = null;
    let args = '';
    let finish = null;
    for await (const c of stream) {
      for (const tc of c.choices[0]?.delta?.tool_calls || []) {
        if (tc.id) id = tc.id;
        args += tc.function?.arguments || '';
      }
      finish = c.choices[0]?.finish_reason || finish;
    }
    assert.match(id, /^tooluse_/);
    assert.deepEqual(JSON.parse(args), { city: 'Oslo', days: 1 });
    assert.equal(finish, 'tool_calls');
  });

  test('image input: a data URL becomes an image block with bytes', async () => {
    const r = await client.chat.completions.create({
      model: 'claude',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
    });
    assert.equal(r.choices[0].message.content, 'echo: what is this [images: 1]');
    assert.deepEqual(lastRec().body.messages[0].content[1], { image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } });
  });
});

describe('parameters Converse cannot do', () => {
  test('n=2 is a 400 naming the parameter and the provider; nothing is sent upstream', async () => {
    aws.resetStats();
    await assert.rejects(client.chat.completions.create({ ...chatBody('claude', 'x'), n: 2 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name} ${e.status}`);
      assert.match(e.message, /parameter 'n' \(2\) is not supported by provider 'aws' \(bedrock\)/);
      return true;
    });
    assert.equal(aws.stats().total, 0);
  });

  test('with drop_unsupported_params they are dropped and the call succeeds', async () => {
    const r = await client.chat.completions.create({ ...chatBody('lenient', 'still fine'), n: 2, logprobs: true, seed: 3 });
    assert.equal(r.choices[0].message.content, 'echo: still fine');
  });
});

describe('failures', () => {
  test('a throttled Bedrock target (429 ThrottlingException) fails over to an openai target', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('throttled-to-gpt', 'try again')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: try again');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
  });

  test('a Bedrock target that never answers times out and fails over', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('hang-to-gpt', 'patience')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: patience');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
  });

  test('ModelNotReadyException fails over too', async () => {
    const { response } = await client.chat.completions.create(chatBody('notready-to-gpt', 'again')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
  });

  test('a throttlingException right after messageStart fails a stream over: the client never sees it', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('early-throttle-to-gpt', 'early'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['x-cloudmux-provider'], 'gpt');
    assert.equal(raw.events.at(-1), '[DONE]');
    const objs = raw.events.filter((e) => typeof e === 'object');
    assert.equal(objs.filter((c) => c.choices[0]?.delta?.role).length, 1, 'the role chunk was sent twice');
  });

  test('a throttlingException mid-stream ends the stream with an error event and no [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('midstream', 'one two three four five'), stream: true } });
    assert.equal(raw.status, 200);
    assert.ok(!raw.events.includes('[DONE]'), 'a broken stream ended with [DONE]');
    const last = raw.events.at(-1);
    assert.ok(last?.error, `last event is not an error: ${JSON.stringify(last)}`);
    assert.match(last.error.message, /throttlingException/);
    const text = raw.events.filter((e) => e.choices).map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.ok(text.startsWith('echo:') && text !== 'echo: one two three four five', `text: ${text}`);

    const stream = await client.chat.completions.create({ ...chatBody('midstream', 'one two three four five'), stream: true });
    await assert.rejects(async () => {
      for await (const c of stream) void c;
    }, OpenAI.APIError);
  });

  test('a stream cut before messageStop is an error, never a complete answer', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('cut', 'one two three four five'), stream: true } });
    assert.ok(!raw.events.includes('[DONE]'));
    assert.ok(raw.events.at(-1)?.error, `last event: ${JSON.stringify(raw.events.at(-1))}`);
  });

  test('429 comes back as 429 with Retry-After', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('limited', 'x') });
    assert.equal(r.status, 429, r.body);
    assert.equal(r.headers['retry-after'], '7');
    assertOpenAIError(assert, r.body, { type: 'rate_limit_error' });
  });

  test('input too long is a context-window error, not retried elsewhere', async () => {
    gpt.resetStats?.();
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('toolong', 'x') });
    assert.equal(r.status, 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /too long/);
    assert.notEqual(r.headers['x-cloudmux-provider'], 'gpt');
  });

  test('a wrong secret is provider_auth: the emulator saw a bad signature, the client a credentials error', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('wrong', 'x') });
    assert.ok(r.status >= 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /rejected the credentials/);
    assert.match(e.message, /InvalidSignatureException/);
    assert.equal(lastRec().auth, 'InvalidSignatureException');
  });
});

test('usage reaches the access log, for whole answers and streams', async () => {
  const r = await client.chat.completions.create(chatBody('claude', 'count these words'));
  const stream = await client.chat.completions.create({ ...chatBody('claude', 'and these streamed ones'), stream: true });
  for await (const c of stream) void c;
  const lines = () =>
    gw
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((e) => e.provider === 'aws' && e.status === 200);
  await waitFor(() => lines().some((e) => e.stream && e.completion_tokens === 5), { what: 'the stream access log line' });
  assert.ok(lines().some((e) => !e.stream && e.prompt_tokens === r.usage.prompt_tokens && e.completion_tokens === r.usage.completion_tokens));
});

test('no credential appears in cloudmux output or answers', async () => {
  await client.chat.completions.create(chatBody('claude', 'one more'));
  const out = gw.stdout() + gw.stderr();
  assert.ok(out.length > 0, 'no output at all: the access log is off?');
  for (const secret of [CREDS.secretAccessKey, CREDS.sessionToken, 'SECRET-e2e', 'not-the-secret'])
    assert.ok(!out.includes(secret), `a credential (${secret.slice(0, 4)}...) leaked into stdout/stderr`);
});
