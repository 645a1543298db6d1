// messages.test.mjs — Anthropic's Messages API in front of every provider,
// as the official @anthropic-ai/sdk (what Claude Code is built on) sees it.
//
// The SDK talks to cloudmux's POST /v1/messages; behind it each target type
// answers from its cloud's emulator: Claude on Anthropic, on Bedrock
// (InvokeModel) and on Vertex (rawPredict) gets the Messages body as it
// is, Gemini, Azure, OpenAI and the mock get it as a chat completion.  For
// each: a plain answer, the stream helpers, tools, images and thinking.
// Then what is the gateway's own: token counts, failover from an
// overloaded Anthropic to Bedrock before the first byte, a stream cut after
// it ending with an `error` event and no message_stop, errors in
// Anthropic's shape for bad input, the key as x-api-key or a bearer token,
// anthropic-beta forwarded (to Bedrock and Vertex only the names they take)
// or noted as dropped, the model list in
// Anthropic's shape, cost, the access log and metrics by API.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

import { MODELS, TARGETS, startClouds, startGateway } from './clouds.mjs';
import { httpRequest, waitFor } from './helpers.mjs';

const CLIENT_KEY = 'cmx-messages-client-key';
const ADMIN_KEY = 'cmx-messages-admin-key';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const weather = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};
let clouds;
let gw;
let client;

const PRICED = TARGETS.map((t) => (t.group === 'via-anthropic' ? { ...t, price: '{ input: 3, output: 15, cached_input: 0.3, cache_write: 3.75 }' } : t));

before(async () => {
  clouds = await startClouds();
  const claude = MODELS.anthropic;
  gw = await startGateway(clouds, {
    list: PRICED,
    clientKey: CLIENT_KEY,
    adminKey: ADMIN_KEY,
    providers: `
  mock: { type: mock, content: "hello from the mock" }`,
    models: `
  via-mock: { targets: [ { provider: mock, model: mock-1 } ] }
  via-bedrock-converse: { targets: [ { provider: aws, model: "${MODELS.bedrockConverse}" } ] }
  overloaded-to-bedrock: { targets: [ { provider: claude, model: "${claude}+fault:status=529" }, { provider: aws, model: "${MODELS.bedrock}" } ] }
  early-error-to-bedrock: { targets: [ { provider: claude, model: "${claude}+fault:error_event,after=1" }, { provider: aws, model: "${MODELS.bedrock}" } ] }
  midstream: { targets: [ { provider: claude, model: "${claude}+fault:error_event,after=5" }, { provider: aws, model: "${MODELS.bedrock}" } ] }
  cut-anthropic: { targets: [ { provider: claude, model: "${claude}+fault:cut_stream,after=5" } ] }
  reframed-anthropic: { targets: [ { provider: claude, model: "${claude}+fault:reframe,after=3" } ] }
  cut-bedrock: { targets: [ { provider: aws, model: "${MODELS.bedrock}+fault:cut_stream,after=4" } ] }
  cut-openai: { targets: [ { provider: oa, model: "${MODELS.openai}+fault:cut_stream,after=3" } ] }
  openai-then-claude: { targets: [ { provider: oa, model: "${MODELS.openai}" }, { provider: claude, model: "${claude}" } ] }
  overloaded-then-openai: { targets: [ { provider: claude, model: "${claude}+fault:status=529" }, { provider: oa, model: "${MODELS.openai}" } ] }
`,
  });
  client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await clouds?.close();
});

const user = (content) => [{ role: 'user', content }];
const toolTurns = [
  { role: 'user', content: 'Paris' },
  { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }] },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'sunny' }] },
];
const post = (path, body, headers = {}) => httpRequest(`${gw.url}${path}`, { body, headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', ...headers } });
const types = (events) => events.filter((e) => typeof e === 'object').map((e) => e.type);

for (const t of TARGETS) {
  describe(`the Messages API through ${t.group}`, () => {
    test('messages.create answers in Anthropic\'s shape, with the gateway\'s headers', async () => {
      const { data: r, response } = await client.messages.create({ model: t.group, max_tokens: 100, messages: user('hello there') }).withResponse();
      assert.equal(r.type, 'message');
      assert.equal(r.role, 'assistant');
      assert.deepEqual(r.content, [{ type: 'text', text: 'echo: hello there' }]);
      assert.equal(r.stop_reason, 'end_turn');
      assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
      assert.equal(response.headers.get('x-cloudmux-provider'), t.provider);
      assert.equal(response.headers.get('x-cloudmux-model'), t.model);
      assert.ok(response.headers.get('request-id'));
    });

    test('the stream helpers: text as it comes, one message_start, the final message', async () => {
      const stream = client.messages.stream({ model: t.group, max_tokens: 100, messages: user('one two three') });
      let text = '';
      const events = [];
      stream.on('text', (d) => (text += d));
      stream.on('streamEvent', (e) => events.push(e.type));
      const final = await stream.finalMessage();
      assert.equal(text, 'echo: one two three');
      assert.equal(final.content.at(-1).text, 'echo: one two three');
      assert.equal(events.filter((e) => e === 'message_start').length, 1);
      assert.equal(events[0], 'message_start');
      assert.deepEqual(events.slice(-2), ['message_delta', 'message_stop']);
      assert.ok(final.usage.output_tokens > 0);
    });

    test('tools: a required tool gives a tool_use block, streamed as input_json_delta; a tool_result is answered', async () => {
      const r = await client.messages.create({ model: t.group, max_tokens: 100, tools: [weather], tool_choice: { type: 'any' }, messages: user('Paris') });
      const call = r.content.find((b) => b.type === 'tool_use');
      assert.equal(r.stop_reason, 'tool_use');
      assert.equal(call.name, 'get_weather');
      assert.equal(call.input.city, 'Paris');
      const stream = client.messages.stream({ model: t.group, max_tokens: 100, tools: [weather], tool_choice: { type: 'any' }, messages: user('Paris') });
      let json = '';
      stream.on('inputJson', (partial) => (json += partial));
      const final = await stream.finalMessage();
      assert.equal(JSON.parse(json).city, 'Paris');
      assert.equal(final.content.find((b) => b.type === 'tool_use').input.city, 'Paris');
      const answer = await client.messages.create({ model: t.group, max_tokens: 100, tools: [weather], messages: toolTurns });
      assert.match(answer.content.at(-1).text, /sunny/);
    });

    test('images: a base64 image reaches the model', async () => {
      const r = await client.messages.create({
        model: t.group,
        max_tokens: 100,
        messages: user([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }, { type: 'text', text: 'look' }]),
      });
      assert.match(r.content[0].text, t.group === 'via-gemini' ? /^echo: look \[image\/png \d+ bytes\]$/ : /^echo: look \[images: 1\]$/);
    });

    test(t.claude ? 'thinking: a signed thinking block first, streamed as thinking deltas' : 'thinking: dropped and named in x-cloudmux-dropped', async () => {
      const body = { model: t.group, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: user('ponder') };
      const { data: r, response } = await client.messages.create(body).withResponse();
      if (t.claude) {
        assert.equal(r.content[0].type, 'thinking');
        assert.ok(r.content[0].signature);
        const stream = client.messages.stream(body);
        let thought = '';
        stream.on('thinking', (d) => (thought += d));
        const final = await stream.finalMessage();
        assert.equal(thought, final.content[0].thinking);
        assert.match(thought, /ponder/);
      } else {
        assert.deepEqual(r.content.map((b) => b.type), ['text']);
        assert.match(response.headers.get('x-cloudmux-dropped'), /thinking/);
      }
    });
  });
}

describe('targets that do not speak the Messages API', () => {
  test('the mock answers through the chat form', async () => {
    const r = await client.messages.create({ model: 'via-mock', max_tokens: 50, messages: user('hi') });
    assert.equal(r.content[0].text, 'hello from the mock');
  });

  test('a non-Claude model on Bedrock goes through Converse', async () => {
    clouds.aws.resetStats();
    const r = await client.messages.create({ model: 'via-bedrock-converse', max_tokens: 50, system: 'be brief', messages: user('llama here') });
    assert.equal(r.content[0].text, 'echo: llama here');
    assert.match(clouds.aws.stats().requests.at(-1).path, /\/converse$/);
  });

  test('a block the chat form cannot carry is refused by name, in Anthropic\'s shape', async () => {
    const doc = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } };
    await assert.rejects(client.messages.create({ model: 'via-openai', max_tokens: 50, messages: user([doc, { type: 'text', text: 'x' }]) }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'invalid_request_error');
      assert.match(e.error.error.message, /document.*Claude target/);
      return true;
    });
  });
});

describe('what the gateway adds', () => {
  test('count_tokens: Anthropic, Bedrock CountTokens and Vertex count-tokens; elsewhere a clear 400', async () => {
    const body = { system: 'be brief', messages: user('count these four words') };
    for (const group of ['via-anthropic', 'via-bedrock', 'via-vertex-claude']) {
      const r = await client.messages.countTokens({ model: group, ...body });
      assert.equal(r.input_tokens, 6, group);
    }
    assert.match(clouds.aws.stats().requests.at(-1).path, /\/count-tokens$/);
    await assert.rejects(client.messages.countTokens({ model: 'via-openai', ...body }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.error.error.message, /cannot count tokens/);
      return true;
    });
  });

  test('a target that cannot take the call is passed over for one that can; the 400 only when none can', async () => {
    const body = { system: 'be brief', messages: user('count these four words') };
    const counted = await client.messages.countTokens({ model: 'openai-then-claude', ...body }).withResponse();
    assert.equal(counted.data.input_tokens, 6);
    assert.equal(counted.response.headers.get('x-cloudmux-provider'), 'claude');
    // a PDF the chat form cannot carry goes to the Claude target of the group
    const doc = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } };
    const { response } = await client.messages.create({ model: 'openai-then-claude', max_tokens: 50, messages: user([doc, { type: 'text', text: 'read' }]) }).withResponse();
    assert.equal(response.headers.get('x-cloudmux-provider'), 'claude');
    // the only target that could count is overloaded: that is the answer, not "cannot count"
    await assert.rejects(client.messages.countTokens({ model: 'overloaded-then-openai', ...body }), (e) => {
      assert.equal(e.status, 503);
      assert.equal(e.error.error.type, 'overloaded_error');
      return true;
    });
  });

  test('an overloaded Anthropic (529) fails over to Bedrock before the first byte, whole and streamed', async () => {
    const { data: r, response } = await client.messages.create({ model: 'overloaded-to-bedrock', max_tokens: 50, messages: user('fail over') }).withResponse();
    assert.equal(r.content[0].text, 'echo: fail over');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'aws');
    assert.equal(response.headers.get('x-cloudmux-failed-over'), 'true');
    const final = await client.messages.stream({ model: 'overloaded-to-bedrock', max_tokens: 50, messages: user('stream over') }).finalMessage();
    assert.equal(final.content[0].text, 'echo: stream over');
    // an overloaded_error right after message_start: nothing reached the client yet
    const early = await client.messages.stream({ model: 'early-error-to-bedrock', max_tokens: 50, messages: user('early') }).finalMessage();
    assert.equal(early.content[0].text, 'echo: early');
  });

  test('a failure after the first byte ends the stream with an error event and no message_stop', async () => {
    for (const [group, type] of [['midstream', 'overloaded_error'], ['cut-anthropic', 'api_error'], ['cut-bedrock', null], ['cut-openai', 'api_error']]) {
      const r = await post('/v1/messages', { model: group, max_tokens: 50, stream: true, messages: user('a b c d e f g h') });
      assert.equal(r.status, 200, group);
      const ev = types(r.events);
      assert.equal(ev[0], 'message_start', group);
      assert.equal(ev.at(-1), 'error', group);
      assert.ok(!ev.includes('message_stop'), group);
      assert.equal(ev.filter((e) => e === 'message_start').length, 1, group);
      if (type) assert.equal(r.events.at(-1).error.type, type, group);
      assert.match(r.body, /event: error\ndata: /);
    }
    await assert.rejects(client.messages.stream({ model: 'midstream', max_tokens: 50, messages: user('a b c d e f g h') }).finalMessage());
  });

  test('a passed-through stream whose framing changes midway (CRLF lines, comments) arrives whole, in order, in the gateway\'s framing', async () => {
    const ask = { max_tokens: 50, stream: true, messages: user('a b c d e f [[cache:4000]] [[cache_write:200]]') };
    const plain = await post('/v1/messages', { model: 'via-anthropic', ...ask });
    const r = await post('/v1/messages', { model: 'reframed-anthropic', ...ask });
    assert.equal(r.status, 200);
    assert.equal(clouds.anthropic.stats().requests.at(-1).fault, 'reframe');
    assert.match(plain.body, /event: message_start\ndata: /);
    const ev = types(r.events);
    assert.deepEqual(ev, types(plain.events));
    assert.equal(ev.filter((e) => e === 'message_start').length, 1);
    assert.equal(ev.at(-1), 'message_stop');
    assert.deepEqual(r.events[0].message.usage, plain.events[0].message.usage);
    assert.equal(r.events[0].message.usage.cache_read_input_tokens, 4000);
    // the events after the change are read one by one and written anew: LF lines, no comments
    assert.doesNotMatch(r.body, /\r|keep-alive/);
    const text = (events) => events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
    assert.equal(text(r.events), text(plain.events));
    const final = await client.messages.stream({ model: 'reframed-anthropic', max_tokens: 50, messages: user('sdk reframed') }).finalMessage();
    assert.equal(final.content[0].text, 'echo: sdk reframed');
  });

  test('anthropic-beta goes to Anthropic as a header and to Bedrock as anthropic_beta; a chat target notes it dropped', async () => {
    const opts = { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14' } };
    await client.messages.create({ model: 'via-anthropic', max_tokens: 20, messages: user('beta') }, opts);
    assert.equal(clouds.anthropic.stats().requests.at(-1).anthropic_beta, opts.headers['anthropic-beta']);
    await client.messages.create({ model: 'via-bedrock', max_tokens: 20, messages: user('beta') }, opts);
    const sent = clouds.aws.stats().requests.at(-1).body;
    assert.deepEqual(sent.anthropic_beta, ['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14']);
    assert.equal(sent.anthropic_version, 'bedrock-2023-05-31');
    assert.equal(sent.model, undefined);
    const { response } = await client.messages.create({ model: 'via-openai', max_tokens: 20, messages: user('beta') }, opts).withResponse();
    assert.match(response.headers.get('x-cloudmux-dropped'), /anthropic-beta/);
  });

  test('the client\'s own anthropic-version reaches Anthropic; without one the provider\'s goes', async () => {
    // a version other than the provider's default (2023-06-01), so only the client's can match
    const r = await post('/v1/messages', { model: 'via-anthropic', max_tokens: 20, messages: user('version') }, { 'anthropic-version': '2023-01-01' });
    assert.equal(r.status, 200);
    assert.equal(clouds.anthropic.stats().requests.at(-1).anthropic_version, '2023-01-01');
    await client.messages.create({ model: 'via-anthropic', max_tokens: 20, messages: user('sdk version') });
    assert.equal(clouds.anthropic.stats().requests.at(-1).anthropic_version, '2023-06-01');
    const bare = await httpRequest(`${gw.url}/v1/messages`, { body: { model: 'via-anthropic', max_tokens: 20, messages: user('no version') }, headers: { 'x-api-key': CLIENT_KEY } });
    assert.equal(bare.status, 200);
    assert.equal(clouds.anthropic.stats().requests.at(-1).anthropic_version, '2023-06-01');
  });

  test('Bedrock and Vertex get only the betas they take; the others are named in x-cloudmux-dropped, not refused', async () => {
    // what Claude Code sends: some names Claude on the clouds takes, some only Anthropic has
    const beta = 'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,prompt-caching-scope-2026-01-05';
    const opts = { headers: { 'anthropic-beta': beta } };
    const { data: b, response: rb } = await client.messages.create({ model: 'via-bedrock', max_tokens: 20, messages: user('betas') }, opts).withResponse();
    assert.equal(b.content[0].text, 'echo: betas');
    assert.deepEqual(clouds.aws.stats().requests.at(-1).body.anthropic_beta, ['claude-code-20250219', 'interleaved-thinking-2025-05-14']);
    assert.equal(rb.headers.get('x-cloudmux-dropped'), 'anthropic-beta=oauth-2025-04-20, anthropic-beta=prompt-caching-scope-2026-01-05');
    const streamed = await client.messages.stream({ model: 'via-vertex-claude', max_tokens: 20, messages: user('betas') }, opts).withResponse();
    assert.match(streamed.response.headers.get('x-cloudmux-dropped'), /anthropic-beta=oauth-2025-04-20/);
    assert.equal(clouds.gcp.stats().requests.at(-1).anthropic_beta, 'claude-code-20250219,interleaved-thinking-2025-05-14');
    // a token count goes with the same names as the request it counts
    const counted = await client.messages.countTokens({ model: 'via-vertex-claude', messages: user('betas') }, opts).withResponse();
    assert.equal(counted.data.input_tokens, 1);
    assert.match(clouds.gcp.stats().requests.at(-1).path, /count-tokens:rawPredict$/);
    assert.equal(clouds.gcp.stats().requests.at(-1).anthropic_beta, 'claude-code-20250219,interleaved-thinking-2025-05-14');
    assert.equal(counted.response.headers.get('x-cloudmux-dropped'), 'anthropic-beta=oauth-2025-04-20, anthropic-beta=prompt-caching-scope-2026-01-05');
    // none taken: no anthropic_beta at all
    await client.messages.create({ model: 'via-bedrock', max_tokens: 20, messages: user('none') }, { headers: { 'anthropic-beta': 'oauth-2025-04-20' } });
    assert.equal('anthropic_beta' in clouds.aws.stats().requests.at(-1).body, false);
    // Anthropic takes them all, and nothing is named dropped
    const { response: ra } = await client.messages.create({ model: 'via-anthropic', max_tokens: 20, messages: user('betas') }, opts).withResponse();
    assert.equal(clouds.anthropic.stats().requests.at(-1).anthropic_beta, beta);
    assert.equal(ra.headers.get('x-cloudmux-dropped'), null);
  });

  test('the passthrough keeps cache usage and the client\'s fields; cost comes from the target\'s price', async () => {
    const { data: r, response } = await client.messages
      .create({ model: 'via-anthropic', max_tokens: 20, system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }], messages: user('cache [[cache:4000]] [[cache_write:200]]') })
      .withResponse();
    assert.equal(r.usage.cache_read_input_tokens, 4000);
    assert.equal(r.usage.cache_creation_input_tokens, 200);
    const sent = clouds.anthropic.stats().requests.at(-1).body;
    assert.equal(sent.model, MODELS.anthropic);
    assert.deepEqual(sent.system, [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }]);
    // reads at $0.30, writes at $3.75, the rest of the input at $3, output at $15 per 1M
    const u = r.usage;
    const cost = (u.input_tokens * 3 + 4000 * 0.3 + 200 * 3.75 + u.output_tokens * 15) / 1e6;
    assert.ok(Math.abs(Number(response.headers.get('x-cloudmux-cost-usd')) - cost) < 1e-9, `${response.headers.get('x-cloudmux-cost-usd')} != ${cost}`);
  });

  test('the key as a bearer token works too; a missing or wrong key is authentication_error', async () => {
    const bearer = new Anthropic({ apiKey: null, authToken: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 });
    const r = await bearer.messages.create({ model: 'via-mock', max_tokens: 20, messages: user('hi') });
    assert.equal(r.type, 'message');
    const wrong = new Anthropic({ apiKey: 'nope', baseURL: gw.url, maxRetries: 0 });
    await assert.rejects(wrong.messages.create({ model: 'via-mock', max_tokens: 20, messages: user('hi') }), (e) => e.status === 401 && e.error.error.type === 'authentication_error');
  });

  test('bad input gets a precise 4xx in Anthropic\'s shape', async () => {
    const cases = [
      ['{"model":', 400, /invalid JSON/],
      [{ model: 'via-mock', max_tokens: 5, messages: user([{ type: 'hologram' }]) }, 400, /messages\[0\]\.content\[0\]: unknown block type 'hologram'/],
      [{ model: 'via-mock', max_tokens: 'five', messages: user('x') }, 400, /'max_tokens' must be an integer/],
      [{ model: 'via-mock', messages: user('x') }, 400, /missing required field 'max_tokens'/],
      [{ model: 'via-mock', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }, 400, /role must be 'user' or 'assistant'/],
      [{ model: 'via-mock', max_tokens: 5, messages: user([{ type: 'tool_use', id: 't', name: 'n', input: 'x' }]) }, 400, /input must be an object/],
      [{ model: 'nowhere', max_tokens: 5, messages: user('x') }, 404, /model 'nowhere' not found/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post('/v1/messages', body);
      assert.equal(r.status, status, JSON.stringify(body));
      const e = JSON.parse(r.body);
      assert.equal(e.type, 'error');
      assert.equal(e.error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
      assert.match(e.error.message, message);
    }
    const big = await post('/v1/messages', { model: 'via-mock', max_tokens: 5, messages: user('x'.repeat(300 * 1024)) });
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).error.type, 'request_too_large');
    const get = await httpRequest(`${gw.url}/v1/messages`, { method: 'GET', headers: { 'x-api-key': CLIENT_KEY } });
    assert.equal(get.status, 405);
    assert.equal(JSON.parse(get.body).type, 'error');
  });

  test('GET /v1/models answers in Anthropic\'s list shape for Anthropic\'s client', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    assert.ok(ids.includes('via-anthropic') && ids.includes('via-openai'));
    assert.equal(page.data[0].type, 'model');
    const openaiShape = JSON.parse((await httpRequest(`${gw.url}/v1/models`, { method: 'GET', headers: { authorization: `Bearer ${CLIENT_KEY}` } })).body);
    assert.equal(openaiShape.object, 'list');
  });

  test('the access log says the API; metrics count requests by API', async () => {
    const { response } = await client.messages.create({ model: 'via-mock', max_tokens: 5, messages: user('logged') }).withResponse();
    const id = response.headers.get('x-request-id');
    assert.ok(id);
    const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === id), { what: 'the access log line' });
    assert.equal(line.path, '/v1/messages');
    assert.equal(line.api, 'messages');
    assert.equal(line.model, 'via-mock');
    const m = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.match(m.body, /cloudmux_api_requests_total\{api="messages",code="200"\} \d+/);
    assert.match(m.body, /cloudmux_api_requests_total\{api="count_tokens",code="200"\} \d+/);
  });
});
