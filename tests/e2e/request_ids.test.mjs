// request_ids.test.mjs — one request followed across the gateway and the
// provider: the gateway's request id (the client's x-request-id, or one it
// makes) goes upstream where the provider takes a caller's id (OpenAI's
// X-Client-Request-Id, Azure's x-ms-client-request-id), and the provider's
// own id (x-request-id, request-id, x-amzn-requestid) comes back as
// x-cloudmux-upstream-request-id and in the access log beside ours.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { chatBody, httpRequest, startCloudmux, waitFor } from './helpers.mjs';

const AWS = { accessKeyId: 'AKIDREQUESTIDS0E2E', secretAccessKey: 'request-ids-SECRET-e2e-4b1' };
let oa;
let az;
let an;
let br;
let gw;

before(async () => {
  oa = await startOpenAI();
  az = await startAzure({ key: 'az-key-SECRET-e2e' });
  an = await startAnthropic({ key: 'an-key-SECRET-e2e' });
  br = await startBedrock(AWS);
  gw = await startCloudmux({
    env: { AZ_KEY: 'az-key-SECRET-e2e', AN_KEY: 'an-key-SECRET-e2e', RI_AWS_ID: AWS.accessKeyId, RI_AWS_SECRET: AWS.secretAccessKey },
    configYaml: `
providers:
  oa: { type: openai, base_url: "${oa.baseURL}" }
  az: { type: azure, endpoint: "${az.endpoint}", api_key: env:AZ_KEY }
  an: { type: anthropic, base_url: "${an.baseURL}", api_key: env:AN_KEY }
  br: { type: bedrock, region: us-east-1, endpoint_url: "${br.baseURL}", access_key_id: env:RI_AWS_ID, secret_access_key: env:RI_AWS_SECRET }
models:
  openai: [ { provider: oa, model: gpt-4o-mini } ]
  azure: [ { provider: az, model: dep } ]
  claude: [ { provider: an, model: claude-sonnet-4-5 } ]
  bedrock: [ { provider: br, model: "anthropic.claude-3-haiku-20240307-v1:0" } ]
  failing: [ { provider: oa, model: "gpt-4o-mini+fault:status=400" } ]
`,
  });
});

after(async () => {
  await gw?.stop();
  await Promise.all([oa?.close(), az?.close(), an?.close(), br?.close()]);
});

const logFor = (id) => waitFor(() => gw.accessLog().find((l) => l.request_id === id), { what: `the log line of ${id}` });

test('openai: our id goes upstream as X-Client-Request-Id, theirs comes back and is logged', async () => {
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('openai', 'hi'), headers: { 'x-request-id': 'trace-abc-123' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-request-id'], 'trace-abc-123');
  const rec = oa.stats().requests.at(-1);
  assert.equal(rec.x_client_request_id, 'trace-abc-123');
  assert.match(rec.response_request_id, /^req_/);
  assert.equal(r.headers['x-cloudmux-upstream-request-id'], rec.response_request_id);
  const line = await logFor('trace-abc-123');
  assert.equal(line.upstream_request_id, rec.response_request_id);

  // A generated id goes upstream too, and streams carry the header as well.
  const s = await httpRequest(`${gw.baseURL}/chat/completions`, { body: { ...chatBody('openai', 'streamed'), stream: true } });
  const srec = oa.stats().requests.at(-1);
  assert.match(s.headers['x-request-id'], /^cmx-/);
  assert.equal(srec.x_client_request_id, s.headers['x-request-id']);
  assert.equal(s.headers['x-cloudmux-upstream-request-id'], srec.response_request_id);
});

test('azure: our id goes upstream as x-ms-client-request-id', async () => {
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('azure', 'hi'), headers: { 'x-request-id': 'trace-azure-1' } });
  assert.equal(r.status, 200);
  assert.equal(az.stats().azure.requests.at(-1).client_request_id, 'trace-azure-1');
  assert.ok(r.headers['x-cloudmux-upstream-request-id'], 'no upstream id from azure');
});

test("anthropic and bedrock: the provider's request-id / x-amzn-requestid come back", async () => {
  const a = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('claude', 'hi'), headers: { 'x-request-id': 'trace-claude-1' } });
  assert.equal(a.status, 200);
  assert.match(a.headers['x-cloudmux-upstream-request-id'], /^req_/);
  assert.equal((await logFor('trace-claude-1')).upstream_request_id, a.headers['x-cloudmux-upstream-request-id']);
  const b = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('bedrock', 'hi') });
  assert.equal(b.status, 200);
  assert.equal(b.headers['x-cloudmux-upstream-request-id'], 'emulated-request');
});

test("a failed attempt's upstream id is in the error's attempt list", async () => {
  const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('failing', 'hi') });
  assert.equal(r.status, 400);
  const rec = oa.stats().requests.at(-1);
  assert.equal(JSON.parse(r.body).error.attempts[0].upstream_request_id, rec.response_request_id);
  assert.equal(r.headers['x-cloudmux-upstream-request-id'], rec.response_request_id);
});
