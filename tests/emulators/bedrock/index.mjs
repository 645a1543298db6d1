// index.mjs — the Bedrock Runtime emulator as a library, for tests that run it in-process.
//
//   const emu = await startEmulator({ accessKeyId, secretAccessKey, sessionToken });
//   emu.baseURL  → "http://127.0.0.1:PORT" (the endpoint for the SDK's `endpoint`
//                  and cloudmux's `endpoint_url`)
//   emu.stats(); emu.resetStats(); await emu.close();
export { startEmulator, createEmulator } from './emulator.mjs';
export { parseFaultSpec, splitModel } from './faults.mjs';
