// observability.test.mjs — GET /metrics and GET /v1/status as an operator
// sees them.
//
// After a few requests (one failover, one stream) the counters must match
// what happened; the exposition must parse line by line; a target that
// trips its breaker must show breaker_state 1 in /metrics and an open
// breaker with open_until in /v1/status; both endpoints follow the admin-key
// rules; and no credential ever appears in either.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

const ADMIN_KEY = 'cmx-admin-key-7f3a91';
const CLIENT_KEY = 'cmx-client-key-2b8c44';
const EMU_KEY = 'sk-provider-key-e0d5a2';

let emu;
let gw; // admin_keys and api_keys set
let open; // no admin_keys
let client;

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

before(async () => {
  emu = await startEmulator({ key: EMU_KEY });
  const providers = `
providers:
  a: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
  b: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
models:
  chat: { targets: [ { provider: a, model: "gpt-4o-mini+fault:status=503" }, { provider: b, model: gpt-4o-mini } ] }
  tripping: { breaker: { consecutive_failures: 2, cooldown: 60s }, targets: [ { provider: a, model: "gpt-4o+fault:status=500" }, { provider: b, model: gpt-4o } ] }
`;
  const env = { EMU_KEY, ADMIN: ADMIN_KEY, CLIENT: CLIENT_KEY };
  gw = await startCloudmux({ env, configYaml: `server: { api_keys: [ "env:CLIENT" ], admin_keys: [ "env:ADMIN" ] }\n${providers}` });
  open = await startCloudmux({ env, configYaml: providers });
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  await open?.stop();
  await emu?.close();
});

// Parses the exposition strictly: every sample is `name{labels} value`, and
// every family has # HELP and # TYPE before its samples.  Returns samples.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'the last line must end with a line feed');
  const help = new Set();
  const types = new Map();
  const samples = [];
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line))) {
      help.add(m[1]);
      continue;
    }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      types.set(m[1], m[2]);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment line: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const [, name, labelText = '', value] = m;
    const labels = {};
    let pos = 0;
    while (pos < labelText.length) {
      labelRe.lastIndex = pos;
      const l = labelRe.exec(labelText);
      assert.ok(l, `bad labels in: ${line}`);
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      pos = labelRe.lastIndex;
      if (labelText[pos] === ',') pos++;
    }
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `no # TYPE for ${name}`);
    assert.ok(help.has(family), `no # HELP for ${name}`);
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

function value(samples, name, labels) {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((a, s) => a + s.value, 0);
}

async function scrape(gateway = gw, headers = admin) {
  const r = await httpRequest(`${gateway.url}/metrics`, { method: 'GET', headers });
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return { text: r.body, samples: parseExposition(r.body) };
}

describe('GET /metrics', () => {
  test('counts requests, attempts per outcome and tokens after a failover and a stream', async () => {
    const before = (await scrape()).samples;
    const { data } = await client.chat.completions.create(chatBody('chat', 'hello there')).withResponse();
    const stream = await client.chat.completions.create({ ...chatBody('chat', 'streamed'), stream: true, stream_options: { include_usage: true } });
    let streamUsage = null;
    for await (const chunk of stream) if (chunk.usage) streamUsage = chunk.usage;
    assert.ok(streamUsage, 'the stream reported usage');

    const { samples } = await scrape();
    const delta = (name, labels) => value(samples, name, labels) - value(before, name, labels);
    assert.equal(delta('cloudmux_requests_total', { model: 'chat', provider: 'b', code: '200', stream: 'false' }), 1);
    assert.equal(delta('cloudmux_requests_total', { model: 'chat', provider: 'b', code: '200', stream: 'true' }), 1);
    assert.equal(delta('cloudmux_upstream_attempts_total', { model: 'chat', provider: 'a', outcome: 'unavailable' }), 2);
    assert.equal(delta('cloudmux_upstream_attempts_total', { model: 'chat', provider: 'b', outcome: 'ok' }), 2);
    assert.equal(delta('cloudmux_upstream_attempts_total', { model: 'chat', provider: 'a', outcome: 'ok' }), 0);
    assert.equal(
      delta('cloudmux_tokens_total', { model: 'chat', provider: 'b', type: 'prompt' }),
      data.usage.prompt_tokens + streamUsage.prompt_tokens,
    );
    assert.equal(
      delta('cloudmux_tokens_total', { model: 'chat', provider: 'b', type: 'completion' }),
      data.usage.completion_tokens + streamUsage.completion_tokens,
    );
    assert.equal(delta('cloudmux_request_duration_seconds_count', { model: 'chat' }), 2);
    assert.equal(value(samples, 'cloudmux_in_flight_requests', {}), 0);
    assert.equal(value(samples, 'cloudmux_build_info', {}), 1);
    // Every histogram's +Inf bucket equals its count.
    const inf = value(samples, 'cloudmux_gateway_overhead_seconds_bucket', { le: '+Inf' });
    assert.equal(inf, value(samples, 'cloudmux_gateway_overhead_seconds_count', {}));
  });

  test('health probes and scrapes are not counted', async () => {
    const before = (await scrape()).samples;
    await httpRequest(`${gw.url}/health/live`, { method: 'GET' });
    await httpRequest(`${gw.url}/health/ready`, { method: 'GET' });
    const { samples } = await scrape();
    assert.equal(value(samples, 'cloudmux_requests_total', {}), value(before, 'cloudmux_requests_total', {}));
    assert.ok(!gw.accessLog().some((l) => /^\/(metrics|health)/.test(l.path)), 'no log line for probes or scrapes');
  });

  test('a target whose breaker trips shows breaker_state 1; /v1/status shows it open with open_until', async () => {
    for (let i = 0; i < 2; i++) await client.chat.completions.create(chatBody('tripping', 'x'));
    const { samples } = await scrape();
    assert.equal(value(samples, 'cloudmux_breaker_state', { model: 'tripping', provider: 'a' }), 1);
    assert.equal(value(samples, 'cloudmux_breaker_state', { model: 'tripping', provider: 'b' }), 0);
    assert.equal(value(samples, 'cloudmux_breaker_open_total', { model: 'tripping', provider: 'a' }), 1);
    assert.equal(value(samples, 'cloudmux_upstream_attempts_total', { model: 'tripping', provider: 'a', outcome: 'unavailable' }), 2);

    const r = await httpRequest(`${gw.baseURL}/status`, { method: 'GET', headers: admin });
    assert.equal(r.status, 200, r.body);
    const status = JSON.parse(r.body);
    assert.equal(status.workers, 1);
    assert.equal(typeof status.version, 'string');
    assert.equal(typeof status.uptime_s, 'number');
    const group = status.models.find((g) => g.name === 'tripping');
    assert.equal(group.strategy, 'priority');
    const [ta, tb] = group.targets;
    assert.equal(ta.provider, 'a');
    assert.equal(ta.breaker.state, 'open');
    const until = Date.parse(ta.breaker.open_until);
    assert.ok(until > Date.now() + 30000 && until < Date.now() + 61000, `open_until ${ta.breaker.open_until}`);
    assert.equal(ta.breaker.trips, 1);
    assert.equal(tb.breaker.state, 'closed');
    assert.equal(tb.breaker.open_until, null);
    assert.equal(tb.in_flight, 0);
    assert.equal(typeof tb.latency_ewma_ms, 'number');
    assert.equal(tb.rpm.used, 2);
    assert.equal(tb.rpm.limit, null);
  });
});

describe('admin keys', () => {
  test('with admin_keys: 401 without a key, with a wrong key, and with a client key', async () => {
    for (const path of ['/metrics', '/v1/status']) {
      for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Bearer ${CLIENT_KEY}` }]) {
        const r = await httpRequest(`${gw.url}${path}`, { method: 'GET', headers });
        assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
        assertOpenAIError(assert, r.body);
      }
    }
  });

  test('without admin_keys: /v1/status is 403 naming server.admin_keys, /metrics is open', async () => {
    const r = await httpRequest(`${open.baseURL}/status`, { method: 'GET' });
    assert.equal(r.status, 403);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /server\.admin_keys/);
    await scrape(open, {});
  });

  test('no credential appears in /metrics or /v1/status', async () => {
    const m = await scrape();
    const s = await httpRequest(`${gw.baseURL}/status`, { method: 'GET', headers: admin });
    for (const text of [m.text, s.body]) {
      for (const secret of [ADMIN_KEY, CLIENT_KEY, EMU_KEY]) assert.ok(!text.includes(secret), `leaked ${secret}`);
      assert.ok(!text.includes('hello there'), 'message content leaked');
    }
  });
});
