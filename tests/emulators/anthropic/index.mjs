// index.mjs — the Anthropic emulator as a library, for tests that run it in-process.
//
//   const emu = await startEmulator({ key: 'sk-ant-test', tls: { certFile, keyFile } });
//   emu.baseURL  → "http://127.0.0.1:PORT" (https://localhost:PORT with tls; the
//                  SDK and cloudmux add /v1/messages)
//   emu.setFault('status=529'); emu.stats(); await emu.close();
export { startEmulator, createEmulator } from './emulator.mjs';
export { parseFaultSpec, splitModel } from './faults.mjs';
