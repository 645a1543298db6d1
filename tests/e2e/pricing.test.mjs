// pricing.test.mjs — what each request cost, as the client and the operator
// see it.
//
// Targets priced by their own `price:` get x-cloudmux-cost-usd with exactly
// the cost of the usage the emulator reported; targets on the shipped price
// list are priced from it; a target with no price gets no header and no
// cost_usd.  Streams carry no cost header (it is sent before the usage is
// known) but their access log line has cost_usd, computed at the end.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { startEmulator } from '../emulators/openai/index.mjs';
import { REPO_ROOT, chatBody, startCloudmux, waitFor } from './helpers.mjs';

const EMU_KEY = 'sk-upstream-secret-pricing';
const PRICE = { input: 1.5, output: 4, cached_input: 0.5 }; // USD per 1M tokens
const MINI = { input: 0.15, output: 0.6 }; // gpt-4o-mini in data/pricing.yaml

let emu;
let gw;
let client;

// The gateway's text form: a plain decimal, at most 10 places, no trailing zeros.
function usd(x) {
  return x.toFixed(10).replace(/\.?0+$/, '') || '0';
}

function expectedCost(price, usage) {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return ((usage.prompt_tokens - cached) * price.input + cached * (price.cached_input ?? price.input) +
    (usage.completion_tokens ?? 0) * price.output) / 1e6;
}

async function logLine(id) {
  return waitFor(() => gw.accessLog().find((l) => l.request_id === id), { what: `access log line ${id}` });
}

before(async () => {
  emu = await startEmulator({ key: EMU_KEY });
  gw = await startCloudmux({
    env: { EMU_KEY, CLOUDMUX_PRICING: join(REPO_ROOT, 'data/pricing.yaml') },
    configYaml: `
providers:
  emu: { type: openai, base_url: "${emu.baseURL}", api_key: "env:EMU_KEY" }
models:
  priced:
    targets:
      - { provider: emu, model: house-model, price: { input: ${PRICE.input}, output: ${PRICE.output}, cached_input: ${PRICE.cached_input} } }
  listed: { targets: [ { provider: emu, model: gpt-4o-mini-2024-07-18 } ] }
  unpriced: { targets: [ { provider: emu, model: house-model-unlisted } ] }
`,
  });
  client = new OpenAI({ apiKey: 'not-checked', baseURL: gw.baseURL, maxRetries: 0, timeout: 10000 });
});

after(async () => {
  await gw?.stop();
  await emu?.close();
});

describe('cost per request', () => {
  test('a target priced in the config gets the exact cost of the reported usage', async () => {
    const text = 'what does this request cost in dollars today';
    const { data, response } = await client.chat.completions
      .create(chatBody('priced', text), { headers: { 'x-request-id': 'cost-priced-1' } })
      .withResponse();
    assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
    const want = usd(expectedCost(PRICE, data.usage));
    assert.notEqual(want, '0');
    assert.equal(response.headers.get('x-cloudmux-cost-usd'), want);
    const line = await logLine('cost-priced-1');
    assert.equal(line.cost_usd, Number(want));
    assert.equal(line.prompt_tokens, data.usage.prompt_tokens);
  });

  test('a dated snapshot of a listed model is priced from the price list', async () => {
    const { data, response } = await client.chat.completions
      .create(chatBody('listed', 'price me from the list please'), { headers: { 'x-request-id': 'cost-listed-1' } })
      .withResponse();
    const want = usd(expectedCost(MINI, data.usage));
    assert.equal(response.headers.get('x-cloudmux-cost-usd'), want);
    assert.equal((await logLine('cost-listed-1')).cost_usd, Number(want));
  });

  test('a target without a price has no cost header and no cost_usd', async () => {
    const { data, response } = await client.chat.completions
      .create(chatBody('unpriced', 'nobody knows what this costs'), { headers: { 'x-request-id': 'cost-unpriced-1' } })
      .withResponse();
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(response.headers.get('x-cloudmux-provider'), 'emu');
    assert.equal(response.headers.get('x-cloudmux-cost-usd'), null);
    const line = await logLine('cost-unpriced-1');
    assert.equal(line.prompt_tokens, data.usage.prompt_tokens, 'usage is still logged');
    assert.ok(!('cost_usd' in line), 'no cost_usd for an unpriced target');
  });

  test('a stream has its cost in the access log, computed at the end', async () => {
    const { data: stream, response } = await client.chat.completions
      .create(chatBody('priced', 'stream this answer and count it', { stream: true, stream_options: { include_usage: true } }),
        { headers: { 'x-request-id': 'cost-stream-1' } })
      .withResponse();
    let usage = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.ok(usage, 'the usage chunk arrived');
    assert.equal(response.headers.get('x-cloudmux-cost-usd'), null, 'headers leave before the usage is known');
    const line = await logLine('cost-stream-1');
    assert.equal(line.stream, true);
    assert.equal(line.cost_usd, Number(usd(expectedCost(PRICE, usage))));
  });

  test('a stream whose client did not ask for usage is still costed', async () => {
    const stream = await client.chat.completions.create(
      chatBody('priced', 'no usage requested here', { stream: true }),
      { headers: { 'x-request-id': 'cost-stream-2' } },
    );
    for await (const chunk of stream) assert.equal(chunk.usage ?? null, null);
    const line = await logLine('cost-stream-2');
    assert.ok(line.prompt_tokens > 0);
    assert.equal(line.cost_usd, Number(usd(expectedCost(PRICE, { prompt_tokens: line.prompt_tokens, completion_tokens: line.completion_tokens }))));
  });
});
