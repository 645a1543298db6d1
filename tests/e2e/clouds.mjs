// clouds.mjs — every cloud's emulator at once, and cloudmux's providers for
// them, for the tests of the client APIs (Anthropic's Messages API and
// OpenAI's Responses API) that run one request against each target type.
//
// startClouds() starts the Anthropic, Bedrock, Vertex, Azure and OpenAI
// emulators (each held to its official SDK by its emulator_*.test.mjs),
// writes the Vertex service-account key, and hands back the YAML of one
// provider per cloud plus the environment holding their credentials.
// TARGETS names one group per target type; groups() writes them.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startEmulator as startAnthropic } from '../emulators/anthropic/index.mjs';
import { startEmulator as startAzure } from '../emulators/azure/index.mjs';
import { startEmulator as startBedrock } from '../emulators/bedrock/index.mjs';
import { startEmulator as startOpenAI } from '../emulators/openai/index.mjs';
import { makeServiceAccount, startEmulator as startVertex } from '../emulators/vertex/index.mjs';
import { startCloudmux, tempDir } from './helpers.mjs';

export const ANTHROPIC_KEY = 'sk-ant-clouds-SECRET-41';
export const AZURE_KEY = 'azure-clouds-SECRET-42';
export const AWS = { accessKeyId: 'AKIDCLOUDS0001', secretAccessKey: 'clouds-SECRET-43', sessionToken: 'clouds-session-44' };

// The model of each target type, as the target names it upstream.
export const MODELS = {
  anthropic: 'claude-emulated',
  bedrock: 'anthropic.claude-3-haiku-20240307-v1:0',
  bedrockConverse: 'meta.llama3-8b-instruct-v1:0',
  vertexClaude: 'claude-sonnet-4@20250514',
  gemini: 'gemini-2.5-flash',
  azure: 'my-gpt4o',
  openai: 'gpt-4o-mini',
};

// One group per target type: its name, provider and model.
export const TARGETS = [
  { group: 'via-anthropic', provider: 'claude', model: MODELS.anthropic, claude: true },
  { group: 'via-bedrock', provider: 'aws', model: MODELS.bedrock, claude: true },
  { group: 'via-vertex-claude', provider: 'gcp', model: MODELS.vertexClaude, claude: true },
  { group: 'via-gemini', provider: 'gcp', model: MODELS.gemini },
  { group: 'via-azure', provider: 'az', model: MODELS.azure },
  { group: 'via-openai', provider: 'oa', model: MODELS.openai },
];

export function groups(list = TARGETS) {
  return list.map((t) => `  ${t.group}: { targets: [ { provider: ${t.provider}, model: "${t.model}"${t.price ? `, price: ${t.price}` : ''} } ] }`).join('\n');
}

export async function startClouds() {
  const sa = makeServiceAccount();
  const [anthropic, aws, gcp, azure, openai] = await Promise.all([
    startAnthropic({ key: ANTHROPIC_KEY }),
    startBedrock(AWS),
    startVertex({ serviceAccount: sa }),
    startAzure({ key: AZURE_KEY }),
    startOpenAI(),
  ]);
  const dir = tempDir('cmx-clouds-');
  const saFile = join(dir, 'sa.json');
  writeFileSync(saFile, JSON.stringify({ ...sa, token_uri: gcp.tokenURL }), { mode: 0o600 });
  const fast = '{ connect: 1s, first_byte: 3s, idle: 3s, total: 15s }';
  const providers = `
  claude: { type: anthropic, base_url: "${anthropic.baseURL}", api_key: env:CMX_TEST_ANTHROPIC_KEY, timeouts: ${fast} }
  aws:
    type: bedrock
    region: us-east-1
    endpoint_url: "${aws.baseURL}"
    access_key_id: env:CMX_TEST_AWS_ID
    secret_access_key: env:CMX_TEST_AWS_SECRET
    session_token: env:CMX_TEST_AWS_TOKEN
    timeouts: ${fast}
  gcp: { type: vertex, project: emu-project, location: us-east5, endpoint_url: "${gcp.baseURL}", service_account_file: "${saFile}", timeouts: ${fast} }
  az: { type: azure, endpoint: "${azure.endpoint}", api_key: env:CMX_TEST_AZURE_KEY, timeouts: ${fast} }
  oa: { type: openai, base_url: "${openai.baseURL}", timeouts: ${fast} }
`;
  const env = {
    CMX_TEST_ANTHROPIC_KEY: ANTHROPIC_KEY,
    CMX_TEST_AZURE_KEY: AZURE_KEY,
    CMX_TEST_AWS_ID: AWS.accessKeyId,
    CMX_TEST_AWS_SECRET: AWS.secretAccessKey,
    CMX_TEST_AWS_TOKEN: AWS.sessionToken,
  };
  return {
    anthropic,
    aws,
    gcp,
    azure,
    openai,
    providers,
    env,
    close: () => Promise.all([anthropic.close(), aws.close(), gcp.close(), azure.close(), openai.close()]),
  };
}

// cloudmux in front of the clouds: every target's group (list, priced as
// it says), client and admin keys, a 256 KiB body limit, and the extra
// providers and groups given as YAML lines.
export function startGateway(clouds, { list = TARGETS, clientKey, adminKey, providers = '', models = '' }) {
  return startCloudmux({
    env: clouds.env,
    configYaml: `
server:
  api_keys: [ "${clientKey}" ]
  admin_keys: [ "${adminKey}" ]
  max_body_bytes: 256KiB
providers:${clouds.providers}${providers}
models:
${groups(list)}
${models}`,
  });
}
