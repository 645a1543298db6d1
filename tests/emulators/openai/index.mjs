// index.mjs — the OpenAI emulator as a library, for tests that run it in-process.
//
//   const emu = await startEmulator({ key: 'sk-test', tls: { certFile, keyFile } });
//   emu.baseURL  → "http://127.0.0.1:PORT/v1" (https://localhost:PORT/v1 with tls)
//   emu.setFault('status=429,retry_after=1'); emu.stats(); await emu.close();
export { startEmulator, createEmulator } from './emulator.mjs';
export { parseFaultSpec, splitModel } from './faults.mjs';
