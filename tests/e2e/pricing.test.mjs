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
// The cascade test: a prompt of 10 words, 9 of them cached, whose answer the
// cascade rejects.  Its cost is (1 * 1000 + 9 * 10) / 1e6 = 0.00109 USD with
// the cached price, 0.01 USD if cached tokens were charged at the input
// price; the caps sit just under and just over the first.
const CACHED_PRICE = { input: 1000, output: 0, cached_input: 10 };
const CASCADE_PROMPT = 'please escalate this question to a much bigger model now [[cached:9]]';
const CAP_UNDER = 0.00105;
const CAP_OVER = 0.00115;

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
  # the cascade's spend cap, just under and just over what the first answer
  # costs with its cached tokens (see the test below)
  climb_under:
    strategy: cascade
    cascade: { refusal_prefixes: ["echo: please escalate"], max_cost_usd: ${CAP_UNDER} }
    targets:
      - { provider: emu, model: house-model, price: { input: ${CACHED_PRICE.input}, output: ${CACHED_PRICE.output}, cached_input: ${CACHED_PRICE.cached_input} } }
      - { provider: emu, model: house-model-bigger }
  climb_over:
    strategy: cascade
    cascade: { refusal_prefixes: ["echo: please escalate"], max_cost_usd: ${CAP_OVER} }
    targets:
      - { provider: emu, model: house-model, price: { input: ${CACHED_PRICE.input}, output: ${CACHED_PRICE.output}, cached_input: ${CACHED_PRICE.cached_input} } }
      - { provider: emu, model: house-model-bigger }
  cached_direct:
    targets:
      - { provider: emu, model: house-model, price: { input: ${CACHED_PRICE.input}, output: ${CACHED_PRICE.output}, cached_input: ${CACHED_PRICE.cached_input} } }
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

describe('one cost formula', () => {
  // The client's header and the cascade's spend cap charge through one
  // function: with cached tokens in the usage, the header's cost is exactly
  // what the cascade counts against max_cost_usd.
  test('the cascade spend cap counts cached tokens as x-cloudmux-cost-usd does', async () => {
    const { data, response } = await client.chat.completions
      .create(chatBody('cached_direct', CASCADE_PROMPT))
      .withResponse();
    assert.equal(data.usage.prompt_tokens_details.cached_tokens, 9);
    const cost = expectedCost(CACHED_PRICE, data.usage);
    assert.equal(response.headers.get('x-cloudmux-cost-usd'), usd(cost));
    assert.ok(CAP_UNDER < cost && cost < CAP_OVER, `the caps bracket ${cost}`);
    // cap just over the first answer's cost: the cascade may escalate
    const over = await client.chat.completions.create(chatBody('climb_over', CASCADE_PROMPT)).withResponse();
    assert.equal(over.data.model, 'house-model-bigger', 'escalated: spent ' + usd(cost) + ' < cap');
    // cap just under it: the cascade stops and keeps the first answer
    const under = await client.chat.completions.create(chatBody('climb_under', CASCADE_PROMPT)).withResponse();
    assert.equal(under.data.model, 'house-model', 'kept: spent ' + usd(cost) + ' > cap');
  });
});

