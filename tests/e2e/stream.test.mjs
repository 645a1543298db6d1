// stream.test.mjs — streams are relayed as they come and never end falsely.
//
// A stream must reach the client chunk by chunk (not buffered to the end),
// finish with [DONE], honour stream_options.include_usage, and — the bug
// users of other gateways report most — a stream the upstream cuts after the
// first bytes must end with an SSE error event and no [DONE], so the client
// knows the answer is incomplete.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, startCloudmux } from './helpers.mjs';

let emu;
let gw;
let client;

before(async () => {
  emu = await startEmulator();
  gw = await startCloudmux({
    configYaml: `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", timeouts: { connect: 1s, first_byte: 2s, idle: 600ms, total: 10s } }
models:
  # The broken-stream tests below fail this one target on purpose, more times
  # in a row than a circuit breaker allows: keep it closed for them.
  chat: { breaker: false, targets: [ { provider: emu, model: gpt-4o-mini } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 10000 });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
});

const stream = (text, extra = {}) => ({ ...chatBody('chat', text), stream: true, ...extra });

// The error event the gateway ends a broken stream with, from a raw read.
function assertEndsWithErrorEvent(r) {
  assert.equal(r.status, 200);
  assert.ok(!r.events.includes('[DONE]'), `a broken stream must not end with [DONE]:\n${r.body}`);
  const last = r.events.at(-1);
  assert.equal(typeof last, 'object', `last event is not JSON:\n${r.body}`);
  assert.ok(last.error, `last event is not an error event:\n${r.body}`);
  assert.equal(typeof last.error.message, 'string');
  assert.equal(typeof last.error.type, 'string');
  return last.error;
}

describe('relay', () => {
  test('content arrives in chunks and ends with [DONE]', async () => {
    const { data, response } = await client.chat.completions.create(stream('one two three')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-provider'), 'emu');
    assert.equal(response.headers.get('x-cloudmux-attempts'), '1');
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const parts = [];
    for await (const c of data) parts.push(c.choices[0]?.delta?.content ?? '');
    assert.equal(parts.join(''), 'echo: one two three');
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream('one two three') });
    assert.equal(raw.events.at(-1), '[DONE]');
    assert.ok(raw.complete, 'the chunked body must end properly');
  });

  test('usage chunk present iff stream_options.include_usage', async () => {
    const withUsage = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream('a b', { stream_options: { include_usage: true } }) });
    const u = withUsage.events.filter((e) => typeof e === 'object' && e.usage);
    assert.equal(u.length, 1);
    assert.deepEqual(u[0].choices, []);
    assert.deepEqual([u[0].usage.prompt_tokens, u[0].usage.completion_tokens], [2, 3]);
    assert.equal(withUsage.events.at(-1), '[DONE]');

    const without = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream('a b') });
    assert.equal(without.events.filter((e) => typeof e === 'object' && e.usage).length, 0);
    assert.equal(without.events.filter((e) => typeof e === 'object' && Array.isArray(e.choices) && e.choices.length === 0).length, 0);
    assert.equal(without.events.at(-1), '[DONE]');
  });

  test('the first chunk reaches the client before the upstream sends the last', async () => {
    // 6 chunk events 300 ms apart: the upstream needs ~1.5 s for the whole answer.
    emu.resetStats();
    const t0 = performance.now();
    const s = await client.chat.completions.create(stream('a b c [[fault:slow interval_ms=300]]'));
    let firstAt = null;
    let n = 0;
    for await (const _ of s) {
      n++;
      firstAt ??= performance.timeOrigin + performance.now();
    }
    const total = performance.now() - t0;
    assert.equal(n, 6);
    const rec = emu.stats().requests[0];
    // The gateway asks upstream for the usage chunk (to account usage) and
    // drops it on the way back, since this client did not ask for it.
    assert.equal(rec.chunks_sent, 7);
    assert.ok(firstAt < rec.chunk_times.at(-1), 'the first chunk was held back until the upstream had finished');
    assert.ok(firstAt - (performance.timeOrigin + t0) < 1000, `first chunk after ${firstAt - performance.timeOrigin - t0} ms`);
    assert.ok(total > 1200, `whole stream took only ${total} ms`);
  });
});

describe('broken upstream streams', () => {
  for (const mode of ['end', 'destroy']) {
    test(`a cut after 3 chunks (${mode}) ends with an error event and no [DONE]`, async () => {
      const text = `a b c d e f [[fault:cut_stream after=3 mode=${mode}]]`;
      const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream(text) });
      const err = assertEndsWithErrorEvent(raw);
      assert.equal(err.type, 'api_error');
      const chunks = raw.events.filter((e) => e?.object === 'chat.completion.chunk');
      assert.equal(chunks.length, 3, 'the chunks sent before the cut are relayed');

      const s = await client.chat.completions.create(stream(text));
      const seen = [];
      await assert.rejects(
        async () => {
          for await (const c of s) seen.push(c);
        },
        (e) => e instanceof OpenAI.APIError,
      );
      assert.equal(seen.length, 3);
    });
  }

  test('an upstream that stalls mid-stream past the idle timeout ends with an error event', async () => {
    const t0 = performance.now();
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream('a b c d [[fault:cut_stream after=2 mode=hang]]'), timeoutMs: 8000 });
    const took = performance.now() - t0;
    assertEndsWithErrorEvent(raw);
    assert.ok(took < 5000, `idle timeout 600 ms, stream ended after ${took} ms`);
  });

  test('a stream that fails before its first byte gets an ordinary error status', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: stream('x [[fault:status=500]]') });
    assert.ok([502, 503, 504].includes(raw.status), `status ${raw.status}`);
    assert.ok(JSON.parse(raw.body).error);
  });

  test('the gateway is still serving after the broken streams', async () => {
    const r = await client.chat.completions.create(chatBody('chat', 'still here'));
    assert.equal(r.choices[0].message.content, 'echo: still here');
    assert.ok(gw.alive());
  });
});
