// index.mjs — the Vertex AI emulator as a library, for tests that run it in-process.
//
//   const sa = makeServiceAccount();                  // RSA key pair made in the test
//   const emu = await startEmulator({ serviceAccount: sa });
//   sa.token_uri = emu.tokenURL;                       // so cloudmux fetches tokens here
//   emu.baseURL → "http://127.0.0.1:PORT" (Vertex endpoint root; /v1/projects/... is added)
//   emu.setFault({ spec: 'status=503', model: 'gemini-down' }); emu.stats(); await emu.close();
export { startEmulator, createEmulator, makeServiceAccount, parseFaultSpec } from './emulator.mjs';
