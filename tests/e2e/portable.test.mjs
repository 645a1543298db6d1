// portable.test.mjs — structured outputs, reasoning and prompt caching on
// every provider, as an application written for the OpenAI SDK uses them.
//
// The official `openai` client calls cloudmux with zod schemas
// (`chat.completions.parse()` and `.stream()`), reasoning_effort and
// cache_control; cloudmux translates for the Anthropic, Bedrock (Converse and
// InvokeModel) and Vertex (Gemini and Claude) emulators, which refuse what
// the real services refuse (structured outputs on models without them,
// temperature while thinking, forged thinking signatures, more than four
// cache marks ...) and answer the way they do.  Each test checks what the
// client parsed and what the provider received.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { makeServiceAccount, startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { httpRequest, startCloudmux, tempDir } from './helpers.mjs';

const KEY = 'sk-ant-portable-e2e';
const CREDS = { accessKeyId: 'AKIDPORTABLE01', secretAccessKey: 'portable-secret-e2e', sessionToken: 'portable-session' };
let claude;
let aws;
let vertex;
let gpt;
let gw;
let client;

const Weather = z.object({ city: z.string(), temp: z.number(), unit: z.enum(['C', 'F']), tags: z.array(z.string()) });
const weatherFormat = zodResponseFormat(Weather, 'weather');
// What every emulator's constrained model writes for it when asked about "Paris".
const PARIS = { city: 'Paris', temp: 1, unit: 'C', tags: ['Paris'] };

// Each road to a model with structured outputs, and the form it must get there.
const ROADS = [
  ['anthropic, Claude 4.5: output_config.format', 'claude-native', () => claude, (b) => b.output_config?.format?.type === 'json_schema' && !b.tools],
  ['anthropic, Claude 3.7: a forced tool', 'claude-tool', () => claude, (b) => b.tool_choice?.type === 'tool' && b.tools[0].name === 'weather'],
  ['bedrock Converse, Claude 4.5: outputConfig.textFormat', 'converse-native', () => aws, (b) => typeof b.outputConfig?.textFormat?.structure?.jsonSchema?.schema === 'string'],
  ['bedrock Converse, Claude 3: a forced tool', 'converse-tool', () => aws, (b) => b.toolConfig?.toolChoice?.tool?.name === 'weather'],
  ['bedrock InvokeModel, Claude 4.5: output_config.format', 'invoke-native', () => aws, (b) => b.anthropic_version === 'bedrock-2023-05-31' && b.output_config?.format],
  ['vertex Gemini: responseJsonSchema', 'gemini', () => vertex, (b) => b.generationConfig?.responseJsonSchema?.additionalProperties === false],
  ['vertex, Claude 4.6: output_config.format', 'vertex-claude-native', () => vertex, (b) => b.anthropic_version === 'vertex-2023-10-16' && b.output_config?.format],
  ['vertex, Claude 4.5 (no structured outputs on Vertex yet): a forced tool', 'vertex-claude-tool', () => vertex, (b) => b.tool_choice?.type === 'tool'],
];

const lastBody = (emu) => emu.stats().requests.at(-1).body;

before(async () => {
  claude = await startAnthropic({ key: KEY });
  aws = await startBedrock(CREDS);
  const sa = makeServiceAccount();
  vertex = await startVertex({ serviceAccount: sa });
  gpt = await startOpenAI();
  const saFile = join(tempDir('cmx-portable-'), 'sa.json');
  writeFileSync(saFile, JSON.stringify({ ...sa, token_uri: vertex.tokenURL }), { mode: 0o600 });
  const awsKeys = `region: us-east-1, endpoint_url: "${aws.baseURL}", access_key_id: env:CMX_AWS_ID, secret_access_key: env:CMX_AWS_SECRET, session_token: env:CMX_AWS_TOKEN`;
  const price = '{ input: 3, output: 15, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6 }';
  gw = await startCloudmux({
    env: { CMX_ANT_KEY: KEY, CMX_AWS_ID: CREDS.accessKeyId, CMX_AWS_SECRET: CREDS.secretAccessKey, CMX_AWS_TOKEN: CREDS.sessionToken },
    configYaml: `
providers:
  claude: { type: anthropic, base_url: "${claude.baseURL}", api_key: env:CMX_ANT_KEY }
  aws: { type: bedrock, ${awsKeys} }
  aws-invoke: { type: bedrock, api: invoke, ${awsKeys} }
  vertex: { type: vertex, project: emu-project, location: us-central1, endpoint_url: "${vertex.baseURL}", service_account_file: "${saFile}" }
  gpt: { type: openai, base_url: "${gpt.baseURL}" }
models:
  claude-native: { targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
  claude-tool: { targets: [ { provider: claude, model: claude-3-7-sonnet-20250219 } ] }
  claude-forced-tool: { targets: [ { provider: claude, model: claude-sonnet-4-5, structured_output: tool } ] }
  converse-native: { targets: [ { provider: aws, model: anthropic.claude-sonnet-4-5-20250929-v1:0 } ] }
  converse-tool: { targets: [ { provider: aws, model: anthropic.claude-3-haiku-20240307-v1:0 } ] }
  converse-llama: { targets: [ { provider: aws, model: meta.llama3-70b-instruct-v1:0 } ] }
  converse-llama-lenient: { drop_unsupported_params: true, targets: [ { provider: aws, model: meta.llama3-70b-instruct-v1:0 } ] }
  invoke-native: { targets: [ { provider: aws-invoke, model: anthropic.claude-sonnet-4-5-20250929-v1:0 } ] }
  gemini: { targets: [ { provider: vertex, model: gemini-2.5-flash } ] }
  gemini3: { targets: [ { provider: vertex, model: gemini-3-flash-preview } ] }
  vertex-claude-native: { targets: [ { provider: vertex, model: claude-opus-4-6 } ] }
  vertex-claude-tool: { targets: [ { provider: vertex, model: claude-sonnet-4-5 } ] }
  gpt: { targets: [ { provider: gpt, model: gpt-4o-mini } ] }
  gemini3-then-gpt: { targets: [ { provider: vertex, model: gemini-3-flash-preview }, { provider: gpt, model: gpt-4o-mini } ] }
  gpt-then-claude:
    targets:
      - { provider: gpt, model: "gpt-4o-mini+fault:status=503" }
      - { provider: claude, model: claude-sonnet-4-5 }
  claude-cached: { targets: [ { provider: claude, model: claude-sonnet-4-5, price: ${price} } ] }
  converse-cached: { targets: [ { provider: aws, model: anthropic.claude-sonnet-4-5-20250929-v1:0, price: ${price} } ] }
  invoke-cached: { targets: [ { provider: aws-invoke, model: anthropic.claude-sonnet-4-5-20250929-v1:0, price: ${price} } ] }
  vertex-claude-cached: { targets: [ { provider: vertex, model: claude-sonnet-4-5, price: ${price} } ] }
  claude-auto-cache: { cache_prompt: [system, tools], targets: [ { provider: claude, model: claude-sonnet-4-5 } ] }
  cascade-json:
    strategy: cascade
    targets:
      - { provider: gpt, model: gpt-4o-mini, price: { input: 0.1, output: 0.1 } }
      - { provider: aws, model: anthropic.claude-3-haiku-20240307-v1:0, price: { input: 1, output: 5 } }
      - { provider: claude, model: claude-sonnet-4-5, price: ${price} }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await Promise.all([claude?.close(), aws?.close(), vertex?.close(), gpt?.close()]);
});

describe('response_format with a zod schema: chat.completions.parse()', () => {
  for (const [what, model, emu, sentRight] of ROADS) {
    test(what, async () => {
      const r = await client.chat.completions.parse({ model, messages: [{ role: 'user', content: 'Paris' }], response_format: weatherFormat });
      const m = r.choices[0].message;
      assert.deepEqual(m.parsed, PARIS);
      assert.equal(JSON.parse(m.content).city, 'Paris');
      assert.equal(m.tool_calls?.length ?? 0, 0, 'no tool call the client did not ask for');
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.ok(sentRight(lastBody(emu())), JSON.stringify(lastBody(emu())));
    });
  }

  test('structured_output: tool on the target forces the tool form on a model that has the native one', async () => {
    const r = await client.chat.completions.parse({ model: 'claude-forced-tool', messages: [{ role: 'user', content: 'Paris' }], response_format: weatherFormat });
    assert.deepEqual(r.choices[0].message.parsed, PARIS);
    assert.equal(lastBody(claude).tool_choice.name, 'weather');
    assert.equal(lastBody(claude).output_config, undefined);
  });

  test('the client\'s own tools stay callable beside a structured answer', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const r = await client.chat.completions.create({ model: 'claude-tool', messages: [{ role: 'user', content: 'Paris' }], tools, response_format: weatherFormat });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(lastBody(claude).tool_choice, { type: 'any' });
    assert.deepEqual(lastBody(claude).tools.map((t) => t.name), ['get_weather', 'weather']);
  });

  test('json_object on Claude: an instruction, and the answer checked to be one JSON object', async () => {
    // the emulator echoes prose: not the object json_object asked for, so it is no answer
    await assert.rejects(client.chat.completions.create({ model: 'claude-native', messages: [{ role: 'user', content: 'Paris' }], response_format: { type: 'json_object' } }), (e) => {
      assert.equal(e.status, 502);
      assert.match(e.message, /not the JSON object response_format asked for/);
      return true;
    });
    assert.match(lastBody(claude).system, /Answer with one JSON object and nothing else/);
    const g = await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'Paris' }], response_format: { type: 'json_object' } });
    assert.deepEqual(JSON.parse(g.choices[0].message.content), { echo: 'Paris' });
  });
});

describe('response_format streamed: chat.completions.stream()', () => {
  for (const [what, model, emu, sentRight] of ROADS) {
    test(what, async () => {
      const stream = client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'Paris' }], response_format: weatherFormat, stream_options: { include_usage: true } });
      let deltas = 0;
      stream.on('content.delta', () => deltas++);
      const r = await stream.finalChatCompletion();
      assert.deepEqual(r.choices[0].message.parsed, PARIS);
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.ok(deltas >= 1, 'the answer came as content deltas');
      assert.ok(sentRight(lastBody(emu())));
    });
  }
});

describe('reasoning_effort', () => {
  test('"high" on Claude: extended thinking with a budget, reasoning_content and signed thinking_blocks back', async () => {
    const r = await client.chat.completions.create({ model: 'claude-tool', messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'high', temperature: 0.2 });
    const m = r.choices[0].message;
    assert.equal(m.reasoning_content, 'Thinking about: hello');
    assert.equal(m.thinking_blocks[0].type, 'thinking');
    assert.ok(m.thinking_blocks[0].signature);
    assert.equal(m.content, 'echo: hello');
    const sent = lastBody(claude);
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 24576 });
    assert.equal(sent.max_tokens, 4096 + 24576, 'max_tokens raised to fit the budget');
    assert.equal(sent.temperature, undefined, 'Claude takes no temperature but 1 while thinking');
  });

  test('"high" on Claude 4.6: adaptive thinking with output_config.effort', async () => {
    await client.chat.completions.create({ model: 'vertex-claude-native', messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'high' });
    const sent = lastBody(vertex);
    assert.deepEqual(sent.thinking, { type: 'adaptive' });
    assert.equal(sent.output_config.effort, 'high');
  });

  test('"high" on Gemini: thinkingConfig, the thoughts as reasoning_content, reasoning_tokens counted', async () => {
    const r = await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'high' });
    assert.equal(r.choices[0].message.reasoning_content, 'Thinking about: hello');
    assert.equal(r.choices[0].message.content, 'echo: hello');
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 3);
    assert.deepEqual(lastBody(vertex).generationConfig.thinkingConfig, { thinkingBudget: 24576, includeThoughts: true });
  });

  test('streamed: delta.reasoning_content from Claude and Gemini, Claude\'s block whole with its signature', async () => {
    for (const model of ['claude-tool', 'gemini', 'converse-native']) {
      const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'low', stream: true });
      let reasoning = '';
      let content = '';
      const blocks = [];
      for await (const c of stream) {
        const d = c.choices[0]?.delta ?? {};
        reasoning += d.reasoning_content ?? '';
        content += d.content ?? '';
        blocks.push(...(d.thinking_blocks ?? []));
      }
      assert.equal(reasoning, 'Thinking about: hello', model);
      assert.equal(content, 'echo: hello', model);
      if (model !== 'gemini') assert.ok(blocks[0]?.signature, `${model}: the signed block`);
    }
  });

  test('a two-turn conversation sends the thinking back: tool use, tool result, answer (Claude and Converse)', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    for (const [model, emu] of [['claude-tool', claude], ['converse-native', aws]]) {
      const messages = [{ role: 'user', content: model === 'claude-tool' ? 'Paris [[tool]] [[redacted]]' : 'Paris' }];
      const extra = model === 'claude-tool' ? {} : { tool_choice: 'auto' };
      const first = await client.chat.completions.create({ model, messages, tools, reasoning_effort: 'low', ...extra });
      const m = first.choices[0].message;
      if (model === 'converse-native') {
        // Converse answers a tool turn only when forced, which thinking forbids: answer text, then go on
        assert.ok(m.thinking_blocks?.[0]?.signature, JSON.stringify(m));
        messages.push(m, { role: 'user', content: 'and tomorrow?' });
      } else {
        assert.equal(first.choices[0].finish_reason, 'tool_calls');
        assert.deepEqual(m.thinking_blocks.map((b) => b.type), ['thinking', 'redacted_thinking']);
        messages.push(m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: '21C' });
      }
      const second = await client.chat.completions.create({ model, messages, tools, reasoning_effort: 'low', ...extra });
      assert.equal(second.choices[0].finish_reason, 'stop', model);
      const sent = lastBody(emu).messages[1];
      if (model === 'claude-tool') {
        assert.deepEqual(sent.content.map((b) => b.type), ['thinking', 'redacted_thinking', 'tool_use']);
        assert.equal(second.choices[0].message.content, 'echo: tool result: 21C');
      } else {
        assert.ok(sent.content[0].reasoningContent.reasoningText.signature);
      }
      // a forged signature is the provider's 400, passed on
      const forged = structuredClone(messages);
      forged[1].thinking_blocks[0].signature = 'forged';
      await assert.rejects(client.chat.completions.create({ model, messages: forged, tools, reasoning_effort: 'low', ...extra }), (e) => e.status === 400 && /signature/.test(e.message));
    }
  });

  test('where a model has no reasoning setting: a 400 naming the field and the target, or dropped when configured', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'converse-llama', messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'high' }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /parameter 'reasoning_effort' \("high"\) is not supported by provider 'aws' \(bedrock\)/);
      return true;
    });
    const r = await client.chat.completions.create({ model: 'converse-llama-lenient', messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'high' });
    assert.equal(r.choices[0].message.content, 'echo: x');
    assert.equal(lastBody(aws).additionalModelRequestFields, undefined);
  });
});

describe('Gemini 3 thought signatures on function calls', () => {
  const tools = ['get_weather', 'get_time'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: { city: { type: 'string' } } } } }));
  const question = { role: 'user', content: 'Paris [[parallel]]' };
  const results = (calls) => calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: '{"ok":true}' }));
  const signatureOf = (call) => call.extra_content?.google?.thought_signature;

  for (const streamed of [false, true]) {
    test(`a tool conversation goes on: the signature comes back with the call${streamed ? ' (streamed)' : ''} and returns to its part`, async () => {
      const ask = { model: 'gemini3', messages: [question], tools, tool_choice: 'required' };
      const message = streamed ? (await client.chat.completions.stream(ask).finalChatCompletion()).choices[0].message : (await client.chat.completions.create(ask)).choices[0].message;
      assert.deepEqual(message.tool_calls.map((c) => c.function.name), ['get_weather', 'get_time']);
      const signature = signatureOf(message.tool_calls[0]);
      assert.equal(typeof signature, 'string', 'the first of parallel calls is signed');
      assert.equal(signatureOf(message.tool_calls[1]), undefined, 'and only the first');
      // the application appends the assistant message as the SDK gave it, then the results
      const r = await client.chat.completions.create({ model: 'gemini3', messages: [question, message, ...results(message.tool_calls)], tools });
      assert.match(r.choices[0].message.content, /^tool result:/);
      const sent = lastBody(vertex).contents[1].parts;
      assert.equal(sent[0].thoughtSignature, signature);
      assert.equal(sent[1].thoughtSignature, undefined);
    });
  }

  test('without the signature Gemini 3 refuses the turn, and the client gets its 400', async () => {
    const message = (await client.chat.completions.create({ model: 'gemini3', messages: [question], tools, tool_choice: 'required' })).choices[0].message;
    const unsigned = { ...message, tool_calls: message.tool_calls.map(({ extra_content: _drop, ...call }) => call) };
    await assert.rejects(client.chat.completions.create({ model: 'gemini3', messages: [question, unsigned, ...results(message.tool_calls)], tools }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /missing a `thought_signature`/);
      return true;
    });
  });
});

describe('a signed Gemini 3 tool conversation failing over to OpenAI', () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const question = { role: 'user', content: 'Paris' };

  test('the OpenAI target gets the tool calls without extra_content, which OpenAI refuses', async () => {
    const message = (await client.chat.completions.create({ model: 'gemini3', messages: [question], tools, tool_choice: 'required' })).choices[0].message;
    assert.equal(typeof message.tool_calls[0].extra_content?.google?.thought_signature, 'string');
    const turn = [question, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '{"ok":true}' }];
    // the emulator refuses the member as OpenAI does, so the gateway must take it out
    const direct = await httpRequest(`${gpt.baseURL}/chat/completions`, { body: { model: 'gpt-4o-mini', messages: turn, tools } });
    assert.equal(direct.status, 400);
    assert.match(JSON.parse(direct.body).error.message, /'extra_content' was unexpected/);
    vertex.setFault({ spec: 'status=503', model: 'gemini-3-flash-preview', count: 1 });
    const { data: r, response } = await client.chat.completions.create({ model: 'gemini3-then-gpt', messages: turn, tools }).withResponse();
    assert.equal(response.headers.get('x-cloudmux-provider'), 'gpt');
    assert.match(r.choices[0].message.content, /tool result/);
    const sent = gpt.stats().requests.at(-1).body.messages[1];
    assert.deepEqual(sent.tool_calls, message.tool_calls.map(({ extra_content: _drop, ...call }) => call));
  });
});

describe('failover keeps the shape', () => {
  test('an OpenAI-compatible target fails, Claude answers the same parsed object with its reasoning', async () => {
    const { data: r, response } = await client.chat.completions
      .parse({ model: 'gpt-then-claude', messages: [{ role: 'user', content: 'Paris' }], response_format: weatherFormat, reasoning_effort: 'medium' })
      .withResponse();
    assert.equal(response.headers.get('x-cloudmux-provider'), 'claude');
    assert.deepEqual(r.choices[0].message.parsed, PARIS);
    assert.equal(r.choices[0].message.reasoning_content, 'Thinking about: Paris');
    assert.equal(r.choices[0].finish_reason, 'stop');
    const sent = lastBody(claude);
    assert.equal(sent.output_config.format.type, 'json_schema');
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 8192 });
    const tried = gpt.stats().requests.at(-1).body;
    assert.equal(tried.reasoning_effort, 'medium', 'passed through to the OpenAI target as it is');
    assert.equal(tried.response_format.type, 'json_schema');
  });
});

describe('the cascade\'s JSON check', () => {
  test('a prose answer to response_format escalates; a translated structured answer passes the check', async () => {
    const { data: r, response } = await client.chat.completions
      .parse({ model: 'cascade-json', messages: [{ role: 'user', content: 'Paris' }], response_format: weatherFormat })
      .withResponse();
    // the OpenAI emulator ignores response_format and answers prose: escalated;
    // Claude 3 on Converse answers through the forced tool: valid JSON, taken
    assert.equal(response.headers.get('x-cloudmux-provider'), 'aws');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
    assert.deepEqual(r.choices[0].message.parsed, PARIS);
  });
});

describe('stop sequences up to each provider\'s documented limit', () => {
  const ask = (model, stop) => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], stop });
  const six = ['a', 'b', 'c', 'd', 'e', 'f'];

  test('Converse takes up to 2500 (its API reference), Claude any number, Gemini five', async () => {
    await ask('converse-tool', six);
    assert.deepEqual(lastBody(aws).inferenceConfig.stopSequences, six);
    await ask('claude-native', [...six, 'g', 'h']);
    assert.equal(lastBody(claude).stop_sequences.length, 8);
    await ask('gemini', six.slice(0, 5));
    assert.equal(lastBody(vertex).generationConfig.stopSequences.length, 5);
  });

  test('past a limit: a 400 naming the field, the target and the limit', async () => {
    const refused = async (model, stop, re) =>
      assert.rejects(ask(model, stop), (e) => {
        assert.equal(e.status, 400);
        assert.match(e.message, re);
        return true;
      });
    await refused('gemini', six, /'stop' holds 6 sequences; provider 'vertex' \(vertex\) takes at most 5 in generationConfig\.stopSequences/);
    await refused('converse-tool', Array.from({ length: 2501 }, (_, i) => `s${i}`), /'stop' holds 2501 sequences; provider 'aws' \(bedrock\) takes at most 2500 in inferenceConfig\.stopSequences/);
    await refused('converse-tool', ['a', ''], /'stop\[1\]' is empty; provider 'aws' \(bedrock\) takes stop sequences of at least one character in inferenceConfig\.stopSequences/);
  });
});

describe('prompt caching', () => {
  const manual = 'word '.repeat(1100).trim();
  const cachedSystem = [{ type: 'text', text: manual, cache_control: { type: 'ephemeral', ttl: '1h' } }];
  // $3 per 1M input, $0.30 per 1M cached input, $15 per 1M output; writes
  // $3.75 per 1M for 5 minutes, $6 for an hour (the mark here asks for 1h)
  const cost = (u) => {
    const read = u.prompt_tokens_details.cached_tokens;
    const written = u.prompt_tokens_details.cache_write_tokens ?? 0;
    return ((u.prompt_tokens - read - written) * 3 + read * 0.3 + written * 6 + u.completion_tokens * 15) / 1e6;
  };
  const charged = (response) => Number(response.headers.get('x-cloudmux-cost-usd'));

  for (const [model, emu, mark] of [
    ['claude-cached', () => claude, (b) => b.system[0].cache_control],
    ['converse-cached', () => aws, (b) => b.system[1].cachePoint],
    ['invoke-cached', () => aws, (b) => b.system[0].cache_control],
    ['vertex-claude-cached', () => vertex, (b) => b.system[0].cache_control],
  ]) {
    test(`cache_control on a content part reaches ${model.replace(/-cached$/, '')} as its own mark; cache writes and reads reported and priced`, async () => {
      // a prompt of its own: Converse and InvokeModel share one emulated cache
      const system = [{ ...cachedSystem[0], text: `${model} ${'word '.repeat(1099).trim()}` }];
      const ask = (q) => client.chat.completions.create({ model, messages: [{ role: 'system', content: system }, { role: 'user', content: q }] }).withResponse();
      const first = await ask('first question');
      assert.deepEqual(mark(lastBody(emu())), { type: emu() === aws && model === 'converse-cached' ? 'default' : 'ephemeral', ttl: '1h' });
      assert.equal(first.data.usage.prompt_tokens_details.cached_tokens, 0);
      assert.equal(first.data.usage.prompt_tokens_details.cache_write_tokens, 1100);
      // 1100 written for an hour at $6, 2 more input at $3: the writes are not billed as input
      assert.ok(Math.abs(charged(first.response) - cost(first.data.usage)) < 1e-9, `cost ${charged(first.response)}, expected ${cost(first.data.usage)}`);
      assert.ok(charged(first.response) > (1102 * 3 + first.data.usage.completion_tokens * 15) / 1e6);
      const { data: r, response } = await ask('second question');
      assert.equal(r.usage.prompt_tokens_details.cached_tokens, 1100);
      assert.equal(r.usage.prompt_tokens, 1102);
      assert.equal(r.usage.prompt_tokens_details.cache_write_tokens, undefined);
      assert.ok(Math.abs(charged(response) - cost(r.usage)) < 1e-9, `cost ${charged(response)}, expected ${cost(r.usage)}`);
    });
  }

  test('cache_prompt on a group marks the system prompt and the tools itself', async () => {
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
    await client.chat.completions.create({ model: 'claude-auto-cache', messages: [{ role: 'system', content: manual }, { role: 'user', content: 'q' }], tools });
    const sent = lastBody(claude);
    assert.deepEqual(sent.system, [{ type: 'text', text: manual, cache_control: { type: 'ephemeral' } }]);
    assert.deepEqual(sent.tools[0].cache_control, { type: 'ephemeral' });
    assert.equal(typeof sent.messages[0].content, 'string', 'the last user message was not asked for');
  });

  test('an OpenAI-format target gets the request without cache_control or thinking_blocks', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt',
      messages: [{ role: 'system', content: cachedSystem }, { role: 'assistant', content: 'hi', thinking_blocks: [{ type: 'thinking', thinking: 't', signature: 's' }] }, { role: 'user', content: 'q' }],
    });
    assert.ok(r.choices[0].message.content);
    const sent = gpt.stats().requests.at(-1).body;
    assert.deepEqual(sent.messages[0].content, [{ type: 'text', text: manual }]);
    assert.equal(sent.messages[1].thinking_blocks, undefined);
  });

  test('more than four marks is Anthropic\'s 400, passed on', async () => {
    const mark = { type: 'ephemeral' };
    const content = [1, 2, 3, 4, 5].map((n) => ({ type: 'text', text: `part ${n}`, cache_control: mark }));
    await assert.rejects(client.chat.completions.create({ model: 'claude-native', messages: [{ role: 'user', content }] }), (e) => e.status === 400 && /A maximum of 4 blocks with cache_control/.test(e.message));
  });
});
