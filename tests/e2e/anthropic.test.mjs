// anthropic.test.mjs — Claude through cloudmux, as an OpenAI client sees it.
//
// The official `openai` client talks to cloudmux; cloudmux's anthropic
// provider talks to the Anthropic emulator (itself checked against the
// official @anthropic-ai/sdk).  Each test looks at both ends: what the
// client got back in the OpenAI format, and what the emulator received in
// Anthropic's (system lifted, max_tokens defaulted, images as sources ...).
// Failures are tested as a user meets them: a 529 fails over to the next
// target, an overloaded_error in the middle of a stream ends it with an error
// event and no [DONE], and the provider key never shows up in the output.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

const KEY = 'sk-ant-api03-SECRET-e2e-7f3a9c';
const MODEL = 'claude-emulated';
let claude;
let claude2;
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
  claude = await startAnthropic({ key: KEY });
  claude2 = await startAnthropic({ key: KEY });
  gpt = await startOpenAI();
  const fast = '{ connect: 1s, first_byte: 2s, idle: 2s, total: 10s }';
  gw = await startCloudmux({
    env: { CMX_TEST_ANTHROPIC_KEY: KEY },
    configYaml: `
providers:
  claude: { type: anthropic, base_url: "${claude.baseURL}", api_key: env:CMX_TEST_ANTHROPIC_KEY, timeouts: ${fast} }
  claude-lenient: { type: anthropic, base_url: "${claude.baseURL}", api_key: env:CMX_TEST_ANTHROPIC_KEY, drop_unsupported_params: true, default_max_tokens: 256 }
  claude-b: { type: anthropic, base_url: "${claude2.baseURL}/v1", api_key: env:CMX_TEST_ANTHROPIC_KEY, timeouts: ${fast} }
  claude-nokey: { type: anthropic, base_url: "${claude.baseURL}" }
  gpt: { type: openai, base_url: "${gpt.baseURL}", timeouts: ${fast} }
models:
  claude: { targets: [ { provider: claude, model: ${MODEL} } ] }
  lenient: { targets: [ { provider: claude-lenient, model: ${MODEL} } ] }
  nokey: { targets: [ { provider: claude-nokey, model: ${MODEL} } ] }
  overloaded-to-gpt: { targets: [ { provider: claude, model: "${MODEL}+fault:status=529" }, { provider: gpt, model: gpt-4o-mini } ] }
  overloaded-to-claude: { targets: [ { provider: claude, model: "${MODEL}+fault:status=529" }, { provider: claude-b, model: ${MODEL} } ] }
  early-error-to-claude: { targets: [ { provider: claude, model: "${MODEL}+fault:error_event,after=2" }, { provider: claude-b, model: ${MODEL} } ] }
  midstream: { targets: [ { provider: claude, model: "${MODEL}+fault:error_event,after=5" }, { provider: claude-b, model: ${MODEL} } ] }
  limited: { targets: [ { provider: claude, model: "${MODEL}+fault:status=429,retry_after=7" } ] }
  toolong: { targets: [ { provider: claude, model: "${MODEL}+fault:prompt_too_long" }, { provider: claude-b, model: ${MODEL} } ] }
  cut: { targets: [ { provider: claude, model: "${MODEL}+fault:cut_stream,after=5" } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await claude?.close();
  await claude2?.close();
  await gpt?.close();
});

const lastBody = (emu) => emu.stats().requests.at(-1).body;

describe('chat through the anthropic provider', () => {
  test('a chat completion comes back in the OpenAI format, and Anthropic got its own', async () => {
    claude.resetStats();
    const { data: r, response } = await client.chat.completions
      .create({ model: 'claude', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello big world', name: 'ann' }] })
      .withResponse();
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^msg_/);
    assert.equal(r.model, MODEL);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'echo: hello big world');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [5, 4, 9]);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'claude');

    const rec = claude.stats().requests.at(-1);
    assert.equal(rec.path, '/v1/messages');
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.anthropic_version, '2023-06-01');
    assert.deepEqual(rec.body, { model: MODEL, max_tokens: 4096, system: 'be brief', messages: [{ role: 'user', content: 'hello big world' }] });
  });

  test('default_max_tokens and max_tokens: the client value wins, the provider default fills in', async () => {
    await client.chat.completions.create({ model: 'lenient', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(lastBody(claude).max_tokens, 256);
    const r = await client.chat.completions.create({ model: 'lenient', max_tokens: 2, messages: [{ role: 'user', content: 'one two three' }] });
    assert.equal(lastBody(claude).max_tokens, 2);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].message.content, 'echo: one');
  });

  test('cache tokens count as prompt tokens and show as cached_tokens', async () => {
    const r = await client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'cached [[cache:1000]]' }] });
    assert.equal(r.usage.prompt_tokens, 1001);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 1000);
  });

  test('a stream: role first, content word by word, finish reason, usage chunk when asked, then [DONE]', async () => {
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
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.deepEqual(finish.map((c) => c.choices[0].finish_reason), ['stop']);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual([last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens], [3, 4, 7]);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(lastBody(claude).stream, true);
  });

  test('a stream without include_usage has no usage chunk but ends with [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('claude', 'plain stream'), stream: true } });
    assert.equal(raw.status, 200);
    assert.match(raw.headers['content-type'], /^text\/event-stream/);
    assert.equal(raw.events.at(-1), '[DONE]');
    const objs = raw.events.filter((e) => typeof e === 'object');
    assert.ok(objs.every((c) => c.choices.length === 1), 'a usage chunk was sent unasked');
    assert.equal(objs.map((c) => c.choices[0].delta.content ?? '').join(''), 'echo: plain stream');
  });

  test('tool calls: tools and tool_choice go over, tool_use comes back as tool_calls, the result round-trips', async () => {
    const r = await client.chat.completions.create({ model: 'claude', tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'Paris' }] });
    const sent = lastBody(claude);
    assert.deepEqual(sent.tool_choice, { type: 'any' });
    assert.deepEqual(sent.tools, [{ name: 'get_weather', description: 'Weather for a city', input_schema: weatherTool.function.parameters }]);
    const m = r.choices[0].message;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(m.content, null);
    assert.equal(m.tool_calls.length, 1);
    assert.equal(m.tool_calls[0].type, 'function');
    assert.equal(m.tool_calls[0].function.name, 'get_weather');
    assert.match(m.tool_calls[0].id, /^toolu_/);
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris', days: 1 });

    const r2 = await client.chat.completions.create({
      model: 'claude',
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Paris' }, m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: '18C sunny' }],
    });
    assert.equal(r2.choices[0].message.content, 'echo: tool result: 18C sunny');
    const turns = lastBody(claude).messages;
    assert.equal(turns[1].content[0].type, 'tool_use');
    assert.deepEqual(turns[2].content, [{ type: 'tool_result', tool_use_id: m.tool_calls[0].id, content: '18C sunny' }]);
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
    let name = null;
    let args = '';
    let finish = null;
    for await (const c of stream) {
      const d = c.choices[0]?.delta;
      for (const tc of d?.tool_calls || []) {
        assert.equal(tc.index, 0);
        if (tc.id) id = tc.id;
        if (tc.function?.name) name = tc.function.name;
        args += tc.function?.arguments || '';
      }
      finish = c.choices[0]?.finish_reason || finish;
    }
    assert.match(id, /^toolu_/);
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { city: 'Oslo', days: 1 });
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(lastBody(claude).tool_choice, { type: 'tool', name: 'get_weather' });
  });

  test('image input: a data URL becomes a base64 source, an https URL a url source', async () => {
    const r = await client.chat.completions.create({
      model: 'claude',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    assert.equal(r.choices[0].message.content, 'echo: what is this [images: 2]');
    const blocks = lastBody(claude).messages[0].content;
    assert.deepEqual(blocks[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } });
    assert.deepEqual(blocks[2], { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } });
  });
});

describe('parameters Anthropic cannot do', () => {
  test('n=2 is a 400 naming the parameter and the provider; nothing is sent upstream', async () => {
    claude.resetStats();
    await assert.rejects(client.chat.completions.create({ ...chatBody('claude', 'x'), n: 2 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name} ${e.status}`);
      assert.match(e.message, /parameter 'n' \(2\) is not supported by provider 'claude' \(anthropic\)/);
      return true;
    });
    assert.equal(claude.stats().total, 0);
  });

  test('with drop_unsupported_params they are dropped and the call succeeds', async () => {
    const r = await client.chat.completions.create({ ...chatBody('lenient', 'still fine'), n: 2, seed: 7, logprobs: true, presence_penalty: 0.5 });
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.content, 'echo: still fine');
    const sent = lastBody(claude);
    for (const k of ['n', 'seed', 'logprobs', 'presence_penalty']) assert.ok(!(k in sent), `${k} was sent upstream`);
  });
});

describe('failures', () => {
  test('529 overloaded fails over to an openai target', async () => {
    const { data, response } = await client.chat.completions.create(chatBody('overloaded-to-gpt', 'try again')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: try again');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
  });

  test('529 overloaded fails over to a second anthropic target (base_url ending in /v1 works too)', async () => {
    claude2.resetStats();
    const { data, response } = await client.chat.completions.create(chatBody('overloaded-to-claude', 'again')).withResponse();
    assert.equal(data.choices[0].message.content, 'echo: again');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'claude-b');
    assert.equal(claude2.stats().requests[0].path, '/v1/messages');
  });

  test('an overloaded_error before any text fails a stream over: the client never sees it', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('early-error-to-claude', 'early'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['x-cloudmux-provider'], 'claude-b');
    assert.equal(raw.headers['x-cloudmux-attempts'], '2');
    assert.equal(raw.events.at(-1), '[DONE]');
    const objs = raw.events.filter((e) => typeof e === 'object');
    assert.equal(objs.filter((c) => c.choices[0]?.delta?.role).length, 1, 'the role chunk was sent twice');
    assert.equal(objs.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'echo: early');
  });

  test('an overloaded_error mid-stream ends the stream with an error event and no [DONE]', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('midstream', 'one two three four five'), stream: true } });
    assert.equal(raw.status, 200);
    assert.ok(!raw.events.includes('[DONE]'), 'a broken stream ended with [DONE]');
    const last = raw.events.at(-1);
    assert.equal(typeof last, 'object');
    assert.ok(last.error, `last event is not an error: ${JSON.stringify(last)}`);
    assert.match(last.error.message, /overloaded_error/);
    const text = raw.events.filter((e) => e.choices).map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.ok(text.startsWith('echo:') && text !== 'echo: one two three four five', `text: ${text}`);

    const stream = await client.chat.completions.create({ ...chatBody('midstream', 'one two three four five'), stream: true });
    await assert.rejects(async () => {
      for await (const c of stream) void c;
    }, OpenAI.APIError);
  });

  test('a stream cut before message_stop is an error, never a complete answer', async () => {
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

  test('a prompt that is too long is a context-window error, not retried elsewhere', async () => {
    claude2.resetStats();
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('toolong', 'x') });
    assert.equal(r.status, 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /prompt is too long/);
    assert.equal(claude2.stats().total, 0);
  });

  test('a missing key is provider_auth, and the message does not echo what the provider said about keys', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('nokey', 'x') });
    assert.ok(r.status >= 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /rejected the credentials/);
    assert.ok(!r.body.includes('x-api-key header'), r.body);
  });
});

test('the provider key never appears in cloudmux output or answers', async () => {
  await client.chat.completions.create(chatBody('claude', 'one more'));
  const out = gw.stdout() + gw.stderr();
  assert.ok(out.length > 0, 'no output at all: the access log is off?');
  assert.ok(!out.includes(KEY), 'the anthropic key leaked into stdout/stderr');
  assert.ok(!out.includes('SECRET-e2e'), 'part of the anthropic key leaked into stdout/stderr');
});
