// emulator.mjs — an OpenAI API emulator on node:http, with fault injection.
//
// It answers /v1/chat/completions (whole and streamed), /v1/embeddings and
// /v1/models the way api.openai.com does, deterministically (see
// responses.mjs), and misbehaves on request (see faults.mjs): error statuses
// with Retry-After, hangs, resets, slow or cut streams, bodies that lie about
// their content.  /_emulator/* lets a test set run-wide faults and read what
// the emulator received, with timestamps, so a test can tell what a gateway
// did upstream (how many attempts, which target, when each chunk left).

import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { destroyAfterFlush, pickFault as pickRunFault, resetSocket } from '../common/sockets.mjs';
import { directiveIn, faultFromJSON, splitModel } from './faults.mjs';
import { failureEvents, planResponse, responseEvents, responseObject, validateResponses } from './responses_api.mjs';
import {
  chatChunks,
  chatCompletion,
  contentOf,
  embeddings,
  errorForStatus,
  lastUserMessage,
  MODELS,
  modelList,
  modelObject,
  newId,
  planChat,
  validateChat,
  validateEmbeddings,
} from './responses.mjs';

const MAX_BODY = 32 * 1024 * 1024;
const KEEP_RECORDS = 500;

const now = () => performance.timeOrigin + performance.now();

function invalid(message, param = null, code = null) {
  return { error: { message, type: 'invalid_request_error', param, code } };
}

function newStats() {
  return { total: 0, by_path: {}, by_model: {}, first_request_at: null, last_request_at: null, requests: [] };
}

export function createEmulator({ key = null, tls = null } = {}) {
  let stats = newStats();
  let runFaults = []; // {fault, ..., count?, model?, path?}
  let nextId = 1;

  function record(req, path) {
    const rec = {
      id: nextId++,
      method: req.method,
      path,
      model: null,
      stream: false,
      fault: null,
      status: null,
      t_start: now(),
      t_first_byte: null,
      t_end: null,
      chunks_sent: 0,
      chunk_times: [],
      x_request_id: req.headers['x-request-id'] || null,
      x_client_request_id: req.headers['x-client-request-id'] || null, // the caller's own id, as OpenAI takes it
      response_request_id: null, // the x-request-id this emulator answered with
      auth: 'none',
    };
    stats.total++;
    stats.by_path[path] = (stats.by_path[path] || 0) + 1;
    stats.first_request_at ??= rec.t_start;
    stats.last_request_at = rec.t_start;
    stats.requests.push(rec);
    if (stats.requests.length > KEEP_RECORDS) stats.requests.shift();
    return rec;
  }

  function countModel(rec, model) {
    rec.model = model;
    if (typeof model === 'string') stats.by_model[model] = (stats.by_model[model] || 0) + 1;
  }

  function send(res, rec, status, obj, headers = {}) {
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    rec.status = status;
    rec.t_first_byte ??= now();
    rec.response_request_id = newId('req_');
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': rec.response_request_id,
      'openai-processing-ms': '1',
      ...headers,
    });
    res.end(body);
    rec.t_end = now();
  }

  const pickFault = (path, body, modelFault, lastText) =>
    pickRunFault({ directiveIn, splitModel }, runFaults, path, body, modelFault, lastText);


  // Writes SSE events one by one, interval_ms apart, stopping as the fault says.
  function streamEvents(req, res, rec, events, opts) {
    const { interval = 0, cutAfter = null, cutMode = 'end', done = true } = opts;
    rec.status = 200;
    rec.response_request_id = newId('req_');
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': rec.response_request_id,
      'openai-processing-ms': '1',
    });
    res.flushHeaders();
    rec.t_first_byte = now();
    let i = 0;
    let timer = null;
    let closed = false;
    res.on('close', () => {
      closed = true;
      if (timer) clearTimeout(timer);
    });
    const finish = () => {
      rec.t_end = now();
    };
    const step = () => {
      timer = null;
      if (closed) return;
      if (cutAfter !== null && i >= cutAfter) {
        finish();
        // destroy: close the socket once the chunks already written are flushed,
        // so the client gets them and then a chunked body without its end;
        // rst: a TCP reset right away (unread data may be lost by the client).
        if (cutMode === 'destroy') destroyAfterFlush(req.socket);
        else if (cutMode === 'rst') resetSocket(req, tls);
        else if (cutMode === 'hang') return; // leave the stream open, silent
        else res.end(); // a clean end of the chunked body, but no [DONE]
        return;
      }
      if (i >= events.length) {
        if (done) res.write('data: [DONE]\n\n');
        res.end();
        finish();
        return;
      }
      res.write(events[i++]);
      rec.chunks_sent++;
      rec.chunk_times.push(now());
      if (interval > 0) timer = setTimeout(step, interval);
      else step();
    };
    step();
  }

  function sseOf(objs) {
    return objs.map((o) => `data: ${JSON.stringify(o)}\n\n`);
  }

  // Carries out a fault; returns true when it took over the response.
  function applyFault(req, res, rec, f, normal) {
    rec.fault = f.fault;
    switch (f.fault) {
      case 'status': {
        const code = Number(f.status) || 500;
        const headers = {};
        if (f.retry_after !== undefined) headers['retry-after'] = String(f.retry_after);
        if (f.retry_after_ms !== undefined) headers['retry-after-ms'] = String(f.retry_after_ms);
        if (f.should_retry !== undefined) headers['x-should-retry'] = String(f.should_retry);
        // OpenAI's rate-limit headers: reset times as Go durations ("1s", "6m0s").
        for (const k of ['reset_requests', 'reset_tokens', 'remaining_requests', 'remaining_tokens'])
          if (f[k] !== undefined) headers[`x-ratelimit-${k.replace('_', '-')}`] = String(f[k]);
        send(res, rec, code, errorForStatus(code, f.message), headers);
        return true;
      }
      case 'hang':
        return true; // never answer; the socket stays open until someone closes it
      case 'reset': {
        if (f.after_bytes === undefined) {
          resetSocket(req, tls);
          return true;
        }
        const n = Number(f.after_bytes);
        if (normal.stream) {
          rec.status = 200;
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
          res.write(normal.events.join('').slice(0, n));
        } else {
          const body = JSON.stringify(normal.body);
          rec.status = 200;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.write(body.slice(0, n));
        }
        rec.t_first_byte = now();
        destroyAfterFlush(req.socket);
        return true;
      }
      case 'delay': {
        setTimeout(() => {
          if (!res.destroyed) normal.answer(f);
        }, Number(f.ms ?? f.delay ?? 1000));
        return true;
      }
      case 'slow':
        normal.answer({ interval_ms: f.interval_ms ?? f.slow ?? 200 });
        return true;
      case 'cut_stream': {
        const after = Number(f.after ?? f.cut_stream ?? 2);
        if (!normal.stream) {
          // A whole response cannot be "cut after N chunks": cut its body in half.
          return applyFault(req, res, rec, { fault: 'reset', after_bytes: Math.floor(JSON.stringify(normal.body).length / 2) }, normal);
        }
        streamEvents(req, res, rec, normal.events, { interval: Number(f.interval_ms ?? 0), cutAfter: after, cutMode: f.mode || 'end' });
        rec.fault = 'cut_stream';
        return true;
      }
      case 'invalid_json':
        send(res, rec, 200, '{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":{"role":"assist');
        return true;
      case 'wrong_content_type':
        send(res, rec, 200, '<html><head><title>502 Bad Gateway</title></head><body>upstream is down</body></html>\n', {
          'content-type': 'text/html; charset=utf-8',
        });
        return true;
      case 'garbage_sse': {
        const events = ['data: {"id":"chatcmpl-x","object":"chat.completion.chunk", broken\n\n', 'this line is not sse\n\n', 'data: \u0001\u0002 not json\n\n', 'event: weird\ndata: {]\n\n'];
        streamEvents(req, res, rec, events, { interval: 0, done: f.done === 1 || f.done === true });
        return true;
      }
      default:
        return false;
    }
  }

  async function readBody(req) {
    const parts = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  function checkAuth(req, rec) {
    if (!key) return null;
    const h = req.headers.authorization;
    if (!h) {
      rec.auth = 'missing';
      return invalid(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m || m[1] !== key) {
      rec.auth = 'wrong';
      const shown = m ? `${m[1].slice(0, 3)}***${m[1].slice(-2)}` : '***';
      return invalid(`Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`, null, 'invalid_api_key');
    }
    rec.auth = 'ok';
    return null;
  }

  async function control(req, res, path) {
    const reply = (status, obj) => {
      const b = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    };
    if (path === '/_emulator/faults') {
      if (req.method === 'GET') return reply(200, { faults: runFaults });
      if (req.method === 'DELETE') {
        runFaults = [];
        return reply(200, { ok: true });
      }
      if (req.method === 'POST') {
        try {
          const f = faultFromJSON(JSON.parse((await readBody(req)).toString('utf8')));
          runFaults.push(f);
          return reply(200, { ok: true, faults: runFaults });
        } catch (e) {
          return reply(400, invalid(String(e.message)));
        }
      }
    }
    if (path === '/_emulator/stats') {
      if (req.method === 'GET') return reply(200, stats);
      if (req.method === 'DELETE') {
        stats = newStats();
        return reply(200, { ok: true });
      }
    }
    return reply(404, invalid(`Invalid URL (${req.method} ${path})`));
  }

  async function chat(req, res, rec, body) {
    const { base, fault: modelFault } = splitModel(body?.model);
    if (body && typeof body === 'object') countModel(rec, body.model);
    rec.body = body; // what the gateway sent, for tests
    const bad = body === null ? invalid('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)') : null;
    const err = bad ? bad.error : validateChat(body);
    const lastUser = err ? null : lastUserMessage(body.messages);
    const lastText = lastUser ? contentOf(lastUser).text : '';
    const stream = !err && body.stream === true;
    rec.stream = stream;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    let normal = { stream };
    if (!err) {
      const plan = planChat({ ...body, model: base });
      normal = {
        stream,
        body: chatCompletion(plan),
        events: stream ? sseOf(chatChunks(plan, includeUsage)) : null,
        answer: (opts = {}) => {
          if (stream) streamEvents(req, res, rec, normal.events, { interval: Number(opts.interval_ms ?? 0) });
          else send(res, rec, 200, normal.body);
        },
      };
    }
    let f;
    try {
      f = pickFault(rec.path, body, modelFault, lastText);
    } catch (e) {
      return send(res, rec, 400, invalid(`emulator: bad fault directive: ${e.message}`));
    }
    if (f && (f.fault === 'status' || f.fault === 'hang' || !err) && applyFault(req, res, rec, f, normal)) return;
    if (err) return send(res, rec, 400, { error: err });
    normal.answer();
  }

  // POST /v1/responses (responses_api.mjs): a response object, or its
  // stream of named events without [DONE].
  async function responses(req, res, rec, body) {
    const { base, fault: modelFault } = splitModel(body?.model);
    if (body && typeof body === 'object') countModel(rec, body.model);
    rec.body = body;
    const bad = validateResponses(body);
    const input = bad ? '' : typeof body.input === 'string' ? body.input : JSON.stringify(body.input);
    const stream = !bad && body.stream === true;
    rec.stream = stream;
    let normal = { stream };
    if (!bad) {
      const req2 = { ...body, model: base };
      const plan = planResponse(req2);
      const events = responseEvents(plan, req2);
      const named = (e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
      normal = {
        stream,
        body: responseObject(plan, req2),
        events: stream ? events.map(named) : null,
        answer: (opts = {}) => {
          if (stream) streamEvents(req, res, rec, normal.events, { interval: Number(opts.interval_ms ?? 0), done: false });
          else send(res, rec, 200, normal.body);
        },
        failAfter: (n) => [...events.slice(0, n), ...failureEvents(plan, req2, n)].map(named),
      };
    }
    let f;
    try {
      f = pickFault(rec.path, body, modelFault, input);
    } catch (e) {
      return send(res, rec, 400, invalid(`emulator: bad fault directive: ${e.message}`));
    }
    if (f?.fault === 'error_event' && stream) {
      rec.fault = 'error_event';
      return streamEvents(req, res, rec, normal.failAfter(Number(f.after ?? 3)), { interval: Number(f.interval_ms ?? 0), done: false });
    }
    if (f?.fault === 'reframe' && stream) {
      // the same events, from `after` on in CRLF lines, each after a keep-alive comment
      rec.fault = 'reframe';
      const after = Number(f.after ?? f.reframe ?? 2);
      const events = normal.events.map((e, i) => (i < after ? e : `: keep-alive\r\n\r\n${e.replace(/\n/g, '\r\n')}`));
      return streamEvents(req, res, rec, events, { interval: Number(f.interval_ms ?? 0), done: false });
    }
    if (f?.fault === 'cut_stream' && stream) {
      rec.fault = 'cut_stream';
      return streamEvents(req, res, rec, normal.events, { interval: Number(f.interval_ms ?? 0), cutAfter: Number(f.after ?? 3), cutMode: f.mode || 'end', done: false });
    }
    if (f && (f.fault === 'status' || f.fault === 'hang' || !bad) && applyFault(req, res, rec, f, normal)) return;
    if (bad) return send(res, rec, bad.status || 400, { error: bad.error });
    normal.answer();
  }

  async function embed(req, res, rec, body) {
    const { base, fault: modelFault } = splitModel(body?.model);
    if (body && typeof body === 'object') countModel(rec, body.model);
    const err = body === null ? invalid('We could not parse the JSON body of your request.').error : validateEmbeddings(body);
    const text = err ? '' : [].concat(body.input).filter((x) => typeof x === 'string').join(' ');
    const f = pickFault(rec.path, body, modelFault, text);
    const normal = err ? { stream: false } : { stream: false, body: embeddings({ ...body, model: base }), answer: () => send(res, rec, 200, normal.body) };
    if (f && (f.fault === 'status' || f.fault === 'hang' || !err) && applyFault(req, res, rec, f, normal)) return;
    if (err) return send(res, rec, 400, { error: err });
    normal.answer();
  }

  async function handle(req, res) {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/_emulator/')) return control(req, res, path);
    const rec = record(req, path);
    const authErr = path.startsWith('/v1/') ? checkAuth(req, rec) : null;
    let raw;
    try {
      raw = await readBody(req);
    } catch (e) {
      return send(res, rec, e.status || 400, invalid(String(e.message)));
    }
    if (authErr) return send(res, rec, 401, authErr);

    const routes = {
      '/v1/chat/completions': ['POST'],
      '/v1/embeddings': ['POST'],
      '/v1/responses': ['POST'],
      '/v1/models': ['GET'],
    };
    const modelPath = /^\/v1\/models\/(.+)$/.exec(path);
    if (modelPath && req.method === 'GET') {
      const id = decodeURIComponent(modelPath[1]);
      if (!MODELS.includes(id)) return send(res, rec, 404, invalid(`The model '${id}' does not exist`, 'model', 'model_not_found'));
      return send(res, rec, 200, modelObject(id));
    }
    if (!routes[path]) return send(res, rec, 404, invalid(`Invalid URL (${req.method} ${path})`));
    if (!routes[path].includes(req.method)) return send(res, rec, 405, invalid(`Invalid method for URL (${req.method} ${path})`), { allow: routes[path].join(', ') });
    if (path === '/v1/models') {
      // Run faults (status, hang) apply here too, so health checks can be failed.
      const f = pickFault(rec.path, null, null, '');
      if (f && (f.fault === 'status' || f.fault === 'hang') && applyFault(req, res, rec, f, { stream: false })) return;
      return send(res, rec, 200, modelList());
    }

    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
    if (path === '/v1/chat/completions') return chat(req, res, rec, body);
    if (path === '/v1/responses') return responses(req, res, rec, body);
    return embed(req, res, rec, body);
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `emulator bug: ${e.stack}`, type: 'server_error', param: null, code: null } }));
      } else res.destroy();
    });
  };

  let server;
  if (tls) {
    const cert = tls.cert ?? readFileSync(tls.certFile);
    const tlsKey = tls.key ?? readFileSync(tls.keyFile);
    server = https.createServer({ cert, key: tlsKey }, onRequest);
  } else server = http.createServer(onRequest);
  server.keepAliveTimeout = 30000;

  return {
    server,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = newStats();
    },
    setFault: (f) => {
      runFaults.push(typeof f === 'string' ? faultFromJSON({ spec: f }) : faultFromJSON(f));
    },
    clearFaults: () => {
      runFaults = [];
    },
  };
}

// Starts an emulator on host:port (port 0: a free one) and resolves when it
// listens.  close() also ends hung and keep-alive connections.
export async function startEmulator({ key = null, tls = null, port = 0, host = '127.0.0.1' } = {}) {
  const emu = createEmulator({ key, tls });
  await new Promise((resolve, reject) => {
    emu.server.once('error', reject);
    emu.server.listen(port, host, resolve);
  });
  const actual = emu.server.address().port;
  const scheme = tls ? 'https' : 'http';
  const hostname = tls ? 'localhost' : host;
  const url = `${scheme}://${hostname}:${actual}`;
  return {
    port: actual,
    url,
    baseURL: `${url}/v1`,
    stats: emu.stats,
    resetStats: emu.resetStats,
    setFault: emu.setFault,
    clearFaults: emu.clearFaults,
    close: () =>
      new Promise((resolve) => {
        emu.server.close(() => resolve());
        emu.server.closeAllConnections();
      }),
  };
}
