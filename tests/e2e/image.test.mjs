// image.test.mjs — the container image, built and run for real with podman:
// deploy/build-image.sh (what `make image` runs) builds it from the static
// executable with no registry pull; the test checks its size and settings,
// runs it as the non-root user with a read-only root filesystem and all
// capabilities dropped, answers a chat through it with the official client,
// runs its HEALTHCHECK, and stops it with `podman stop` (SIGTERM) while a
// stream is in flight: readiness turns 503, the stream must end whole, with
// [DONE], and the container must exit 0.
//
// podman runs here with runc, cgroupfs and a containers.conf without default
// rlimits (some sandboxes refuse them).  The test skips, saying why, only
// when podman is missing or cannot start a container at all.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';

import { REPO_ROOT, freePort, tempDir, waitFor } from './helpers.mjs';

const STATIC_BIN = process.env.CLOUDMUX_STATIC_BIN || join(REPO_ROOT, 'build-static/cloudmux');
const ENGINE_ARGS = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const IMAGE = `localhost/cloudmux-e2e:${process.pid}`;
const MAX_IMAGE_BYTES = 15 * 1000 * 1000;

const dir = tempDir('cmx-image-');
const containersConf = join(dir, 'containers.conf');
writeFileSync(containersConf, '[containers]\ndefault_ulimits = []\n');
const env = { ...process.env, CONTAINERS_CONF: containersConf };

const podman = (args, opts = {}) =>
  spawnSync('podman', [...ENGINE_ARGS, ...args], { encoding: 'utf8', env, timeout: 120000, ...opts });

// The same, without blocking the event loop; resolves to { status, stderr }.
function podmanAsync(args) {
  return new Promise((resolve) => {
    const child = spawn('podman', [...ENGINE_ARGS, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

function whyNot() {
  if (spawnSync('podman', ['--version'], { encoding: 'utf8' }).status !== 0)
    return 'podman is not installed (scripts/deps.sh test installs it)';
  if (!existsSync(STATIC_BIN)) return `no static executable at ${STATIC_BIN} (make static)`;
  const info = podman(['info']);
  if (info.status !== 0) return `podman cannot run here: ${info.stderr.trim().split('\n').pop()}`;
  return null;
}
const skip = whyNot() || false;
if (skip) console.log(`# image test skipped: ${skip}`);

let built = false;
const names = [];

before(async () => {
  if (skip) return;
  const r = spawnSync(join(REPO_ROOT, 'deploy/build-image.sh'), [], {
    encoding: 'utf8',
    timeout: 300000,
    env: {
      ...env,
      CLOUDMUX_ENGINE: 'podman',
      CLOUDMUX_ENGINE_ARGS: ENGINE_ARGS.join(' '),
      CLOUDMUX_IMAGE: IMAGE,
      CLOUDMUX_STATIC_BIN: STATIC_BIN,
      CLOUDMUX_IMAGE_CONTEXT: join(dir, 'context'),
    },
  });
  assert.equal(r.status, 0, `build-image.sh failed:\n${r.stdout}\n${r.stderr}`);
  built = true;
});

after(() => {
  for (const name of names) podman(['rm', '-f', name]);
  if (built) podman(['rmi', '-f', IMAGE]);
  rmSync(dir, { recursive: true, force: true });
});

test('the image is small, runs as uid 65532 from cloudmux serve, has its health check and no shell', { skip }, () => {
  const size = Number(podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).stdout.trim());
  assert.ok(size > 1e6 && size < MAX_IMAGE_BYTES, `image size ${size} bytes`);
  const cfg = JSON.parse(podman(['image', 'inspect', '--format', '{{json .Config}}', IMAGE]).stdout);
  assert.equal(cfg.User, '65532:65532');
  assert.deepEqual(cfg.Entrypoint, ['cloudmux', 'serve']);
  assert.ok('4000/tcp' in cfg.ExposedPorts);
  const hc = JSON.parse(podman(['image', 'inspect', '--format', '{{json .HealthCheck}}', IMAGE]).stdout);
  assert.deepEqual(hc.Test, ['CMD', 'cloudmux', 'health']);
  // The default config is valid, and there is nothing but cloudmux to run.
  const check = podman(['run', '--rm', '--network', 'host', '--entrypoint', 'cloudmux', IMAGE, 'check', '--config', '/etc/cloudmux/cloudmux.yaml']);
  assert.equal(check.status, 0, check.stderr);
  assert.doesNotMatch(check.stderr, /no price list/, 'the price list is not where the binary looks');
  const sh = podman(['run', '--rm', '--network', 'host', '--entrypoint', 'sh', IMAGE]);
  assert.notEqual(sh.status, 0);
});

test('read-only, non-root, no capabilities: it serves a chat, passes its health check and drains a stream on podman stop', { skip }, async () => {
  const port = await freePort();
  const config = join(dir, 'cloudmux.yaml');
  // A slow stream: 12 chunks 150 ms apart, so SIGTERM lands in the middle;
  // a short drain delay keeps the test quick.
  writeFileSync(
    config,
    'server: { shutdown: { drain_delay: 1s } }\n' +
      'providers:\n  slow: { type: mock, chunk_interval: 150ms, stream_chunks: 12 }\n' +
      'models:\n  demo: { targets: [ { provider: slow } ] }\n',
  );
  chmodSync(config, 0o644);
  chmodSync(dir, 0o755);
  const name = `cmx-e2e-${process.pid}`;
  names.push(name);
  const run = podman([
    'run', '-d', '--name', name, '--network', 'host', '--read-only', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', '-e', `PORT=${port}`,
    '-v', `${config}:/etc/cloudmux/cloudmux.yaml:ro`, IMAGE,
  ]);
  assert.equal(run.status, 0, run.stderr);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const state = podman(['inspect', '--format', '{{.State.Status}}', name]).stdout.trim();
      if (state !== 'running') throw new Error(`container is ${state}: ${podman(['logs', name]).stderr}`);
      try {
        return (await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(500) })).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 15000, what: 'the container to become ready' },
  );

  // The process inside really is uid 65532.
  const pid = podman(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim();
  const uids = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)[1].split(/\s+/);
  assert.deepEqual(uids, ['65532', '65532', '65532', '65532']);

  const client = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 });
  const answer = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(answer.object, 'chat.completion');
  assert.ok(answer.choices[0].message.content.length > 0);

  const hc = podman(['healthcheck', 'run', name]);
  assert.equal(hc.status, 0, `HEALTHCHECK failed: ${hc.stdout}${hc.stderr}`);

  // A stream in flight, then podman stop: SIGTERM, drain, exit 0.
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'count' }] }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);
  const before = text.split('\n\n').filter((e) => e.startsWith('data: ')).length;
  assert.ok(before < 12, 'the stream was over before the stop');
  const stopping = podmanAsync(['stop', '-t', '30', name]);
  // SIGTERM reached the gateway: not ready any more, still serving.
  await waitFor(async () => (await fetch(`${url}/health/ready`)).status === 503, { timeoutMs: 5000, what: 'readiness to turn 503 after podman stop' });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  const stop = await stopping;
  assert.equal(stop.status, 0, stop.stderr);
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  assert.equal(events.at(-1), 'data: [DONE]', `stream did not end whole:\n${text.slice(-300)}`);
  assert.ok(events.length >= 12, `only ${events.length} events`);
  const exit = podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim();
  assert.equal(exit, '0');
  assert.match(podman(['logs', name]).stderr, /received SIGTERM: not ready any more.*\n.*draining in-flight requests/);
});
