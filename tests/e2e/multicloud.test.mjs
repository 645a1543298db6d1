// multicloud.test.mjs — the shipped examples/multicloud.yaml, run against
// every cloud's emulator and driven with the official `openai` client.
//
// What is under test is the example's routing itself, so the config is not
// a copy: the test reads examples/multicloud.yaml and changes only where
// each provider is (its endpoint, plus the Vertex metadata server's URL),
// with a small line-based edit inside each provider's block.  Credentials
// stay the example's env: references; the test sets those variables to what
// the emulators accept.  The `models:` section is asserted byte-identical to
// the example's, so the groups, targets, fallbacks, retries and breakers
// exercised here are exactly the shipped ones and cannot drift.
//
// Bedrock's emulator injects faults only through the model id
// ("<model>+fault:status=429"), so the throttling case runs a second gateway
// whose one edit beyond endpoints is that suffix on the Bedrock target.
// Vertex is taken down with its emulator's run fault (every call 503).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { REPO_ROOT, startCloudmux } from './helpers.mjs';

const EXAMPLE = readFileSync(join(REPO_ROOT, 'examples/multicloud.yaml'), 'utf8');
const CLIENT_KEY = 'cmx-multicloud-client-key';
const AZURE_KEY = 'az-multicloud-key';
const ANTHROPIC_KEY = 'sk-ant-multicloud';
const AWS = { accessKeyId: 'AKIDMULTICLOUD01', secretAccessKey: 'aws-multicloud-SECRET' };
const ENV = {
  CLOUDMUX_CLIENT_KEY: CLIENT_KEY,
  AZURE_OPENAI_API_KEY: AZURE_KEY,
  ANTHROPIC_API_KEY: ANTHROPIC_KEY,
  AWS_ACCESS_KEY_ID: AWS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: AWS.secretAccessKey,
};

// Sets `key: value` in the block of provider `name` under the top-level
// `providers:` mapping (replacing the key's line when it is there, otherwise
// adding it after `type:`), keeping everything else as written.
function setProviderKey(yaml, name, key, value) {
  const lines = yaml.split('\n');
  const top = lines.indexOf('providers:');
  assert.notEqual(top, -1, 'the example has a providers section');
  let start = -1;
  for (let i = top + 1; i < lines.length && !/^\S/.test(lines[i]); i++)
    if (lines[i] === `  ${name}:`) start = i;
  assert.notEqual(start, -1, `the example defines provider ${name}`);
  let end = start + 1;
  while (end < lines.length && (lines[end] === '' || /^\s*#/.test(lines[end]) || /^ {4}/.test(lines[end]))) end++;
  const line = `    ${key}: ${JSON.stringify(value)}`;
  const at = lines.slice(start + 1, end).findIndex((l) => l.startsWith(`    ${key}:`));
  if (at !== -1) {
    lines[start + 1 + at] = line;
  } else {
    const type = lines.slice(start + 1, end).findIndex((l) => l.startsWith('    type:'));
    assert.notEqual(type, -1, `provider ${name} has a type`);
    lines.splice(start + 2 + type, 0, line);
  }
  return lines.join('\n');
}

const modelsSection = (yaml) => yaml.slice(yaml.indexOf('\nmodels:\n'));

let az;
let aws;
let vertex;
let claude;
let gw;
let client;

function pointAtEmulators(yaml) {
  let y = yaml;
  y = setProviderKey(y, 'azure-openai', 'endpoint', az.endpoint);
  y = setProviderKey(y, 'bedrock', 'endpoint_url', aws.baseURL);
  y = setProviderKey(y, 'vertex', 'endpoint_url', vertex.baseURL);
  y = setProviderKey(y, 'vertex', 'metadata_url', vertex.metadataURL);
  y = setProviderKey(y, 'anthropic', 'base_url', claude.baseURL);
  return y;
}

const ask = (model, text, extra = {}) =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: text }], ...extra }).withResponse();

async function streamed(c, model, text) {
  const { data: stream, response } = await c.chat.completions
    .create({ model, stream: true, messages: [{ role: 'user', content: text }] })
    .withResponse();
  let content = '';
  let finish = null;
  for await (const chunk of stream) {
    content += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  return { content, finish, response };
}

before(async () => {
  az = await startAzure({ key: AZURE_KEY });
  aws = await startBedrock(AWS);
  vertex = await startVertex({});
  claude = await startAnthropic({ key: ANTHROPIC_KEY });
  const yaml = pointAtEmulators(EXAMPLE);
  assert.equal(modelsSection(yaml), modelsSection(EXAMPLE), 'the routing is the example\'s, unchanged');
  gw = await startCloudmux({ env: ENV, configYaml: yaml });
  client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: gw.baseURL, maxRetries: 0, timeout: 20000 });
});

after(async () => {
  await gw?.stop();
  await az?.close();
  await aws?.close();
  await vertex?.close();
  await claude?.close();
});

describe('each group answers from its primary cloud', () => {
  test('coding is GPT on Azure OpenAI, by deployment and api key', async () => {
    const { data, response } = await ask('coding', 'write a loop');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'azure-openai');
    assert.equal(data.choices[0].message.content, 'echo: write a loop');
    const rec = az.stats().azure.requests.at(-1);
    assert.equal(rec.deployment, 'gpt-4o');
    assert.equal(rec.auth, 'key');
  });

  test('analysis is Claude on Bedrock, signed for eu-central-1', async () => {
    const { data, response } = await ask('analysis', 'read this report');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'bedrock');
    assert.equal(response.headers.get('x-cloudmux-fallback'), null);
    assert.equal(data.choices[0].message.content, 'echo: read this report');
    const rec = aws.stats().requests.at(-1);
    assert.equal(rec.model, 'eu.anthropic.claude-sonnet-4-20250514-v1:0');
    assert.equal(rec.auth, 'ok');
    assert.match(rec.headers.authorization, /\/eu-central-1\/bedrock\/aws4_request/);
  });

  test('simple is Gemini on Vertex, with a token from the metadata server', async () => {
    const { data, response } = await ask('simple', 'say hi');
    assert.equal(response.headers.get('x-cloudmux-provider'), 'vertex');
    assert.match(data.choices[0].message.content, /say hi/);
    const rec = vertex.stats().requests.at(-1);
    assert.equal(rec.model, 'gemini-2.5-flash');
    assert.equal(rec.project, 'my-gcp-project');
    assert.equal(rec.location, 'europe-west4');
    assert.ok(vertex.stats().metadata_calls >= 1);
  });

  test('a client without the key is refused', async () => {
    const stranger = new OpenAI({ apiKey: 'wrong', baseURL: gw.baseURL, maxRetries: 0 });
    await assert.rejects(stranger.chat.completions.create({ model: 'coding', messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 401);
  });
});

describe('streaming works for every group', () => {
  for (const [group, provider] of [
    ['coding', 'azure-openai'],
    ['analysis', 'bedrock'],
    ['simple', 'vertex'],
  ]) {
    test(`${group} streams from ${provider}`, async () => {
      const { content, finish, response } = await streamed(client, group, 'one two three');
      assert.equal(response.headers.get('x-cloudmux-provider'), provider);
      assert.match(content, /one two three/);
      assert.equal(finish, 'stop');
    });
  }
});

describe('failover across clouds', () => {
  test('Vertex down → Anthropic: simple is answered by Claude Haiku, whole and streamed', async () => {
    vertex.setFault({ spec: 'status=503' });
    try {
      const before = vertex.stats().requests.length;
      const { data, response } = await ask('simple', 'are you there');
      assert.equal(response.headers.get('x-cloudmux-provider'), 'anthropic');
      assert.equal(response.headers.get('x-cloudmux-model'), 'claude-haiku-4-5');
      assert.ok(Number(response.headers.get('x-cloudmux-attempts')) >= 2);
      assert.equal(data.choices[0].message.content, 'echo: are you there');
      const tried = vertex.stats().requests.slice(before);
      assert.ok(tried.length >= 1 && tried.every((r) => r.status === 503), 'Vertex was tried and answered 503');
      assert.equal(claude.stats().requests.at(-1).body.model, 'claude-haiku-4-5');

      const s = await streamed(client, 'simple', 'stream it please');
      assert.equal(s.response.headers.get('x-cloudmux-provider'), 'anthropic');
      assert.equal(s.content, 'echo: stream it please');
      assert.equal(s.finish, 'stop');

      // The group drops what its targets cannot do: n=2 reaches Claude without n.
      const { data: d2, response: r2 } = await ask('simple', 'two please', { n: 2 });
      assert.equal(r2.headers.get('x-cloudmux-provider'), 'anthropic');
      assert.equal(d2.choices.length, 1);
      assert.equal(claude.stats().requests.at(-1).body.n, undefined);
    } finally {
      vertex.clearFaults();
    }
  });

  test('coding falls back to Anthropic when Azure fails', async () => {
    az.setFault('status=503');
    try {
      const { data, response } = await ask('coding', 'fix this bug');
      assert.equal(response.headers.get('x-cloudmux-provider'), 'anthropic');
      assert.equal(response.headers.get('x-cloudmux-model'), 'claude-sonnet-4-5');
      assert.equal(data.choices[0].message.content, 'echo: fix this bug');
    } finally {
      az.clearFaults();
    }
  });

  test('Bedrock throttled → Azure: analysis continues in the coding group', async () => {
    const model = 'eu.anthropic.claude-sonnet-4-20250514-v1:0';
    const yaml = pointAtEmulators(EXAMPLE).replace(`model: ${model}\n`, `model: "${model}+fault:status=429"\n`);
    assert.notEqual(yaml, pointAtEmulators(EXAMPLE), 'the Bedrock target was found');
    const throttled = await startCloudmux({ env: ENV, configYaml: yaml });
    try {
      const c = new OpenAI({ apiKey: CLIENT_KEY, baseURL: throttled.baseURL, maxRetries: 0, timeout: 20000 });
      const before = aws.stats().requests.length;
      const { data, response } = await c.chat.completions
        .create({ model: 'analysis', messages: [{ role: 'user', content: 'summarise the quarter' }] })
        .withResponse();
      assert.equal(response.headers.get('x-cloudmux-provider'), 'azure-openai');
      assert.equal(response.headers.get('x-cloudmux-fallback'), 'coding');
      assert.equal(data.choices[0].message.content, 'echo: summarise the quarter');
      const tried = aws.stats().requests.slice(before);
      assert.ok(tried.length >= 1 && tried.every((r) => r.model === model && r.auth === 'ok'), 'Bedrock was asked, signed, and throttled');
      assert.equal(az.stats().azure.requests.at(-1).deployment, 'gpt-4o');

      const s = await streamed(c, 'analysis', 'stream the summary');
      assert.equal(s.response.headers.get('x-cloudmux-provider'), 'azure-openai');
      assert.equal(s.response.headers.get('x-cloudmux-fallback'), 'coding');
      assert.equal(s.content, 'echo: stream the summary');
    } finally {
      await throttled.stop();
    }
  });
});
