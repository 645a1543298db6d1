// emulator.mjs — an OpenAI chat-completions emulator that speaks HTTP/2
// (node:http2), for the gateway's HTTP/2 upstream client.
//
// Three ways to reach it, as providers can be reached:
//   tls     HTTPS; ALPN offers "h2" only (allowHTTP1: false)
//   h2c     cleartext HTTP/2 with prior knowledge (no upgrade dance)
//   tls-h1  HTTPS whose ALPN offers only "http/1.1" (an HTTP/1.1 server,
//           node:https), for the fallback
//   h1      cleartext HTTP/1.1 (node:http), the same answers, for comparing
// Answers come from the OpenAI emulator's responses.mjs (same shapes, same
// "echo: <text>" content), so the gateway's openai provider reads them.
//
// HTTP/2 behaviour a test can ask for, per request in the last user message
// (the marker stays out of the answer) or per target as a model suffix
// ("gpt-4o-mini+fault:rst"):
//   [[fault:rst]]            RST_STREAM INTERNAL_ERROR before any answer
//   [[fault:refuse]]         RST_STREAM REFUSED_STREAM before any answer
//   [[fault:rst_after n=N]]  stream N chunks, then RST_STREAM INTERNAL_ERROR
//   [[fault:slow ms=M]]      stream chunks M ms apart
//   [[fault:big mb=N]]       stream N MiB of content in 64 KiB chunks,
//                            writing only as fast as HTTP/2 flow control lets
//   [[fault:timed n=N ms=M]] stream N content chunks M ms apart, each saying
//                            when it was written ("t=<µs since the epoch>"),
//                            for measuring the latency a proxy adds
// and per emulator (options or setOptions):
//   maxConcurrentStreams     SETTINGS_MAX_CONCURRENT_STREAMS (default 100)
//   goawayAfter: N           on each connection, after its Nth stream arrived,
//                            send GOAWAY(NO_ERROR, last stream id = that
//                            stream); later streams on it are refused unanswered
//   chunkIntervalMs          default gap between stream chunks (0)
//
// stats() tells what happened on the wire: connections (and their ALPN),
// streams, the most streams open at once on one connection, pings seen,
// streams refused, and how many times each request was processed (by the
// "[[id:...]]" tag in its last user message) — so a test can prove that no
// request was lost or processed twice.

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { readFileSync } from 'node:fs';

import { faultLanguage } from '../common/faults.mjs';
import { chatChunks, chatCompletion, contentOf, lastUserMessage, planChat, validateChat } from '../openai/responses.mjs';

const KINDS = new Set(['rst', 'refuse', 'rst_after', 'slow', 'big', 'timed']);
const { directiveIn, splitModel } = faultLanguage(KINDS);
const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freshStats() {
  return { connections: 0, unknownProtocol: 0, alpn: {}, streams: 0, maxOpenPerConnection: 0, openNow: 0, pings: 0, refused: 0, goaways: 0, processed: {}, resets: 0, bigProgress: 0 };
}

export function createEmulator({ mode = 'tls', certFile, keyFile, maxConcurrentStreams = 100, goawayAfter = 0, chunkIntervalMs = 0 } = {}) {
  let stats = freshStats();
  const opts = { goawayAfter, chunkIntervalMs };
  const sessions = new Set();
  const sockets = new Set();

  function onSession(session) {
    sessions.add(session);
    stats.connections++;
    const proto = session.alpnProtocol || 'h2c';
    stats.alpn[proto] = (stats.alpn[proto] || 0) + 1;
    session.cmx = { open: 0, streams: 0, goawayId: 0 };
    session.on('ping', () => stats.pings++);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  }

  // The HTTP/2 side: bookkeeping and GOAWAY, then the shared handler.
  function onStream(stream, headers) {
    stream.on('error', () => {});
    const session = stream.session;
    const s = session?.cmx;
    if (!s) return;
    if (s.goawayId && stream.id > s.goawayId) {
      // Above the GOAWAY's last stream id: never processed.
      stats.refused++;
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    stats.streams++;
    s.streams++;
    s.open++;
    stats.openNow++;
    if (s.open > stats.maxOpenPerConnection) stats.maxOpenPerConnection = s.open;
    stream.on('close', () => {
      s.open--;
      stats.openNow--;
    });
    if (opts.goawayAfter && s.streams === opts.goawayAfter && !s.goawayId) {
      s.goawayId = stream.id;
      stats.goaways++;
      session.goaway(NGHTTP2_NO_ERROR, stream.id);
    }
  }

  async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  function json(res, status, obj) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  // Waits until the stream may take more (HTTP/2 flow control, socket).
  function writeRespecting(res, data) {
    if (res.write(data)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok) => {
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
  }

  async function handler(req, res) {
    if (req.method === 'GET' && req.url === '/_emulator/stats') return json(res, 200, stats);
    if (req.method !== 'POST' || !/\/chat\/completions$/.test(req.url))
      return json(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: null } });
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return json(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error', param: null, code: null } });
    }
    const invalid = validateChat(body);
    if (invalid) return json(res, 400, { error: invalid });
    const last = lastUserMessage(body.messages);
    const text = last ? contentOf(last).text : '';
    const { base, fault: modelFault } = splitModel(body.model);
    body.model = base;
    const fault = directiveIn(text) || modelFault;
    if (fault?.fault === 'refuse') {
      stats.refused++; // refused streams are, by definition, not processed
      res.stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const id = /\[\[id:([^\]]+)\]\]/.exec(text)?.[1];
    if (id) stats.processed[id] = (stats.processed[id] || 0) + 1;
    if (fault?.fault === 'rst') {
      stats.resets++;
      res.stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const plan = planChat(body);
    if (!body.stream) return json(res, 200, chatCompletion(plan));

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const gap = fault?.fault === 'slow' ? Number(fault.ms ?? 50) : opts.chunkIntervalMs;
    if (fault?.fault === 'timed') {
      const n = Number(fault.n ?? 20);
      const ms = Number(fault.ms ?? 500);
      const chunk = chatChunks(plan, false)[1];
      for (let i = 0; i < n; i++) {
        if (i > 0) await sleep(ms);
        if (res.destroyed || res.stream?.destroyed) return;
        chunk.choices[0].delta = { content: `t=${Math.round((performance.timeOrigin + performance.now()) * 1000)}` };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    if (fault?.fault === 'big') {
      const piece = 'x'.repeat(64 * 1024 - 200);
      const total = Number(fault.mb ?? 8) * 1024 * 1024;
      const chunk = chatChunks(plan, false)[1];
      for (let sent = 0; sent < total; sent += piece.length) {
        chunk.choices[0].delta = { content: piece };
        if (!(await writeRespecting(res, `data: ${JSON.stringify(chunk)}\n\n`))) return;
        stats.bigProgress = sent + piece.length;
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    const include = body.stream_options?.include_usage === true;
    const chunks = chatChunks(plan, include);
    for (let i = 0; i < chunks.length; i++) {
      if (fault?.fault === 'rst_after' && i === Number(fault.n ?? 2)) {
        stats.resets++;
        res.stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (gap && i > 0) await sleep(gap);
      if (res.destroyed || res.stream?.destroyed) return;
      res.write(`data: ${JSON.stringify(chunks[i])}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }

  let server;
  if (mode === 'h2c') {
    server = http2.createServer({ settings: { maxConcurrentStreams } });
  } else if (mode === 'tls') {
    server = http2.createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: false, settings: { maxConcurrentStreams } });
    // A client that did not choose "h2" by ALPN is dropped at once.
    server.on('unknownProtocol', (sock) => {
      stats.unknownProtocol++;
      sock.destroy();
    });
  } else if (mode === 'h1') {
    server = http.createServer({ keepAliveTimeout: 120000 });
    server.on('connection', () => stats.connections++);
    server.on('request', () => stats.streams++);
  } else if (mode === 'tls-h1') {
    server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), ALPNProtocols: ['http/1.1'] });
    server.on('secureConnection', (sock) => {
      stats.connections++;
      const proto = sock.alpnProtocol || 'none';
      stats.alpn[proto] = (stats.alpn[proto] || 0) + 1;
    });
    server.on('request', (req) => {
      stats.streams++;
      req.on('error', () => {});
    });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  if (mode === 'tls' || mode === 'h2c') {
    server.on('session', onSession);
    server.on('stream', onStream);
  }
  server.on('connection', (sock) => {
    sock.setNoDelay(true); // each chunk leaves when written, as a real API's would
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('request', (req, res) => {
    handler(req, res).catch(() => res.destroy());
  });

  return {
    server,
    mode,
    stats: () => JSON.parse(JSON.stringify(stats)),
    resetStats: () => {
      stats = freshStats();
    },
    setOptions: (o) => Object.assign(opts, o),
    // Drops every connection at once, as a crashed or restarted server would.
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function startEmulator({ port = 0, host = '127.0.0.1', ...options } = {}) {
  const emu = createEmulator(options);
  await new Promise((resolve, reject) => {
    emu.server.once('error', reject);
    emu.server.listen(port, host, resolve);
  });
  emu.port = emu.server.address().port;
  const plain = emu.mode === 'h2c' || emu.mode === 'h1';
  const scheme = plain ? 'http' : 'https';
  const hostname = plain ? '127.0.0.1' : 'localhost';
  emu.url = `${scheme}://${hostname}:${emu.port}`;
  emu.baseURL = `${emu.url}/v1`;
  return emu;
}
