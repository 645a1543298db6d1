// emulator_lambda.test.mjs — the Lambda Runtime API emulator against the
// exchanges AWS documents, with plain HTTP: the event and its context
// headers from /next, 202 for answers and errors, InvalidRequestID for an
// id answered twice or never handed out, the error document's shape, the
// streaming prelude and the error trailers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { startRuntimeApi } from '../emulators/lambda/emulator.mjs';

let api;
before(async () => {
  api = await startRuntimeApi();
});
after(async () => {
  await api.close();
});

function request(method, path, { headers = {}, body = null, chunks = null, trailers = null } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: api.port, method, path: `/2018-06-01/runtime${path}`, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (chunks) {
      for (const c of chunks) req.write(c);
      if (trailers) req.addTrailers(trailers);
      req.end();
    } else req.end(body);
  });
}

async function nextEvent(event) {
  const pending = api.invoke(event);
  const n = await request('GET', '/invocation/next');
  return { n, pending };
}

test('next hands out the event with its context; a buffered answer is accepted once', async () => {
  const { n, pending } = await nextEvent({ hello: 'world' });
  assert.equal(n.status, 200);
  assert.deepEqual(JSON.parse(n.body), { hello: 'world' });
  const id = n.headers['lambda-runtime-aws-request-id'];
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.ok(Number(n.headers['lambda-runtime-deadline-ms']) > Date.now());
  assert.match(n.headers['lambda-runtime-invoked-function-arn'], /^arn:aws:lambda:/);
  assert.match(n.headers['lambda-runtime-trace-id'], /^Root=1-/);
  const r = await request('POST', `/invocation/${id}/response`, { body: '{"statusCode":200,"body":"ok"}' });
  assert.equal(r.status, 202);
  const result = await pending;
  assert.equal(result.kind, 'response');
  assert.deepEqual(result.json, { statusCode: 200, body: 'ok' });
  const again = await request('POST', `/invocation/${id}/response`, { body: '{}' });
  assert.equal(again.status, 400);
  assert.equal(JSON.parse(again.body).errorType, 'InvalidRequestID');
  assert.equal((await request('POST', '/invocation/never-handed-out/error', { body: '{}' })).status, 400);
});

test('an error needs errorMessage and errorType', async () => {
  const { n, pending } = await nextEvent({});
  const id = n.headers['lambda-runtime-aws-request-id'];
  assert.equal((await request('POST', `/invocation/${id}/error`, { body: 'not json' })).status, 400);
  const ok = await request('POST', `/invocation/${id}/error`, {
    headers: { 'Lambda-Runtime-Function-Error-Type': 'Test.Failure' },
    body: JSON.stringify({ errorMessage: 'broke', errorType: 'Test.Failure', stackTrace: [] }),
  });
  assert.equal(ok.status, 202);
  const result = await pending;
  assert.equal(result.kind, 'error');
  assert.equal(result.errorType, 'Test.Failure');
  assert.equal(result.error.errorMessage, 'broke');
});

test('a streamed answer: prelude and payload are split, a missing separator is reported, trailers mark a failure', async () => {
  const streamHeaders = {
    'Lambda-Runtime-Function-Response-Mode': 'streaming',
    'Content-Type': 'application/vnd.awslambda.http-integration-response',
    'Transfer-Encoding': 'chunked',
    Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
  };
  let { n, pending } = await nextEvent({});
  let id = n.headers['lambda-runtime-aws-request-id'];
  const prelude = Buffer.concat([Buffer.from('{"statusCode":201,"headers":{"a":"b"}}'), Buffer.alloc(8)]);
  await request('POST', `/invocation/${id}/response`, { headers: streamHeaders, chunks: [prelude, 'data: 1\n\n', 'data: 2\n\n'] });
  let result = await pending;
  assert.equal(result.streaming, true);
  assert.equal(result.prelude.statusCode, 201);
  assert.equal(result.payload.toString(), 'data: 1\n\ndata: 2\n\n');

  ({ n, pending } = await nextEvent({}));
  id = n.headers['lambda-runtime-aws-request-id'];
  await request('POST', `/invocation/${id}/response`, { headers: streamHeaders, chunks: ['{"statusCode":200}', 'no separator'] });
  result = await pending;
  assert.match(result.problem, /eight NUL bytes/);

  ({ n, pending } = await nextEvent({}));
  id = n.headers['lambda-runtime-aws-request-id'];
  const errBody = Buffer.from(JSON.stringify({ errorMessage: 'cut', errorType: 'X.Cut' })).toString('base64');
  await request('POST', `/invocation/${id}/response`, {
    headers: streamHeaders,
    chunks: [prelude, 'data: 1\n\n'],
    trailers: { 'Lambda-Runtime-Function-Error-Type': 'X.Cut', 'Lambda-Runtime-Function-Error-Body': errBody },
  });
  result = await pending;
  assert.equal(result.kind, 'stream-error');
  assert.equal(result.errorType, 'X.Cut');
  assert.equal(result.error.errorMessage, 'cut');
});

test('init/error is recorded and handed to waiters', async () => {
  const waiting = api.initError();
  const r = await request('POST', '/init/error', {
    headers: { 'Lambda-Runtime-Function-Error-Type': 'Test.Init' },
    body: JSON.stringify({ errorMessage: 'no config', errorType: 'Test.Init' }),
  });
  assert.equal(r.status, 202);
  const rep = await waiting;
  assert.equal(rep.errorType, 'Test.Init');
  assert.equal(rep.error.errorMessage, 'no config');
});
