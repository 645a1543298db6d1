// credential_cache.test.mjs — one token per credential per process.
//
// A gateway with 4 workers gets 40 concurrent first requests for each kind
// of fetched credential: Azure Entra ID client credentials, Azure managed
// identity (IMDS), a Google service account, the Google metadata server,
// and AWS keys from the container credentials endpoint.  Each token
// endpoint (the emulators count) must be called exactly once: the first
// worker to need the token fetches it, the requests on every other worker
// wait for that one fetch and then use the same token.  The request ids say
// which worker served each request, so the test also proves the requests
// were spread over several workers.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { makeServiceAccount, startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { chatBody, httpRequest, startCloudmux, tempDir } from './helpers.mjs';

const WORKERS = 4;
const CONCURRENT = 40;
const CREDS = { accessKeyId: 'ASIASHAREDCACHE0E2E', secretAccessKey: 'shared-SECRET-e2e-55c1', sessionToken: 'SHARED-SESSION-e2e-9f2' };
const CONTAINER_AUTH = 'container-AUTH-e2e-1d7';

let az;
let gcpSa;
let gcpMeta;
let aws;
let container;
let gw;

// A container credentials endpoint (ECS / EKS Pod Identity) that counts its calls.
function startContainerEndpoint() {
  const calls = { n: 0 };
  const server = createServer((req, res) => {
    calls.n++;
    if (req.headers.authorization !== CONTAINER_AUTH) {
      res.writeHead(401).end();
      return;
    }
    // Answer slowly, so the other workers' first requests come while it is in flight.
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ AccessKeyId: CREDS.accessKeyId, SecretAccessKey: CREDS.secretAccessKey, Token: CREDS.sessionToken, Expiration: new Date(Date.now() + 3600e3).toISOString() }));
    }, 150);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/creds`, calls, close: () => new Promise((r) => server.close(r)) })),
  );
}

before(async () => {
  az = await startAzure({ tokens: { tenant: 't1', clients: { app: 'app-SECRET-e2e-3a9' }, managedIdentity: { clientId: 'mi' } } });
  const sa = makeServiceAccount();
  gcpSa = await startVertex({ serviceAccount: sa });
  gcpMeta = await startVertex({ serviceAccount: sa });
  aws = await startBedrock(CREDS);
  container = await startContainerEndpoint();
  const dir = tempDir('cmx-creds-');
  const saFile = join(dir, 'sa.json');
  writeFileSync(saFile, JSON.stringify({ ...sa, token_uri: gcpSa.tokenURL }), { mode: 0o600 });
  const fast = '{ connect: 2s, first_byte: 5s, idle: 5s, total: 15s }';
  gw = await startCloudmux({
    workers: WORKERS,
    env: {
      AZ_SECRET: 'app-SECRET-e2e-3a9',
      AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_ROLE_ARN: '', AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_PROFILE: '',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '', AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: container.url, AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_AUTH,
    },
    configYaml: `
providers:
  az-cc: { type: azure, endpoint: "${az.endpoint}", auth: { tenant_id: t1, client_id: app, client_secret: env:AZ_SECRET, authority: "${az.authority}" }, timeouts: ${fast} }
  az-mi: { type: azure, endpoint: "${az.endpoint}", auth: { managed_identity: true, client_id: mi, imds_endpoint: "${az.imdsEndpoint}" }, timeouts: ${fast} }
  gcp-sa: { type: vertex, project: emu-project, location: us-central1, endpoint_url: "${gcpSa.baseURL}", service_account_file: "${saFile}", timeouts: ${fast} }
  gcp-meta: { type: vertex, project: emu-project, location: us-central1, endpoint_url: "${gcpMeta.baseURL}", metadata_server: true, metadata_url: "${gcpMeta.metadataURL}", timeouts: ${fast} }
  aws: { type: bedrock, region: us-east-1, endpoint_url: "${aws.baseURL}", timeouts: ${fast} }
models:
  azure-cc: [ { provider: az-cc, model: dep-cc } ]
  azure-mi: [ { provider: az-mi, model: dep-mi } ]
  vertex-sa: [ { provider: gcp-sa, model: gemini-2.5-flash } ]
  vertex-meta: [ { provider: gcp-meta, model: gemini-2.5-flash } ]
  bedrock: [ { provider: aws, model: "anthropic.claude-3-haiku-20240307-v1:0" } ]
`,
  });
});

after(async () => {
  await gw?.stop();
  await Promise.all([az?.close(), gcpSa?.close(), gcpMeta?.close(), aws?.close(), container?.close()]);
});

// 40 first requests at once, each on its own connection; returns the
// workers that served them (from the request ids: cmx-<8 hex><worker><seq>).
async function burst(model) {
  const results = await Promise.all(
    Array.from({ length: CONCURRENT }, (_, i) => httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody(model, `hello ${i}`), timeoutMs: 15000 })),
  );
  for (const r of results) assert.equal(r.status, 200, `${model}: ${r.status} ${r.body}`);
  return new Set(results.map((r) => r.headers['x-request-id'].slice(12, 14)));
}

const cases = [
  ['azure-cc', 'Entra ID client credentials', () => az.stats().azure.token_requests],
  ['azure-mi', 'Azure managed identity (IMDS)', () => az.stats().azure.imds_requests],
  ['vertex-sa', 'a Google service account', () => gcpSa.stats().token_calls],
  ['vertex-meta', 'the Google metadata server', () => gcpMeta.stats().metadata_calls],
  ['bedrock', 'the AWS container credentials endpoint', () => container.calls.n],
];

for (const [model, what, calls] of cases) {
  test(`${what}: ${CONCURRENT} concurrent first requests on ${WORKERS} workers fetch one token`, async () => {
    assert.equal(calls(), 0);
    const workers = await burst(model);
    assert.ok(workers.size >= 2, `all requests landed on one worker (${[...workers]}): nothing shared was proven`);
    assert.equal(calls(), 1, `${what} was asked ${calls()} times`);
    // Later requests, on any worker, use the cached token.
    await burst(model);
    assert.equal(calls(), 1);
  });
}
