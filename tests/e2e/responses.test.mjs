// responses.test.mjs — OpenAI's Responses API in front of every provider,
// as the official `openai` client's responses.create and responses.stream
// see it.
//
// OpenAI and Azure speak the Responses API themselves: cloudmux passes the
// request on (with "store": false, since it keeps no state) and the events
// back.  Claude on Anthropic, Bedrock and Vertex, and Gemini, get it as a
// chat completion and answer through the gateway's conversion: plain and
// streamed answers, function calls, JSON schemas, function results, a cut
// for length as status "incomplete".  Then what is the gateway's own: what
// needs stored state refused with a 400, bad input in OpenAI's shape, a
// failure after the first byte ending the stream with `error` and
// response.failed and no response.completed, cost, the access log and
// metrics by API.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { MODELS, TARGETS, startClouds, startGateway } from './clouds.mjs';
import { httpRequest, waitFor } from './helpers.mjs';

const CLIENT_KEY = 'cmx-responses-client-key';
const ADMIN_KEY = 'cmx-responses-admin-key';
const fnTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  strict: false,
};
const schema = { type: 'object', properties: { city: { type: 'string' }, warm: { type: 'boolean' } }, required: ['city', 'warm'], additionalProperties: false };
const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
let clouds;
let gw;
let client;

const PASSTHROUGH = new Set(['via-openai', 'via-azure']);
const PRICED = TARGETS.map((t) => (t.group === 'via-openai' ? { ...t, price: '{ input: 2, output: 8 }' } : t));

before(async () => {
  clouds = await startClouds();
  gw = await startGateway(clouds, {
    list: PRICED,
    clientKey: CLIENT_KEY,
    adminKey: ADMIN_KEY,
    models: `
  cut-openai: { targets: [ { provider: oa, model: "${MODELS.openai}+fault:cut_stream,after=4" } ] }
  error-openai: { targets: [ { provider: oa, model: "${MODELS.openai}+fault:error_event,after=4" } ] }
  cut-anthropic: { targets: [ { provider: claude, model: "${MODELS.anthropic}+fault:cut_stream,after=5" } ] }
  reframed-openai: { targets: [ { provider: oa, model: "${MODELS.openai}+fault:reframe,after=3" } ] }
  overloaded-to-openai: { targets: [ { provider: claude, model: "${MODELS.anthropic}+fault:status=529" }, { provider: oa, model: "${MODELS.openai}" } ] }
`,
  });
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await clouds?.close();
});

const post = (body) => httpRequest(`${gw.baseURL}/responses`, { body, headers: { authorization: `Bearer ${CLIENT_KEY}` } });
const types = (events) => events.filter((e) => typeof e === 'object').map((e) => e.type);

for (const t of TARGETS) {
  const how = PASSTHROUGH.has(t.group) ? 'passed through' : 'through the chat form';
  describe(`the Responses API through ${t.group} (${how})`, () => {
    test('responses.create: a message item, output_text, usage', async () => {
      const { data: r, response } = await client.responses.create({ model: t.group, instructions: 'be brief', input: 'hello there' }).withResponse();
      assert.equal(r.object, 'response');
      assert.equal(r.status, 'completed');
      assert.equal(r.output_text, 'echo: hello there');
      assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
      assert.equal(response.headers.get('x-cloudmux-provider'), t.provider);
    });

    test('responses.stream: the whole event sequence, the text as it comes', async () => {
      const stream = client.responses.stream({ model: t.group, input: 'one two three' });
      const seen = [];
      let text = '';
      for await (const e of stream) {
        seen.push(e.type);
        if (e.type === 'response.output_text.delta') text += e.delta;
      }
      const final = await stream.finalResponse();
      assert.equal(text, 'echo: one two three');
      assert.equal(final.output_text, 'echo: one two three');
      assert.equal(final.status, 'completed');
      assert.deepEqual(seen.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      assert.deepEqual(seen.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    });

    test('function tools: a function_call item, its arguments streamed; a function result answered', async () => {
      const r = await client.responses.create({ model: t.group, input: [{ role: 'user', content: 'Paris' }], tools: [fnTool], tool_choice: 'required' });
      const call = r.output.find((o) => o.type === 'function_call');
      assert.equal(call.name, 'get_weather');
      assert.equal(JSON.parse(call.arguments).city, 'Paris');
      const stream = client.responses.stream({ model: t.group, input: 'Paris', tools: [fnTool], tool_choice: 'required' });
      let deltas = '';
      for await (const e of stream) if (e.type === 'response.function_call_arguments.delta') deltas += e.delta;
      const final = await stream.finalResponse();
      assert.equal(JSON.parse(deltas).city, 'Paris');
      assert.equal(JSON.parse(final.output.find((o) => o.type === 'function_call').arguments).city, 'Paris');
      const answer = await client.responses.create({
        model: t.group,
        tools: [fnTool],
        input: [
          { role: 'user', content: 'Paris' },
          { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        ],
      });
      assert.match(answer.output_text, /sunny/);
    });

    test('text.format json_schema: the answer is JSON of that schema, whole and streamed', async () => {
      const text = { format: { type: 'json_schema', name: 'weather', schema, strict: true } };
      const r = await client.responses.create({ model: t.group, input: 'Rome', text });
      assert.equal(JSON.parse(r.output_text).city, 'Rome');
      assert.equal(r.output.filter((o) => o.type === 'function_call').length, 0);
      const stream = client.responses.stream({ model: t.group, input: 'Rome', text });
      for await (const e of stream) void e;
      assert.equal(JSON.parse((await stream.finalResponse()).output_text).city, 'Rome');
    });

    test('max_output_tokens: status incomplete with reason max_output_tokens, whole and streamed', async () => {
      const r = await client.responses.create({ model: t.group, input: long, max_output_tokens: 16 });
      assert.equal(r.status, 'incomplete');
      assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
      const s = await post({ model: t.group, input: long, max_output_tokens: 16, stream: true });
      const ev = types(s.events);
      assert.equal(ev.at(-1), 'response.incomplete');
      assert.equal(s.events.at(-1).response.incomplete_details.reason, 'max_output_tokens');
      assert.ok(!ev.includes('response.completed'));
    });
  });
}

describe('what the gateway adds', () => {
  test('a passed-through request says "store": false upstream and names the target\'s model; cost from its price', async () => {
    const { response } = await client.responses.create({ model: 'via-openai', input: 'stateless' }).withResponse();
    const sent = clouds.openai.stats().requests.at(-1).body;
    assert.equal(sent.store, false);
    assert.equal(sent.model, MODELS.openai);
    assert.ok(Number(response.headers.get('x-cloudmux-cost-usd')) > 0);
    await client.responses.create({ model: 'via-azure', input: 'stateless' });
    assert.equal(clouds.azure.stats().azure.requests.at(-1).path, '/openai/v1/responses');
    assert.equal(clouds.azure.stats().azure.requests.at(-1).body_model, MODELS.azure);
  });

  test('store: true, previous_response_id, conversation and background are refused with a 400 saying why', async () => {
    for (const extra of [{ store: true }, { previous_response_id: 'resp_1' }, { conversation: 'conv_1' }, { background: true }]) {
      await assert.rejects(client.responses.create({ model: 'via-openai', input: 'x', ...extra }), (e) => {
        assert.equal(e.status, 400, JSON.stringify(extra));
        assert.match(e.message, /no conversation state|answers while connected/);
        return true;
      });
    }
    const ok = await client.responses.create({ model: 'via-openai', input: 'x', store: false });
    assert.equal(ok.status, 'completed');
  });

  test('bad input gets a precise 4xx in OpenAI\'s shape', async () => {
    const cases = [
      ['{"model":', 400, /invalid JSON/],
      [{ model: 'via-openai' }, 400, /missing required field 'input'/],
      [{ model: 'via-openai', input: 7 }, 400, /'input' must be a string or an array/],
      [{ model: 'via-openai', input: [{ type: 'hologram' }] }, 400, /input\[0\]: unknown item type 'hologram'/],
      [{ model: 'via-openai', input: [{ type: 'item_reference', id: 'msg_1' }] }, 400, /item_reference points at a stored item/],
      [{ model: 'via-openai', input: 'x', max_output_tokens: 'many' }, 400, /'max_output_tokens' must be an integer/],
      [{ model: 'via-openai', input: 'x', tools: [{ type: 'function' }] }, 400, /tools\[0\]\.name must be a string/],
      [{ model: 'nowhere', input: 'x' }, 404, /model 'nowhere' not found/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post(body);
      assert.equal(r.status, status, JSON.stringify(body));
      const e = JSON.parse(r.body).error;
      assert.equal(e.type, status === 404 ? 'invalid_request_error' : 'invalid_request_error');
      assert.match(e.message, message);
    }
    const hosted = await post({ model: 'via-anthropic', input: 'x', tools: [{ type: 'web_search' }] });
    assert.equal(hosted.status, 400);
    assert.match(JSON.parse(hosted.body).error.message, /hosted by OpenAI; send it to an openai or azure target/);
    const big = await post({ model: 'via-openai', input: 'x'.repeat(300 * 1024) });
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).error.code, 'request_too_large');
  });

  test('a failure after the first byte: error and response.failed, no response.completed, on both roads', async () => {
    for (const group of ['cut-openai', 'error-openai', 'cut-anthropic']) {
      const r = await post({ model: group, input: 'a b c d e f g h', stream: true });
      assert.equal(r.status, 200, group);
      const ev = types(r.events);
      assert.equal(ev[0], 'response.created', group);
      assert.deepEqual(ev.slice(-2), ['error', 'response.failed'], group);
      assert.ok(!ev.includes('response.completed'), group);
      const seq = r.events.filter((e) => typeof e === 'object').map((e) => e.sequence_number);
      assert.deepEqual(seq, seq.map((_, i) => i), `${group}: sequence numbers count up from 0`);
      assert.equal(r.events.at(-1).response.status, 'failed');
    }
  });

  test('a passed-through stream whose framing changes midway (CRLF lines, comments) arrives whole, in order, in the gateway\'s framing', async () => {
    const plain = await post({ model: 'via-openai', input: 'a b c d e f', stream: true });
    const r = await post({ model: 'reframed-openai', input: 'a b c d e f', stream: true });
    assert.equal(r.status, 200);
    assert.equal(clouds.openai.stats().requests.at(-1).fault, 'reframe');
    const ev = types(r.events);
    assert.deepEqual(ev, types(plain.events));
    assert.equal(ev.at(-1), 'response.completed');
    const seq = r.events.filter((e) => typeof e === 'object').map((e) => e.sequence_number);
    assert.deepEqual(seq, seq.map((_, i) => i));
    assert.deepEqual(r.events.at(-1).response.usage, plain.events.at(-1).response.usage);
    assert.doesNotMatch(r.body, /\r|keep-alive/);
    assert.match(r.body, /^event: response\.created\ndata: /);
    const stream = client.responses.stream({ model: 'reframed-openai', input: 'sdk reframed' });
    for await (const e of stream) void e;
    assert.equal((await stream.finalResponse()).output_text, 'echo: sdk reframed');
  });

  test('failover before the first byte: an overloaded Claude, then OpenAI passed through', async () => {
    const { data: r, response } = await client.responses.create({ model: 'overloaded-to-openai', input: 'fail over' }).withResponse();
    assert.equal(r.output_text, 'echo: fail over');
    assert.equal(response.headers.get('x-cloudmux-failed-over'), 'true');
    const stream = client.responses.stream({ model: 'overloaded-to-openai', input: 'stream over' });
    for await (const e of stream) void e;
    assert.equal((await stream.finalResponse()).output_text, 'echo: stream over');
  });

  test('the access log says the API; metrics count requests by API', async () => {
    const { response } = await client.responses.create({ model: 'via-openai', input: 'logged' }).withResponse();
    const id = response.headers.get('x-request-id');
    assert.ok(id);
    const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === id), { what: 'the access log line' });
    assert.equal(line.path, '/v1/responses');
    assert.equal(line.status, 200);
    assert.equal(line.api, 'responses');
    assert.ok(line.prompt_tokens > 0);
    const m = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.match(m.body, /cloudmux_api_requests_total\{api="responses",code="200"\} \d+/);
  });
});
