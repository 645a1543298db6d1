// emulator_anthropic.test.mjs — the Anthropic emulator, judged by the
// official @anthropic-ai/sdk.
//
// The gateway's anthropic tests trust the emulator to behave like
// api.anthropic.com; this file earns that trust.  If the official client
// cannot talk to the emulator, the emulator is wrong.  It also pins down what
// the client does with each fault, since the gateway tests rely on the same
// behaviour (for instance, that an `error` event mid-stream makes the
// client's stream throw).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import { startEmulator } from '../emulators/anthropic/index.mjs';
import { httpRequest } from './helpers.mjs';

const KEY = 'sk-ant-emulator-test-key';
const MODEL = 'claude-emulated';
let emu;
let client;

before(async () => {
  emu = await startEmulator({ key: KEY });
  client = new Anthropic({ apiKey: KEY, baseURL: emu.baseURL, maxRetries: 0, timeout: 5000 });
});
after(async () => {
  await emu.close();
});

const user = (content) => [{ role: 'user', content }];
const weatherTool = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};

describe('answers', () => {
  test('messages.create echoes the last user message with word-count usage', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 100, system: 'be brief', messages: user('hello big world') });
    assert.equal(r.type, 'message');
    assert.equal(r.role, 'assistant');
    assert.equal(r.model, MODEL);
    assert.match(r.id, /^msg_/);
    assert.deepEqual(r.content, [{ type: 'text', text: 'echo: hello big world' }]);
    assert.equal(r.stop_reason, 'end_turn');
    assert.equal(r.usage.input_tokens, 5); // "be brief" + "hello big world"
    assert.equal(r.usage.output_tokens, 4);
    assert.equal(r.usage.cache_read_input_tokens, 0);
  });

  test('the emulator saw x-api-key and anthropic-version from the client', async () => {
    emu.resetStats();
    await client.messages.create({ model: MODEL, max_tokens: 10, messages: user('hi') });
    const rec = emu.stats().requests[0];
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.anthropic_version, '2023-06-01');
  });

  test('cache tokens are reported when asked with [[cache:N]]', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 100, messages: user('cached [[cache:1000]]') });
    assert.equal(r.usage.cache_read_input_tokens, 1000);
    assert.equal(r.content[0].text, 'echo: cached');
  });

  test('max_tokens truncates with stop_reason max_tokens; stop_sequences stop early', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 2, messages: user('one two three four') });
    assert.equal(r.content[0].text, 'echo: one');
    assert.equal(r.stop_reason, 'max_tokens');
    const s = await client.messages.create({ model: MODEL, max_tokens: 100, stop_sequences: ['three'], messages: user('one two three four') });
    assert.equal(s.content[0].text, 'echo: one two ');
    assert.equal(s.stop_reason, 'stop_sequence');
    assert.equal(s.stop_sequence, 'three');
  });

  test('stream helper accumulates the final message, text events arrive word by word', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 100, messages: user('streamed words here') });
    const pieces = [];
    const types = [];
    stream.on('text', (t) => pieces.push(t));
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    assert.deepEqual(pieces, ['echo:', ' streamed', ' words', ' here']);
    assert.deepEqual(final.content, [{ type: 'text', text: 'echo: streamed words here' }]);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 4);
    assert.equal(final.usage.input_tokens, 3);
    assert.deepEqual(types.slice(0, 2), ['message_start', 'content_block_start']);
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  });

  test('the raw stream uses event: lines and includes a ping', async () => {
    const r = await httpRequest(`${emu.url}/v1/messages`, {
      headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
      body: { model: MODEL, max_tokens: 10, stream: true, messages: user('hi') },
    });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const names = [...r.body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    assert.deepEqual(names, ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  test('tool use with tool_choice any: the SDK sees a tool_use block with schema-built input', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 100, tools: [weatherTool], tool_choice: { type: 'any' }, messages: user('Paris') });
    assert.equal(r.stop_reason, 'tool_use');
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].type, 'tool_use');
    assert.equal(r.content[0].name, 'get_weather');
    assert.match(r.content[0].id, /^toolu_/);
    assert.deepEqual(r.content[0].input, { city: 'Paris', days: 1 });
  });

  test('streamed tool use: input_json_delta fragments accumulate into the input', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 100, tools: [weatherTool], messages: user('Oslo please [[tool]]') });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content[0].input, { city: 'Oslo please', days: 1 });
  });

  test('a tool_result is answered in text', async () => {
    const first = await client.messages.create({ model: MODEL, max_tokens: 100, tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' }, messages: user('Rome') });
    const use = first.content[0];
    const r = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools: [weatherTool],
      messages: [...user('Rome'), { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '21C sunny' }] }],
    });
    assert.equal(r.content[0].text, 'echo: tool result: 21C sunny');
  });

  test('images are counted in the answer', async () => {
    const r = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages: user([
        { type: 'text', text: 'look' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
      ]),
    });
    assert.equal(r.content[0].text, 'echo: look [images: 2]');
  });
});

describe('validation as the real API does it', () => {
  const bad = async (body, pattern) => {
    await assert.rejects(client.messages.create(body), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, `expected BadRequestError, got ${e}`);
      assert.equal(e.error?.error?.type, 'invalid_request_error');
      assert.match(e.error.error.message, pattern);
      return true;
    });
  };
  test('max_tokens is required', () => bad({ model: MODEL, messages: user('x') }, /max_tokens: Field required/));
  test('a system role inside messages is refused', () => bad({ model: MODEL, max_tokens: 5, messages: [{ role: 'system', content: 's' }, ...user('x')] }, /top-level `system` parameter/));
  test('roles must alternate', () => bad({ model: MODEL, max_tokens: 5, messages: [...user('a'), ...user('b')] }, /roles must alternate/));
  test('the first message must be from the user', () => bad({ model: MODEL, max_tokens: 5, messages: [{ role: 'assistant', content: 'a' }] }, /first message must use the "user" role/));
  test('OpenAI-only fields are refused', () => bad({ model: MODEL, max_tokens: 5, n: 2, messages: user('x') }, /n: Extra inputs are not permitted/));
  test('a tool_result must answer a tool_use of the previous turn', () =>
    bad({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }] }, /corresponding `tool_use` block/));
});

describe('faults, as the official client sees them', () => {
  test('a wrong key is 401 AuthenticationError', async () => {
    const other = new Anthropic({ apiKey: 'wrong', baseURL: emu.baseURL, maxRetries: 0 });
    await assert.rejects(other.messages.create({ model: MODEL, max_tokens: 5, messages: user('x') }), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.error.error.type, 'authentication_error');
      return true;
    });
  });

  test('429 is RateLimitError with retry-after', async () => {
    await assert.rejects(client.messages.create({ model: `${MODEL}+fault:status=429,retry_after=3`, max_tokens: 5, messages: user('x') }), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError);
      assert.equal(e.headers.get('retry-after'), '3');
      assert.equal(e.error.error.type, 'rate_limit_error');
      return true;
    });
  });

  test('529 is the SDK\'s overloaded error (an InternalServerError)', async () => {
    await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 5, messages: user('x [[fault:status=529]]') }), (e) => {
      assert.equal(e.status, 529);
      assert.ok(e instanceof Anthropic.InternalServerError);
      if (Anthropic.OverloadedError) assert.ok(e instanceof Anthropic.OverloadedError);
      assert.equal(e.error.error.type, 'overloaded_error');
      return true;
    });
  });

  test('prompt_too_long is a 400 naming the prompt size', async () => {
    await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 5, messages: user('x [[fault:prompt_too_long]]') }), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError);
      assert.match(e.error.error.message, /^prompt is too long/);
      return true;
    });
  });

  test('an overloaded_error event mid-stream makes the stream throw after the first text', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 100, messages: user('one two three four [[fault:error_event after=4]]') });
    const pieces = [];
    stream.on('text', (t) => pieces.push(t));
    await assert.rejects(stream.finalMessage(), (e) => {
      assert.ok(e instanceof Anthropic.APIError, `expected APIError, got ${e}`);
      assert.match(String(e.message), /overloaded_error|Overloaded/);
      return true;
    });
    assert.deepEqual(pieces, ['echo:']); // message_start, block start, ping, one delta, then the error
  });

  test('a stream cut before message_stop: the SDK cannot produce a final message', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 100, messages: user('a b c [[fault:cut_stream after=4]]') });
    await assert.rejects(stream.finalMessage());
  });

  test('a per-run fault applies to the next matching request only', async () => {
    emu.setFault({ spec: 'status=529', count: 1 });
    await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 5, messages: user('x') }), (e) => e.status === 529);
    const ok = await client.messages.create({ model: MODEL, max_tokens: 5, messages: user('x') });
    assert.equal(ok.content[0].text, 'echo: x');
  });
});

// Structured outputs, extended thinking and prompt caching, with the rules
// Anthropic documents, as the official client sends and reads them.
describe('structured outputs, thinking and caching', () => {
  const SCHEMA = { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false };
  const bad = async (body, pattern) => {
    await assert.rejects(client.messages.create(body), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, `expected BadRequestError, got ${e}`);
      assert.match(e.error.error.message, pattern);
      return true;
    });
  };

  test('output_config.format on a 4.5 model answers JSON that follows the schema', async () => {
    const r = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: user('Paris'), output_config: { format: { type: 'json_schema', schema: SCHEMA } } });
    assert.deepEqual(JSON.parse(r.content[0].text), { city: 'Paris', temp: 1 });
  });
  test('output_config.format is refused before 4.5 and without additionalProperties false', async () => {
    await bad({ model: 'claude-3-7-sonnet-20250219', max_tokens: 100, messages: user('x'), output_config: { format: { type: 'json_schema', schema: SCHEMA } } }, /structured outputs are not supported/);
    await bad({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: user('x'), output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: {} } } } }, /additionalProperties/);
  });
  test('thinking rules: budget from 1024 and below max_tokens, temperature 1 only, no forced tool', async () => {
    const thinking = { type: 'enabled', budget_tokens: 1024 };
    await bad({ model: MODEL, max_tokens: 2000, messages: user('x'), thinking: { type: 'enabled', budget_tokens: 500 } }, /greater than or equal to 1024/);
    await bad({ model: MODEL, max_tokens: 1024, messages: user('x'), thinking }, /max_tokens` must be greater than `thinking.budget_tokens/);
    await bad({ model: MODEL, max_tokens: 2000, messages: user('x'), thinking, temperature: 0.2 }, /temperature` may only be set to 1 when thinking is enabled/);
    await bad({ model: MODEL, max_tokens: 2000, messages: user('x'), thinking, top_k: 5 }, /top_k/);
    await bad({ model: MODEL, max_tokens: 2000, messages: user('x'), thinking, tools: [weatherTool], tool_choice: { type: 'any' } }, /tool_choice forces tool use/);
    await bad({ model: 'claude-sonnet-4-5', max_tokens: 2000, messages: user('x'), thinking: { type: 'adaptive' } }, /adaptive thinking is not supported/);
    await bad({ model: 'claude-sonnet-4-5', max_tokens: 2000, messages: user('x'), output_config: { effort: 'low' } }, /effort parameter is not supported/);
    const ok = await client.messages.create({ model: 'claude-opus-4-6', max_tokens: 2000, messages: user('x'), thinking: { type: 'adaptive' }, output_config: { effort: 'low' }, temperature: 1 });
    assert.equal(ok.content[0].type, 'thinking');
  });
  test('a thinking block comes signed, goes back with the tool result, and a forged one is refused', async () => {
    const thinking = { type: 'enabled', budget_tokens: 1024 };
    const first = await client.messages.create({ model: MODEL, max_tokens: 2000, thinking, tools: [weatherTool], messages: user('Paris [[tool]] [[redacted]]') });
    assert.deepEqual(first.content.map((b) => b.type), ['thinking', 'redacted_thinking', 'tool_use']);
    assert.ok(first.content[0].signature.length > 10);
    const toolUse = first.content[2];
    const next = (content) => [...user('Paris [[tool]]'), { role: 'assistant', content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '21C' }] }];
    const second = await client.messages.create({ model: MODEL, max_tokens: 2000, thinking, tools: [weatherTool], messages: next(first.content) });
    assert.equal(second.content.at(-1).text, 'echo: tool result: 21C');
    await bad({ model: MODEL, max_tokens: 2000, thinking, tools: [weatherTool], messages: next([{ ...first.content[0], signature: 'forged' }, toolUse]) }, /Invalid `signature` in `thinking` block/);
    await bad({ model: MODEL, max_tokens: 2000, thinking, tools: [weatherTool], messages: next([toolUse]) }, /must start with a thinking block/);
  });
  test('a streamed thinking block arrives as thinking and signature deltas', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: user('hello') });
    const kinds = new Set();
    stream.on('streamEvent', (e) => e.type === 'content_block_delta' && kinds.add(e.delta.type));
    const msg = await stream.finalMessage();
    assert.deepEqual([...kinds].sort(), ['signature_delta', 'text_delta', 'thinking_delta']);
    assert.equal(msg.content[0].thinking, 'Thinking about: hello');
    assert.ok(msg.content[0].signature);
  });
  test('cache_control: a marked prefix is written once, then read; more than four marks are refused', async () => {
    const manual = 'word '.repeat(1200).trim();
    const body = { model: MODEL, max_tokens: 50, system: [{ type: 'text', text: manual, cache_control: { type: 'ephemeral' } }], messages: user('first question') };
    const a = await client.messages.create(body);
    assert.equal(a.usage.cache_creation_input_tokens, 1200);
    assert.equal(a.usage.cache_read_input_tokens, 0);
    assert.equal(a.usage.input_tokens, 2);
    const b = await client.messages.create({ ...body, messages: user('second question') });
    assert.equal(b.usage.cache_read_input_tokens, 1200);
    assert.equal(b.usage.cache_creation_input_tokens, 0);
    // writes broken down by lifetime: the part up to the last 1h mark for an hour
    const tools = [{ name: 'lookup', description: 'word '.repeat(600).trim(), input_schema: { type: 'object', properties: {} }, cache_control: { type: 'ephemeral', ttl: '1h' } }];
    const system = [{ type: 'text', text: 'other '.repeat(700).trim(), cache_control: { type: 'ephemeral', ttl: '5m' } }];
    const c = await client.messages.create({ model: MODEL, max_tokens: 50, tools, system, messages: user('third question') });
    const hour = c.usage.cache_creation.ephemeral_1h_input_tokens;
    assert.ok(hour >= 600 && hour < c.usage.cache_creation_input_tokens, `1h ${hour} of ${c.usage.cache_creation_input_tokens}`);
    assert.equal(c.usage.cache_creation.ephemeral_5m_input_tokens, 700);
    assert.equal(c.usage.cache_creation_input_tokens, hour + 700);
    const mark = { type: 'ephemeral' };
    await bad({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: [1, 2, 3, 4, 5].map((n) => ({ type: 'text', text: `t${n}`, cache_control: mark })) }] }, /A maximum of 4 blocks with cache_control may be provided. Found 5/);
    await bad({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'text', text: 't', cache_control: { type: 'ephemeral', ttl: '2h' } }] }] }, /ttl/);
  });
});

describe('documents, token counts, the beta header', () => {
  test('text documents are accepted; anthropic-beta is recorded', async () => {
    emu.resetStats();
    const messages = [
      { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'a doc' } }, { type: 'text', text: 'read it' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'ok' }] },
      { role: 'user', content: 'go on' },
    ];
    const r = await client.messages.create({ model: MODEL, max_tokens: 10, messages }, { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } });
    assert.equal(r.content[0].text, 'echo: go on');
    assert.equal(emu.stats().requests[0].anthropic_beta, 'interleaved-thinking-2025-05-14');
  });

  test('messages.countTokens counts what messages.create would', async () => {
    const body = { model: MODEL, system: 'be brief', messages: user('hello big world') };
    const counted = await client.messages.countTokens(body);
    const r = await client.messages.create({ ...body, max_tokens: 50 });
    assert.equal(counted.input_tokens, r.usage.input_tokens);
    await assert.rejects(client.messages.countTokens({ ...body, max_tokens: 5 }), (e) => e.status === 400 && /max_tokens/.test(e.message));
  });

  test('[[cache_write:N]] reports cache_creation_input_tokens', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 20, messages: user('x [[cache_write:512]] [[cache:64]]') });
    assert.equal(r.usage.cache_creation_input_tokens, 512);
    assert.equal(r.usage.cache_read_input_tokens, 64);
  });
});
