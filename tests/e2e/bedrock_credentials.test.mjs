// bedrock_credentials.test.mjs — the bedrock provider with no keys in its
// config, taking them from the AWS credential chain as an ECS task or an
// EKS Pod Identity pod would: AWS_CONTAINER_CREDENTIALS_FULL_URI points at a
// small credentials endpoint this test runs, which wants its authorization
// token and hands out short-lived keys.  The Bedrock emulator was started
// with those same keys and checks every SigV4 signature, so a chat that
// succeeds proves the keys fetched are the keys signed with; the endpoint's
// hit count proves they were cached across requests.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { assertOpenAIError, chatBody, httpRequest, startCloudmux } from './helpers.mjs';

const CREDS = { accessKeyId: 'ASIACONTAINER0E2E', secretAccessKey: 'container-SECRET-e2e-71b3', sessionToken: 'CONTAINER-SESSION-e2e-5d0' };
const AUTH = 'pod-identity-AUTH-token-39af';
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

// Everything else in the chain switched off, whatever the machine has.
const QUIET_CHAIN = {
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_SESSION_TOKEN: '',
  AWS_ROLE_ARN: '',
  AWS_WEB_IDENTITY_TOKEN_FILE: '',
  AWS_PROFILE: '',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
  AWS_CONFIG_FILE: '/nonexistent/config',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '',
  AWS_EC2_METADATA_DISABLED: 'true',
};

// `keyFor(n)` is the access key id handed out at the n-th call (from 1).
function startCredentialsEndpoint(keyFor = () => CREDS.accessKeyId) {
  const hits = [];
  const server = createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    if (req.headers.authorization !== AUTH) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"message":"missing or wrong authorization"}');
      return;
    }
    const expiration = new Date(Date.now() + 3600 * 1000).toISOString();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ AccessKeyId: keyFor(hits.length), SecretAccessKey: CREDS.secretAccessKey, Token: CREDS.sessionToken, Expiration: expiration }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/v1/credentials?id=pod`, hits, close: () => new Promise((r) => server.close(r)) });
    }),
  );
}

const config = (aws) => `
providers:
  aws:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    timeouts: { connect: 1s, first_byte: 2s, idle: 2s, total: 10s }
models:
  claude: { targets: [ { provider: aws, model: "${MODEL}" } ] }
`;

let aws;
let endpoint;
let gw;

before(async () => {
  aws = await startBedrock(CREDS);
  endpoint = await startCredentialsEndpoint();
  gw = await startCloudmux({
    env: { ...QUIET_CHAIN, AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url, AWS_CONTAINER_AUTHORIZATION_TOKEN: AUTH },
    configYaml: config(aws),
  });
});

after(async () => {
  await gw?.stop();
  await aws?.close();
  await endpoint?.close();
});

describe('bedrock with keys from the container credentials endpoint', () => {
  test('chats succeed, signed with the fetched keys, and the endpoint is asked once', async () => {
    const answers = await Promise.all([1, 2, 3].map((i) => httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('claude', `hello ${i}`) })));
    for (const r of answers) assert.equal(r.status, 200, r.body);
    for (let i = 4; i <= 5; i++) {
      const r = await httpRequest(`${gw.baseURL}/chat/completions`, { body: chatBody('claude', `again ${i}`) });
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).choices[0].message.content, `echo: again ${i}`);
    }
    assert.equal(endpoint.hits.length, 1, JSON.stringify(endpoint.hits));
    assert.equal(endpoint.hits[0].method, 'GET');
    assert.equal(endpoint.hits[0].url, '/v1/credentials?id=pod');
    assert.equal(endpoint.hits[0].authorization, AUTH);
    const recs = aws.stats().requests;
    assert.equal(recs.length, 5);
    for (const rec of recs) {
      assert.equal(rec.auth, 'ok');
      assert.equal(rec.headers['x-amz-security-token'], CREDS.sessionToken);
    }
  });

  test('no key or token shows in the gateway output', () => {
    const out = gw.stdout() + gw.stderr();
    for (const secret of [CREDS.secretAccessKey, CREDS.sessionToken, AUTH]) assert.ok(!out.includes(secret), `output leaks ${secret}`);
  });
});

test('an unreachable endpoint is provider_auth naming the container source, with no secret', async () => {
  const bad = await startCloudmux({
    env: { ...QUIET_CHAIN, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:1/creds', AWS_CONTAINER_AUTHORIZATION_TOKEN: AUTH },
    configYaml: config(aws),
  });
  try {
    const r = await httpRequest(`${bad.baseURL}/chat/completions`, { body: chatBody('claude', 'x') });
    assert.ok(r.status >= 400, r.body);
    const e = assertOpenAIError(assert, r.body);
    assert.match(e.message, /no AWS credentials: container \(127\.0\.0\.1\)/);
    assert.ok(!r.body.includes(AUTH));
    assert.ok(!(bad.stdout() + bad.stderr()).includes(AUTH));
  } finally {
    await bad.stop();
  }
});

test('keys AWS calls unknown (revoked, rotated) are fetched anew for the next request', async () => {
  const rotating = await startCredentialsEndpoint((n) => (n === 1 ? 'ASIAREVOKEDKEY0' : CREDS.accessKeyId));
  const gw2 = await startCloudmux({
    env: { ...QUIET_CHAIN, AWS_CONTAINER_CREDENTIALS_FULL_URI: rotating.url, AWS_CONTAINER_AUTHORIZATION_TOKEN: AUTH },
    configYaml: config(aws),
  });
  try {
    const first = await httpRequest(`${gw2.baseURL}/chat/completions`, { body: chatBody('claude', 'x') });
    assert.ok(first.status >= 400, first.body);
    assert.match(assertOpenAIError(assert, first.body).message, /rejected the credentials.*UnrecognizedClientException/);
    const second = await httpRequest(`${gw2.baseURL}/chat/completions`, { body: chatBody('claude', 'y') });
    assert.equal(second.status, 200, second.body);
    assert.equal(rotating.hits.length, 2);
  } finally {
    await gw2.stop();
    await rotating.close();
  }
});
