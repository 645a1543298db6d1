// emulator_vertex.test.mjs — the Vertex AI emulator, judged by the official
// @google/genai client in Vertex mode (vertexai: true) with a generated
// service-account key through google-auth-library.
//
// The gateway's vertex tests trust the emulator to behave like
// aiplatform.googleapis.com and oauth2.googleapis.com; this file earns that
// trust.  The SDK signs its own JWT (google-auth-library's gtoken), the
// emulator verifies it and issues the token the SDK then sends to the Gemini
// endpoints.  google-auth-library always posts to Google's token URL, so a
// request interceptor on its transport redirects that one URL to the
// emulator; everything else is the SDK as shipped.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { GoogleGenAI } from '@google/genai';
import { JWT } from 'google-auth-library';

import { makeServiceAccount, startEmulator } from '../emulators/vertex/index.mjs';
import { httpRequest } from './helpers.mjs';

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const MODEL = 'gemini-2.5-flash';
let emu;
let sa;
let ai;

function clientFor(key, { project = 'emu-project', location = 'us-central1' } = {}) {
  const jwt = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  jwt.transporter.interceptors.request.add({
    resolved: async (opts) => {
      if (String(opts.url) === GOOGLE_TOKEN_URL) opts.url = new URL(emu.tokenURL);
      return opts;
    },
  });
  return new GoogleGenAI({ vertexai: true, project, location, googleAuthOptions: { authClient: jwt }, httpOptions: { baseUrl: emu.baseURL, retryOptions: { attempts: 1 } } });
}

before(async () => {
  sa = makeServiceAccount();
  emu = await startEmulator({ serviceAccount: sa });
  ai = clientFor(sa);
});
after(async () => {
  await emu.close();
});

describe('the official client against the emulator', () => {
  test('generateContent: a signed JWT buys a token, the token buys an answer', async () => {
    emu.resetStats();
    const r = await ai.models.generateContent({ model: MODEL, contents: 'hello big world', config: { systemInstruction: 'be brief' } });
    assert.equal(r.text, 'echo: hello big world');
    assert.equal(r.candidates[0].finishReason, 'STOP');
    assert.equal(r.usageMetadata.promptTokenCount, 5);
    assert.equal(r.usageMetadata.candidatesTokenCount, 4);
    const s = emu.stats();
    assert.equal(s.token_calls, 1);
    assert.equal(s.token_rejects, 0);
    const rec = s.requests.at(-1);
    assert.equal(rec.auth, 'ok');
    assert.match(rec.path, /^\/v1(beta1)?\/projects\/emu-project\/locations\/us-central1\/publishers\/google\/models\/gemini-2\.5-flash:generateContent$/);
    assert.deepEqual(rec.body.systemInstruction.parts, [{ text: 'be brief' }]);
  });

  test('the token is reused for the next request', async () => {
    emu.resetStats();
    await ai.models.generateContent({ model: MODEL, contents: 'again' });
    assert.equal(emu.stats().token_calls, 0);
  });

  test('generateContentStream reads the SSE chunks and the final finishReason and usage', async () => {
    const stream = await ai.models.generateContentStream({ model: MODEL, contents: 'streamed words here' });
    let text = '';
    let last;
    for await (const c of stream) {
      text += c.text ?? '';
      last = c;
    }
    assert.equal(text, 'echo: streamed words here');
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.equal(last.usageMetadata.candidatesTokenCount, 4);
    assert.equal(emu.stats().requests.at(-1).alt, 'sse');
  });

  test('function calling: mode ANY answers with a functionCall the SDK exposes', async () => {
    const r = await ai.models.generateContent({
      model: MODEL,
      contents: 'Paris',
      config: {
        tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      },
    });
    assert.deepEqual(r.functionCalls.map((c) => [c.name, c.args]), [['get_weather', { city: 'Paris' }]]);
  });

  test('a SAFETY finish has no text; a blocked prompt has promptFeedback', async () => {
    emu.setFault({ spec: 'safety', count: 1 });
    const r = await ai.models.generateContent({ model: MODEL, contents: 'x' });
    assert.equal(r.candidates[0].finishReason, 'SAFETY');
    assert.equal(r.text, undefined);
    emu.setFault({ spec: 'blocked', count: 1 });
    const b = await ai.models.generateContent({ model: MODEL, contents: 'x' });
    assert.equal(b.promptFeedback.blockReason, 'PROHIBITED_CONTENT');
  });

  test('a 429 RESOURCE_EXHAUSTED reaches the client as a rate-limit error', async () => {
    emu.setFault({ spec: 'status=429', count: 1 });
    await assert.rejects(ai.models.generateContent({ model: MODEL, contents: 'x' }), (e) => e.status === 429 || /Too Many Requests|RESOURCE_EXHAUSTED/.test(e.message));
  });

  test('embedContent with a text-embedding model goes to :predict and gets one vector per text', async () => {
    const r = await ai.models.embedContent({ model: 'text-embedding-005', contents: ['one two', 'three'], config: { outputDimensionality: 4 } });
    assert.equal(r.embeddings.length, 2);
    assert.equal(r.embeddings[0].values.length, 4);
    assert.equal(r.embeddings[0].statistics.tokenCount, 2);
    assert.notDeepEqual(r.embeddings[0].values, r.embeddings[1].values);
    const rec = emu.stats().requests.at(-1);
    assert.match(rec.path, /models\/text-embedding-005:predict$/);
    assert.deepEqual(rec.body.parameters, { outputDimensionality: 4 });
  });

  test('a key the emulator does not know is refused at the token endpoint', async () => {
    const stranger = makeServiceAccount({ email: sa.client_email });
    const bad = clientFor(stranger);
    await assert.rejects(bad.models.generateContent({ model: MODEL, contents: 'x' }), /Invalid JWT Signature/);
    assert.ok(emu.stats().token_rejects >= 1);
  });
});

describe('auth without the SDK', () => {
  test('a Gemini call without a valid bearer token is 401 UNAUTHENTICATED', async () => {
    const r = await httpRequest(`${emu.baseURL}/v1/projects/p/locations/us-central1/publishers/google/models/${MODEL}:generateContent`, {
      headers: { authorization: 'Bearer ya29.made-up' },
      body: { contents: [{ role: 'user', parts: [{ text: 'x' }] }] },
    });
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).error.status, 'UNAUTHENTICATED');
  });

  test('an expired assertion is refused', async () => {
    const now = Math.floor(Date.now() / 1000) - 7200;
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ iss: sa.client_email, scope: 'https://www.googleapis.com/auth/cloud-platform', aud: GOOGLE_TOKEN_URL, iat: now, exp: now + 3600 })}`;
    const sig = crypto.sign('RSA-SHA256', Buffer.from(head), sa.private_key).toString('base64url');
    const form = `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion=${head}.${sig}`;
    const res = await fetch(emu.tokenURL, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
  });

  test('the metadata server wants Metadata-Flavor: Google', async () => {
    const path = `${emu.metadataURL}/computeMetadata/v1/instance/service-accounts/default/token`;
    assert.equal((await fetch(path)).status, 403);
    const ok = await fetch(path, { headers: { 'metadata-flavor': 'Google' } });
    assert.equal(ok.status, 200);
    assert.match((await ok.json()).access_token, /^ya29\./);
  });
});

describe('Claude on Vertex, with the official @anthropic-ai/vertex-sdk', () => {
  const CLAUDE = 'claude-sonnet-4@20250514';
  let claude;
  before(async () => {
    const { AnthropicVertex } = await import('@anthropic-ai/vertex-sdk');
    const jwt = new JWT({ email: sa.client_email, key: sa.private_key, keyId: sa.private_key_id, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
    jwt.transporter.interceptors.request.add({
      resolved: async (opts) => {
        if (String(opts.url) === GOOGLE_TOKEN_URL) opts.url = new URL(emu.tokenURL);
        return opts;
      },
    });
    claude = new AnthropicVertex({ region: 'us-east5', projectId: 'emu-project', authClient: jwt, baseURL: `${emu.baseURL}/v1`, maxRetries: 0 });
  });

  test('messages.create goes to rawPredict with vertex-2023-10-16 and no model in the body', async () => {
    emu.resetStats();
    const r = await claude.messages.create({ model: CLAUDE, max_tokens: 50, messages: [{ role: 'user', content: 'hello vertex' }] });
    assert.equal(r.content[0].text, 'echo: hello vertex');
    const rec = emu.stats().requests.at(-1);
    assert.equal(rec.path, `/v1/projects/emu-project/locations/us-east5/publishers/anthropic/models/${CLAUDE}:rawPredict`);
    assert.equal(rec.body.anthropic_version, 'vertex-2023-10-16');
    assert.equal(rec.body.model, undefined);
  });

  test('the stream helper reads streamRawPredict, thinking included', async () => {
    const stream = claude.messages.stream({ model: CLAUDE, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'stream please' }] });
    let thought = '';
    stream.on('thinking', (d) => (thought += d));
    const final = await stream.finalMessage();
    assert.equal(thought, 'Thinking about: stream please');
    assert.equal(final.content.at(-1).text, 'echo: stream please');
    assert.match(emu.stats().requests.at(-1).path, /:streamRawPredict$/);
  });

  test('messages.countTokens goes to count-tokens:rawPredict with the model in the body', async () => {
    const r = await claude.messages.countTokens({ model: CLAUDE, system: 'be brief', messages: [{ role: 'user', content: 'count these words' }] });
    assert.equal(r.input_tokens, 5);
    const rec = emu.stats().requests.at(-1);
    assert.match(rec.path, /publishers\/anthropic\/models\/count-tokens:rawPredict$/);
    assert.equal(rec.body.model, CLAUDE);
  });

  test('a replayed stream reaches the SDK event by event, as recorded', async () => {
    const events = [
      { type: 'message_start', message: { id: 'msg_v', type: 'message', role: 'assistant', model: CLAUDE, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 2, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_v', name: 'Read', input: {} } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"path":' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '"a.c"}' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } },
      { type: 'message_stop' },
    ];
    emu.setReplay({ events, interval_ms: 10 });
    const final = await claude.messages.stream({ model: CLAUDE, max_tokens: 100, messages: [{ role: 'user', content: 'read a.c' }] }).finalMessage();
    assert.deepEqual(final.content, [{ type: 'tool_use', id: 'toolu_v', name: 'Read', input: { path: 'a.c' } }]);
    assert.equal(final.usage.output_tokens, 9);
  });
});

// Gemini's thinking and structured output, as the official client sends and
// reads them.
describe('thinking and structured output', () => {
  test('Gemini 3 signs the first of its function calls and wants the signature back in the current turn', async () => {
    const G3 = 'gemini-3-flash';
    const tools = [{ functionDeclarations: ['get_weather', 'get_time'].map((name) => ({ name, parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } })) }];
    const config = { tools, toolConfig: { functionCallingConfig: { mode: 'ANY' } } };
    const first = await ai.models.generateContent({ model: G3, contents: 'Paris [[parallel]]', config });
    const parts = first.candidates[0].content.parts;
    assert.deepEqual(parts.map((p) => p.functionCall.name), ['get_weather', 'get_time']);
    assert.equal(typeof parts[0].thoughtSignature, 'string', 'parallel calls: the first is signed');
    assert.equal(parts[1].thoughtSignature, undefined, '... and only the first');
    const results = { role: 'user', parts: parts.map((p) => ({ functionResponse: { name: p.functionCall.name, response: { ok: true } } })) };
    const ask = (modelParts) => ai.models.generateContent({ model: G3, contents: [{ role: 'user', parts: [{ text: 'Paris [[parallel]]' }] }, { role: 'model', parts: modelParts }, results], config: { tools } });
    const r = await ask(parts);
    assert.match(r.text, /^tool result:/);
    const refused = (modelParts, pattern) =>
      assert.rejects(ask(modelParts), (e) => {
        assert.ok(e.status === 400 || /Bad Request/.test(e.message), String(e));
        assert.match(emu.stats().requests.at(-1).error, pattern);
        return true;
      });
    await refused(parts.map(({ functionCall }) => ({ functionCall })), /function call `get_weather` in the 2\. content block is missing a `thought_signature`/);
    await refused([{ ...parts[0], thoughtSignature: Buffer.from('forged').toString('base64') }, parts[1]], /Thought signature is not valid/);
    // Gemini 2.5 neither signs nor checks
    const old = await ai.models.generateContent({ model: MODEL, contents: 'Paris', config });
    assert.equal(old.candidates[0].content.parts[0].thoughtSignature, undefined);
  });

  test('thinkingConfig with includeThoughts: a thought part first, counted apart', async () => {
    const r = await ai.models.generateContent({ model: MODEL, contents: 'hello', config: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } } });
    const parts = r.candidates[0].content.parts;
    assert.equal(parts[0].thought, true);
    assert.equal(parts[0].text, 'Thinking about: hello');
    assert.equal(r.text, 'echo: hello');
    assert.equal(r.usageMetadata.thoughtsTokenCount, 3);
  });
  test('thinkingLevel is Gemini 3\'s, budgets have each model\'s range', async () => {
    const refused = (model, thinkingConfig, pattern) =>
      assert.rejects(ai.models.generateContent({ model, contents: 'x', config: { thinkingConfig } }), (e) => {
        assert.ok(e.status === 400 || /Bad Request/.test(e.message), String(e));
        assert.match(emu.stats().requests.at(-1).error, pattern); // the SDK keeps the body's message to itself
        return true;
      });
    await refused(MODEL, { thinkingLevel: 'HIGH' }, /thinking_level is not supported/);
    await refused('gemini-3-pro-preview', { thinkingLevel: 'MINIMAL' }, /supported: LOW, HIGH/);
    await refused('gemini-2.5-pro', { thinkingBudget: 0 }, /only works in thinking mode/);
    await refused('gemini-3-flash', { thinkingLevel: 'LOW', thinkingBudget: 100 }, /cannot both be set/);
    const r = await ai.models.generateContent({ model: 'gemini-3-flash', contents: 'x', config: { thinkingConfig: { thinkingLevel: 'MINIMAL' } } });
    assert.equal(r.text, 'echo: x');
  });
  test('responseJsonSchema with a strict schema (additionalProperties false) answers JSON that follows it', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temp: { type: 'number' } }, required: ['city', 'temp'], additionalProperties: false };
    const r = await ai.models.generateContent({ model: MODEL, contents: 'Paris', config: { responseMimeType: 'application/json', responseJsonSchema: schema } });
    assert.deepEqual(JSON.parse(r.text), { city: 'Paris', temp: 1 });
  });
});
