// drill.test.mjs — `cloudmux drill` runs a failover drill and its figures
// make sense.
//
// Two emulators stand for a primary and a secondary provider of one priority
// group with a fast breaker.  The drill sends 20 req/s for 6 s and fails the
// primary from 2 s to 4 s, once through the emulator's fault endpoint
// (--fault-url) and once through the drill's own relay (connections reset).
// The checks are sanity bounds, not timings: every request accounted for,
// nothing lost, few errors, the fallback answering fast, the primary back
// after recovery.  Setup mistakes must fail with a non-zero exit code.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startEmulator } from '../emulators/openai/index.mjs';
import { CLOUDMUX_BIN, tempDir } from './helpers.mjs';

let primary;
let secondary;
let dir;
let configPath;

const FIRST_BYTE_MS = 1000;
const CONSECUTIVE_FAILURES = 3;

function runDrill(args, { timeoutMs = 30000 } = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(CLOUDMUX_BIN, ['drill', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, out, err });
    });
  });
}

before(async () => {
  primary = await startEmulator();
  secondary = await startEmulator();
  dir = tempDir('cmx-drill-');
  configPath = join(dir, 'drill.yaml');
  writeFileSync(
    configPath,
    `
server: { workers: 1 }
providers:
  primary: { type: openai, base_url: "${primary.baseURL}", timeouts: { connect: 500ms, first_byte: ${FIRST_BYTE_MS}ms } }
  secondary: { type: openai, base_url: "${secondary.baseURL}" }
models:
  g:
    strategy: priority
    breaker: { consecutive_failures: ${CONSECUTIVE_FAILURES}, cooldown: 1s, max_cooldown: 1s }
    targets: [ { provider: primary, model: gpt-4o-mini }, { provider: secondary, model: gpt-4o-mini } ]
`,
  );
});

after(async () => {
  await primary?.close();
  await secondary?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function checkReport(r, res) {
  const ctx = `report: ${JSON.stringify(r)}\nstderr: ${res.err}`;
  // Every request accounted for: 20 req/s × 6 s.
  assert.equal(r.expected, 120, ctx);
  assert.ok(Math.abs(r.total - 120) <= 2, ctx);
  const phases = Object.values(r.phases);
  assert.equal(phases.reduce((s, p) => s + p.sent, 0), r.total, ctx);
  for (const p of phases) assert.equal(p.ok + p.errors + p.lost, p.sent, ctx);
  // Failover: nothing lost, errors bounded by the breaker threshold.
  assert.equal(r.failover_lost, 0, ctx);
  assert.ok(r.failover_errors <= CONSECUTIVE_FAILURES, ctx);
  assert.equal(r.target_served_during, 0, ctx);
  // The fallback answered quickly: within the breaker's threshold of
  // requests (50 ms apart at 20 req/s) plus one timeout.
  assert.notEqual(r.detection_ms, null, ctx);
  assert.notEqual(r.first_fallback_ms, null, ctx);
  assert.ok(r.first_fallback_ms < CONSECUTIVE_FAILURES * 50 + FIRST_BYTE_MS, ctx);
  assert.ok(r.detection_ms <= r.first_fallback_ms, ctx);
  // During the fault the secondary answered; after it the primary came back.
  assert.ok(r.providers.secondary.during > 0, ctx);
  assert.equal(r.providers.primary?.during ?? 0, 0, ctx);
  assert.notEqual(r.failback_ms, null, `no fail-back seen; ${ctx}`);
  assert.ok(r.failback_ms < 2000, ctx);
  assert.ok(r.providers.primary.after > 0, ctx);
  assert.ok(r.providers.primary.before > 30, ctx);
  assert.ok(r.phases.before.p50_ms > 0 && r.phases.before.p95_ms >= r.phases.before.p50_ms, ctx);
}

describe('cloudmux drill', () => {
  test('through the emulator fault endpoint: fails over, loses nothing, fails back', async () => {
    const res = await runDrill(['--config', configPath, '--group', 'g', '--fail', 'primary', '--rps', '20',
      '--duration', '6', '--json', '--fault-url', `${primary.url}/_emulator/faults`]);
    assert.equal(res.code, 0, res.err);
    const r = JSON.parse(res.out);
    assert.equal(r.fault_by, 'fault endpoint');
    checkReport(r, res);
    // The drill lifted its fault.
    const left = await fetch(`${primary.url}/_emulator/faults`).then((x) => x.json());
    assert.deepEqual(left.faults, [], JSON.stringify(left));
  });

  test('through the built-in relay (connections reset): fails over, loses nothing, fails back', async () => {
    const res = await runDrill(['--config', configPath, '--group', 'g', '--fail', 'primary', '--rps', '20',
      '--duration', '6', '--json']);
    assert.equal(res.code, 0, res.err);
    const r = JSON.parse(res.out);
    assert.match(r.fault_by, /relay/);
    checkReport(r, res);
  });

  test('setup mistakes exit non-zero with a message', async () => {
    const notInGroup = await runDrill(['--config', configPath, '--group', 'g', '--fail', 'nobody', '--duration', '3']);
    assert.notEqual(notInGroup.code, 0);
    assert.match(notInGroup.err, /not a target of group 'g'/);
    const noGroup = await runDrill(['--config', configPath, '--group', 'missing', '--fail', 'primary', '--duration', '3']);
    assert.notEqual(noGroup.code, 0);
    assert.match(noGroup.err, /no model group 'missing'/);
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'models: [1, 2\n');
    const bad = await runDrill(['--config', badConfig, '--group', 'g', '--fail', 'primary', '--duration', '3']);
    assert.notEqual(bad.code, 0);
    const badTimes = await runDrill(['--config', configPath, '--group', 'g', '--fail', 'primary', '--duration', '3',
      '--fail-at', '2', '--recover-at', '1']);
    assert.notEqual(badTimes.code, 0);
  });
});
