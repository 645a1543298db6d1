// index.mjs — the HTTP/2 emulator as a library, for tests that run it in-process.
//
//   const emu = await startEmulator({ mode: 'tls', certFile, keyFile, maxConcurrentStreams: 20 });
//   emu.baseURL  → "https://localhost:PORT/v1" ("http://127.0.0.1:PORT/v1" for h2c)
//   emu.setOptions({ goawayAfter: 10 }); emu.stats(); emu.dropConnections(); await emu.close();
export { startEmulator, createEmulator } from './emulator.mjs';
