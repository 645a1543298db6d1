// emulator.mjs — the AWS Lambda Runtime API, as a custom runtime sees it,
// written from AWS's "Using the Lambda runtime API for custom runtimes" and
// "Response streaming" documentation, on node:http only.
//
//   GET  /2018-06-01/runtime/invocation/next             the next event (long poll)
//   POST /2018-06-01/runtime/invocation/{id}/response    the answer: buffered, or streamed
//   POST /2018-06-01/runtime/invocation/{id}/error       the invocation failed
//   POST /2018-06-01/runtime/init/error                  the runtime could not start
//
// The test side queues invocations with invoke(event) and gets back what
// the runtime answered.  Checks made on the runtime's side of the protocol:
// an answer to an unknown or already answered request id is a 400
// InvalidRequestID; a buffered answer over 6 MB is a 413; an error document
// must be {errorMessage, errorType} JSON; a streamed answer must be chunked
// with Lambda-Runtime-Function-Response-Mode: streaming, and with the HTTP
// integration content type must start with JSON metadata (with a
// statusCode) and eight NUL bytes within its first 16 KB.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const PREFIX = '/2018-06-01/runtime';
const MAX_BUFFERED = 6 * 1024 * 1024;
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';
const PRELUDE_LIMIT = 16 * 1024;
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:cloudmux';

function sendJSON(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const invalidRequest = (res, status, errorType, errorMessage) => sendJSON(res, status, { errorMessage, errorType });

// A streamed answer with the HTTP integration content type: metadata, eight
// NULs, payload.  Returns { prelude, payload } or { problem }.
function splitIntegrationResponse(body) {
  const sep = body.indexOf(Buffer.alloc(8));
  if (sep < 0 || sep > PRELUDE_LIMIT) return { problem: 'no JSON metadata and eight NUL bytes within the first 16 KB' };
  let prelude;
  try {
    prelude = JSON.parse(body.subarray(0, sep).toString('utf8'));
  } catch (e) {
    return { problem: `the metadata is not JSON: ${e.message}` };
  }
  if (!Number.isInteger(prelude?.statusCode)) return { problem: 'the metadata has no integer statusCode' };
  return { prelude, payload: body.subarray(sep + 8) };
}

export function createRuntimeApi() {
  const queue = []; // invocations waiting for a /next
  const waiting = []; // held /next responses
  const pending = new Map(); // id → invocation handed out, not answered
  const stats = { next_calls: [], first_next_at: null, answers: 0, errors: 0, init_errors: [] };
  let initErrorWaiters = [];

  function handOut(res, inv) {
    pending.set(inv.id, inv);
    inv.handedOutAt = performance.now();
    const body = JSON.stringify(inv.event);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      'Lambda-Runtime-Aws-Request-Id': inv.id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + inv.timeoutMs),
      'Lambda-Runtime-Invoked-Function-Arn': FUNCTION_ARN,
      'Lambda-Runtime-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Sampled=0`,
    });
    res.end(body);
  }

  function next(req, res) {
    const at = performance.now();
    stats.next_calls.push(at);
    if (stats.first_next_at === null) stats.first_next_at = at;
    const inv = queue.shift();
    if (inv) return handOut(res, inv);
    waiting.push(res);
    res.on('close', () => {
      const i = waiting.indexOf(res);
      if (i >= 0) waiting.splice(i, 1);
    });
  }

  // Reads the body, recording when each piece arrived (a stream's pieces
  // should arrive over time, not all at the end).
  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      const arrivals = [];
      req.on('data', (d) => {
        chunks.push(d);
        arrivals.push({ at: performance.now(), bytes: d.length });
      });
      req.on('end', () => resolve({ body: Buffer.concat(chunks), arrivals, trailers: req.trailers }));
      req.on('error', reject);
    });
  }

  async function response(req, res, inv) {
    const streaming = String(req.headers['lambda-runtime-function-response-mode'] || '').toLowerCase() === 'streaming';
    const { body, arrivals, trailers } = await readBody(req);
    if (streaming && !/chunked/i.test(req.headers['transfer-encoding'] || ''))
      return invalidRequest(res, 400, 'InvalidStreamingOperation', 'a streamed response must use Transfer-Encoding: chunked');
    if (!streaming && body.length > MAX_BUFFERED) {
      pending.delete(inv.id);
      inv.resolve({ kind: 'error', errorType: 'Function.ResponseSizeTooLarge', status: 413 });
      return invalidRequest(res, 413, 'RequestEntityTooLarge', `Response payload size (${body.length} bytes) exceeded maximum allowed payload size (${MAX_BUFFERED} bytes).`);
    }
    pending.delete(inv.id);
    stats.answers++;
    const result = {
      kind: 'response',
      streaming,
      contentType: req.headers['content-type'] || null,
      body,
      arrivals: arrivals.map((a) => ({ ms: a.at - inv.handedOutAt, bytes: a.bytes })),
      trailers,
    };
    if (streaming && trailers['lambda-runtime-function-error-type']) {
      result.kind = 'stream-error';
      result.errorType = trailers['lambda-runtime-function-error-type'];
      const b = trailers['lambda-runtime-function-error-body'];
      try {
        result.error = b ? JSON.parse(Buffer.from(b, 'base64').toString('utf8')) : null;
      } catch {
        result.error = { unreadable: b };
      }
    }
    if (streaming && result.contentType === HTTP_INTEGRATION) Object.assign(result, splitIntegrationResponse(body));
    else if (!streaming) {
      try {
        result.json = JSON.parse(body.toString('utf8'));
      } catch {
        result.json = null;
      }
    }
    sendJSON(res, 202, { status: 'OK' });
    inv.resolve(result);
  }

  // The body as JSON, or null when it is not JSON.
  async function readJSON(req) {
    const { body } = await readBody(req);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      return null;
    }
  }

  async function invocationError(req, res, inv) {
    const doc = await readJSON(req);
    if (!doc || typeof doc.errorMessage !== 'string' || typeof doc.errorType !== 'string')
      return invalidRequest(res, 400, 'InvalidRequest', 'the error body must be JSON with errorMessage and errorType');
    pending.delete(inv.id);
    stats.errors++;
    sendJSON(res, 202, { status: 'OK' });
    inv.resolve({ kind: 'error', errorType: req.headers['lambda-runtime-function-error-type'] || null, error: doc });
  }

  async function initError(req, res) {
    const doc = await readJSON(req);
    const record = { errorType: req.headers['lambda-runtime-function-error-type'] || null, error: doc };
    stats.init_errors.push(record);
    sendJSON(res, 202, { status: 'OK' });
    for (const w of initErrorWaiters) w(record);
    initErrorWaiters = [];
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://runtime');
    const p = url.pathname;
    if (req.method === 'GET' && p === `${PREFIX}/invocation/next`) return next(req, res);
    if (req.method === 'POST' && p === `${PREFIX}/init/error`) return initError(req, res);
    const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(p);
    if (req.method === 'POST' && m) {
      const inv = pending.get(decodeURIComponent(m[1]));
      if (!inv) {
        req.resume();
        return invalidRequest(res, 400, 'InvalidRequestID', 'Invalid request ID');
      }
      return m[2] === 'response' ? response(req, res, inv) : invocationError(req, res, inv);
    }
    req.resume();
    sendJSON(res, 404, { errorMessage: `unknown path ${req.method} ${p}`, errorType: 'NotFound' });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJSON(res, 500, { errorMessage: `emulator bug: ${e.stack}`, errorType: 'EmulatorBug' });
      else res.destroy();
    });
  });

  return {
    server,
    // Queues an event; resolves with what the runtime answered.
    invoke(event, { timeoutMs = 30000 } = {}) {
      return new Promise((resolve) => {
        const inv = { id: randomUUID(), event, timeoutMs, resolve };
        const res = waiting.shift();
        if (res) handOut(res, inv);
        else queue.push(inv);
      });
    },
    // Resolves with the next /init/error report.
    initError: () => new Promise((r) => initErrorWaiters.push(r)),
    stats: () => structuredClone(stats),
    waitingForNext: () => waiting.length,
  };
}

// Starts the Runtime API on host:port (0: a free one).
export async function startRuntimeApi({ port = 0, host = '127.0.0.1' } = {}) {
  const api = createRuntimeApi();
  await new Promise((resolve, reject) => {
    api.server.once('error', reject);
    api.server.listen(port, host, resolve);
  });
  const actual = api.server.address().port;
  return {
    ...api,
    port: actual,
    endpoint: `${host}:${actual}`, // what AWS_LAMBDA_RUNTIME_API holds
    close: () =>
      new Promise((resolve) => {
        api.server.closeAllConnections?.();
        api.server.close(() => resolve());
      }),
  };
}
