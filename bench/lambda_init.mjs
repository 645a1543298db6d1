#!/usr/bin/env node
// lambda_init.mjs — Lambda init time: exec of `cloudmux lambda` to its first
// GET /runtime/invocation/next on the Runtime API emulator, for each binary
// given, interleaved, median of N starts.
//   node bench/lambda_init.mjs [--runs N] CONFIG BINARY...
// Prints one line per binary: "lambda init <binary>: median X ms (all: ...)".
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { startRuntimeApi } from '../tests/emulators/lambda/emulator.mjs';

const args = process.argv.slice(2);
let runs = 7;
if (args[0] === '--runs') {
  runs = Number(args[1]);
  args.splice(0, 2);
}
const [config, ...bins] = args;
if (!config || bins.length === 0) {
  process.stderr.write('usage: lambda_init.mjs [--runs N] CONFIG BINARY...\n');
  process.exit(2);
}

async function once(bin) {
  const api = await startRuntimeApi();
  const t0 = performance.now();
  const child = spawn(bin, ['lambda'], {
    env: { ...process.env, AWS_LAMBDA_RUNTIME_API: api.endpoint, CLOUDMUX_CONFIG: config },
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 5000;
  while (api.stats().first_next_at === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  const ms = api.stats().first_next_at === null ? null : api.stats().first_next_at - t0;
  child.kill('SIGTERM');
  await exited;
  await api.close();
  return ms;
}

const samples = Object.fromEntries(bins.map((b) => [b, []]));
for (let i = 0; i < runs; i++)
  for (const b of bins) {
    const ms = await once(b);
    if (ms !== null) samples[b].push(ms);
  }
for (const b of bins) {
  const s = samples[b].sort((x, y) => x - y);
  const med = s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
  console.log(`lambda init ${b}: median ${med.toFixed(1)} ms of ${s.length} (all: ${s.map((x) => x.toFixed(1)).join(' ')})`);
}
