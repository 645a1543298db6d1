// emulator.mjs — a Bedrock Runtime Converse / ConverseStream emulator.
//
// It answers POST /model/{modelId}/converse and /converse-stream the way
// Bedrock does, closely enough that the official @aws-sdk/client-bedrock-
// runtime talks to it (tests/e2e/emulator_bedrock.test.mjs holds it to that):
//
// - Every request must be SigV4-signed for service "bedrock".  The emulator
//   recomputes the signature with @smithy/signature-v4 (the SDK's own
//   signer) over the headers the client says it signed, and answers AWS's
//   403 bodies when the key id is unknown (UnrecognizedClientException), the
//   session token is wrong, or the signature differs (InvalidSignatureException).
// - Streams are binary event-stream messages framed by @smithy/eventstream-
//   codec: messageStart, contentBlockStart/Delta/Stop, messageStop, metadata.
// - Answers are deterministic: "echo: <the last user text>", word-counted
//   usage, a tool call when toolChoice demands one.
// - Structured output, reasoning and caching as Converse documents them:
//   outputConfig.textFormat (a JSON schema in a string) on Claude 4.5 and
//   later, answered with JSON that follows it; Claude's thinking in
//   additionalModelRequestFields under Claude's rules (budget from 1024 and
//   below maxTokens, temperature 1 only, no forced tool), answered with a
//   signed reasoningContent block first; reasoningContent sent back checked;
//   at most 2500 stop sequences of at least one character; cachePoint blocks (at most four) that write
//   and then read the prefix they close, in the usage's cache counts.
// - POST /model/{modelId}/invoke and /invoke-with-response-stream take the
//   model-native bodies (invoke.mjs): Claude's Messages, Titan and Cohere
//   embeddings; the stream is `chunk` events carrying base64 Anthropic events.
// - Faults come from the model id, "+fault:SPEC" (see faults.mjs), so a
//   cloudmux config can point one target at a failing model.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import http2 from 'node:http2';
import net from 'node:net';

import { Sha256 } from '@aws-crypto/sha256-js';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { SignatureV4 } from '@smithy/signature-v4';

import { parseFaultSpec, splitModel } from './faults.mjs';
import { claudeVersion, createCacheLedger, issueRedacted, redactedIssued, signThinking, thinkingSigned, valueFromSchema } from '../common/portable.mjs';
import { anthropicAnswer, checkAnthropicBody, countAnthropicTokens, embedAnswer } from './invoke.mjs';

const utf8Encode = (s) => new Uint8Array(Buffer.from(s, 'utf8'));
const utf8Decode = (b) => Buffer.from(b).toString('utf8');
// (toUtf8: bytes → string, fromUtf8: string → bytes, in that order)
const codec = new EventStreamCodec(utf8Decode, utf8Encode);

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const words = (s) => String(s).split(/\s+/).filter(Boolean);

function sendError(res, status, type, message) {
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    'x-amzn-requestid': 'emulated-request',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=a;b, Signature=hex"
function parseAuthorization(value) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(value || '');
  if (!m) return null;
  return { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(';'), signature: m[6] };
}

function amzDateToDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

// HTTP/2 carries the host as :authority.
const hostOf = (req) => req.headers.host ?? req.headers[':authority'];

// 'ok', or [status, type, message] to answer.
async function checkSignature(req, rawPath, body, creds) {
  const auth = parseAuthorization(req.headers.authorization);
  if (!auth) return [403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'];
  if (auth.accessKeyId !== creds.accessKeyId) return [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'];
  if ((creds.sessionToken || null) !== (req.headers['x-amz-security-token'] || null))
    return [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'];
  if (auth.service !== 'bedrock') return [403, 'InvalidSignatureException', `Credential should be scoped to correct service: 'bedrock'.`];
  const when = amzDateToDate(req.headers['x-amz-date']);
  if (!when || auth.date !== req.headers['x-amz-date'].slice(0, 8)) return [403, 'InvalidSignatureException', SIGNATURE_MISMATCH];
  if (Math.abs(Date.now() - when.getTime()) > 5 * 60 * 1000)
    return [403, 'InvalidSignatureException', 'Signature expired: the request time is more than 5 minutes from the server time.'];
  const headers = {};
  for (const name of auth.signedHeaders) {
    const v = name === 'host' ? hostOf(req) : req.headers[name];
    if (v === undefined) return [403, 'InvalidSignatureException', SIGNATURE_MISMATCH];
    headers[name] = Array.isArray(v) ? v.join(',') : v;
  }
  const [path, query = ''] = rawPath.split('?');
  const signer = new SignatureV4({
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
    region: auth.region,
    service: 'bedrock',
    sha256: Sha256,
    // The signer adds and signs x-amz-content-sha256 by default; AWS only
    // checks it when the client signed it.
    applyChecksum: auth.signedHeaders.includes('x-amz-content-sha256'),
  });
  const queryObj = Object.fromEntries(new URLSearchParams(query));
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: String(hostOf(req) || '').replace(/:\d+$/, ''), path, query: queryObj, headers, body },
    { signingDate: when },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization || '')?.[1];
  return expected === auth.signature ? 'ok' : [403, 'InvalidSignatureException', SIGNATURE_MISMATCH];
}

// ---- answers ---------------------------------------------------------------

function blockText(blocks) {
  return (blocks || [])
    .map((b) => b.text ?? (b.toolResult ? (b.toolResult.content || []).map((c) => c.text ?? JSON.stringify(c.json)).join(' ') : ''))
    .filter(Boolean)
    .join(' ');
}

function countTokens(body) {
  let n = 0;
  for (const s of body.system || []) n += words(s.text || '').length;
  for (const m of body.messages || []) n += words(blockText(m.content)).length;
  return n;
}

const thinksConverse = (body) => ['enabled', 'adaptive'].includes(body.additionalModelRequestFields?.thinking?.type);

// A ValidationException message when Converse (or the model behind it)
// refuses the request's structured output, reasoning, cache or stop fields.
function checkConverse(body, model) {
  const version = claudeVersion(model);
  const stops = body.inferenceConfig?.stopSequences;
  // InferenceConfiguration.stopSequences: at most 2500 items, each at least 1 character
  if (Array.isArray(stops) && stops.length > 2500) return '1 validation error detected: Value at \'inferenceConfig.stopSequences\' failed to satisfy constraint: Member must have length less than or equal to 2500';
  const empty = Array.isArray(stops) ? stops.findIndex((x) => typeof x === 'string' && x.length < 1) : -1;
  if (empty >= 0) return `1 validation error detected: Value at 'inferenceConfig.stopSequences.${empty + 1}.member' failed to satisfy constraint: Member must have length greater than or equal to 1`;
  const tf = body.outputConfig?.textFormat;
  if (tf) {
    if (tf.type !== 'json_schema' || typeof tf.structure?.jsonSchema?.schema !== 'string') return 'The outputConfig.textFormat must be {type: json_schema, structure: {jsonSchema: {schema: "<JSON schema as a string>"}}}';
    try {
      JSON.parse(tf.structure.jsonSchema.schema);
    } catch {
      return 'The provided JSON schema is not valid JSON.';
    }
    if (version < 45) return `This model (${model}) doesn't support structured output with outputConfig.`;
  }
  const extra = body.additionalModelRequestFields;
  if (extra && version === 0) return `The model returned the following errors: Malformed input request: extraneous key [${Object.keys(extra)[0]}] is not permitted`;
  const t = extra?.thinking;
  if (t && t.type === 'enabled') {
    if (!Number.isInteger(t.budget_tokens) || t.budget_tokens < 1024) return 'The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
    if (!(body.inferenceConfig?.maxTokens > t.budget_tokens)) return 'The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`.';
  }
  if (t?.type === 'adaptive' && version < 46) return `The model returned the following errors: adaptive thinking is not supported for model '${model}'`;
  for (const [i, m] of (body.messages || []).entries())
    for (const [j, b] of (m.content || []).entries()) {
      const rt = b.reasoningContent?.reasoningText;
      if (rt && !thinkingSigned(rt.text, rt.signature)) return `The model returned the following errors: messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      if (b.reasoningContent?.redactedContent && !redactedIssued(b.reasoningContent.redactedContent)) return `The model returned the following errors: messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
  if (thinksConverse(body)) {
    const temp = body.inferenceConfig?.temperature;
    if (temp !== undefined && temp !== 1) return 'The model returned the following errors: `temperature` may only be set to 1 when thinking is enabled.';
    if (extra.top_k !== undefined) return 'The model returned the following errors: `top_k` may not be set when thinking is enabled.';
    const choice = body.toolConfig?.toolChoice;
    if (choice?.any || choice?.tool) return 'The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use.';
  }
  const points = cacheParts(body).filter((p) => p.mark);
  for (const p of points) if (p.point.type !== 'default' || (p.point.ttl !== undefined && !['5m', '1h'].includes(p.point.ttl))) return 'The cachePoint must be {type: default} with an optional ttl of 5m or 1h.';
  if (points.length > 4) return `You can specify at most 4 cache checkpoints per request; this request has ${points.length}.`;
  return null;
}

// The request's parts in prompt order (tools, system, messages), each
// marked when a cachePoint follows it.
function cacheParts(body) {
  const parts = [];
  const walk = (list, text) => {
    for (const b of list || []) {
      if (b.cachePoint) {
        if (parts.length) Object.assign(parts.at(-1), { mark: true, point: b.cachePoint, ttl: b.cachePoint.ttl });
      } else {
        const t = text(b);
        parts.push({ text: t, tokens: words(t).length, mark: false });
      }
    }
  };
  walk(body.toolConfig?.tools, (b) => JSON.stringify(b));
  walk(body.system, (b) => b.text ?? JSON.stringify(b));
  for (const m of body.messages || []) walk(m.content, (b) => b.text ?? blockText([b]) ?? JSON.stringify(b));
  return parts;
}

// The answer to a request: {blocks:[{text}|{toolUse}|{reasoningContent}], stopReason, usage}.
function answer(body, model, cache) {
  const last = (body.messages || []).at(-1) || { content: [] };
  const a = plainAnswer(body, last);
  if (thinksConverse(body)) {
    const text = `Thinking about: ${blockText(last.content) || 'the question'}`;
    const reasoning = [{ reasoningContent: { reasoningText: { text, signature: signThinking(text) } } }];
    if (/\[\[redacted\]\]/.test(blockText(last.content))) reasoning.push({ reasoningContent: { redactedContent: issueRedacted() } });
    a.blocks = [...reasoning, ...a.blocks];
    a.usage.outputTokens += words(text).length;
    a.usage.totalTokens += words(text).length;
  }
  const { read, write, write1h } = cache.use(cacheParts(body));
  if (read || write) {
    const toolTokens = cacheParts({ toolConfig: body.toolConfig }).reduce((n, p) => n + p.tokens, 0);
    a.usage.inputTokens = Math.max(0, a.usage.inputTokens + toolTokens - read - write);
    a.usage.cacheReadInputTokens = (a.usage.cacheReadInputTokens || 0) + read;
    a.usage.cacheWriteInputTokens = write;
    // the writes by TTL, one-hour first, as TokenUsage.cacheDetails lists them
    if (write) a.usage.cacheDetails = [{ ttl: '1h', inputTokens: write1h }, { ttl: '5m', inputTokens: write - write1h }].filter((d) => d.inputTokens > 0);
    a.usage.totalTokens = a.usage.inputTokens + a.usage.outputTokens + a.usage.cacheReadInputTokens + write;
  }
  return a;
}

function plainAnswer(body, last) {
  const tc = body.toolConfig;
  const choice = tc?.toolChoice;
  const input = countTokens(body);
  const hasResult = (last.content || []).some((b) => b.toolResult);
  if (tc && !hasResult && (choice?.any || choice?.tool)) {
    const name = choice.tool?.name || tc.tools?.find((t) => t.toolSpec)?.toolSpec?.name || 'tool';
    const spec = tc.tools?.find((t) => t.toolSpec?.name === name)?.toolSpec;
    const props = spec?.inputSchema?.json?.properties;
    const input0 = props ? valueFromSchema(spec.inputSchema.json, blockText(last.content)) : { city: blockText(last.content), days: 1 };
    const toolUse = { toolUseId: `tooluse_${name}_1`, name, input: input0 };
    return { blocks: [{ toolUse }], stopReason: 'tool_use', usage: { inputTokens: input, outputTokens: 10, totalTokens: input + 10 } };
  }
  const tf = body.outputConfig?.textFormat;
  if (tf && !hasResult) {
    const text = JSON.stringify(valueFromSchema(JSON.parse(tf.structure.jsonSchema.schema), blockText(last.content)));
    const out = Math.ceil(text.length / 4);
    return { blocks: [{ text }], stopReason: 'end_turn', usage: { inputTokens: input, outputTokens: out, totalTokens: input + out } };
  }
  const images = (last.content || []).filter((b) => b.image).length;
  let text = hasResult
    ? `echo: tool result: ${blockText((last.content || []).filter((b) => b.toolResult))}`
    : `echo: ${blockText(last.content)}${images ? ` [images: ${images}]` : ''}`;
  let stopReason = 'end_turn';
  const max = body.inferenceConfig?.maxTokens;
  if (max && words(text).length > max) {
    text = words(text).slice(0, max).join(' ');
    stopReason = 'max_tokens';
  }
  const out = words(text).length;
  const usage = { inputTokens: input, outputTokens: out, totalTokens: input + out };
  const cache = /\[\[cache:(\d+)\]\]/.exec(blockText(last.content));
  if (cache) {
    usage.cacheReadInputTokens = Number(cache[1]);
    usage.totalTokens += usage.cacheReadInputTokens;
  }
  return { blocks: [{ text }], stopReason, usage };
}

// The stream events of an answer, as [eventType, payload] pairs.
function streamEvents(a) {
  const ev = [['messageStart', { role: 'assistant' }]];
  a.blocks.forEach((b, i) => {
    const rc = b.reasoningContent;
    if (rc?.reasoningText) {
      for (const w of rc.reasoningText.text.split(/(?= )/)) ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { reasoningContent: { text: w } } }]);
      ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { reasoningContent: { signature: rc.reasoningText.signature } } }]);
    } else if (rc?.redactedContent) {
      ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { reasoningContent: { redactedContent: rc.redactedContent } } }]);
    } else if (b.text !== undefined && b.text.startsWith('{')) {
      for (let k = 0; k < b.text.length; k += 8) ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { text: b.text.slice(k, k + 8) } }]);
    } else if (b.text !== undefined) {
      const ws = words(b.text);
      ws.forEach((w, k) => ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { text: k ? ` ${w}` : w } }]));
    } else {
      const json = JSON.stringify(b.toolUse.input);
      const cut = Math.floor(json.length / 2);
      ev.push(['contentBlockStart', { contentBlockIndex: i, start: { toolUse: { toolUseId: b.toolUse.toolUseId, name: b.toolUse.name } } }]);
      ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { toolUse: { input: json.slice(0, cut) } } }]);
      ev.push(['contentBlockDelta', { contentBlockIndex: i, delta: { toolUse: { input: json.slice(cut) } } }]);
    }
    ev.push(['contentBlockStop', { contentBlockIndex: i }]);
  });
  ev.push(['messageStop', { stopReason: a.stopReason }]);
  ev.push(['metadata', { usage: a.usage, metrics: { latencyMs: 1 } }]);
  return ev;
}

function encodeEvent(type, payload) {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: utf8Encode(JSON.stringify(payload)),
  });
}

function encodeException(type, message) {
  return codec.encode({
    headers: {
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: utf8Encode(JSON.stringify({ message })),
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sendJson(res, payload, inputTokens, outputTokens) {
  const out = JSON.stringify(payload);
  res.writeHead(200, {
    'content-type': 'application/json',
    'x-amzn-requestid': 'emulated-request',
    'x-amzn-bedrock-input-token-count': String(inputTokens),
    'x-amzn-bedrock-output-token-count': String(outputTokens),
    'content-length': Buffer.byteLength(out),
  });
  res.end(out);
}

// CountTokens: {"input": {"invokeModel": {"body": base64 of an InvokeModel
// body}}} → {"inputTokens": N} (Claude models).
function handleCountTokens(res, model, body) {
  const b64 = body?.input?.invokeModel?.body;
  if (typeof b64 !== 'string') return sendError(res, 400, 'ValidationException', 'The input must hold an invokeModel or converse request.');
  let inner;
  try {
    inner = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  } catch {
    return sendError(res, 400, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
  }
  if (!/^(?:[a-z]+\.)?anthropic\./.test(model)) return sendError(res, 400, 'ValidationException', 'The provided model does not support counting tokens.');
  const bad = checkAnthropicBody(inner, model);
  if (bad) return sendError(res, ...bad);
  sendJson(res, { inputTokens: countAnthropicTokens(inner, model) }, 0, 0);
}

// InvokeModel / InvokeModelWithResponseStream (invoke.mjs has the bodies).
// A replay (setReplay) answers the next Claude stream with recorded events.
async function handleInvoke(res, model, body, stream, f, cache, replay) {
  if (/^(?:[a-z]+\.)?anthropic\./.test(model)) {
    const bad = checkAnthropicBody(body, model);
    if (bad) return sendError(res, ...bad);
    const { msg, events } = anthropicAnswer(body, model, cache);
    if (!stream) return sendJson(res, msg, msg.usage.input_tokens, msg.usage.output_tokens);
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'emulated-request' });
    if (replay) {
      replay.started_at = performance.now();
      for (const e of replay.events) {
        res.write(encodeEvent('chunk', { bytes: Buffer.from(JSON.stringify(e), 'utf8').toString('base64') }));
        replay.sent++;
        await sleep(replay.interval_ms);
      }
      replay.finished_at = performance.now();
      return res.end();
    }
    const after = f?.after ?? 3;
    for (let i = 0; i < events.length; i++) {
      if (f?.fault === 'exception_event' && i === after) {
        res.write(encodeException(f.type || 'throttlingException', f.type === 'modelStreamErrorException' ? 'The model stream failed.' : 'Too many requests, please wait before trying again.'));
        return res.end();
      }
      if (f?.fault === 'cut_stream' && i === after) {
        await sleep(50);
        if (res.stream) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        else res.socket?.destroy();
        return;
      }
      res.write(encodeEvent('chunk', { bytes: Buffer.from(JSON.stringify(events[i]), 'utf8').toString('base64') }));
    }
    return res.end();
  }
  if (stream) return sendError(res, 400, 'ValidationException', 'The model is unsupported for streaming.');
  const r = embedAnswer(model, body);
  if (r.error) return sendError(res, ...r.error);
  return sendJson(res, r.body, r.inputTokens, 0);
}

// ---- the server --------------------------------------------------------------

export function createEmulator({ accessKeyId = 'AKIDEMULATOR', secretAccessKey = 'emulator-secret', sessionToken = null } = {}) {
  const creds = { accessKeyId, secretAccessKey, sessionToken };
  const cache = createCacheLedger();
  let requests = [];
  const replays = []; // recorded Claude streams to answer the next stream requests with
  const sockets = new Set();
  const hung = new Set();

  async function handle(req, res, body) {
    const rawPath = req.url;
    const m = /^\/model\/([^/?]+)\/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)(\?.*)?$/.exec(rawPath);
    const rec = { path: rawPath, method: req.method, headers: req.headers, auth: 'none', body: null, model: null };
    requests.push(rec);
    if (req.method !== 'POST' || !m) return sendError(res, 404, 'UnknownOperationException', 'Unknown operation');
    const check = await checkSignature(req, rawPath, body, creds);
    rec.auth = check === 'ok' ? 'ok' : check[1];
    if (check !== 'ok') return sendError(res, ...check);
    const modelId = decodeURIComponent(m[1]);
    const { model, fault } = splitModel(modelId);
    rec.model = model;
    let parsed;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, 400, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
    }
    rec.body = parsed;
    if (m[2] === 'count-tokens') return handleCountTokens(res, model, parsed);
    const invoke = m[2].startsWith('invoke');
    if (!invoke && (!Array.isArray(parsed.messages) || parsed.messages.length === 0))
      return sendError(res, 400, 'ValidationException', 'The model returned the following errors: messages: at least one message is required');
    const stream = m[2] === 'converse-stream' || m[2] === 'invoke-with-response-stream';
    const f = fault ? parseFaultSpec(fault) : null;
    if (f) {
      if (f.fault === 'hang') {
        hung.add(res);
        return;
      }
      if (f.fault === 'status') {
        const status = f.status;
        const [type, msg] =
          status === 429 ? ['ThrottlingException', 'Too many requests, please wait before trying again.']
          : status === 503 ? ['ServiceUnavailableException', 'Bedrock is unable to process your request.']
          : status === 403 ? ['AccessDeniedException', 'You don\'t have access to the model with the specified model ID.']
          : status === 400 ? ['ValidationException', 'The provided request is not valid']
          : ['InternalServerException', 'The server encountered an internal error.'];
        if (f.retry_after) res.setHeader('retry-after', String(f.retry_after));
        return sendError(res, status, type, msg);
      }
      if (f.fault === 'model_not_ready') return sendError(res, 429, 'ModelNotReadyException', 'Model is not ready for inference. Wait and try again.');
      if (f.fault === 'too_long') return sendError(res, 400, 'ValidationException', 'Input is too long for requested model.');
    }
    if (invoke) {
      const replay = stream && replays.length ? replays.shift() : null;
      if (replay) replay.body = parsed;
      return handleInvoke(res, model, parsed, stream, f, cache, replay);
    }
    const refused = checkConverse(parsed, model);
    if (refused) return sendError(res, 400, 'ValidationException', refused);
    const a = answer(parsed, model, cache);
    if (!stream) {
      const out = JSON.stringify({
        output: { message: { role: 'assistant', content: a.blocks } },
        stopReason: a.stopReason,
        usage: a.usage,
        metrics: { latencyMs: 1 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': 'emulated-request', 'content-length': Buffer.byteLength(out) });
      return res.end(out);
    }
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'emulated-request' });
    const events = streamEvents(a);
    const after = f?.after ?? 3;
    for (let i = 0; i < events.length; i++) {
      if (f?.fault === 'exception_event' && i === after) {
        res.write(encodeException(f.type || 'throttlingException', f.type === 'modelStreamErrorException' ? 'The model stream failed.' : 'Too many requests, please wait before trying again.'));
        return res.end();
      }
      if (f?.fault === 'cut_stream' && i === after) {
        await sleep(50); // let what was written reach the client first
        if (res.stream) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        else res.socket?.destroy();
        return;
      }
      res.write(encodeEvent(...events[i]));
      if (f?.fault === 'slow') await sleep(f.interval_ms ?? 50);
    }
    res.end();
  }

  const onRequest = (req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(parts)).catch((e) => {
        if (!res.headersSent) sendError(res, 500, 'InternalServerException', String(e?.message || e));
        else res.destroy();
      });
    });
  };
  const h1 = http.createServer(onRequest);
  const h2 = http2.createServer(onRequest);
  const H2_PREFACE = 'PRI * HTTP/2.0';
  // One listening socket for both: the first bytes say which protocol it is.
  // Node's servers read their sockets natively, so bytes already read cannot
  // be given back to them: each connection is relayed to an internal
  // listener of its protocol instead.
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.once('data', (first) => {
      const h2c = first.subarray(0, H2_PREFACE.length).toString('latin1') === H2_PREFACE;
      const inner = net.connect(h2c ? h2Port : h1Port, '127.0.0.1');
      sockets.add(inner);
      inner.on('close', () => {
        sockets.delete(inner);
        s.destroy();
      });
      s.on('close', () => inner.destroy());
      inner.on('error', () => s.destroy());
      s.on('error', () => inner.destroy());
      inner.write(first);
      s.pipe(inner);
      inner.pipe(s);
    });
  });
  let h1Port = 0;
  let h2Port = 0;
  for (const inner of [h1, h2])
    inner.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
  const listen = (srv) => new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv.address().port)));
  const listenInner = async () => {
    h1Port = await listen(h1);
    h2Port = await listen(h2);
  };

  return {
    server,
    listenInner,
    stats: () => ({ total: requests.length, requests }),
    // The next InvokeModelWithResponseStream for Claude answers with these
    // Anthropic events, interval_ms apart; the returned record says when the
    // first and last went out (performance.now()) and what body came in.
    setReplay: ({ events, interval_ms = 0 }) => {
      const r = { events, interval_ms, sent: 0, started_at: null, finished_at: null, body: null };
      replays.push(r);
      return r;
    },
    resetStats: () => {
      requests = [];
    },
    close: () =>
      new Promise((resolve) => {
        for (const r of hung) r.destroy();
        for (const s of sockets) s.destroy();
        h1.close();
        h2.close();
        server.close(() => resolve());
      }),
  };
}

export async function startEmulator(opts = {}) {
  const emu = createEmulator(opts);
  await emu.listenInner();
  await new Promise((resolve) => emu.server.listen(opts.port || 0, opts.host || '127.0.0.1', resolve));
  const { port } = emu.server.address();
  return { ...emu, port, baseURL: `http://127.0.0.1:${port}` };
}
