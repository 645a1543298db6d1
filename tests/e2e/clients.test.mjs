// clients.test.mjs — the client libraries people use, against the
// quickstart exactly as shipped (examples/quickstart.yaml, mock providers
// only): the official `openai` client, LangChain (@langchain/openai) and the
// Vercel AI SDK (`ai` with @ai-sdk/openai-compatible and @ai-sdk/openai), for
// chat, streams, `n`, required tool calls, structured output and embeddings
// (base64 and float, with `dimensions`).  The mock must answer as a real
// provider would, or these libraries quietly get wrong results.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { embed, embedMany, generateObject, generateText, jsonSchema, streamText, tool } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';

import { REPO_ROOT, startCloudmux, waitFor } from './helpers.mjs';

let gw;
let client;

before(async () => {
  gw = await startCloudmux({ configYaml: readFileSync(join(REPO_ROOT, 'examples/quickstart.yaml'), 'utf8') });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } },
      required: ['city', 'unit'],
    },
  },
};

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('openai', () => {
  test('n: 2 returns two choices, whole and streamed', async () => {
    const r = await client.chat.completions.create({ model: 'fast', n: 2, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    assert.ok(r.choices.every((c) => c.message.content.length > 0 && c.finish_reason === 'stop'));
    const texts = ['', ''];
    const stream = await client.chat.completions.create({ model: 'fast', n: 2, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
    assert.equal(texts[0], r.choices[0].message.content);
    assert.equal(texts[1], r.choices[1].message.content);
  });

  test('tool_choice "required" and a named function give a tool call, whole and streamed', async () => {
    const r = await client.chat.completions.create({
      model: 'fast', tools: [weatherTool], tool_choice: 'required', messages: [{ role: 'user', content: 'weather in Paris?' }],
    });
    const call = r.choices[0].message.tool_calls[0];
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.content, null);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'mock', unit: 'celsius' });

    const runner = client.chat.completions.stream({
      model: 'fast', tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } },
      messages: [{ role: 'user', content: 'weather in Paris?' }],
    });
    const final = await runner.finalChatCompletion();
    const streamed = final.choices[0].message.tool_calls[0];
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(streamed.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(streamed.function.arguments), { city: 'mock', unit: 'celsius' });

    // With tool_choice "auto" the model may answer in text, and the mock does.
    const auto = await client.chat.completions.create({ model: 'fast', tools: [weatherTool], messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(auto.choices[0].finish_reason, 'stop');
  });

  test('embeddings honour encoding_format and dimensions, deterministically', async () => {
    // The client asks for base64 by default and decodes it.
    const b64 = await client.embeddings.create({ model: 'fast', input: ['red', 'blue'], dimensions: 16 });
    assert.equal(b64.data.length, 2);
    for (const d of b64.data) {
      assert.equal(d.embedding.length, 16);
      assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-4, 'not a unit vector');
    }
    assert.notDeepEqual(b64.data[0].embedding, b64.data[1].embedding);
    const floats = await client.embeddings.create({ model: 'fast', input: 'red', dimensions: 16, encoding_format: 'float' });
    // The same input gives the same float32 vector in either encoding.
    floats.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - b64.data[0].embedding[i]) < 1e-6));
    const raw = await fetch(`${gw.baseURL}/embeddings`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', input: 'red', dimensions: 4, encoding_format: 'base64' }),
    }).then((r) => r.json());
    assert.equal(typeof raw.data[0].embedding, 'string');
    assert.equal(Buffer.from(raw.data[0].embedding, 'base64').length, 16, 'four little-endian float32s');
    const bad = await fetch(`${gw.baseURL}/embeddings`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', input: 'red', encoding_format: 'hex' }),
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /encoding_format/);
  });

  test('values OpenAI refuses are refused with a 400 naming them', async () => {
    const post = async (path, body) => {
      const r = await fetch(`${gw.baseURL}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, message: (await r.json()).error?.message };
    };
    const msgs = [{ role: 'user', content: 'hi' }];
    for (const [path, body, re] of [
      ['chat/completions', { model: 'fast', messages: msgs, n: 0 }, /'n'/],
      ['chat/completions', { model: 'fast', messages: msgs, n: 129 }, /'n'/],
      ['chat/completions', { model: 'fast', messages: msgs, tool_choice: 'required' }, /tool_choice/],
      ['chat/completions', { model: 'fast', messages: msgs, stop: ['a', 'b', 'c', 'd', 'e'] }, /'stop': array too long\. Expected an array with maximum length 4, but got an array with length 5/],
      ['chat/completions', { model: 'fast', messages: msgs, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, /nope/],
      ['embeddings', { model: 'fast', input: 'x', dimensions: 0 }, /dimensions/],
      ['embeddings', { model: 'fast', input: 'x', dimensions: 5000 }, /dimensions/],
    ]) {
      const r = await post(path, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.message, re);
    }
  });

  test('an aborted stream is logged with its provider and attempt', async () => {
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'fast', stream: true, messages: [{ role: 'user', content: 'abort me' }] }, { signal: ac.signal });
    // The client ends its iteration quietly on an abort.
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices[0]?.delta?.content) ac.abort();
    }
    assert.ok(chunks < 8, `the whole stream arrived (${chunks} chunks) before the abort`);
    const line = await waitFor(() => gw.accessLog().find((l) => l.status === 499), { what: 'the 499 log line' });
    assert.equal(line.provider, 'fast-mock');
    assert.equal(line.attempts, 1);
  });
});

describe('LangChain (@langchain/openai)', () => {
  const chat = (opts = {}) => new ChatOpenAI({ model: 'fast', apiKey: 'unused', configuration: { baseURL: gw.baseURL }, maxRetries: 0, ...opts });

  test('invoke, stream and n', async () => {
    const r = await chat().invoke('hello');
    assert.match(r.content, /simulated/);
    let streamed = '';
    for await (const chunk of await chat().stream('hello')) streamed += chunk.content;
    assert.equal(streamed, r.content);
    const two = await chat({ n: 2 }).generate([['hello']]);
    assert.equal(two.generations[0].length, 2);
  });

  test('bindTools with a required tool returns tool_calls; withStructuredOutput returns an object', async () => {
    const weather = { name: 'get_weather', description: 'The weather in a city', schema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }) };
    const m = chat().bindTools([weather], { tool_choice: 'required' });
    const r = await m.invoke('weather in Paris?');
    assert.equal(r.tool_calls.length, 1);
    assert.equal(r.tool_calls[0].name, 'get_weather');
    assert.deepEqual(r.tool_calls[0].args, { city: 'mock', unit: 'celsius' });
    const structured = await chat().withStructuredOutput(z.object({ answer: z.string(), confidence: z.number() }), { name: 'reply' }).invoke('hi');
    assert.deepEqual(structured, { answer: 'mock', confidence: 1 });
  });

  test('OpenAIEmbeddings gets real vectors of the asked size (base64 underneath)', async () => {
    const emb = new OpenAIEmbeddings({ model: 'fast', apiKey: 'unused', dimensions: 32, configuration: { baseURL: gw.baseURL } });
    const v = await emb.embedQuery('hello');
    assert.equal(v.length, 32);
    assert.ok(Math.abs(norm(v) - 1) < 1e-4, `not a unit vector: ${v.slice(0, 4)}`);
    const docs = await emb.embedDocuments(['hello', 'world']);
    assert.deepEqual(docs[0], v);
    assert.notDeepEqual(docs[1], v);
  });
});

describe('Vercel AI SDK (ai 6)', () => {
  // supportsStructuredOutputs: send response_format json_schema (the mock,
  // like OpenAI, answers it with JSON that follows the schema).
  const compatible = () => createOpenAICompatible({ name: 'cloudmux', baseURL: gw.baseURL, supportsStructuredOutputs: true });
  const openai = () => createOpenAI({ baseURL: gw.baseURL, apiKey: 'unused' });

  test('@ai-sdk/openai-compatible: generateText, streamText, a required tool, structured output', async () => {
    const model = compatible().chatModel('fast');
    const r = await generateText({ model, prompt: 'hello', maxRetries: 0 });
    assert.match(r.text, /simulated/);
    const s = streamText({ model, prompt: 'hello', maxRetries: 0 });
    let text = '';
    for await (const part of s.textStream) text += part;
    assert.equal(text, r.text);
    const t = await generateText({
      model, prompt: 'weather in Paris?', toolChoice: 'required', maxRetries: 0,
      tools: { get_weather: tool({ description: 'The weather in a city', inputSchema: z.object({ city: z.string() }) }) },
    });
    assert.equal(t.toolCalls.length, 1);
    assert.equal(t.toolCalls[0].toolName, 'get_weather');
    assert.deepEqual(t.toolCalls[0].input, { city: 'mock' });
    const o = await generateObject({ model, prompt: 'hi', maxRetries: 0, schema: jsonSchema({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }) });
    assert.deepEqual(o.object, { ok: true });
  });

  test('@ai-sdk/openai: chat models and embeddings', async () => {
    const r = await generateText({ model: openai().chat('fast'), prompt: 'hello', maxRetries: 0 });
    assert.match(r.text, /simulated/);
    const s = streamText({ model: openai().chat('fast'), prompt: 'hello', maxRetries: 0 });
    let text = '';
    for await (const part of s.textStream) text += part;
    assert.equal(text, r.text);
    const one = await embed({ model: openai().embedding('fast'), value: 'hello', maxRetries: 0 });
    assert.equal(one.embedding.length, 8);
    const many = await embedMany({
      model: compatible().embeddingModel('fast'), values: ['hello', 'world'], maxRetries: 0,
      providerOptions: { cloudmux: { dimensions: 12 } },
    });
    assert.equal(many.embeddings.length, 2);
    assert.ok(many.embeddings.every((e) => Math.abs(norm(e) - 1) < 1e-4));
  });
});
