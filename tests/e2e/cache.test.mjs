// cache.test.mjs — the exact response cache, in-process (one gateway, no
// Redis): a repeated request is answered from the cache at no provider cost,
// whichever way (plain or streamed) it was first asked; the client's key
// scopes it; Cache-Control skips it; errors and cut streams are never kept.
// The emulator's request count tells whether the provider was asked.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, startCloudmux, waitFor } from './helpers.mjs';

let emu;
let gw;

before(async () => {
  emu = await startEmulator();
  gw = await startCloudmux({
    env: { K1: 'key-one', K2: 'key-two', ADMIN: 'admin-key' },
    configYaml: `
server:
  api_keys: [ "env:K1", "env:K2" ]
  admin_keys: [ "env:ADMIN" ]
providers:
  emu: { type: openai, base_url: "${emu.baseURL}" }
  emu_eu: { type: openai, base_url: "${emu.baseURL}", residency: eu }
models:
  cached:
    cache: { ttl: 10m }
    targets: [ { provider: emu, model: gpt-4o-mini, price: { input: 1, output: 2 } } ]
  shared:
    cache: { ttl: 10m, scope: global }
    targets: [ { provider: emu, model: gpt-4o-mini } ]
  brief:
    cache: { ttl: 300ms }
    targets: [ { provider: emu, model: gpt-4o-mini } ]
  plain:
    targets: [ { provider: emu, model: gpt-4o-mini } ]
  regional:
    residency: eu
    cache: { ttl: 10m }
    targets: [ { provider: emu_eu, model: gpt-4o-mini } ]
`,
  });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
});

const post = (body, { key = 'key-one', headers = {} } = {}) =>
  httpRequest(`${gw.baseURL}/chat/completions`, { body, headers: { authorization: `Bearer ${key}`, ...headers } });

// The provider's request count around fn.
async function upstreamCalls(fn) {
  const before = emu.stats().total;
  const out = await fn();
  return { out, calls: emu.stats().total - before };
}

describe('hit, miss and bypass', () => {
  test('a repeated request is a hit: the provider is not asked, the cost is 0', async () => {
    const body = chatBody('cached', 'first question');
    const { out: miss, calls: c1 } = await upstreamCalls(() => post(body));
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-cloudmux-cache'], 'miss');
    assert.ok(Number(miss.headers['x-cloudmux-cost-usd']) > 0, 'a miss costs what the provider charged');
    assert.equal(c1, 1);
    const { out: hit, calls: c2 } = await upstreamCalls(() => post(body));
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-cloudmux-cache'], 'hit');
    assert.equal(hit.headers['x-cloudmux-cost-usd'], '0');
    assert.equal(hit.headers['x-cloudmux-attempts'], '0');
    assert.equal(c2, 0);
    assert.deepEqual(JSON.parse(hit.body), JSON.parse(miss.body));
  });

  test('stream, stream_options and user do not change the key', async () => {
    const body = chatBody('cached', 'volatile fields', { user: 'alice' });
    await post(body);
    const { out, calls } = await upstreamCalls(() => post({ ...body, user: 'bob' }));
    assert.equal(out.headers['x-cloudmux-cache'], 'hit');
    assert.equal(calls, 0);
    const { out: other, calls: c2 } = await upstreamCalls(() => post({ ...body, temperature: 0.5 }));
    assert.equal(other.headers['x-cloudmux-cache'], 'miss', 'any other field is part of the key');
    assert.equal(c2, 1);
  });

  test('Cache-Control: no-cache skips the lookup; no-store skips the store', async () => {
    const body = chatBody('cached', 'cache control');
    await post(body);
    const { out: bypass, calls } = await upstreamCalls(() => post(body, { headers: { 'cache-control': 'no-cache' } }));
    assert.equal(bypass.headers['x-cloudmux-cache'], 'bypass');
    assert.equal(calls, 1);
    const fresh = chatBody('cached', 'never stored');
    const first = await post(fresh, { headers: { 'cache-control': 'no-store' } });
    assert.equal(first.headers['x-cloudmux-cache'], 'miss');
    const { out: again, calls: c2 } = await upstreamCalls(() => post(fresh));
    assert.equal(again.headers['x-cloudmux-cache'], 'miss');
    assert.equal(c2, 1);
  });

  test('a group without cache says nothing about it', async () => {
    const r = await post(chatBody('plain', 'no cache here'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cloudmux-cache'], undefined);
  });

  test('an entry expires after its ttl', async () => {
    const body = chatBody('brief', 'short lived');
    await post(body);
    assert.equal((await post(body)).headers['x-cloudmux-cache'], 'hit');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await post(body)).headers['x-cloudmux-cache'], 'miss');
  });
});

describe('scope', () => {
  test('one client key never gets an answer cached for another', async () => {
    const body = chatBody('cached', 'tenant secret');
    await post(body, { key: 'key-one' });
    const { out, calls } = await upstreamCalls(() => post(body, { key: 'key-two' }));
    assert.equal(out.headers['x-cloudmux-cache'], 'miss');
    assert.equal(calls, 1);
  });

  test('scope: global shares the answer between keys', async () => {
    const body = chatBody('shared', 'public question');
    await post(body, { key: 'key-one' });
    const { out, calls } = await upstreamCalls(() => post(body, { key: 'key-two' }));
    assert.equal(out.headers['x-cloudmux-cache'], 'hit');
    assert.equal(calls, 0);
  });
});

describe('residency', () => {
  test('the key holds the region the route keeps to: a conflict is refused, never a hit', async () => {
    const body = chatBody('regional', 'where does this stay');
    assert.equal((await post(body)).status, 200);
    const { out: refused, calls } = await upstreamCalls(() =>
      post(body, { headers: { 'x-cloudmux-residency': 'us' } }));
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body).error.code, 'residency');
    assert.equal(calls, 0);
    // asking for the region the group is in anyway is the same request
    const same = await post(body, { headers: { 'x-cloudmux-residency': 'eu' } });
    assert.equal(same.headers['x-cloudmux-cache'], 'hit');
  });
});

describe('streams', () => {
  test('a stored answer is replayed to a streaming client as SSE chunks', async () => {
    const body = chatBody('cached', 'replay me as a stream');
    const whole = JSON.parse((await post(body)).body);
    const client = new OpenAI({ apiKey: 'key-one', baseURL: gw.baseURL, maxRetries: 0 });
    const before = emu.stats().total;
    const { data: stream, response } = await client.chat.completions
      .create({ ...body, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(response.headers.get('x-cloudmux-cache'), 'hit');
    let text = '';
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(emu.stats().total, before);
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  });

  test('a completed stream is stored and served to a plain client as one answer', async () => {
    const body = chatBody('cached', 'stream first then plain');
    const streamed = await post({ ...body, stream: true });
    assert.equal(streamed.headers['x-cloudmux-cache'], 'miss');
    assert.equal(streamed.events.at(-1), '[DONE]');
    const text = streamed.events
      .filter((e) => typeof e === 'object')
      .map((e) => e.choices[0]?.delta?.content ?? '')
      .join('');
    const { out, calls } = await upstreamCalls(() => post(body));
    assert.equal(out.headers['x-cloudmux-cache'], 'hit');
    assert.equal(calls, 0);
    const answer = JSON.parse(out.body);
    assert.equal(answer.object, 'chat.completion');
    assert.equal(answer.choices[0].message.content, text);
    assert.equal(answer.choices[0].finish_reason, 'stop');
    // and streamed again, byte for byte as first relayed
    const replay = await post({ ...body, stream: true });
    assert.equal(replay.headers['x-cloudmux-cache'], 'hit');
    assert.equal(replay.body, streamed.body);
    assert.deepEqual(
      replay.events.filter((e) => typeof e === 'object').map((e) => e.choices[0]?.delta?.content ?? ''),
      streamed.events.filter((e) => typeof e === 'object').map((e) => e.choices[0]?.delta?.content ?? ''),
    );
  });

  test('a cut stream is never cached', async () => {
    const body = chatBody('cached', 'a b c d e f [[fault:cut_stream after=3 mode=end]]', { stream: true });
    const cut = await post(body);
    assert.notEqual(cut.events.at(-1), '[DONE]');
    const { out, calls } = await upstreamCalls(() => post(body));
    assert.equal(out.headers['x-cloudmux-cache'], 'miss');
    assert.equal(calls, 1);
  });

  test('an error is never cached', async () => {
    const body = chatBody('cached', 'fails [[fault:status=400]]');
    const first = await post(body);
    assert.equal(first.status, 400);
    assert.equal(first.headers['x-cloudmux-cache'], 'miss');
    const { out, calls } = await upstreamCalls(() => post(body));
    assert.equal(out.status, 400);
    assert.equal(calls, 1);
  });
});

test('hits are counted in /metrics and logged at cost 0', async () => {
  const body = chatBody('cached', 'counted');
  await post(body);
  await post(body);
  const m = await httpRequest(`${gw.url}/metrics`, { method: 'GET', headers: { authorization: 'Bearer admin-key' } });
  const hits = Number(/cloudmux_cache_requests_total\{model="cached",result="hit"\} (\d+)/.exec(m.body)?.[1]);
  const misses = Number(/cloudmux_cache_requests_total\{model="cached",result="miss"\} (\d+)/.exec(m.body)?.[1]);
  assert.ok(hits >= 5, `hits counted: ${hits}`);
  assert.ok(misses >= 5, `misses counted: ${misses}`);
  const line = await waitFor(() => gw.accessLog().filter((l) => l.cache === 'hit').at(-1), { what: 'a hit in the access log' });
  assert.equal(line.cost_usd, 0);
  assert.equal(line.status, 200);
});
