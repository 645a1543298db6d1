// canned_answers.mjs — writes the bench upstream's answers in the formats
// cloudmux translates: an Anthropic message and its SSE stream, a Bedrock
// Converse answer and its ConverseStream (AWS event-stream frames with
// their CRC32s), a Gemini answer and its SSE stream, and a Google metadata
// server token.  Each says the same ~60-byte text as the OpenAI answers of
// bench/nginx/upstream.conf, so the scenarios differ only in translation.
//   node bench/canned_answers.mjs DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/canned_answers.mjs DIR');
  process.exit(2);
}
mkdirSync(join(dir, 'json'), { recursive: true });
mkdirSync(join(dir, 'sse'), { recursive: true });
mkdirSync(join(dir, 'eventstream'), { recursive: true });

const text = 'Hello! This is a canned answer from the benchmark upstream.';
const pieces = ['Hello', '!', ' This', ' is', ' a', ' canned', ' stream', '.'];
const sse = (events) => events.map(([name, data]) =>
  (name ? `event: ${name}\n` : '') + `data: ${JSON.stringify(data)}\n\n`).join('');

// ---- Anthropic Messages ------------------------------------------------------
const msg = { id: 'msg_bench0001', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5' };
writeFileSync(join(dir, 'json', 'anthropic.json'), JSON.stringify({
  ...msg, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
  usage: { input_tokens: 212, output_tokens: 12 },
}));
writeFileSync(join(dir, 'sse', 'anthropic.sse'), sse([
  ['message_start', { type: 'message_start', message: { ...msg, content: [], stop_reason: null,
    stop_sequence: null, usage: { input_tokens: 212, output_tokens: 1 } } }],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
  ...pieces.map((p) => ['content_block_delta',
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } }]),
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 8 } }],
  ['message_stop', { type: 'message_stop' }],
]));

// ---- Bedrock Converse ----------------------------------------------------------
writeFileSync(join(dir, 'json', 'converse.json'), JSON.stringify({
  output: { message: { role: 'assistant', content: [{ text }] } }, stopReason: 'end_turn',
  usage: { inputTokens: 212, outputTokens: 12, totalTokens: 224 }, metrics: { latencyMs: 120 },
}));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
// One event-stream message: prelude (total, headers length, CRC), string
// headers (type 7), payload, message CRC.
const frame = (eventType, payload) => {
  const headers = Buffer.concat([[':event-type', eventType], [':content-type', 'application/json'],
    [':message-type', 'event']].map(([name, value]) => {
    const n = Buffer.from(name), v = Buffer.from(value);
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0); n.copy(h, 1); h.writeUInt8(7, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length); v.copy(h, 4 + n.length);
    return h;
  }));
  const body = Buffer.from(JSON.stringify(payload));
  const total = 12 + headers.length + body.length + 4;
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(total, 0); prelude.writeUInt32BE(headers.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const msgNoCrc = Buffer.concat([prelude, headers, body]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(msgNoCrc), 0);
  return Buffer.concat([msgNoCrc, crc]);
};
writeFileSync(join(dir, 'eventstream', 'converse-stream.bin'), Buffer.concat([
  frame('messageStart', { role: 'assistant' }),
  ...pieces.map((p) => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: p } })),
  frame('contentBlockStop', { contentBlockIndex: 0 }),
  frame('messageStop', { stopReason: 'end_turn' }),
  frame('metadata', { usage: { inputTokens: 212, outputTokens: 8, totalTokens: 220 }, metrics: { latencyMs: 120 } }),
]));

// ---- Gemini ----------------------------------------------------------------------
const usage = { promptTokenCount: 212, candidatesTokenCount: 12, totalTokenCount: 224 };
writeFileSync(join(dir, 'json', 'gemini.json'), JSON.stringify({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP' }],
  usageMetadata: usage, modelVersion: 'gemini-2.5-flash', responseId: 'bench0001',
}));
writeFileSync(join(dir, 'sse', 'gemini.sse'), sse(pieces.map((p, i) => [null, {
  candidates: [{ content: { role: 'model', parts: [{ text: p }] },
    ...(i === pieces.length - 1 ? { finishReason: 'STOP' } : {}) }],
  ...(i === pieces.length - 1 ? { usageMetadata: usage } : {}),
  modelVersion: 'gemini-2.5-flash', responseId: 'bench0002',
}])));
writeFileSync(join(dir, 'json', 'token.json'),
  JSON.stringify({ access_token: 'ya29.bench-token', expires_in: 3600, token_type: 'Bearer' }));
