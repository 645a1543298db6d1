// server.mjs — the HTTP/2 emulator as a process:
//
//   node server.mjs [--mode tls|h2c|tls-h1|h1] [--tls CERT.pem KEY.pem] [--port N]
//                   [--max-streams N] [--goaway-after N] [--chunk-interval MS]
//
// Prints exactly one line when ready: "LISTENING <port>".
import { startEmulator } from './emulator.mjs';

const opts = { mode: 'h2c' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--mode') opts.mode = argv[++i];
  else if (a === '--tls') [opts.certFile, opts.keyFile] = [argv[++i], argv[++i]];
  else if (a === '--port') opts.port = Number(argv[++i]);
  else if (a === '--host') opts.host = argv[++i];
  else if (a === '--max-streams') opts.maxConcurrentStreams = Number(argv[++i]);
  else if (a === '--goaway-after') opts.goawayAfter = Number(argv[++i]);
  else if (a === '--chunk-interval') opts.chunkIntervalMs = Number(argv[++i]);
  else {
    process.stderr.write(`unknown argument: ${a}\n`);
    process.exit(2);
  }
}
const emu = await startEmulator(opts);
process.stdout.write(`LISTENING ${emu.port}\n`);
const stop = () => emu.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
