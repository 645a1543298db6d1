// emulator.mjs — an Anthropic Messages API emulator on node:http, with fault
// injection.
//
// It answers POST /v1/messages (whole and streamed) the way api.anthropic.com
// does, deterministically (see responses.mjs), and misbehaves on request (see
// faults.mjs): error statuses with retry-after, 529 overloaded, hangs,
// resets, slow or cut streams, an `error` event in the middle of a stream,
// bodies that lie about their content.  /_emulator/* lets a test set run-wide
// faults and read what the emulator received (with each request's headers of
// interest and body), so a test can check what a gateway sent upstream.

import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { destroyAfterFlush, pickFault as pickRunFault, resetSocket } from '../common/sockets.mjs';
import { directiveIn, faultFromJSON, splitModel } from './faults.mjs';
import { contentOf, errorBody, errorForStatus, message, newId, planMessage, sse, streamEvents, validateMessages } from './responses.mjs';
import { createCacheLedger } from '../common/portable.mjs';

const MAX_BODY = 32 * 1024 * 1024;
const KEEP_RECORDS = 500;

const now = () => performance.timeOrigin + performance.now();

function newStats() {
  return { total: 0, by_path: {}, by_model: {}, first_request_at: null, last_request_at: null, requests: [] };
}

export function createEmulator({ key = null, tls = null } = {}) {
  let stats = newStats();
  let runFaults = [];
  let nextId = 1;
  const cache = createCacheLedger();

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
      anthropic_version: req.headers['anthropic-version'] || null,
      anthropic_beta: req.headers['anthropic-beta'] || null,
      auth: 'none',
      body: null,
    };
    stats.total++;
    stats.by_path[path] = (stats.by_path[path] || 0) + 1;
    stats.first_request_at ??= rec.t_start;
    stats.last_request_at = rec.t_start;
    stats.requests.push(rec);
    if (stats.requests.length > KEEP_RECORDS) stats.requests.shift();
    return rec;
  }

  function send(res, rec, status, obj, headers = {}) {
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    rec.status = status;
    rec.t_first_byte ??= now();
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'request-id': newId('req_'),
      ...headers,
    });
    res.end(body);
    rec.t_end = now();
  }

  const pickFault = (path, body, modelFault, lastText) =>
    pickRunFault({ directiveIn, splitModel }, runFaults, path, body, modelFault, lastText);


  // Writes SSE events one by one, interval_ms apart, stopping as the fault
  // says: cut (no message_stop) or an error event after `cutAfter` events.
  function writeStream(req, res, rec, events, opts) {
    const { interval = 0, cutAfter = null, cutMode = 'end', errorAfter = null, errorType = 'overloaded_error' } = opts;
    rec.status = 200;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': newId('req_'),
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
    const step = () => {
      timer = null;
      if (closed) return;
      if (errorAfter !== null && i >= errorAfter) {
        const msg = errorType === 'overloaded_error' ? 'Overloaded' : `Emulated ${errorType}.`;
        res.write(sse({ event: 'error', data: errorBody(errorType, msg) }));
        res.end();
        rec.t_end = now();
        return;
      }
      if (cutAfter !== null && i >= cutAfter) {
        rec.t_end = now();
        if (cutMode === 'destroy') destroyAfterFlush(req.socket);
        else if (cutMode === 'rst') resetSocket(req, tls);
        else if (cutMode === 'hang') return;
        else res.end(); // a clean end of the chunked body, but no message_stop
        return;
      }
      if (i >= events.length) {
        res.end();
        rec.t_end = now();
        return;
      }
      res.write(typeof events[i] === 'string' ? events[i] : sse(events[i]));
      i++;
      rec.chunks_sent++;
      rec.chunk_times.push(now());
      if (interval > 0) timer = setTimeout(step, interval);
      else step();
    };
    step();
  }

  function applyFault(req, res, rec, f, normal) {
    rec.fault = f.fault;
    switch (f.fault) {
      case 'status': {
        const code = Number(f.status) || 500;
        const headers = {};
        if (f.retry_after !== undefined) headers['retry-after'] = String(f.retry_after);
        if (f.should_retry !== undefined) headers['x-should-retry'] = String(f.should_retry);
        send(res, rec, code, errorForStatus(code, f.message), headers);
        return true;
      }
      case 'prompt_too_long':
        send(res, rec, 400, errorBody('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'));
        return true;
      case 'hang':
        return true;
      case 'reset': {
        if (f.after_bytes === undefined) {
          resetSocket(req, tls);
          return true;
        }
        const n = Number(f.after_bytes);
        rec.status = 200;
        if (normal.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
          res.write(normal.events.map(sse).join('').slice(0, n));
        } else {
          const body = JSON.stringify(normal.body);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.write(body.slice(0, n));
        }
        rec.t_first_byte = now();
        destroyAfterFlush(req.socket);
        return true;
      }
      case 'delay':
        setTimeout(() => {
          if (!res.destroyed) normal.answer({});
        }, Number(f.ms ?? f.delay ?? 1000));
        return true;
      case 'slow':
        normal.answer({ interval_ms: f.interval_ms ?? f.slow ?? 200 });
        return true;
      case 'cut_stream':
      case 'error_event': {
        const after = Number(f.after ?? f[f.fault] ?? 2);
        if (!normal.stream) {
          if (f.fault === 'error_event') return applyFault(req, res, rec, { fault: 'status', status: 529 }, normal);
          return applyFault(req, res, rec, { fault: 'reset', after_bytes: Math.floor(JSON.stringify(normal.body).length / 2) }, normal);
        }
        const opts = { interval: Number(f.interval_ms ?? 0) };
        if (f.fault === 'cut_stream') Object.assign(opts, { cutAfter: after, cutMode: f.mode || 'end' });
        else Object.assign(opts, { errorAfter: after, errorType: f.type || 'overloaded_error' });
        writeStream(req, res, rec, normal.events, opts);
        rec.fault = f.fault;
        return true;
      }
      case 'invalid_json':
        send(res, rec, 200, '{"id":"msg_broken","type":"message","role":"assistant","content":[{"type":"te');
        return true;
      case 'wrong_content_type':
        send(res, rec, 200, '<html><head><title>502 Bad Gateway</title></head><body>upstream is down</body></html>\n', {
          'content-type': 'text/html; charset=utf-8',
        });
        return true;
      case 'reframe': {
        // the same events, from `after` on framed as some proxies frame SSE:
        // CRLF line ends, a keep-alive comment before each
        if (!normal.stream) return false;
        const after = Number(f.after ?? f.reframe ?? 2);
        const events = normal.events.map((e, i) => (i < after ? e : `: keep-alive\r\n\r\n${sse(e).replace(/\n/g, '\r\n')}`));
        writeStream(req, res, rec, events, { interval: Number(f.interval_ms ?? 0) });
        rec.fault = 'reframe';
        return true;
      }
      case 'garbage_sse':
        writeStream(req, res, rec, ['event: message_start\ndata: {"type":"message_start", broken\n\n', 'this line is not sse\n\n', 'event: content_block_delta\ndata: {]\n\n'], {});
        return true;
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

  // Anthropic authenticates with x-api-key; the version header is required.
  function checkHeaders(req, rec) {
    if (key) {
      const k = req.headers['x-api-key'];
      if (!k) {
        rec.auth = 'missing';
        return [401, errorBody('authentication_error', 'x-api-key header is required')];
      }
      if (k !== key) {
        rec.auth = 'wrong';
        return [401, errorBody('authentication_error', 'invalid x-api-key')];
      }
      rec.auth = 'ok';
    }
    const v = req.headers['anthropic-version'];
    if (!v) return [400, errorBody('invalid_request_error', 'anthropic-version: header is required')];
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return [400, errorBody('invalid_request_error', `anthropic-version: invalid version '${v}'`)];
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
          runFaults.push(faultFromJSON(JSON.parse((await readBody(req)).toString('utf8'))));
          return reply(200, { ok: true, faults: runFaults });
        } catch (e) {
          return reply(400, errorBody('invalid_request_error', String(e.message)));
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
    return reply(404, errorBody('not_found_error', `Not found: ${req.method} ${path}`));
  }

  async function messages(req, res, rec, body) {
    const { base, fault: modelFault } = splitModel(body?.model);
    if (body && typeof body === 'object') {
      rec.model = body.model;
      rec.body = body;
      if (typeof body.model === 'string') stats.by_model[body.model] = (stats.by_model[body.model] || 0) + 1;
    }
    let err = body === null ? 'There was an error parsing the body of your request: invalid JSON' : null;
    if (!err && (typeof body !== 'object' || Array.isArray(body))) err = 'The request body must be a JSON object';
    if (!err) err = validateMessages(body);
    const messagesIn = !err ? body.messages : [];
    const lastText = messagesIn.length ? contentOf(messagesIn[messagesIn.length - 1]).text : '';
    const stream = !err && body.stream === true;
    rec.stream = stream;
    let normal = { stream };
    if (!err) {
      const plan = planMessage({ ...body, model: base }, { cache });
      normal = {
        stream,
        body: message(plan),
        events: stream ? streamEvents(plan) : null,
        answer: (opts = {}) => {
          if (stream) writeStream(req, res, rec, normal.events, { interval: Number(opts.interval_ms ?? 0) });
          else send(res, rec, 200, normal.body);
        },
      };
    }
    let f;
    try {
      f = pickFault(rec.path, body, modelFault, lastText);
    } catch (e) {
      return send(res, rec, 400, errorBody('invalid_request_error', `emulator: bad fault directive: ${e.message}`));
    }
    if (f && (f.fault === 'status' || f.fault === 'hang' || !err) && applyFault(req, res, rec, f, normal)) return;
    if (err) return send(res, rec, 400, errorBody('invalid_request_error', err));
    normal.answer();
  }

  async function handle(req, res) {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/_emulator/')) return control(req, res, path);
    const rec = record(req, path);
    let raw;
    try {
      raw = await readBody(req);
    } catch (e) {
      return send(res, rec, e.status || 400, errorBody('invalid_request_error', String(e.message)));
    }
    if (path !== '/v1/messages' && path !== '/v1/messages/count_tokens')
      return send(res, rec, 404, errorBody('not_found_error', `Not found: ${req.method} ${path}`));
    if (req.method !== 'POST') return send(res, rec, 405, errorBody('invalid_request_error', `Method not allowed: ${req.method}`), { allow: 'POST' });
    const bad = checkHeaders(req, rec);
    if (bad) return send(res, rec, bad[0], bad[1]);
    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
    if (path === '/v1/messages/count_tokens') return countTokens(res, rec, body);
    return messages(req, res, rec, body);
  }

  // POST /v1/messages/count_tokens: the input tokens the answer would count.
  function countTokens(res, rec, body) {
    const { base, fault } = splitModel(body?.model);
    rec.body = body;
    rec.model = body?.model ?? null;
    if (fault) {
      const f = faultFromJSON({ spec: fault });
      if (f.fault === 'status') return send(res, rec, Number(f.status) || 500, errorForStatus(Number(f.status) || 500, f.message));
    }
    let err = body === null || typeof body !== 'object' || Array.isArray(body) ? 'There was an error parsing the body of your request: invalid JSON' : null;
    if (!err) err = validateMessages(body, { counting: true });
    if (err) return send(res, rec, 400, errorBody('invalid_request_error', err));
    const plan = planMessage({ ...body, model: base, max_tokens: 1e9 });
    send(res, rec, 200, { input_tokens: plan.usage.input_tokens });
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody('api_error', `emulator bug: ${e.stack}`)));
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
    // The Anthropic SDK and cloudmux's anthropic base_url both take the API
    // root and add /v1/messages themselves.
    baseURL: url,
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
