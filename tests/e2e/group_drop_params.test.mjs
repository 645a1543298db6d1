// group_drop_params.test.mjs — `drop_unsupported_params` on a model group.
//
// The same strict providers (they leave drop_unsupported_params unset) serve
// two groups: one with the group key on, one without.  A parameter the
// provider's API does not have (n=2) is dropped for the first group and
// answered with a 400 naming it for the second, and the upstream never sees
// it.  Anthropic, Bedrock and Vertex each translate, so each is checked.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { startCloudmux } from './helpers.mjs';

const KEY = 'sk-ant-group-drop';
const AWS = { accessKeyId: 'AKIDGROUPDROP001', secretAccessKey: 'group-drop-SECRET' };
const BEDROCK_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
let claude;
let aws;
let vertex;
let gw;
let client;

before(async () => {
  claude = await startAnthropic({ key: KEY });
  aws = await startBedrock(AWS);
  vertex = await startVertex({});
  gw = await startCloudmux({
    env: { CMX_TEST_ANT_KEY: KEY, CMX_TEST_AWS_ID: AWS.accessKeyId, CMX_TEST_AWS_SECRET: AWS.secretAccessKey },
    configYaml: `
providers:
  claude: { type: anthropic, base_url: "${claude.baseURL}", api_key: env:CMX_TEST_ANT_KEY }
  aws: { type: bedrock, region: us-east-1, endpoint_url: "${aws.baseURL}", access_key_id: env:CMX_TEST_AWS_ID, secret_access_key: env:CMX_TEST_AWS_SECRET }
  gemini: { type: vertex, project: p, endpoint_url: "${vertex.baseURL}", metadata_server: true, metadata_url: "${vertex.metadataURL}" }
models:
  claude-lenient: { drop_unsupported_params: true, targets: [ { provider: claude, model: claude-haiku-4-5 } ] }
  claude-strict: { targets: [ { provider: claude, model: claude-haiku-4-5 } ] }
  bedrock-lenient: { drop_unsupported_params: true, targets: [ { provider: aws, model: "${BEDROCK_MODEL}" } ] }
  bedrock-strict: { targets: [ { provider: aws, model: "${BEDROCK_MODEL}" } ] }
  gemini-lenient: { drop_unsupported_params: true, targets: [ { provider: gemini, model: gemini-2.5-flash } ] }
  gemini-strict: { drop_unsupported_params: false, targets: [ { provider: gemini, model: gemini-2.5-flash } ] }
`,
  });
  client = new OpenAI({ apiKey: 'unused', baseURL: gw.baseURL, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await gw?.stop();
  await claude?.close();
  await aws?.close();
  await vertex?.close();
});

const ask = (model) => client.chat.completions.create({ model, n: 2, messages: [{ role: 'user', content: 'two answers please' }] }).withResponse();

describe('drop_unsupported_params on a model group', () => {
  for (const [prefix, provider, sent] of [
    ['claude', 'claude', () => claude.stats().requests.length],
    ['bedrock', 'aws', () => aws.stats().requests.length],
    ['gemini', 'gemini', () => vertex.stats().requests.length],
  ]) {
    test(`a ${prefix} group with it on drops n=2 and answers`, async () => {
      const before = sent();
      const { data, response } = await ask(`${prefix}-lenient`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-cloudmux-provider'), provider);
      assert.equal(data.choices.length, 1);
      assert.equal(data.choices[0].message.content, 'echo: two answers please');
      assert.equal(sent(), before + 1);
    });

    test(`a ${prefix} group without it answers 400 naming n, and sends nothing upstream`, async () => {
      const before = sent();
      await assert.rejects(ask(`${prefix}-strict`), (e) => {
        assert.equal(e.status, 400);
        assert.match(e.message, /parameter 'n'/);
        return true;
      });
      assert.equal(sent(), before);
    });
  }

  test('the body Anthropic got has no n', async () => {
    await ask('claude-lenient');
    assert.equal(claude.stats().requests.at(-1).body.n, undefined);
  });
});
