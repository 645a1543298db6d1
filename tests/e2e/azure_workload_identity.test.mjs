// azure_workload_identity.test.mjs — AKS workload identity for the azure
// provider: `auth: { workload_identity: true }` with the settings the AKS
// webhook injects (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST), the projected service-account token sent as a
// jwt-bearer client assertion to the Azure emulator's token endpoint, the
// file read again at every token fetch (the kubelet rotates it), and an
// assertion Entra ID refuses reported as a provider_auth error naming the
// reason and never the token.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';

import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { CLOUDMUX_BIN, httpRequest, chatBody, sleep, startCloudmux, tempDir } from './helpers.mjs';

const TENANT = 'tenant-wi';
const CLIENT_ID = '7d1c0a2e-wi-client';
const ISSUER = 'https://oidc.prod-aks.azure.com/cluster-e2e/';
const SUBJECT = 'system:serviceaccount:llm:cloudmux';
const TOKEN_LIFE_S = 2; // short, so the test sees a refresh

// A service-account token as the kubelet projects it (unsigned here: the
// emulator checks claims, not signatures).
function serviceAccountToken({ sub = SUBJECT, exp = Math.floor(Date.now() / 1000) + 3600, jti }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', kid: 'e2e' })}.${b64({ aud: ['api://AzureADTokenExchange'], iss: ISSUER, sub, exp, jti })}.c2lnbmF0dXJl`;
}

let az;
let gw;
let dir;
let tokenFile;

// Replaces the file the way the kubelet does: a new file renamed over it.
function rotate(content) {
  const tmp = `${tokenFile}.new`;
  writeFileSync(tmp, `${content}\n`);
  renameSync(tmp, tokenFile);
}

before(async () => {
  az = await startAzure({
    tokens: { tenant: TENANT, federated: { [CLIENT_ID]: { issuer: ISSUER, subject: SUBJECT } }, expiresIn: TOKEN_LIFE_S },
  });
  dir = tempDir('cmx-wi-');
  tokenFile = join(dir, 'azure-identity-token');
  rotate(serviceAccountToken({ jti: 'first' }));
  gw = await startCloudmux({
    env: {
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: tokenFile,
      AZURE_AUTHORITY_HOST: `${az.authority}/`, // the webhook's value ends in '/'
    },
    configYaml: `
providers:
  aks: { type: azure, endpoint: "${az.endpoint}", auth: { workload_identity: true }, timeouts: { connect: 1s, first_byte: 2s, total: 10s } }
models:
  chat: { targets: [ { provider: aks, model: wi-deployment } ] }
`,
  });
});

after(async () => {
  await gw?.stop();
  await az?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ask = (client, text) => client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: text }] });

test('the projected token is exchanged as a client assertion; the file is read again at each refresh', async () => {
  const client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0 });
  let r = await ask(client, 'first');
  assert.equal(r.choices[0].message.content, 'echo: first');
  const azs = az.stats().azure;
  assert.equal(azs.token_requests, 1);
  assert.deepEqual(azs.assertions.map((a) => a.jti), ['first']);
  assert.equal(azs.requests.at(-1).auth, 'bearer');

  // The kubelet rotates the file; the old token would still be valid, but
  // the next fetch must present the new one.
  rotate(serviceAccountToken({ jti: 'second' }));
  r = await ask(client, 'cached');
  assert.equal(r.choices[0].message.content, 'echo: cached');
  assert.equal(az.stats().azure.token_requests, 1, 'a valid access token is reused, not fetched per request');

  await sleep(TOKEN_LIFE_S * 1000 + 100); // the access token has expired
  r = await ask(client, 'after rotation');
  assert.equal(r.choices[0].message.content, 'echo: after rotation');
  assert.deepEqual(az.stats().azure.assertions.map((a) => a.jti), ['first', 'second']);
});

test('an assertion Entra ID refuses is a provider_auth error with the reason, never the token', async () => {
  const expired = serviceAccountToken({ exp: Math.floor(Date.now() / 1000) - 60, jti: 'expired' });
  rotate(expired);
  await sleep(TOKEN_LIFE_S * 1000 + 100);
  let res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'x') });
  assert.ok(res.status >= 400, `status ${res.status}`);
  assert.match(res.body, /workload identity token endpoint/);
  assert.match(res.body, /invalid_client: AADSTS700024/);
  assert.ok(!res.body.includes(expired.split('.')[1]), 'the answer contains the assertion');

  await sleep(1100); // past the one-second failure hold
  rotate(serviceAccountToken({ sub: 'system:serviceaccount:other:app', jti: 'wrong-subject' }));
  res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'x') });
  assert.match(res.body, /AADSTS700213: No matching federated identity record/);

  await sleep(1100);
  rmSync(tokenFile);
  res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'x') });
  assert.ok(res.status >= 400);
  assert.match(res.body, /cannot read the federated token file .*azure-identity-token/);

  await sleep(1100);
  rotate(serviceAccountToken({ jti: 'recovered' }));
  res = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('chat', 'back') });
  assert.equal(res.status, 200, res.body);

  const out = gw.stdout() + gw.stderr();
  assert.ok(!out.includes(expired.split('.')[1]), 'output contains an assertion');
});

test('check names the variable that is missing', () => {
  const d = tempDir();
  const file = join(d, 'wi.yaml');
  writeFileSync(file, 'providers:\n  aks: { type: azure, endpoint: "https://x.openai.azure.com", auth: { workload_identity: true } }\nmodels:\n  m: { targets: [ { provider: aks, model: d } ] }\n');
  const env = { ...process.env };
  for (const k of ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST']) delete env[k];
  let r = spawnSync(CLOUDMUX_BIN, ['check', '--config', file], { encoding: 'utf8', env });
  assert.equal(r.status, 1);
  for (const v of ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE'])
    assert.match(r.stderr, new RegExp(`workload identity needs \\w+: set ${v}`));
  r = spawnSync(CLOUDMUX_BIN, ['check', '--config', file], {
    encoding: 'utf8',
    env: { ...env, AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't', AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token' },
  });
  assert.equal(r.status, 0, r.stderr);
  rmSync(d, { recursive: true, force: true });
});
