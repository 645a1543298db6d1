// deploy_env.test.mjs — what container and serverless platforms tell the
// gateway through the environment: PORT (Cloud Run, Cloud Functions, App
// Runner) when the config names no listen address, FUNCTIONS_CUSTOMHANDLER_PORT
// (Azure Functions custom handler) over the config, CLOUDMUX_CONFIG when there
// is no --config; and `cloudmux health`, the image's health check.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import OpenAI from 'openai';

import { CLOUDMUX_BIN, freePort, tempDir, waitFor } from './helpers.mjs';

const MODELS = `
providers:
  demo: { type: mock }
models:
  demo: { targets: [ { provider: demo } ] }
`;

// Starts `cloudmux serve` exactly as given (no --listen) and waits until
// readyUrl answers; stop() sends SIGTERM and expects exit 0.
async function startServe({ args = [], env = {}, readyUrl }) {
  const child = spawn(CLOUDMUX_BIN, ['serve', '--workers', '1', ...args], {
    env: { ...process.env, PORT: '', FUNCTIONS_CUSTOMHANDLER_PORT: '', CLOUDMUX_CONFIG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  child.stdout.resume();
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let gone = null;
  exited.then((e) => (gone = e));
  await waitFor(
    async () => {
      if (gone) throw new Error(`cloudmux exited (${JSON.stringify(gone)}): ${err}`);
      try {
        return (await fetch(`${readyUrl}/health/ready`, { signal: AbortSignal.timeout(500) })).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10000, what: `cloudmux ready at ${readyUrl}` },
  );
  return {
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      const r = await exited;
      assert.deepEqual(r, { code: 0, signal: null }, err);
    },
  };
}

function writeConfig(yaml) {
  const dir = tempDir();
  const file = join(dir, 'cloudmux.yaml');
  writeFileSync(file, yaml);
  return { file, rm: () => rmSync(dir, { recursive: true, force: true }) };
}

async function chatOn(baseURL) {
  const client = new OpenAI({ apiKey: 'unused', baseURL, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
}

const health = (args, env = {}) =>
  spawnSync(CLOUDMUX_BIN, ['health', ...args], {
    encoding: 'utf8',
    timeout: 10000,
    env: { ...process.env, PORT: '', FUNCTIONS_CUSTOMHANDLER_PORT: '', ...env },
  });

test('PORT sets the port on all interfaces when the config names no listen address; health checks it', async () => {
  const cfg = writeConfig(MODELS);
  const port = await freePort();
  const gw = await startServe({ args: ['--config', cfg.file], env: { PORT: String(port) }, readyUrl: `http://127.0.0.1:${port}` });
  try {
    assert.match(gw.stderr(), new RegExp(`listening on http://0\\.0\\.0\\.0:${port}`));
    await chatOn(`http://127.0.0.1:${port}/v1`);
    // health finds the port through PORT, as a container's HEALTHCHECK would.
    let r = health([], { PORT: String(port) });
    assert.equal(r.status, 0, r.stderr);
    r = health(['--url', `http://localhost:${port}`]);
    assert.equal(r.status, 0, r.stderr);
    r = health(['--url', `http://127.0.0.1:${port}/health/live`]);
    assert.equal(r.status, 0, r.stderr);
    r = health(['--url', `http://127.0.0.1:${port}/v1/nothing-here`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /answered 404/);
  } finally {
    await gw.stop();
    cfg.rm();
  }
  const r = health(['--url', `http://127.0.0.1:${port}`, '--timeout', '1000']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /refused/);
});

test('the config’s server.listen wins over PORT', async () => {
  const port = await freePort();
  const other = await freePort();
  const cfg = writeConfig(`server: { listen: "127.0.0.1:${port}" }\n${MODELS}`);
  const gw = await startServe({ args: ['--config', cfg.file], env: { PORT: String(other) }, readyUrl: `http://127.0.0.1:${port}` });
  try {
    assert.equal(health(['--url', `http://127.0.0.1:${other}`, '--timeout', '500']).status, 1);
  } finally {
    await gw.stop();
    cfg.rm();
  }
});

test('FUNCTIONS_CUSTOMHANDLER_PORT wins over the config, and the config comes from CLOUDMUX_CONFIG', async () => {
  const configured = await freePort();
  const port = await freePort();
  const cfg = writeConfig(`server: { listen: "127.0.0.1:${configured}" }\n${MODELS}`);
  const gw = await startServe({
    env: { CLOUDMUX_CONFIG: cfg.file, FUNCTIONS_CUSTOMHANDLER_PORT: String(port), PORT: String(configured) },
    readyUrl: `http://127.0.0.1:${port}`,
  });
  try {
    await chatOn(`http://127.0.0.1:${port}/v1`);
    assert.equal(health([], { FUNCTIONS_CUSTOMHANDLER_PORT: String(port) }).status, 0);
    assert.equal(health(['--url', `http://127.0.0.1:${configured}`, '--timeout', '500']).status, 1);
  } finally {
    await gw.stop();
    cfg.rm();
  }
});

test('a port that is not a number is refused with exit 2 naming the variable', async () => {
  const cfg = writeConfig(MODELS);
  try {
    for (const [name, value] of [['PORT', '80a'], ['PORT', '70000'], ['FUNCTIONS_CUSTOMHANDLER_PORT', '-1']]) {
      const r = spawnSync(CLOUDMUX_BIN, ['serve', '--config', cfg.file], {
        encoding: 'utf8',
        timeout: 10000,
        env: { ...process.env, PORT: '', FUNCTIONS_CUSTOMHANDLER_PORT: '', [name]: value },
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${name} must be a port number 1\\.\\.65535, got '${value}'`));
    }
    const r = health(['--url', 'ftp://x']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must start with http/);
  } finally {
    cfg.rm();
  }
});
