// failover.test.mjs — when the first target fails, the next one answers.
//
// Two emulators stand for two providers.  The first target of each group is
// broken in one way (429, 500, 503, connection refused, timeout); the second
// must answer and the headers must say so.  A 400 from upstream is the
// client's own fault and must not fail over.  When every target fails, the
// error lists each attempt so an operator can see why.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, freePort, httpRequest, startCloudmux } from './helpers.mjs';

let emuA;
let emuB;
let gw;
let client;

before(async () => {
  emuA = await startEmulator();
  emuB = await startEmulator();
  const deadPort = await freePort(); // nothing listens there: connection refused
  const fast = '{ connect: 500ms, first_byte: 400ms, idle: 400ms, total: 3s }';
  gw = await startCloudmux({
    configYaml: `
providers:
  a: { type: openai, base_url: "${emuA.baseURL}", timeouts: ${fast} }
  a2: { type: openai, base_url: "${emuA.baseURL}", timeouts: ${fast} }
  b: { type: openai, base_url: "${emuB.baseURL}", timeouts: ${fast} }
  dead: { type: openai, base_url: "http://127.0.0.1:${deadPort}/v1", timeouts: ${fast} }
models:
  on429: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=429,retry_after=1" }, { provider: b, model: gpt-4o-mini } ] }
  on500: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=500" }, { provider: b, model: gpt-4o-mini } ] }
  on503: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=503" }, { provider: b, model: gpt-4o-mini } ] }
  refused: { targets: [ { provider: dead, model: gpt-4o-mini }, { provider: b, model: gpt-4o-mini } ] }
  timeout: { targets: [ { provider: a, model: "gpt-4o-mini+fault:hang" }, { provider: b, model: gpt-4o-mini } ] }
  reset: { targets: [ { provider: a, model: "gpt-4o-mini+fault:reset" }, { provider: b, model: gpt-4o-mini } ] }
  on400: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=400" }, { provider: b, model: gpt-4o-mini } ] }
  allbad: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=503" }, { provider: a2, model: "gpt-4o+fault:status=500" } ] }
  alltimeout: { targets: [ { provider: a, model: "gpt-4o-mini+fault:hang" }, { provider: a2, model: "gpt-4o+fault:hang" } ] }
  tripping: { breaker: { consecutive_failures: 2, cooldown: 1s }, targets: [ { provider: a, model: "gpt-4o-mini+fault:status=503" }, { provider: b, model: gpt-4o-mini } ] }
  retried: { num_retries: 2, retry: { base: 10ms, cap: 20ms }, breaker: false, targets: [ { provider: a, model: "gpt-4o-mini+fault:status=503" }, { provider: b, model: gpt-4o-mini } ] }
  sametarget: { num_retries: 1, retry: { base: 10ms, cap: 20ms }, breaker: false, targets: [ { provider: b, model: gpt-4o-mini } ] }
  alllimited: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=429,retry_after=7" }, { provider: a2, model: "gpt-4o+fault:status=429,retry_after_ms=2500" } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await emuA?.close();
  await emuB?.close();
});

describe('fails over to the next target', () => {
  for (const group of ['on429', 'on500', 'on503', 'refused', 'timeout', 'reset']) {
    test(`${group}: the second target answers`, async () => {
      emuB.resetStats();
      const { data, response } = await client.chat.completions.create(chatBody(group, 'try again')).withResponse();
      assert.equal(data.choices[0].message.content, 'echo: try again');
      assert.equal(response.headers.get('x-cloudmux-provider'), 'b');
      assert.equal(response.headers.get('x-cloudmux-model'), 'gpt-4o-mini');
      assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
      assert.equal(response.headers.get('x-cloudmux-failed-over'), 'true');
      assert.equal(emuB.stats().total, 1);
    });
  }

  test('a stream fails over before its first byte', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('on503', 'streamed'), stream: true } });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['x-cloudmux-provider'], 'b');
    assert.equal(raw.headers['x-cloudmux-attempts'], '2');
    assert.equal(raw.headers['x-cloudmux-failed-over'], 'true');
    assert.equal(raw.events.at(-1), '[DONE]');
    const text = raw.events.filter((e) => typeof e === 'object').map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'echo: streamed');
  });

  test('no failover on 400: the client gets 400 and the second target is never called', async () => {
    emuB.resetStats();
    await assert.rejects(client.chat.completions.create(chatBody('on400', 'bad')), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `got ${e.constructor.name} ${e.status}`);
      return true;
    });
    assert.equal(emuB.stats().total, 0);
  });
});

describe('retries and circuit breakers', () => {
  test('transient failures are retried on the same target, then fail over', async () => {
    const { response } = await client.chat.completions.create(chatBody('retried', 'x')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-attempts'), '4'); // 1 + 2 retries on a, then b
    assert.equal(response.headers.get('x-cloudmux-provider'), 'b');
  });

  test('a retry that succeeds on the same target is no failover', async () => {
    await httpRequest(`${emuB.url}/_emulator/faults`, { body: { spec: 'status=503', count: 1 } });
    const { response } = await client.chat.completions.create(chatBody('sametarget', 'x')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
    assert.equal(response.headers.get('x-cloudmux-failed-over'), null);
  });

  test('an open breaker skips the failing target until its cooldown has passed', async () => {
    const countA = () => emuA.stats().requests.filter((r) => r.model?.startsWith('gpt-4o-mini+fault:status=503')).length;
    emuA.resetStats();
    for (let i = 0; i < 2; i++) {
      const { response } = await client.chat.completions.create(chatBody('tripping', 'x')).withResponse();
      assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
    }
    assert.equal(countA(), 2);
    // Two failures in a row opened the breaker: a is not asked again.
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create(chatBody('tripping', 'x')).withResponse();
      assert.equal(response.headers.get('x-cloudmux-attempts'), '1');
      assert.equal(response.headers.get('x-cloudmux-provider'), 'b');
      assert.equal(response.headers.get('x-cloudmux-failed-over'), null, 'one attempt is no failover');
    }
    assert.equal(countA(), 2);
    // After the cooldown one probe goes to a again; it fails and the answer still comes from b.
    await new Promise((r) => setTimeout(r, 1100));
    const { response } = await client.chat.completions.create(chatBody('tripping', 'x')).withResponse();
    assert.equal(response.headers.get('x-cloudmux-attempts'), '2');
    assert.equal(countA(), 3);
  });
});

describe('every target fails', () => {
  test('5xx everywhere: 502/503/504 listing each attempt', async () => {
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('allbad', 'x') });
    assert.ok([502, 503, 504].includes(raw.status), `status ${raw.status}: ${raw.body}`);
    const err = assertOpenAIError(assert, raw.body);
    assert.ok(Array.isArray(err.attempts), `no attempts list: ${raw.body}`);
    assert.equal(err.attempts.length, 2);
    assert.deepEqual(err.attempts.map((a) => a.provider), ['a', 'a2']);
    assert.deepEqual(err.attempts.map((a) => a.status), [503, 500]);
    for (const a of err.attempts) {
      assert.equal(typeof a.model, 'string');
      assert.ok(a.error, 'attempt without an error');
      assert.equal(typeof a.latency_ms, 'number');
    }
    assert.equal(raw.headers['x-cloudmux-attempts'], '2');
  });

  test('timeouts everywhere: 502/503/504 (504 fits best) listing each attempt', async () => {
    const t0 = Date.now();
    const raw = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('alltimeout', 'x') });
    assert.ok([502, 503, 504].includes(raw.status), `status ${raw.status}: ${raw.body}`);
    const err = assertOpenAIError(assert, raw.body);
    assert.equal(err.attempts.length, 2);
    assert.ok(Date.now() - t0 < 6000, 'first_byte timeout of 400 ms not applied');
  });

  test('rate limited everywhere: 429 with the shortest Retry-After of the attempts', async () => {
    const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('alllimited', 'x') });
    assert.equal(r.status, 429, r.body);
    assert.equal(r.headers['retry-after'], '3', 'the 2.5 s hint rounds up to 3 s');
    const e = assertOpenAIError(assert, r.body, { type: 'rate_limit_error' });
    assert.deepEqual(e.attempts.map((a) => a.retry_after_ms), [7000, 2500]);
    assert.deepEqual(e.attempts.map((a) => a.error), ['rate_limited', 'rate_limited']);
  });

  test('the official client sees an APIError with the status', async () => {
    await assert.rejects(client.chat.completions.create(chatBody('allbad', 'x')), (e) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.ok([502, 503, 504].includes(e.status));
      assert.equal(e.error?.attempts?.length, 2);
      return true;
    });
  });
});
