// index.mjs — the Azure OpenAI emulator as a library, for tests that run it in-process.
//
//   const emu = await startEmulator({ key: 'az-key', tokens: { tenant: 't1', clients: { app: 's3cret' }, managedIdentity: true } });
//   emu.endpoint  → "http://127.0.0.1:PORT" (for AzureOpenAI's endpoint and cloudmux's endpoint)
//   emu.authority → token endpoints under it; emu.imdsEndpoint → the IMDS URL
//   emu.setAzureFault('content_filter'); emu.setTokenFault({ status: 500 }); emu.stats().azure
export { startEmulator, createAzureEmulator } from './emulator.mjs';
