// tls.test.mjs — HTTPS upstreams: verified against ca_file, refused otherwise.
//
// The emulator serves HTTPS with a certificate for localhost/127.0.0.1 signed
// by a CA the test just made.  With that CA as ca_file the gateway talks to
// it; with the system store it must refuse (and say it was TLS), unless
// tls_verify is explicitly off.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, makeCerts, startCloudmux } from './helpers.mjs';

const EMU_KEY = 'sk-tls-upstream-2b7c';
let certs;
let emu;
let gw;
let client;

before(async () => {
  certs = makeCerts();
  emu = await startEmulator({ key: EMU_KEY, tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
  const base = `https://localhost:${emu.port}/v1`;
  gw = await startCloudmux({
    env: { EMU_KEY },
    configYaml: `
providers:
  trusted: { type: openai, base_url: "${base}", api_key: "env:EMU_KEY", ca_file: "${certs.caFile}" }
  untrusted: { type: openai, base_url: "${base}", api_key: "env:EMU_KEY", timeouts: { connect: 2s, total: 5s } }
  unverified: { type: openai, base_url: "${base}", api_key: "env:EMU_KEY", tls_verify: false }
models:
  secure: { targets: [ { provider: trusted, model: gpt-4o-mini } ] }
  insecure: { targets: [ { provider: untrusted, model: gpt-4o-mini } ] }
  noverify: { targets: [ { provider: unverified, model: gpt-4o-mini } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 10000 });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
  certs?.rm();
});

test('chat over HTTPS verified with ca_file', async () => {
  const { data, response } = await client.chat.completions.create(chatBody('secure', 'over tls')).withResponse();
  assert.equal(data.choices[0].message.content, 'echo: over tls');
  assert.equal(response.headers.get('x-cloudmux-provider'), 'trusted');
});

test('streaming over HTTPS', async () => {
  const s = await client.chat.completions.create({ ...chatBody('secure', 'tls stream'), stream: true });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'echo: tls stream');
});

test('without the CA the certificate is refused and the attempt says tls', async () => {
  emu.resetStats();
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('insecure', 'x') });
  assert.ok([502, 503].includes(r.status), `status ${r.status}: ${r.body}`);
  const err = assertOpenAIError(assert, r.body);
  assert.equal(err.attempts?.length, 1, r.body);
  assert.equal(err.attempts[0].cause, 'tls', r.body);
  assert.match(err.attempts[0].message, /certificate|verif/i, r.body);
  assert.equal(emu.stats().total, 0, 'no request may be sent over an unverified connection');
});

test('tls_verify: false accepts the certificate', async () => {
  const r = await client.chat.completions.create(chatBody('noverify', 'trust me'));
  assert.equal(r.choices[0].message.content, 'echo: trust me');
});
