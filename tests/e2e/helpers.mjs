// helpers.mjs — what every end-to-end test needs to run cloudmux for real.
//
// startCloudmux() writes a YAML config to a temp file, starts the binary on a
// free 127.0.0.1 port, waits for /health/ready and hands back its URLs and
// output; stop() insists on a clean exit, so a crash or a sanitizer report at
// shutdown fails the test that caused it.  makeCerts() builds a throwaway CA
// and a server certificate with the openssl command line.  rawRequest() and
// httpRequest() talk HTTP below the official client, for malformed requests
// and for reading exactly what went over the wire.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLOUDMUX_BIN = process.env.CLOUDMUX_BIN || join(REPO_ROOT, 'build/cloudmux');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tempDir(prefix = 'cmx-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

// A port that was free a moment ago (bind 0, read it, close).
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function isReady(url) {
  try {
    const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

async function startOnce({ configYaml, env, args, readyTimeoutMs, wrapper = [], workers = 1, drainDelay = '0', bin = CLOUDMUX_BIN }) {
  const dir = tempDir('cmx-gw-');
  const configPath = join(dir, 'cloudmux.yaml');
  writeFileSync(configPath, configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Tests stop the gateway at once: no load balancer needs the drain delay
  // here (drainDelay: null keeps the config's, for the tests of the delay).
  const drain = drainDelay === null ? [] : ['--drain-delay', String(drainDelay)];
  const argv = ['serve', '--config', configPath, '--listen', `127.0.0.1:${port}`, '--workers', String(workers), ...drain, ...args];
  // A wrapper (e.g. valgrind and its options) runs cloudmux under it.
  const [cmd, ...cmdArgs] = wrapper.length ? [...wrapper, bin, ...argv] : [bin, ...argv];
  const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  let exited = null;
  const exitPromise = new Promise((r) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      r(exited);
    }),
  );
  let spawnError = null;
  child.on('error', (e) => (spawnError = e));

  const deadline = Date.now() + readyTimeoutMs;
  while (!(await isReady(url))) {
    if (spawnError) throw new Error(`cannot start ${bin}: ${spawnError.message}`);
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      const e = new Error(`cloudmux exited before ready (code ${exited.code}, signal ${exited.signal})\n--- stderr ---\n${err}\n--- stdout ---\n${out}`);
      e.stderr = err;
      throw e;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exitPromise;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`cloudmux not ready within ${readyTimeoutMs} ms\n--- stderr ---\n${err}\n--- stdout ---\n${out}`);
    }
    await sleep(50);
  }

  let stopped = false;
  return {
    url,
    baseURL: `${url}/v1`,
    port,
    pid: child.pid,
    configPath,
    exited: () => exitPromise,
    signal: (sig) => child.kill(sig),
    stdout: () => out,
    stderr: () => err,
    alive: () => exited === null,
    // One parsed JSON object per stdout line that is JSON (the access log).
    accessLog: () =>
      out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return null;
          }
        })
        .filter(Boolean),
    // SIGTERM, wait, and fail loudly on a non-zero exit or a signal death.
    async stop({ timeoutMs = 10000 } = {}) {
      if (stopped) return exited;
      stopped = true;
      if (!exited) child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      const res = await Promise.race([exitPromise, timeout]);
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      if (res === 'timeout') {
        child.kill('SIGKILL');
        await exitPromise;
        throw new Error(`cloudmux did not exit within ${timeoutMs} ms of SIGTERM\n--- stderr ---\n${err}`);
      }
      if (res.code !== 0 || res.signal)
        throw new Error(`cloudmux exited badly (code ${res.code}, signal ${res.signal})\n--- stderr ---\n${err}`);
      return res;
    },
  };
}

// Starts cloudmux with the given YAML.  Retries once on a port race.
export async function startCloudmux({ configYaml, env = {}, args = [], readyTimeoutMs = 10000, wrapper = [], workers = 1, drainDelay = '0', bin = CLOUDMUX_BIN } = {}) {
  const opts = { configYaml, env, args, readyTimeoutMs, wrapper, workers, drainDelay, bin };
  try {
    return await startOnce(opts);
  } catch (e) {
    if (/in use|EADDRINUSE/i.test(e.stderr || '')) return startOnce(opts);
    throw e;
  }
}

// A throwaway CA and a server certificate for localhost and 127.0.0.1.
// Returns file paths and PEM strings; rm() removes the directory.
export function makeCerts({ hosts = ['localhost'], ips = ['127.0.0.1'] } = {}) {
  const dir = tempDir('cmx-certs-');
  const f = (n) => join(dir, n);
  const ossl = (...a) => execFileSync('openssl', a, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=cloudmux test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${hosts[0] || ips[0]}`);
  const san = [...hosts.map((h) => `DNS:${h}`), ...ips.map((i) => `IP:${i}`)].join(',');
  writeFileSync(f('ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return {
    dir,
    caFile: f('ca.pem'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    rm: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// Sends raw bytes on a fresh TCP connection and collects everything the
// server sends until it closes (or timeoutMs passes).  For malformed requests
// the official client would never produce.  Include "Connection: close".
export function rawRequest(port, data, { timeoutMs = 5000, host = '127.0.0.1' } = {}) {
  return new Promise((resolveRaw) => {
    const sock = net.connect(port, host);
    const chunks = [];
    let done = false;
    const finish = (how) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolveRaw({ raw, ended: how, ...parseHttpResponse(raw) });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish('end'));
    sock.on('error', () => finish('error'));
    sock.on('connect', () => sock.write(data));
  });
}

// Splits a raw HTTP/1.1 response into status, lower-cased headers and body
// (chunked bodies decoded; `complete` says whether the last chunk came).
export function parseHttpResponse(raw) {
  const i = raw.indexOf('\r\n\r\n');
  if (i < 0) return { status: null, headers: {}, body: '', complete: false };
  const [statusLine, ...lines] = raw.slice(0, i).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  let body = raw.slice(i + 4);
  let complete = true;
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    let out = '';
    let pos = 0;
    complete = false;
    for (;;) {
      const eol = body.indexOf('\r\n', pos);
      if (eol < 0) break;
      const size = parseInt(body.slice(pos, eol), 16);
      if (Number.isNaN(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      if (eol + 2 + size > body.length) {
        out += body.slice(eol + 2);
        break;
      }
      out += body.slice(eol + 2, eol + 2 + size);
      pos = eol + 2 + size + 2;
    }
    body = out;
  } else if (headers['content-length'] !== undefined) {
    complete = body.length >= Number(headers['content-length']);
  }
  return { status, headers, body, complete };
}

// One HTTP request through node:http; resolves with status, headers, body and
// whether the body ended properly (false when the server cut it off).  Never
// rejects on HTTP-level trouble, so a test can assert on what happened.
export function httpRequest(url, { method = 'POST', headers = {}, body = null, timeoutMs = 10000 } = {}) {
  return new Promise((resolveReq) => {
    const data = body === null ? null : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const t0 = performance.now();
    const req = http.request(url, {
      method,
      headers: { ...(data !== null && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }), ...headers },
      agent: false,
    });
    let settled = false;
    const settle = (v) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolveReq(v);
      }
    };
    const timer = setTimeout(() => {
      req.destroy(new Error('timeout'));
    }, timeoutMs);
    req.on('error', (error) => settle({ status: null, headers: {}, body: '', complete: false, error, events: [] }));
    req.on('response', (res) => {
      let text = '';
      const times = [];
      res.setEncoding('utf8');
      res.on('data', (d) => {
        times.push(performance.now() - t0);
        text += d;
      });
      const done = (complete, error = null) =>
        settle({ status: res.statusCode, headers: res.headers, body: text, complete, error, times, events: sseEvents(text) });
      res.on('end', () => done(res.complete));
      res.on('aborted', () => done(false, new Error('aborted')));
      res.on('error', (e) => done(false, e));
      res.on('close', () => done(res.complete));
    });
    if (data !== null) req.write(data);
    req.end();
  });
}

// The `data:` payloads of an SSE body, in order ("[DONE]" stays a string,
// JSON is parsed, anything else is kept as text).
export function sseEvents(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) continue;
    if (data === '[DONE]') out.push(data);
    else {
      try {
        out.push(JSON.parse(data));
      } catch {
        out.push(data);
      }
    }
  }
  return out;
}

// Polls fn until it returns a truthy value or timeoutMs passes.
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// The YAML for a provider block pointing at an emulator.
export function yamlString(s) {
  return JSON.stringify(String(s)); // a JSON string is a valid YAML double-quoted scalar
}

// Asserts the OpenAI error shape {"error":{"message","type","param","code"}}
// (param and code present, possibly null) and returns the error object.
export function assertOpenAIError(assert, bodyText, { type } = {}) {
  let parsed;
  assert.doesNotThrow(() => (parsed = JSON.parse(bodyText)), `error body is not JSON: ${bodyText}`);
  const e = parsed.error;
  assert.equal(typeof e, 'object', `no "error" object in ${bodyText}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'empty error message');
  assert.equal(typeof e.type, 'string');
  assert.ok('param' in e, `no "param" in ${bodyText}`);
  assert.ok('code' in e, `no "code" in ${bodyText}`);
  if (type) assert.equal(e.type, type);
  return e;
}

// A chat request body as the official client would send it.
export function chatBody(model, text, extra = {}) {
  return { model, messages: [{ role: 'user', content: text }], ...extra };
}

// A real redis-server (the Debian package) on a free loopback port, with no
// persistence.  stop() kills it by PID; start() brings it back on the same
// port (a restart, for tests of a store that goes away).  Extra arguments go
// to the server's command line.  With tls ({certFile, keyFile, caFile}) it
// speaks TLS only, on `port`.
export async function startRedis({ args = [], port = null, tls = null } = {}) {
  port ??= await freePort();
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
      '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  let child = null;
  const url = `redis://127.0.0.1:${port}/0`;
  const up = async () => {
    for (let i = 0; i < 200; i++) {
      const ok = await new Promise((r) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => (s.destroy(), r(true)));
        s.on('error', () => r(false));
      });
      if (ok) return;
      await sleep(20);
    }
    throw new Error(`redis-server did not listen on ${port}`);
  };
  const start = async () => {
    child = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
      stdio: 'ignore',
    });
    await up();
  };
  const stop = async () => {
    if (!child) return;
    const c = child;
    child = null;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return { port, url, start, stop, pid: () => child?.pid, signal: (s) => child?.kill(s) };
}
