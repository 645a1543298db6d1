// claude_code_session.test.mjs — a Claude-Code-like session through cloudmux
// to Claude on Bedrock and on Vertex.
//
// fixtures/claude_code_session.json holds one turn of a coding session in
// the shapes Claude Code sends and receives: the system prompt in cached
// blocks, a dozen tools, thinking, tool_use / tool_result turns, the
// anthropic-beta header, and the streamed answer — thinking, text and an
// Edit call whose input comes in fragments — with prompt-cache usage in its
// message_start.  The Bedrock and Vertex emulators replay that answer (at
// a pace, as a model streams) to whatever cloudmux sends them, and this
// test holds cloudmux to what users of other gateways find broken: every
// event arrives in order and unchanged, with its event name; exactly one
// message_start, its cache usage intact; the tool input streamed as
// input_json_delta as it arrives — the first fragment reaches the client
// before the upstream has finished sending — never gathered first; and the
// request reached the cloud as that cloud wants it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import Anthropic from '@anthropic-ai/sdk';

import { MODELS, startClouds } from './clouds.mjs';
import { startCloudmux } from './helpers.mjs';

const session = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures/claude_code_session.json'), 'utf8'));
const PACE_MS = 40; // between the replayed events, as a model streams
let clouds;
let gw;

before(async () => {
  clouds = await startClouds();
  gw = await startCloudmux({
    env: clouds.env,
    configYaml: `
providers:${clouds.providers}
models:
  claude-on-bedrock: { targets: [ { provider: aws, model: "${MODELS.bedrock}" } ] }
  claude-on-vertex: { targets: [ { provider: gcp, model: "${MODELS.vertexClaude}" } ] }
`,
  });
});

after(async () => {
  await gw?.stop();
  await clouds?.close();
});

// POSTs the session's request and reads the SSE stream as it comes: each
// event with its name, its data and the moment (performance.now()) it was
// complete at the client.
function streamSession(model) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ ...session.request, model });
    const req = http.request(`${gw.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { ...session.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': 'unused' },
      agent: false,
    });
    const events = [];
    let pending = '';
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const at = performance.now();
        pending += chunk;
        let cut;
        while ((cut = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, cut);
          pending = pending.slice(cut + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data) events.push({ name, data: JSON.parse(data), at });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, events, rest: pending }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

for (const [cloud, group] of [
  ['bedrock', 'claude-on-bedrock'],
  ['vertex', 'claude-on-vertex'],
]) {
  describe(`a Claude-Code-like session through cloudmux to Claude on ${cloud}`, () => {
    test('every event in order and unchanged, exactly one message_start with its cache usage, tool input streamed as it arrives', async () => {
      const emu = cloud === 'bedrock' ? clouds.aws : clouds.gcp;
      const replay = emu.setReplay({ events: session.events, interval_ms: PACE_MS });
      const r = await streamSession(group);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^text\/event-stream/);
      assert.equal(r.rest, '');
      // every event, in order, as Claude sent it, named by its type
      assert.deepEqual(r.events.map((e) => e.data), session.events);
      assert.deepEqual(r.events.map((e) => e.name), session.events.map((e) => e.type));
      assert.equal(r.events.filter((e) => e.name === 'message_start').length, 1);
      assert.deepEqual(r.events[0].data.message.usage, { input_tokens: 4, cache_creation_input_tokens: 1432, cache_read_input_tokens: 18236, output_tokens: 1, service_tier: 'standard' });
      // the tool input, fragment by fragment, and it parses into the Edit call
      const fragments = r.events.filter((e) => e.data.delta?.type === 'input_json_delta');
      assert.equal(fragments.length, session.events.filter((e) => e.delta?.type === 'input_json_delta').length);
      assert.deepEqual(JSON.parse(fragments.map((e) => e.data.delta.partial_json).join('')), session.edit_input);
      // not buffered: the first fragment was at the client while the upstream was still sending
      const firstFragment = fragments.find((e) => e.data.delta.partial_json !== '');
      assert.ok(replay.finished_at > 0, 'the replay finished');
      assert.ok(
        firstFragment.at < replay.finished_at - 3 * PACE_MS,
        `the first input_json_delta reached the client at ${firstFragment.at.toFixed(0)} ms, the upstream finished at ${replay.finished_at.toFixed(0)} ms`,
      );
      assert.ok(r.events[0].at < replay.finished_at - 20 * PACE_MS, 'message_start reached the client long before the upstream finished');
    });

    test('the request reached the cloud as it wants it: its version, no model, the betas, everything else as Claude Code wrote it', async () => {
      const emu = cloud === 'bedrock' ? clouds.aws : clouds.gcp;
      const replay = emu.setReplay({ events: session.events, interval_ms: 0 });
      await streamSession(group);
      const sent = replay.body;
      const { model: _, ...rest } = session.request;
      if (cloud === 'bedrock') {
        assert.equal(sent.anthropic_version, 'bedrock-2023-05-31');
        assert.deepEqual(sent.anthropic_beta, session.headers['anthropic-beta'].split(','));
        const { stream: _s, ...withoutStream } = rest;
        assert.deepEqual({ ...sent, anthropic_version: undefined, anthropic_beta: undefined }, { ...withoutStream, anthropic_version: undefined, anthropic_beta: undefined });
      } else {
        // the Vertex emulator hands the body on without anthropic_version, as checked
        assert.equal(sent.model, MODELS.vertexClaude); // its planner's view: the model from the URL
        const { model: _m, ...sentRest } = sent;
        assert.deepEqual(sentRest, rest);
        const rec = clouds.gcp.stats().requests.at(-1);
        assert.match(rec.path, new RegExp(`/publishers/anthropic/models/${MODELS.vertexClaude}:streamRawPredict$`));
        assert.equal(rec.body.anthropic_version, 'vertex-2023-10-16');
        assert.equal(rec.body.model, undefined);
      }
    });

    test('the official SDK\'s stream helper rebuilds the whole answer from it', async () => {
      const emu = cloud === 'bedrock' ? clouds.aws : clouds.gcp;
      emu.setReplay({ events: session.events, interval_ms: 0 });
      const client = new Anthropic({ apiKey: 'unused', baseURL: gw.url, maxRetries: 0 });
      const { stream: _, ...request } = session.request;
      const final = await client.messages.stream({ ...request, model: group }, { headers: { 'anthropic-beta': session.headers['anthropic-beta'] } }).finalMessage();
      assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
      assert.equal(final.content[0].signature, session.events.find((e) => e.delta?.type === 'signature_delta').delta.signature);
      assert.deepEqual(final.content[2].input, session.edit_input);
      assert.equal(final.stop_reason, 'tool_use');
      assert.equal(final.usage.cache_read_input_tokens, 18236);
      assert.equal(final.usage.output_tokens, 187);
    });
  });
}
