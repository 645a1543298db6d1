// emulator_bedrock.test.mjs — the Bedrock emulator against the official
// @aws-sdk/client-bedrock-runtime.
//
// If AWS's own client cannot talk to the emulator (sign, send, parse the
// answer or the event stream, read the errors), the emulator is wrong, and
// so would be every cloudmux test built on it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';

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
