#!/usr/bin/env node
// server.mjs — runs the Bedrock Runtime emulator as a process.
//
//   node server.mjs [--port N] [--host 127.0.0.1] [--access-key-id ID]
//                   [--secret-access-key SECRET] [--session-token TOKEN]
//
// Credentials also come from EMU_AWS_ACCESS_KEY_ID, EMU_AWS_SECRET_ACCESS_KEY
// and EMU_AWS_SESSION_TOKEN; port 0 (the default) picks a free one.  When
// ready it prints exactly one line, "LISTENING <port>", to stdout.
import { startEmulator } from './emulator.mjs';

function parseArgs(argv) {
  const opts = {
    port: Number(process.env.EMU_PORT || 0),
    host: '127.0.0.1',
    accessKeyId: process.env.EMU_AWS_ACCESS_KEY_ID || undefined,
    secretAccessKey: process.env.EMU_AWS_SECRET_ACCESS_KEY || undefined,
    sessionToken: process.env.EMU_AWS_SESSION_TOKEN || null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--access-key-id') opts.accessKeyId = argv[++i];
    else if (a === '--secret-access-key') opts.secretAccessKey = argv[++i];
    else if (a === '--session-token') opts.sessionToken = argv[++i];
    else {
      process.stderr.write(`unknown argument: ${a}\n`);
      process.exit(2);
    }
  }
  return opts;
}

const emu = await startEmulator(parseArgs(process.argv.slice(2)));
process.stdout.write(`LISTENING ${emu.port}\n`);
const stop = () => emu.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
