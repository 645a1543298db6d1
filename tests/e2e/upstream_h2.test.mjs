// upstream_h2.test.mjs — HTTP/2 to providers, against the HTTP/2 emulator
// (node:http2): over TLS with ALPN and as h2c, streams multiplexed over few
// connections within the server's SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY
// mid-load without losing or repeating a request, a reset stream that
// leaves its neighbours alone, a cut stream that ends with the error event,
// a lost connection failing its streams once, the HTTP/1.1 fallback when
// ALPN offers only http/1.1, PINGs on idle connections, and backpressure
// from a client that reads slowly.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { startEmulator as startH2 } from '../emulators/h2/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, makeCerts, sleep, startCloudmux, waitFor } from './helpers.mjs';

let certs;
before(() => {
  certs = makeCerts();
});
after(() => certs?.rm());

const post = (gw, model, text, extra = {}) =>
  httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody(model, text, extra), timeoutMs: 20000 });

async function metric(gw, name) {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

const ended = (r) => r.events[r.events.length - 1];

describe('h2c with prior knowledge', () => {
  let emu;
  let gw;
  before(async () => {
    emu = await startH2({ mode: 'h2c', maxConcurrentStreams: 5 });
    gw = await startCloudmux({
      configYaml: `
upstream: { http2_ping_interval: 200ms }
providers:
  up: { type: openai, base_url: "${emu.baseURL}", http2: on }
models:
  m: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`,
    });
  });
  after(async () => {
    await gw?.stop();
    await emu?.close();
  });

  test('streams share connections and never exceed MAX_CONCURRENT_STREAMS', async () => {
    emu.resetStats();
    const n = 24;
    const rs = await Promise.all(
      Array.from({ length: n }, (_, i) => post(gw, 'm', `[[id:s${i}]] [[fault:slow ms=40]] hello ${i}`, { stream: true })),
    );
    for (const [i, r] of rs.entries()) {
      assert.equal(r.status, 200, r.body);
      assert.equal(ended(r), '[DONE]');
      const text = r.events.filter((e) => typeof e === 'object').map((e) => e.choices?.[0]?.delta?.content || '').join('');
      assert.equal(text, `echo: hello ${i}`);
    }
    const st = emu.stats();
    assert.equal(st.streams, n);
    assert.ok(st.maxOpenPerConnection <= 5, `a connection had ${st.maxOpenPerConnection} streams open (limit 5)`);
    assert.ok(st.connections <= Math.ceil(n / 5), `${st.connections} connections for ${n} streams`);
    assert.equal(st.refused, 0);
    for (let i = 0; i < n; i++) assert.equal(st.processed[`s${i}`], 1);
    assert.equal(await metric(gw, 'cloudmux_upstream_http2_streams_total'), n);
  });

  test('an idle connection is checked with PING and stays in use', async () => {
    emu.resetStats();
    assert.equal((await post(gw, 'm', 'one')).status, 200);
    await waitFor(() => emu.stats().pings >= 2, { timeoutMs: 3000, what: 'two PINGs' });
    assert.equal((await post(gw, 'm', 'two')).status, 200);
    assert.equal(emu.stats().connections, 0, 'a new connection was opened although the pinged one was alive');
  });

  test('a reset stream ends with the error event; its neighbours finish', async () => {
    emu.resetStats();
    const rs = await Promise.all([
      post(gw, 'm', '[[fault:rst_after n=2]] [[fault:slow ms=30]] cut me short please', { stream: true }),
      ...[1, 2, 3].map((i) => post(gw, 'm', `[[fault:slow ms=30]] whole answer ${i}`, { stream: true })),
    ]);
    const [cut, ...whole] = rs;
    assert.equal(cut.status, 200);
    assert.ok(!cut.events.includes('[DONE]'), 'a cut stream must not end with [DONE]');
    assert.ok(ended(cut).error, `no error event at the end: ${cut.body}`);
    assert.match(ended(cut).error.message, /reset the stream \(INTERNAL_ERROR\)/);
    for (const r of whole) assert.equal(ended(r), '[DONE]');
    assert.equal(emu.stats().connections, 0, 'the reset took the connection down');
  });

  test('a lost connection fails each of its streams once, with the error event', async () => {
    emu.resetStats();
    const rs = [1, 2, 3].map((i) => post(gw, 'm', `[[fault:slow ms=300]] long answer number ${i} here`, { stream: true }));
    await waitFor(() => emu.stats().openNow === 3, { what: 'three open streams' });
    await sleep(100);
    emu.dropConnections();
    for (const r of await Promise.all(rs)) {
      assert.equal(r.status, 200);
      assert.ok(!r.events.includes('[DONE]'));
      assert.match(ended(r).error.message, /closed the connection|reset/);
    }
    assert.equal((await post(gw, 'm', 'after the loss')).status, 200, 'a new connection serves the next request');
  });
});

describe('TLS with ALPN', () => {
  let emu;
  let h1;
  let openai;
  let gw;
  before(async () => {
    emu = await startH2({ mode: 'tls', certFile: certs.certFile, keyFile: certs.keyFile, maxConcurrentStreams: 10 });
    h1 = await startH2({ mode: 'tls-h1', certFile: certs.certFile, keyFile: certs.keyFile });
    openai = await startOpenAI();
    const tls = `ca_file: "${certs.caFile}"`;
    gw = await startCloudmux({
      configYaml: `
providers:
  h2: { type: openai, base_url: "${emu.baseURL}", ${tls} }
  h1only: { type: openai, base_url: "${h1.baseURL}", ${tls} }
  h1required: { type: openai, base_url: "${h1.baseURL}", ${tls}, http2: on }
  h1off: { type: openai, base_url: "${emu.baseURL}", ${tls}, http2: off }
  backup: { type: openai, base_url: "${openai.baseURL}" }
models:
  m: { targets: [ { provider: h2, model: gpt-4o-mini } ] }
  fallback: { targets: [ { provider: h1only, model: gpt-4o-mini } ] }
  required: { targets: [ { provider: h1required, model: gpt-4o-mini } ] }
  off: { targets: [ { provider: h1off, model: gpt-4o-mini } ] }
  resetfirst: { targets: [ { provider: h2, model: "gpt-4o-mini+fault:rst" }, { provider: backup, model: gpt-4o-mini } ] }
  refused: { targets: [ { provider: h2, model: "gpt-4o-mini+fault:refuse" } ] }
`,
    });
  });
  after(async () => {
    await gw?.stop();
    await emu?.close();
    await h1?.close();
    await openai?.close();
  });

  test('ALPN picks h2: whole answers and streams over one connection', async () => {
    emu.resetStats();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => post(gw, 'm', `hi ${i}`, { stream: i % 2 === 0 })));
    for (const r of rs) assert.equal(r.status, 200, r.body);
    const st = emu.stats();
    assert.deepEqual(st.alpn, { h2: 1 });
    assert.equal(st.streams, 8);
  });

  test('GOAWAY mid-load: streams above the last stream id go to a new connection, none lost, none twice', async () => {
    emu.resetStats();
    emu.setOptions({ goawayAfter: 6 });
    const retriesBefore = await metric(gw, 'cloudmux_upstream_http2_refused_retries_total');
    try {
      const n = 20;
      const rs = await Promise.all(
        Array.from({ length: n }, (_, i) => post(gw, 'm', `[[id:g${i}]] [[fault:slow ms=30]] goaway ${i}`, { stream: true })),
      );
      for (const r of rs) assert.equal(ended(r), '[DONE]', r.body);
      const st = emu.stats();
      assert.ok(st.goaways >= 1, 'no GOAWAY was sent');
      // Streams above the last stream id never reach the emulator's code
      // (nghttp2 drops them after GOAWAY); the gateway counts their retries.
      assert.ok((await metric(gw, 'cloudmux_upstream_http2_refused_retries_total')) > retriesBefore, 'no stream was above the last stream id');
      assert.ok(st.connections >= 1, 'the refused streams needed a new connection');
      for (let i = 0; i < n; i++) assert.equal(st.processed[`g${i}`], 1, `request g${i} processed ${st.processed[`g${i}`]} times`);
      assert.ok((await metric(gw, 'cloudmux_upstream_http2_goaways_total')) >= 1);
    } finally {
      emu.setOptions({ goawayAfter: 0 });
    }
  });

  test('a stream reset before any answer fails over to the next target', async () => {
    const r = await post(gw, 'resetfirst', 'try the next');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-cloudmux-provider'], 'backup');
    assert.equal(r.headers['x-cloudmux-attempts'], '2');
  });

  test('a stream the server keeps refusing is retried elsewhere, then reported as unavailable', async () => {
    emu.resetStats();
    const r = await post(gw, 'refused', 'no room');
    assert.equal(r.status, 503, r.body);
    const err = JSON.parse(r.body).error;
    assert.equal(err.attempts[0].error, 'unavailable');
    assert.match(err.attempts[0].message, /refused the stream \(REFUSED_STREAM\)/);
    assert.equal(emu.stats().refused, 4, 'one try and three retries');
  });

  test('ALPN offering only http/1.1 falls back to HTTP/1.1', async () => {
    h1.resetStats();
    const rs = await Promise.all([post(gw, 'fallback', 'one'), post(gw, 'fallback', 'two', { stream: true })]);
    for (const r of rs) assert.equal(r.status, 200, r.body);
    assert.equal(ended(rs[1]), '[DONE]');
    assert.deepEqual(Object.keys(h1.stats().alpn), ['http/1.1']);
  });

  test('http2: on refuses a server that will not speak HTTP/2', async () => {
    const r = await post(gw, 'required', 'h2 or nothing');
    assert.equal(r.status, 503, r.body);
    // The server answers an offer of "h2" alone with the TLS alert
    // no_application_protocol (a server that ignores ALPN gets the
    // "did not choose HTTP/2" error instead).
    assert.match(JSON.parse(r.body).error.attempts[0].message, /no application protocol|did not choose HTTP\/2 by ALPN/);
  });

  test('http2: off keeps HTTP/1.1 even where the server offers h2', async () => {
    emu.resetStats();
    // The HTTP/2 emulator takes no HTTP/1.1 (allowHTTP1: false) and drops
    // a client that did not choose "h2" by ALPN: the attempt fails.
    const r = await post(gw, 'off', 'old school');
    assert.equal(r.status, 503, r.body);
    assert.equal(emu.stats().streams, 0);
    assert.equal(emu.stats().unknownProtocol, 1);
  });
});

describe('backpressure from a slow reader', () => {
  let emu;
  let gw;
  before(async () => {
    emu = await startH2({ mode: 'h2c' });
    gw = await startCloudmux({
      configYaml: `
providers:
  up: { type: openai, base_url: "${emu.baseURL}", http2: on, timeouts: { idle: 20s } }
models:
  m: { targets: [ { provider: up, model: gpt-4o-mini } ] }
`,
    });
  });
  after(async () => {
    await gw?.stop();
    await emu?.close();
  });

  test('a client that stops reading stops the upstream stream, and gets every byte later', async () => {
    const mb = 48;
    const body = JSON.stringify(chatBody('m', `[[fault:big mb=${mb}]] big`, { stream: true }));
    const sock = net.connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    sock.pause(); // read nothing
    await sleep(1500);
    const stalled = emu.stats().bigProgress;
    const rssStalled = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))[1]);
    await sleep(500);
    assert.equal(emu.stats().bigProgress, stalled, 'the upstream kept sending while the client read nothing');
    assert.ok(stalled < (mb / 2) * 1024 * 1024, `${stalled} bytes were sent to a client that reads nothing`);
    let received = 0;
    let tail = '';
    sock.on('data', (d) => {
      received += d.length;
      tail = (tail + d.toString('latin1')).slice(-200);
    });
    sock.resume();
    await new Promise((r) => sock.on('close', r));
    assert.ok(received > mb * 1024 * 1024, `only ${received} bytes arrived`);
    assert.match(tail, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
    assert.ok(rssStalled < 64 * 1024, `gateway RSS ${rssStalled} KiB while holding a stalled ${mb} MiB stream`);
  });
});
