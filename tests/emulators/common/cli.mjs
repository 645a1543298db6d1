// cli.mjs — runs an emulator as a process, for the emulators whose options
// are a port, a host, an API key and TLS files:
//
//   node server.mjs [--port N] [--host 127.0.0.1] [--key KEY] [--tls CERT.pem KEY.pem]
//
// The port also comes from EMU_PORT and the key from EMU_KEY; port 0 (the
// default) picks a free one.  When ready it prints exactly one line,
// "LISTENING <port>", to stdout, so a parent can wait for it.

function parseArgs(argv) {
  const opts = { port: Number(process.env.EMU_PORT || 0), key: process.env.EMU_KEY || null, host: '127.0.0.1', tls: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--key') opts.key = argv[++i];
    else if (a === '--tls') opts.tls = { certFile: argv[++i], keyFile: argv[++i] };
    else if (/^\d+$/.test(a)) opts.port = Number(a);
    else {
      process.stderr.write(`usage: server.mjs [--port N] [--host H] [--key KEY] [--tls CERT KEY]\nunknown argument: ${a}\n`);
      process.exit(2);
    }
  }
  if (opts.tls && (!opts.tls.certFile || !opts.tls.keyFile)) {
    process.stderr.write('--tls needs CERT.pem and KEY.pem\n');
    process.exit(2);
  }
  return opts;
}

export async function runEmulator(startEmulator) {
  const emu = await startEmulator(parseArgs(process.argv.slice(2)));
  process.stdout.write(`LISTENING ${emu.port}\n`);
  const stop = () => emu.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
