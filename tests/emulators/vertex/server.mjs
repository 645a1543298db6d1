#!/usr/bin/env node
// server.mjs — runs the Vertex AI emulator as a process.
//
//   node server.mjs [--port N] [--host 127.0.0.1] [--service-account KEY.json]
//
// Without --service-account it makes a key pair and writes the key file
// (token_uri pointing at itself) to a temporary file whose path it prints.
// When ready it prints "LISTENING <port>" (and "SERVICE_ACCOUNT <path>").
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { makeServiceAccount, startEmulator } from './emulator.mjs';

const opts = { port: Number(process.env.EMU_PORT || 0), host: '127.0.0.1', sa: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port') opts.port = Number(argv[++i]);
  else if (argv[i] === '--host') opts.host = argv[++i];
  else if (argv[i] === '--service-account') opts.sa = argv[++i];
  else {
    process.stderr.write(`usage: server.mjs [--port N] [--host H] [--service-account KEY.json]\nunknown argument: ${argv[i]}\n`);
    process.exit(2);
  }
}
const sa = opts.sa ? JSON.parse(readFileSync(opts.sa, 'utf8')) : makeServiceAccount();
const emu = await startEmulator({ serviceAccount: sa, port: opts.port, host: opts.host });
process.stdout.write(`LISTENING ${emu.port}\n`);
if (!opts.sa) {
  const path = join(mkdtempSync(join(tmpdir(), 'vertex-emu-')), 'service-account.json');
  writeFileSync(path, JSON.stringify({ ...sa, token_uri: emu.tokenURL }, null, 2), { mode: 0o600 });
  process.stdout.write(`SERVICE_ACCOUNT ${path}\n`);
}
const stop = () => emu.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
