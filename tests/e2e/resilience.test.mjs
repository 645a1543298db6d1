// resilience.test.mjs — many requests in flight while a target fails, and
// retries that wait as long as the upstream asks.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, startCloudmux } from './helpers.mjs';

let primary;
let secondary;
let gw;

before(async () => {
  primary = await startEmulator();
  secondary = await startEmulator();
  gw = await startCloudmux({
    configYaml: `
providers:
  p: { type: openai, base_url: "${primary.baseURL}", timeouts: { connect: 1s, first_byte: 1500ms, idle: 1s, total: 5s } }
  s: { type: openai, base_url: "${secondary.baseURL}" }
models:
  pair: { breaker: { consecutive_failures: 5, cooldown: 30s }, targets: [ { provider: p, model: gpt-4o-mini }, { provider: s, model: gpt-4o-mini } ] }
  patient: { num_retries: 1, retry: { base: 10ms, max_retry_after: 5s }, breaker: false, targets: [ { provider: p, model: gpt-4o } ] }
`,
  });
});

after(async () => {
  await gw?.stop();
  await primary?.close();
  await secondary?.close();
});

test('200 concurrent requests while the primary starts failing: none lost, none hung', async () => {
  primary.clearFaults();
  const requests = [];
  for (let i = 0; i < 200; i++) {
    if (i === 60) primary.setFault('status=503'); // the outage starts mid-burst
    if (i === 120) primary.setFault('hang'); // and turns into a hang
    requests.push(httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('pair', `req ${i}`), timeoutMs: 20000 }));
  }
  const results = await Promise.all(requests);
  primary.clearFaults();
  let ok = 0;
  for (const [i, r] of results.entries()) {
    assert.ok(r.status !== null, `request ${i} got no answer at all: ${r.error?.message}`);
    if (r.status === 200) {
      ok++;
      assert.equal(JSON.parse(r.body).choices[0].message.content, `echo: req ${i}`);
    } else {
      // Any failure is a clear OpenAI-shaped error with its attempts.
      const e = JSON.parse(r.body).error;
      assert.ok(e?.message && e.attempts?.length, `request ${i}: ${r.status} ${r.body}`);
    }
  }
  // With a healthy secondary every request should have been answered.
  assert.equal(ok, 200);
});

test('a retry waits at least as long as Retry-After asks', async () => {
  primary.clearFaults();
  primary.resetStats();
  primary.setFault({ fault: 'status', status: 429, retry_after_ms: 300, count: 1 });
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('patient', 'again') });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-cloudmux-attempts'], '2');
  const [first, second] = primary.stats().requests;
  const gap = second.t_start - first.t_start;
  assert.ok(gap >= 300, `retried after ${gap} ms, before the 300 ms the upstream asked for`);
});

test("without Retry-After, a 429's x-ratelimit-reset of the exhausted limit is the wait", async () => {
  primary.clearFaults();
  primary.resetStats();
  primary.setFault({ fault: 'status', status: 429, reset_requests: '20s', remaining_requests: 12, reset_tokens: '350ms', remaining_tokens: 0, count: 1 });
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('patient', 'tokens') });
  assert.equal(r.status, 200, r.body);
  const [first, second] = primary.stats().requests;
  const gap = second.t_start - first.t_start;
  assert.ok(gap >= 350 && gap < 5000, `retried after ${gap} ms; the token limit reset in 350 ms`);
});

test('active health checks take a provider out of routing and bring it back', async () => {
  const sick = await startEmulator();
  const well = await startEmulator();
  const gw2 = await startCloudmux({
    configYaml: `
providers:
  sick: { type: openai, base_url: "${sick.baseURL}", health_check: { interval: 100ms, timeout: 500ms, unhealthy_threshold: 2, healthy_threshold: 1 } }
  well: { type: openai, base_url: "${well.baseURL}" }
models:
  g: { breaker: false, targets: [ { provider: sick, model: gpt-4o-mini }, { provider: well, model: gpt-4o-mini } ] }
`,
  });
  const ask = async () => {
    const r = await httpRequest(`${gw2.baseURL}/chat/completions`, { body: chatBody('g', 'x') });
    assert.equal(r.status, 200, r.body);
    return r.headers;
  };
  const waitFor = async (cond, what) => {
    for (let i = 0; i < 100; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  try {
    assert.equal((await ask())['x-cloudmux-provider'], 'sick');
    // Its models endpoint starts failing: after two failed probes it is out,
    // and chat requests go straight to the other provider.
    sick.setFault({ fault: 'status', status: 503, path: '/v1/models' });
    await waitFor(async () => (await ask())['x-cloudmux-provider'] === 'well', 'the provider to be marked down');
    const h = await ask();
    assert.equal(h['x-cloudmux-attempts'], '1', 'a provider marked down was still tried');
    assert.match(gw2.stderr(), /provider 'sick' marked down by its health check/);
    // It recovers: one good probe brings it back.
    sick.clearFaults();
    await waitFor(async () => (await ask())['x-cloudmux-provider'] === 'sick', 'the provider to come back');
    assert.match(gw2.stderr(), /provider 'sick' is healthy again/);
  } finally {
    await gw2.stop();
    await sick.close();
    await well.close();
  }
});
