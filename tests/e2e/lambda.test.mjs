// lambda.test.mjs — cloudmux as an AWS Lambda custom runtime, against the
// Runtime API emulator (tests/emulators/lambda): HTTP API payload 2.0,
// function URL and ALB events through the gateway's router; buffered
// answers, and streamed ones with the HTTP integration prelude arriving
// chunk by chunk; events that are not HTTP requests reported to /error;
// a broken config reported to /init/error; several warm invocations on one
// process sharing the connection pool and the cached Entra ID token; the
// `bootstrap` start; and the init time, exec to the first /next.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';

import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startRuntimeApi } from '../emulators/lambda/emulator.mjs';
import { CLOUDMUX_BIN, sseEvents, tempDir, waitFor } from './helpers.mjs';

const CLIENT_SECRET = 'lambda-secret-SECRET-7f2e';
let az;
let dir;

before(async () => {
  az = await startAzure({ tokens: { tenant: 't-lambda', clients: { 'lambda-app': CLIENT_SECRET } } });
  dir = tempDir('cmx-lambda-');
});

after(async () => {
  await az?.close();
  rmSync(dir, { recursive: true, force: true });
});

const CONFIG = () => `
providers:
  slow: { type: mock, chunk_interval: 120ms, stream_chunks: 6 }
  az:
    type: azure
    endpoint: "${az.endpoint}"
    auth: { tenant_id: t-lambda, client_id: lambda-app, client_secret: env:CMX_LAMBDA_SECRET, authority: "${az.authority}" }
models:
  demo: { targets: [ { provider: slow } ] }
  azure: { targets: [ { provider: az, model: dep } ] }
`;

function writeConfig(name, yaml) {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

// Starts `cloudmux lambda` (or argv as given) against a fresh Runtime API.
async function startRuntime({ argv = ['lambda'], bin = CLOUDMUX_BIN, env = {}, config = CONFIG() } = {}) {
  const api = await startRuntimeApi();
  const t0 = performance.now();
  const child = spawn(bin, argv, {
    env: {
      ...process.env,
      AWS_LAMBDA_RUNTIME_API: api.endpoint,
      CLOUDMUX_CONFIG: config === null ? '' : writeConfig(`c-${api.port}.yaml`, config),
      CMX_LAMBDA_SECRET: CLIENT_SECRET,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return {
    api,
    child,
    t0,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      const r = await exited;
      await api.close();
      assert.deepEqual(r, { code: 0, signal: null }, err);
    },
  };
}

const chat = (model, text, extra = {}) => JSON.stringify({ model, messages: [{ role: 'user', content: text }], ...extra });

function httpApiEvent({ method = 'POST', path = '/v1/chat/completions', body = null, base64 = false, stage = '$default', headers = {} } = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: stage === '$default' ? path : `/${stage}${path}`,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'user-agent': 'e2e', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api-e2e',
      domainName: 'api-e2e.execute-api.eu-west-1.amazonaws.com',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'e2e' },
      requestId: 'req-e2e',
      routeKey: '$default',
      stage,
      time: '06/Dec/2026:10:00:00 +0000',
      timeEpoch: Date.now(),
    },
    body: body === null ? undefined : base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: base64,
  };
}

function functionUrlEvent(opts) {
  const ev = httpApiEvent(opts);
  ev.requestContext.domainName = 'abcdefg.lambda-url.eu-west-1.on.aws';
  ev.requestContext.apiId = 'abcdefg';
  return ev;
}

function albEvent({ body, multi = false }) {
  const headers = { 'content-type': 'application/json', host: 'alb.example' };
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/cmx/1' } },
    httpMethod: 'POST',
    path: '/v1/chat/completions',
    ...(multi
      ? { multiValueQueryStringParameters: {}, multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])) }
      : { queryStringParameters: {}, headers }),
    body,
    isBase64Encoded: false,
  };
}

test('buffered: HTTP API, function URL and ALB events are served by the router; a warm process keeps its pool and token', async (t) => {
  const rt = await startRuntime();
  try {
    let r = await rt.api.invoke(httpApiEvent({ body: chat('demo', 'hello') }));
    t.diagnostic(`init (exec → first /next): ${(rt.api.stats().first_next_at - rt.t0).toFixed(1)} ms`);
    assert.equal(r.kind, 'response');
    assert.equal(r.streaming, false);
    assert.equal(r.json.statusCode, 200);
    assert.equal(r.json.headers['content-type'], 'application/json');
    assert.equal(r.json.headers['x-cloudmux-provider'], 'slow');
    assert.equal(r.json.isBase64Encoded, false);
    assert.equal(JSON.parse(r.json.body).object, 'chat.completion');

    // A function URL event with a base64 body, as function URLs send binary.
    r = await rt.api.invoke(functionUrlEvent({ body: chat('demo', 'from a function url'), base64: true }));
    assert.equal(r.json.statusCode, 200);
    assert.equal(JSON.parse(r.json.body).object, 'chat.completion');

    // ALB, plain and with multi-value headers (answered the same way).
    r = await rt.api.invoke(albEvent({ body: chat('demo', 'alb') }));
    assert.equal(r.json.statusCode, 200);
    assert.equal(r.json.statusDescription, '200 OK');
    assert.equal(r.json.headers['content-type'], 'application/json');
    r = await rt.api.invoke(albEvent({ body: chat('demo', 'alb multi'), multi: true }));
    assert.deepEqual(r.json.multiValueHeaders['content-type'], ['application/json']);
    assert.equal(r.json.headers, undefined);

    // A named stage is not part of the gateway's path; an SSE request is
    // gathered whole in buffered mode; errors are answers, not failures.
    r = await rt.api.invoke(httpApiEvent({ method: 'GET', path: '/v1/models', stage: 'prod' }));
    assert.equal(r.json.statusCode, 200);
    assert.ok(JSON.parse(r.json.body).data.some((m) => m.id === 'demo'));
    r = await rt.api.invoke(httpApiEvent({ body: chat('demo', 'sse', { stream: true }) }));
    assert.equal(r.json.headers['content-type'], 'text/event-stream');
    assert.equal(sseEvents(r.json.body).at(-1), '[DONE]');
    r = await rt.api.invoke(httpApiEvent({ body: chat('nope', 'x') }));
    assert.equal(r.json.statusCode, 404);
    assert.equal(JSON.parse(r.json.body).error.code, 'model_not_found');

    // Warm invocations share the upstream pool and the Entra ID token.
    az.resetStats();
    for (let i = 0; i < 3; i++) {
      r = await rt.api.invoke(httpApiEvent({ body: chat('azure', `warm ${i}`) }));
      assert.equal(JSON.parse(r.json.body).choices[0].message.content, `echo: warm ${i}`);
    }
    const s = az.stats().azure;
    assert.equal(s.token_requests, 1, 'one token for all warm invocations');
    assert.equal(s.connections, 1, 'one pooled connection for the token and every call');
    assert.equal(rt.api.stats().errors, 0);
  } finally {
    await rt.stop();
  }
});

test('streamed: the HTTP integration prelude, then SSE chunk by chunk; JSON answers stream too', async (t) => {
  const rt = await startRuntime({ env: { CLOUDMUX_LAMBDA_INVOKE_MODE: 'RESPONSE_STREAM' } });
  try {
    let r = await rt.api.invoke(functionUrlEvent({ body: chat('demo', 'stream me', { stream: true }) }));
    assert.equal(r.kind, 'response', JSON.stringify(r.error ?? r.problem));
    assert.equal(r.streaming, true);
    assert.equal(r.contentType, 'application/vnd.awslambda.http-integration-response');
    assert.equal(r.problem, undefined);
    assert.equal(r.prelude.statusCode, 200);
    assert.equal(r.prelude.headers['content-type'], 'text/event-stream');
    const events = sseEvents(r.payload.toString('utf8'));
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(events.length >= 7, `${events.length} events`);
    // Six chunks 120 ms apart: the Runtime API must see them arrive over
    // time, not all at the end.
    const first = r.arrivals[0].ms;
    const last = r.arrivals.at(-1).ms;
    assert.ok(r.arrivals.length >= 4, `${r.arrivals.length} arrivals`);
    assert.ok(last - first >= 400, `chunks arrived within ${(last - first).toFixed(0)} ms`);
    t.diagnostic(`stream pieces at ${r.arrivals.map((a) => a.ms.toFixed(0)).join(', ')} ms`);

    r = await rt.api.invoke(httpApiEvent({ body: chat('demo', 'whole') }));
    assert.equal(r.prelude.statusCode, 200);
    assert.equal(JSON.parse(r.payload.toString('utf8')).object, 'chat.completion');
    r = await rt.api.invoke(httpApiEvent({ body: '{"model":' }));
    assert.equal(r.prelude.statusCode, 400);
    assert.equal(JSON.parse(r.payload.toString('utf8')).error.type, 'invalid_request_error');
  } finally {
    await rt.stop();
  }
});

test('an event that is not an HTTP request goes to /error in AWS’s shape, and the runtime carries on', async () => {
  const rt = await startRuntime();
  try {
    let r = await rt.api.invoke({ Records: [{ eventSource: 'aws:sqs', body: 'x' }] });
    assert.equal(r.kind, 'error');
    assert.equal(r.errorType, 'Cloudmux.InvalidEvent');
    assert.equal(r.error.errorType, 'Cloudmux.InvalidEvent');
    assert.match(r.error.errorMessage, /not an HTTP event/);
    assert.deepEqual(r.error.stackTrace, []);
    r = await rt.api.invoke({ ...httpApiEvent({ body: '%%%' }), isBase64Encoded: true });
    assert.equal(r.kind, 'error');
    assert.match(r.error.errorMessage, /not base64/);
    r = await rt.api.invoke(httpApiEvent({ body: chat('demo', 'still here') }));
    assert.equal(r.json.statusCode, 200);
  } finally {
    await rt.stop();
  }
});

test('a config that does not load is reported to /init/error and the runtime exits 1', async () => {
  const rt = await startRuntime({ config: 'providers:\n  x: { type: nope }\n' });
  const report = await Promise.race([rt.api.initError(), rt.exited.then(() => null)]);
  const exit = await rt.exited;
  await rt.api.close();
  assert.ok(report, `no /init/error report; stderr: ${rt.stderr()}`);
  assert.equal(report.errorType, 'Cloudmux.InvalidConfig');
  assert.equal(report.error.errorType, 'Cloudmux.InvalidConfig');
  assert.match(report.error.errorMessage, /does not load/);
  assert.equal(exit.code, 1);
});

test('started as bootstrap with AWS_LAMBDA_RUNTIME_API it is the runtime, config from LAMBDA_TASK_ROOT', async () => {
  const task = tempDir('cmx-task-');
  symlinkSync(CLOUDMUX_BIN, join(task, 'bootstrap'));
  writeFileSync(join(task, 'cloudmux.yaml'), CONFIG());
  const rt = await startRuntime({ bin: join(task, 'bootstrap'), argv: [], config: null, env: { LAMBDA_TASK_ROOT: task } });
  try {
    const r = await rt.api.invoke(httpApiEvent({ body: chat('demo', 'bootstrapped') }));
    assert.equal(r.json.statusCode, 200);
  } finally {
    await rt.stop();
    rmSync(task, { recursive: true, force: true });
  }
});

test('when the Runtime API goes away the runtime exits 1', async () => {
  const rt = await startRuntime();
  await waitFor(() => rt.api.waitingForNext() > 0, { what: 'the first /next' });
  await rt.api.close();
  const exit = await rt.exited;
  assert.equal(exit.code, 1);
  assert.match(rt.stderr(), /Runtime API/);
});
