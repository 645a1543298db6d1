// valgrind.test.mjs — served requests leak nothing: cloudmux runs under
// valgrind's memcheck, serves every kind of request (plain, streamed, cut,
// failed over, embeddings, errors; chat completions, Anthropic's Messages
// API and OpenAI's Responses API, passed through and converted), drains on SIGTERM and must exit 0 with
// no definite or indirect leak and no memory error; the same for the Lambda
// runtime, buffered and streamed, with an event it must refuse.  Skipped when valgrind is
// missing or the binary is an AddressSanitizer build (the two do not mix).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startRuntimeApi } from '../emulators/lambda/emulator.mjs';
import { startEmulator } from '../emulators/openai/index.mjs';
import { CLOUDMUX_BIN, chatBody, httpRequest, startCloudmux, tempDir } from './helpers.mjs';

function valgrindMissing() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'valgrind is not installed';
  }
  const syms = execFileSync('nm', ['-D', CLOUDMUX_BIN], { encoding: 'utf8' });
  return /__asan_init/.test(syms) ? 'the binary is built with AddressSanitizer' : false;
}

const skip = valgrindMissing();
let emu;

before(async () => {
  if (!skip) emu = await startEmulator({ key: 'sk-valgrind-emu' });
});

after(async () => {
  await emu?.close();
});

test('a gateway under valgrind serves every kind of request and exits without leaks', { skip, timeout: 120000 }, async () => {
  const gw = await startCloudmux({
    readyTimeoutMs: 60000,
    wrapper: ['valgrind', '--leak-check=full', '--show-leak-kinds=definite,indirect',
      '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=9', '--quiet'],
    env: { EMU_KEY: 'sk-valgrind-emu' },
    configYaml: `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
  down: { type: openai, base_url: "http://127.0.0.1:1/v1" }
  sim: { type: mock, stream_chunks: 2 }
models:
  chat: { targets: [ { provider: down, model: x }, { provider: emu, model: gpt-4o-mini } ] }
  sim: { targets: [ { provider: sim } ] }
`,
  });
  const post = (path, body) => httpRequest(`${gw.baseURL}${path}`, { body, timeoutMs: 30000 });
  for (const model of ['chat', 'sim']) {
    assert.equal((await post('/chat/completions', chatBody(model, 'hello'))).status, 200);
    const s = await post('/chat/completions', { ...chatBody(model, 'a b c'), stream: true });
    assert.equal(s.status, 200);
    assert.equal(s.events.at(-1), '[DONE]');
    assert.equal((await post('/embeddings', { model, input: ['a', 'b'] })).status, 200);
  }
  for (const model of ['chat', 'sim']) {
    const m = { model, max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] };
    assert.equal((await post('/messages', m)).status, 200);
    const ms = await post('/messages', { ...m, stream: true });
    assert.equal(ms.events.at(-1)?.type, 'message_stop', ms.body);
    assert.equal((await post('/messages/count_tokens', { model, messages: m.messages })).status, 400);
    assert.equal((await post('/responses', { model, input: 'hello' })).status, 200);
    const rs = await post('/responses', { model, input: 'a b c', stream: true });
    assert.equal(rs.events.at(-1)?.type, 'response.completed', rs.body);
  }
  assert.equal((await post('/messages', { model: 'sim', max_tokens: 1, messages: 'x' })).status, 400);
  assert.equal((await post('/responses', { model: 'sim', input: 'x', store: true })).status, 400);
  const cutMessages = await post('/messages', { model: 'chat', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'a b c [[fault:cut_stream after=2]]' }] });
  assert.equal(cutMessages.events.at(-1)?.type, 'error', cutMessages.body);
  const cut = await post('/chat/completions', { ...chatBody('chat', 'a b c [[fault:cut_stream after=2]]'), stream: true });
  assert.ok(cut.events.at(-1)?.error, cut.body);
  assert.equal((await post('/chat/completions', '{"model":')).status, 400);
  assert.equal((await post('/chat/completions', chatBody('nope', 'x'))).status, 404);
  const res = await gw.stop({ timeoutMs: 30000 }); // throws on a non-zero exit (valgrind's 9)
  assert.equal(res.code, 0, gw.stderr());
  assert.doesNotMatch(gw.stderr(), /definitely lost|Invalid (read|write)|uninitialised/, gw.stderr());
});

test('the Lambda runtime under valgrind serves buffered and streamed invocations and exits without leaks', { skip, timeout: 120000 }, async () => {
  const dir = tempDir('cmx-vg-lambda-');
  const config = join(dir, 'cloudmux.yaml');
  writeFileSync(config, `providers:\n  sim: { type: mock, stream_chunks: 2 }\nmodels:\n  sim: { targets: [ { provider: sim } ] }\n`);
  const event = (body) => ({
    version: '2.0',
    rawPath: '/v1/chat/completions',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method: 'POST' }, stage: '$default' },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  });
  try {
    for (const mode of ['BUFFERED', 'RESPONSE_STREAM']) {
      const api = await startRuntimeApi();
      const child = spawn('valgrind', ['--leak-check=full', '--show-leak-kinds=definite,indirect',
        '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=9', '--quiet', CLOUDMUX_BIN, 'lambda'], {
        env: { ...process.env, AWS_LAMBDA_RUNTIME_API: api.endpoint, CLOUDMUX_CONFIG: config, CLOUDMUX_LAMBDA_INVOKE_MODE: mode },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
      const exited = new Promise((r) => child.on('exit', (code) => r(code)));
      const ok = (r) => (mode === 'BUFFERED' ? r.json.statusCode : r.prelude.statusCode);
      assert.equal(ok(await api.invoke(event(chatBody('sim', 'hello')))), 200);
      assert.equal(ok(await api.invoke(event({ ...chatBody('sim', 'a b'), stream: true }))), 200);
      assert.equal(ok(await api.invoke(event(chatBody('nope', 'x')))), 404);
      assert.equal((await api.invoke({ not: 'http' })).kind, 'error');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
      assert.doesNotMatch(err, /definitely lost|Invalid (read|write)|uninitialised/, err);
      await api.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
