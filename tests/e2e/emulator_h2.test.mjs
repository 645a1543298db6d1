// emulator_h2.test.mjs — the HTTP/2 emulator checked with curl (libcurl on
// nghttp2) and Node's own HTTP/2 client, so the gateway's HTTP/2 tests run
// against a server that real clients agree speaks HTTP/2: ALPN h2 over TLS,
// h2c with prior knowledge, the SETTINGS it announces, GOAWAY with a last
// stream id, refused and reset streams.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';

import { startEmulator } from '../emulators/h2/index.mjs';
import { makeCerts } from './helpers.mjs';

let certs;
let tls;
let h2c;

before(async () => {
  certs = makeCerts();
  tls = await startEmulator({ mode: 'tls', certFile: certs.certFile, keyFile: certs.keyFile, maxConcurrentStreams: 7 });
  h2c = await startEmulator({ mode: 'h2c' });
});

after(async () => {
  await tls?.close();
  await h2c?.close();
  certs?.rm();
});

const body = (text, extra = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra });

function curl(args) {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (error, stdout, stderr) => resolve({ error, stdout, stderr }));
  });
}

test('curl negotiates h2 by ALPN and gets an OpenAI answer', async () => {
  const r = await curl(['--http2', '--cacert', certs.caFile, '-w', '\n%{http_version}', '-H', 'content-type: application/json', '-d', body('hello there'), `${tls.baseURL}/chat/completions`]);
  assert.equal(r.error, null, r.stderr);
  const [json, version] = r.stdout.split('\n');
  assert.equal(version, '2');
  assert.equal(JSON.parse(json).choices[0].message.content, 'echo: hello there');
  assert.deepEqual(tls.stats().alpn, { h2: 1 });
});

test('curl speaks h2c with prior knowledge and reads the SSE stream', async () => {
  const r = await curl(['--http2-prior-knowledge', '-w', '\n%{http_version}', '-d', body('stream me', { stream: true }), `${h2c.baseURL}/chat/completions`]);
  assert.equal(r.error, null, r.stderr);
  assert.match(r.stdout, /"content":"echo:"/);
  assert.match(r.stdout, /data: \[DONE\]\n\n\n2$/);
});

function nodeRequest(session, text) {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
    let data = '';
    let status = null;
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (d) => (data += d));
    req.on('end', () => resolve({ status, data, code: req.rstCode }));
    req.on('error', () => resolve({ status, data, code: req.rstCode }));
    req.end(body(text));
  });
}

test('node:http2 sees the SETTINGS, refused and reset streams, and GOAWAY with its last stream id', async () => {
  const session = http2.connect(tls.url, { ca: readFileSync(certs.caFile) });
  await new Promise((r) => session.once('remoteSettings', r));
  assert.equal(session.remoteSettings.maxConcurrentStreams, 7);
  const refused = await nodeRequest(session, '[[fault:refuse]] no');
  assert.equal(refused.code, http2.constants.NGHTTP2_REFUSED_STREAM);
  const reset = await nodeRequest(session, '[[fault:rst]] no');
  assert.equal(reset.code, http2.constants.NGHTTP2_INTERNAL_ERROR);
  tls.setOptions({ goawayAfter: 3 });
  const goaway = new Promise((r) => session.once('goaway', (code, lastStreamID) => r({ code, lastStreamID })));
  const ok = await nodeRequest(session, 'third stream');
  assert.equal(ok.status, 200);
  const g = await goaway;
  assert.equal(g.code, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(g.lastStreamID, 5); // streams 1, 3, 5: the third one is the last
  tls.setOptions({ goawayAfter: 0 });
  session.destroy();
});
