// emulator_bedrock.test.mjs — the Bedrock emulator against the official
// @aws-sdk/client-bedrock-runtime.
//
// If AWS's own client cannot talk to the emulator (sign, send, parse the
// answer or the event stream, read the errors), the emulator is wrong, and
// so would be every cloudmux test built on it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  BedrockRuntimeClient,
  ConverseCommand,
  CountTokensCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';

import { startEmulator } from '../emulators/bedrock/index.mjs';

const CREDS = { accessKeyId: 'AKIDEMULATOR1', secretAccessKey: 'emu-secret-e2e', sessionToken: 'emu-session-token' };
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
let emu;

const clientWith = (credentials) =>
  new BedrockRuntimeClient({ region: 'us-east-1', endpoint: emu.baseURL, credentials, maxAttempts: 1 });

before(async () => {
  emu = await startEmulator(CREDS);
});
after(async () => {
  await emu?.close();
});

const user = (text) => [{ role: 'user', content: [{ text }] }];

describe('the official client against the emulator', () => {
  test('Converse: a signed request gets an echo with usage', async () => {
    emu.resetStats();
    const r = await clientWith(CREDS).send(
      new ConverseCommand({ modelId: MODEL, messages: user('hello there'), system: [{ text: 'be brief' }], inferenceConfig: { maxTokens: 50 } }),
    );
    assert.equal(r.output.message.role, 'assistant');
    assert.equal(r.output.message.content[0].text, 'echo: hello there');
    assert.equal(r.stopReason, 'end_turn');
    assert.deepEqual([r.usage.inputTokens, r.usage.outputTokens, r.usage.totalTokens], [4, 3, 7]);
    const rec = emu.stats().requests.at(-1);
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.model, MODEL);
    assert.equal(rec.path, `/model/${encodeURIComponent(MODEL)}/converse`);
  });

  test('Converse: toolChoice any gives a toolUse block and stopReason tool_use', async () => {
    const r = await clientWith(CREDS).send(
      new ConverseCommand({
        modelId: MODEL,
        messages: user('Paris'),
        toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }], toolChoice: { any: {} } },
      }),
    );
    assert.equal(r.stopReason, 'tool_use');
    assert.deepEqual(r.output.message.content[0].toolUse.input, { city: 'Paris', days: 1 });
  });

  test('ConverseStream: the event stream decodes into the SDK events in order', async () => {
    const r = await clientWith(CREDS).send(new ConverseStreamCommand({ modelId: MODEL, messages: user('one two three') }));
    const kinds = [];
    let text = '';
    let usage = null;
    for await (const ev of r.stream) {
      const kind = Object.keys(ev).find((k) => ev[k] !== undefined);
      kinds.push(kind);
      if (ev.contentBlockDelta) text += ev.contentBlockDelta.delta.text;
      if (ev.metadata) usage = ev.metadata.usage;
    }
    assert.equal(text, 'echo: one two three');
    assert.equal(kinds[0], 'messageStart');
    assert.deepEqual(kinds.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
    assert.equal(usage.outputTokens, 4);
  });

  test('ConverseStream: a throttlingException mid-stream surfaces as the SDK exception', async () => {
    const r = await clientWith(CREDS).send(
      new ConverseStreamCommand({ modelId: `${MODEL}+fault:exception_event,after=2`, messages: user('one two three') }),
    );
    await assert.rejects(
      async () => {
        for await (const ev of r.stream) void ev;
      },
      (e) => e.name === 'ThrottlingException',
    );
  });

  test('a wrong secret is InvalidSignatureException 403; an unknown key id UnrecognizedClientException', async () => {
    await assert.rejects(clientWith({ ...CREDS, secretAccessKey: 'wrong' }).send(new ConverseCommand({ modelId: MODEL, messages: user('x') })), (e) => {
      assert.equal(e.name, 'InvalidSignatureException');
      assert.equal(e.$metadata.httpStatusCode, 403);
      assert.match(e.message, /signature we calculated does not match/);
      return true;
    });
    await assert.rejects(clientWith({ ...CREDS, accessKeyId: 'AKIDOTHER' }).send(new ConverseCommand({ modelId: MODEL, messages: user('x') })), (e) => {
      assert.equal(e.name, 'UnrecognizedClientException');
      return true;
    });
    await assert.rejects(clientWith({ ...CREDS, sessionToken: 'other' }).send(new ConverseCommand({ modelId: MODEL, messages: user('x') })), (e) => {
      assert.equal(e.name, 'UnrecognizedClientException');
      return true;
    });
  });

  test('faults: 429 ThrottlingException, ModelNotReady, too-long ValidationException', async () => {
    const c = clientWith(CREDS);
    await assert.rejects(c.send(new ConverseCommand({ modelId: `${MODEL}+fault:status=429`, messages: user('x') })), (e) => e.name === 'ThrottlingException' && e.$metadata.httpStatusCode === 429);
    await assert.rejects(c.send(new ConverseCommand({ modelId: `${MODEL}+fault:status=503`, messages: user('x') })), (e) => e.name === 'ServiceUnavailableException');
    await assert.rejects(c.send(new ConverseCommand({ modelId: `${MODEL}+fault:model_not_ready`, messages: user('x') })), (e) => e.name === 'ModelNotReadyException');
    await assert.rejects(c.send(new ConverseCommand({ modelId: `${MODEL}+fault:too_long`, messages: user('x') })), (e) => e.name === 'ValidationException' && /too long/.test(e.message));
  });
});

describe('InvokeModel against the emulator, with the official client', () => {
  const invoke = (modelId, body) =>
    clientWith(CREDS).send(new InvokeModelCommand({ modelId, contentType: 'application/json', accept: 'application/json', body: JSON.stringify(body) }));
  const decode = (r) => JSON.parse(Buffer.from(r.body).toString('utf8'));
  const claudeBody = (text, extra = {}) => ({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 50, messages: [{ role: 'user', content: text }], ...extra });

  test('Claude: a Messages body gets an Anthropic message with usage', async () => {
    emu.resetStats();
    const r = await invoke(MODEL, claudeBody('hello there', { system: 'be brief' }));
    const msg = decode(r);
    assert.equal(msg.type, 'message');
    assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: hello there' }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.deepEqual(msg.usage, { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3 });
    const rec = emu.stats().requests.at(-1);
    assert.equal(rec.auth, 'ok');
    assert.equal(rec.path, `/model/${encodeURIComponent(MODEL)}/invoke`);
  });

  test('Claude: a body with "model" or without anthropic_version is a ValidationException', async () => {
    await assert.rejects(invoke(MODEL, { ...claudeBody('x'), model: 'claude' }), (e) => e.name === 'ValidationException' && /model/.test(e.message));
    const { anthropic_version: _, ...noVersion } = claudeBody('x');
    await assert.rejects(invoke(MODEL, noVersion), (e) => e.name === 'ValidationException' && /anthropic_version/.test(e.message));
  });

  test('Claude stream: chunk events carry base64 Anthropic events in order', async () => {
    const r = await clientWith(CREDS).send(
      new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body: JSON.stringify(claudeBody('one two three')) }),
    );
    const types = [];
    let text = '';
    for await (const ev of r.body) {
      assert.ok(ev.chunk, 'every event is a chunk');
      const e = JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8'));
      types.push(e.type);
      if (e.type === 'content_block_delta') text += e.delta.text;
    }
    assert.equal(text, 'echo: one two three');
    assert.equal(types[0], 'message_start');
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  });

  test('Claude stream: a throttlingException mid-stream surfaces as the SDK exception', async () => {
    const r = await clientWith(CREDS).send(
      new InvokeModelWithResponseStreamCommand({ modelId: `${MODEL}+fault:exception_event,after=2`, contentType: 'application/json', body: JSON.stringify(claudeBody('one two')) }),
    );
    await assert.rejects(
      async () => {
        for await (const ev of r.body) void ev;
      },
      (e) => e.name === 'ThrottlingException',
    );
  });

  test('Claude with thinking: a signed thinking block first, streamed as thinking and signature deltas', async () => {
    const msg = decode(await invoke(MODEL, claudeBody('deep', { max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } })));
    assert.deepEqual(msg.content.map((b) => b.type), ['thinking', 'text']);
    const r = await clientWith(CREDS).send(
      new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body: JSON.stringify(claudeBody('deep', { max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } })) }),
    );
    const deltas = [];
    for await (const ev of r.body) {
      const e = JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8'));
      if (e.type === 'content_block_delta') deltas.push(e.delta.type);
    }
    assert.deepEqual([...new Set(deltas)], ['thinking_delta', 'signature_delta', 'text_delta']);
  });

  test('CountTokens: the InvokeModel body in base64 gets its input tokens', async () => {
    const body = new TextEncoder().encode(JSON.stringify(claudeBody('count these four words', { system: 'be brief' })));
    const r = await clientWith(CREDS).send(new CountTokensCommand({ modelId: MODEL, input: { invokeModel: { body } } }));
    assert.equal(r.inputTokens, 6);
    assert.equal(emu.stats().requests.at(-1).path, `/model/${encodeURIComponent(MODEL)}/count-tokens`);
    const noVersion = new TextEncoder().encode(JSON.stringify({ max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }));
    await assert.rejects(clientWith(CREDS).send(new CountTokensCommand({ modelId: MODEL, input: { invokeModel: { body: noVersion } } })), (e) => e.name === 'ValidationException');
  });

  test('a replayed stream sends the recorded events in order, spaced as asked', async () => {
    const events = [
      { type: 'message_start', message: { id: 'msg_r', type: 'message', role: 'assistant', model: 'claude', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'replayed' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } },
      { type: 'message_stop' },
    ];
    const rec = emu.setReplay({ events, interval_ms: 20 });
    const r = await clientWith(CREDS).send(new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body: JSON.stringify(claudeBody('x')) }));
    const got = [];
    for await (const ev of r.body) got.push(JSON.parse(Buffer.from(ev.chunk.bytes).toString('utf8')));
    assert.deepEqual(got, events);
    assert.ok(rec.finished_at - rec.started_at >= 100);
    assert.equal(rec.body.anthropic_version, 'bedrock-2023-05-31');
  });

  test('Titan v2 embeddings: dimensions and normalize, and the token count', async () => {
    const r = await invoke('amazon.titan-embed-text-v2:0', { inputText: 'the quick brown fox', dimensions: 256, normalize: true });
    const out = decode(r);
    assert.equal(out.embedding.length, 256);
    assert.equal(out.inputTextTokenCount, 4);
    const norm = Math.sqrt(out.embedding.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-3);
    await assert.rejects(invoke('amazon.titan-embed-text-v2:0', { inputText: 'x', dimensions: 300 }), (e) => e.name === 'ValidationException');
    await assert.rejects(invoke('amazon.titan-embed-text-v2:0', { texts: ['x'] }), (e) => e.name === 'ValidationException');
  });

  test('Cohere embeddings: one vector per text; input_type is required', async () => {
    const out = decode(await invoke('cohere.embed-english-v3', { texts: ['a b', 'c'], input_type: 'search_document' }));
    assert.equal(out.embeddings.length, 2);
    assert.equal(out.embeddings[0].length, 1024);
    assert.equal(out.response_type, 'embeddings_floats');
    await assert.rejects(invoke('cohere.embed-english-v3', { texts: ['a'] }), (e) => e.name === 'ValidationException' && /input_type/.test(e.message));
  });
});

// Converse's structured output, Claude's thinking and cache points, as the
// official client sends and reads them.
describe('structured output, thinking and cache points through Converse', () => {
  const SONNET = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
  const SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
  const refused = async (input, pattern) => {
    await assert.rejects(clientWith(CREDS).send(new ConverseCommand(input)), (e) => {
      assert.equal(e.name, 'ValidationException');
      assert.match(e.message, pattern);
      return true;
    });
  };

  test('outputConfig.textFormat: JSON that follows the schema on Claude 4.5, refused on older models', async () => {
    const outputConfig = { textFormat: { type: 'json_schema', structure: { jsonSchema: { schema: JSON.stringify(SCHEMA), name: 'weather' } } } };
    const r = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, messages: user('Paris'), outputConfig }));
    assert.deepEqual(JSON.parse(r.output.message.content[0].text), { city: 'Paris' });
    await refused({ modelId: MODEL, messages: user('Paris'), outputConfig }, /doesn't support structured output/);
  });
  test('thinking in additionalModelRequestFields: a signed reasoningContent block first, under Claude\'s rules', async () => {
    const additionalModelRequestFields = { thinking: { type: 'enabled', budget_tokens: 1024 } };
    const r = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, messages: user('hi'), inferenceConfig: { maxTokens: 2000 }, additionalModelRequestFields }));
    const rt = r.output.message.content[0].reasoningContent.reasoningText;
    assert.equal(rt.text, 'Thinking about: hi');
    assert.ok(rt.signature);
    const back = [...user('hi'), { role: 'assistant', content: r.output.message.content }, ...user('again')];
    await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, messages: back, inferenceConfig: { maxTokens: 2000 }, additionalModelRequestFields }));
    back[1].content[0].reasoningContent.reasoningText.signature = 'forged';
    await refused({ modelId: SONNET, messages: back, inferenceConfig: { maxTokens: 2000 }, additionalModelRequestFields }, /Invalid `signature`/);
    await refused({ modelId: SONNET, messages: user('x'), inferenceConfig: { maxTokens: 2000, temperature: 0.3 }, additionalModelRequestFields }, /temperature/);
    await refused({ modelId: SONNET, messages: user('x'), inferenceConfig: { maxTokens: 1000 }, additionalModelRequestFields }, /max_tokens/);
    await refused({ modelId: 'meta.llama3-70b-instruct-v1:0', messages: user('x'), additionalModelRequestFields }, /extraneous key \[thinking\]/);
  });
  test('ConverseStream: reasoning text and signature deltas', async () => {
    const r = await clientWith(CREDS).send(new ConverseStreamCommand({ modelId: SONNET, messages: user('hi'), inferenceConfig: { maxTokens: 2000 }, additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 } } }));
    let text = '';
    let signature = '';
    for await (const ev of r.stream) {
      const rc = ev.contentBlockDelta?.delta?.reasoningContent;
      if (rc?.text) text += rc.text;
      if (rc?.signature) signature = rc.signature;
    }
    assert.equal(text, 'Thinking about: hi');
    assert.ok(signature);
  });
  test('cachePoint: the prefix it closes is written, then read; stopSequences past 2500, or empty, are refused', async () => {
    const system = [{ text: 'word '.repeat(1100).trim() }, { cachePoint: { type: 'default' } }];
    const a = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, system, messages: user('one') }));
    assert.equal(a.usage.cacheWriteInputTokens, 1100);
    const b = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, system, messages: user('two') }));
    assert.equal(b.usage.cacheReadInputTokens, 1100);
    assert.equal(b.usage.inputTokens, 1);
    assert.equal(b.usage.cacheDetails, undefined, 'no writes, no breakdown');
    // writes by TTL as the SDK reads TokenUsage.cacheDetails, one hour first
    const hourly = [{ text: 'hour '.repeat(1100).trim() }, { cachePoint: { type: 'default', ttl: '1h' } }, { text: 'five '.repeat(50).trim() }, { cachePoint: { type: 'default' } }];
    const c = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, system: hourly, messages: user('three') }));
    assert.equal(c.usage.cacheWriteInputTokens, 1150);
    assert.deepEqual(c.usage.cacheDetails, [{ ttl: '1h', inputTokens: 1100 }, { ttl: '5m', inputTokens: 50 }]);
    const many = Array.from({ length: 2500 }, (_, i) => `stop-${i}`);
    const ok = await clientWith(CREDS).send(new ConverseCommand({ modelId: SONNET, messages: user('x'), inferenceConfig: { stopSequences: many } }));
    assert.equal(ok.stopReason, 'end_turn', 'five and more (up to 2500) are Converse\'s to take');
    await refused({ modelId: SONNET, messages: user('x'), inferenceConfig: { stopSequences: [...many, 'one more'] } }, /stopSequences' failed to satisfy constraint: Member must have length less than or equal to 2500/);
    await refused({ modelId: SONNET, messages: user('x'), inferenceConfig: { stopSequences: ['a', ''] } }, /stopSequences\.2\.member' failed to satisfy constraint: Member must have length greater than or equal to 1/);
  });
});
