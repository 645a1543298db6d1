#!/usr/bin/env node
// server.mjs — runs the Azure OpenAI emulator as a process.
//
//   node server.mjs [--port N] [--host 127.0.0.1] [--key KEY]
//                   [--tenant T --client ID:SECRET]... [--managed-identity [CLIENT_ID]]
//
// The port also comes from EMU_PORT and the key from EMU_KEY; port 0 (the
// default) picks a free one.  When ready it prints exactly one line,
// "LISTENING <port>", to stdout, so a parent can wait for it.
import { startEmulator } from './emulator.mjs';

function usage(msg) {
  process.stderr.write(`usage: server.mjs [--port N] [--host H] [--key KEY] [--tenant T] [--client ID:SECRET]... [--managed-identity [CLIENT_ID]]\n${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: Number(process.env.EMU_PORT || 0), key: process.env.EMU_KEY || null, host: '127.0.0.1', tokens: null };
  const tokens = () => (opts.tokens ??= { clients: {} });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--key') opts.key = argv[++i];
    else if (a === '--tenant') tokens().tenant = argv[++i];
    else if (a === '--client') {
      const v = argv[++i] || '';
      const c = v.indexOf(':');
      if (c <= 0) usage('--client needs ID:SECRET');
      tokens().clients[v.slice(0, c)] = v.slice(c + 1);
    } else if (a === '--managed-identity') {
      const next = argv[i + 1];
      tokens().managedIdentity = next && !next.startsWith('--') ? { clientId: argv[++i] } : true;
    } else usage(`unknown argument: ${a}`);
  }
  return opts;
}

const emu = await startEmulator(parseArgs(process.argv.slice(2)));
process.stdout.write(`LISTENING ${emu.port}\n`);
const stop = () => emu.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
