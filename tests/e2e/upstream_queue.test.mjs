// upstream_queue.test.mjs — a request that cannot get a connection to its
// provider in time fails that attempt as "unavailable" (cause
// pool_saturated) and moves on: to the next target, or to a 503 that lists
// the attempt.  Never a silent wait.
//
// One connection per origin is allowed (upstream.max_conns_per_origin: 1)
// and emulator A answers after 1.5 s, so while one request holds A's only
// connection, the next one for A waits in the queue until
// upstream.queue_timeout (300 ms) and gives up.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, sleep, startCloudmux } from './helpers.mjs';

let emuA;
let emuB;
let gw;

before(async () => {
  emuA = await startEmulator();
  emuB = await startEmulator();
  gw = await startCloudmux({
    configYaml: `
upstream: { max_conns_per_origin: 1, queue_timeout: 300ms }
providers:
  a: { type: openai, base_url: "${emuA.baseURL}" }
  b: { type: openai, base_url: "${emuB.baseURL}" }
models:
  slow: { targets: [ { provider: a, model: "gpt-4o-mini+fault:delay,ms=1500" } ] }
  queued: { targets: [ { provider: a, model: "gpt-4o-mini+fault:delay,ms=1500" }, { provider: b, model: gpt-4o-mini } ] }
`,
  });
});

after(async () => {
  await gw?.stop();
  await emuA?.close();
  await emuB?.close();
});

const post = (model, text) => httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody(model, text) });

async function metric(name) {
  const r = await fetch(`${gw.url}/metrics`);
  const text = await r.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

test('a request queued past upstream.queue_timeout fails over to the next target', async () => {
  const holder = post('slow', 'hold the connection');
  await sleep(100); // the holder has A's only connection now
  const t0 = Date.now();
  const r = await post('queued', 'next please');
  const took = Date.now() - t0;
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-cloudmux-provider'], 'b');
  assert.equal(r.headers['x-cloudmux-attempts'], '2');
  assert.ok(took >= 250 && took < 1300, `answered after ${took} ms: not after the queue timeout`);
  assert.equal((await holder).status, 200);
});

test('with no other target the queued request gets a 503 that names the saturated pool', async () => {
  const before = await metric('cloudmux_upstream_queue_timeouts_total');
  const holder = post('slow', 'hold the connection');
  await sleep(100);
  const r = await post('slow', 'no room');
  assert.equal(r.status, 503, r.body);
  const err = assertOpenAIError(assert, r.body);
  assert.equal(err.attempts.length, 1);
  assert.equal(err.attempts[0].provider, 'a');
  assert.equal(err.attempts[0].error, 'unavailable');
  assert.equal(err.attempts[0].cause, 'pool_saturated');
  assert.match(err.attempts[0].message, /no connection to 127\.0\.0\.1:\d+ free within 300 ms/);
  assert.equal((await holder).status, 200);
  assert.equal(await metric('cloudmux_upstream_queue_timeouts_total'), before + 1);
  assert.ok((await metric('cloudmux_upstream_queue_waits_total')) >= 2);
  assert.equal(await metric('cloudmux_upstream_queue_length'), 0);
  assert.ok((await metric('cloudmux_upstream_queue_wait_seconds_total')) >= 0.5);
});
