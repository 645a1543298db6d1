// emulator.mjs — a Vertex AI emulator on node:http: Gemini's generateContent
// and streamGenerateContent, Google's OAuth token endpoint and the instance
// metadata server, with fault injection.
//
// Auth is real, not a formality: the token endpoint verifies the JWT
// assertion's RS256 signature against the service account's public key (with
// node:crypto) and its iss, aud, scope and lifetime, then issues opaque
// access tokens; the Gemini endpoints answer 401 UNAUTHENTICATED to any
// other bearer token.  The metadata endpoint hands out tokens only with
// `Metadata-Flavor: Google`.  Answers are deterministic (an echo of the last
// user text, a function call when the tool config says ANY), so a test can
// check both what a gateway sent and what it made of the answer.
//
// Faults (run-wide, optionally per model and counted):
//   emu.setFault({ spec: 'status=429', model: 'gemini-down', count: 1 })
//   kinds: status=N (Google error body, status name from the code), hang,
//   cut_stream after=N (a stream that ends without a finishReason), safety
//   (SAFETY finish with no content), blocked (promptFeedback.blockReason),
//   too_long (400 INVALID_ARGUMENT about the input token count), token=N (the
//   token endpoint answers N).
// /_emulator/stats and /_emulator/faults expose the same over HTTP.
//
// Thinking and structured output as Vertex documents them: thinkingConfig's
// thinkingLevel on Gemini 3 only (Pro: LOW, HIGH; Flash also MINIMAL,
// MEDIUM), thinkingBudget on 2.5 (Flash 0-24576, Pro 128-32768, Pro cannot
// stop thinking), never both; includeThoughts answers a thought summary part
// first, counted in thoughtsTokenCount; responseJsonSchema (strict schemas
// with additionalProperties included) is answered with JSON that follows it;
// at most five stop sequences.
//
// Thought signatures as Gemini 3 has them: the first functionCall part of
// an answer carries a thoughtSignature (parallel calls: only the first), and
// a request's current turn (the model contents after the last user content
// that is not only function responses) must give each step's first
// functionCall part its signature back, one the emulator issued: else 400
// INVALID_ARGUMENT with Vertex's message.

import crypto from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

import { errorBody, message as claudeMessage, planMessage, sse, streamEvents, validateMessages } from '../anthropic/responses.mjs';
import { unknownBeta } from '../common/claude_betas.mjs';
import { createCacheLedger, geminiMajor, signThinking, valueFromSchema } from '../common/portable.mjs';

const GOOGLE_STATUS = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const MODEL_PATH = /^\/v1(?:beta1)?\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent|predict)$/;
const CLAUDE_PATH = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/;
const METADATA_TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

export function parseFaultSpec(spec) {
  const [head, ...rest] = String(spec).trim().split(/[\s,]+/).filter(Boolean);
  const eq = head.indexOf('=');
  const fault = eq < 0 ? head : head.slice(0, eq);
  if (!['status', 'hang', 'cut_stream', 'safety', 'blocked', 'too_long', 'token'].includes(fault)) throw new Error(`unknown fault '${fault}'`);
  const out = { fault };
  if (eq >= 0) out[fault] = Number(head.slice(eq + 1));
  for (const p of rest) {
    const i = p.indexOf('=');
    out[i < 0 ? p : p.slice(0, i)] = i < 0 ? true : Number.isNaN(Number(p.slice(i + 1))) ? p.slice(i + 1) : Number(p.slice(i + 1));
  }
  return out;
}

const googleError = (code, message) => ({ error: { code, message, status: GOOGLE_STATUS[code] || 'UNKNOWN' } });
const b64urlJSON = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
const words = (s) => (s.trim() ? s.trim().split(/\s+/) : []);

// The text of a turn's parts and what else it holds.
function describeParts(parts = []) {
  const text = parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join(' ');
  const images = parts.filter((p) => p.inlineData || p.fileData).map((p) => (p.inlineData ? `${p.inlineData.mimeType} ${Buffer.from(p.inlineData.data, 'base64').length} bytes` : `${p.fileData.mimeType} ${p.fileData.fileUri}`));
  const results = parts.filter((p) => p.functionResponse).map((p) => p.functionResponse);
  return { text, images, results };
}

function validate(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'Invalid JSON payload received.';
  if (!Array.isArray(body.contents) || body.contents.length === 0) return 'Unable to submit request because it must include at least one parts field';
  for (const [i, c] of body.contents.entries()) {
    if (c.role !== 'user' && c.role !== 'model') return `Please use a valid role: user, model. (contents[${i}].role: ${c.role})`;
    if (!Array.isArray(c.parts) || c.parts.length === 0) return `contents[${i}]: must include at least one parts field`;
    for (const p of c.parts) if (typeof p.text === 'string' && p.text === '') return `contents[${i}]: text part must not be empty`;
    if (i > 0 && body.contents[i - 1].role === c.role) return `contents[${i}]: roles must alternate`;
  }
  if (body.generationConfig?.candidateCount > 1) return 'candidateCount must be 1';
  const gc = body.generationConfig || {};
  if (Array.isArray(gc.stopSequences) && gc.stopSequences.length > 5) return 'Unable to submit request because it has too many stopSequences. The maximum number of stop sequences is 5.';
  if (gc.responseJsonSchema && gc.responseSchema) return 'responseSchema and responseJsonSchema cannot both be set.';
  if (gc.responseJsonSchema && gc.responseMimeType !== 'application/json') return 'responseJsonSchema requires responseMimeType application/json.';
  return null;
}

// thinkingConfig against the model: an error message or null.
function checkThinking(body, model) {
  const tc = body.generationConfig?.thinkingConfig;
  if (!tc) return null;
  const major = geminiMajor(model);
  const flash = /flash/.test(model);
  if (tc.thinkingLevel !== undefined && tc.thinkingBudget !== undefined) return 'thinking_level and thinking_budget cannot both be set.';
  if (tc.thinkingLevel !== undefined) {
    if (major < 3) return `thinking_level is not supported by this model (${model}); use thinking_budget.`;
    const levels = flash ? ['MINIMAL', 'LOW', 'MEDIUM', 'HIGH'] : ['LOW', 'HIGH'];
    if (!levels.includes(tc.thinkingLevel)) return `thinking_level ${tc.thinkingLevel} is not supported by this model (${model}); supported: ${levels.join(', ')}.`;
  }
  if (tc.thinkingBudget !== undefined) {
    const [min, max] = flash ? [0, 24576] : [128, 32768];
    if (tc.thinkingBudget !== -1 && (tc.thinkingBudget < min || tc.thinkingBudget > max))
      return tc.thinkingBudget === 0 ? 'Budget 0 is invalid. This model only works in thinking mode.' : `The thinking budget ${tc.thinkingBudget} is invalid. Please choose a value between ${min} and ${max}.`;
  }
  return null;
}

// A function call's thought signature: opaque base64 the emulator can check.
const callSignature = (name) => Buffer.from(`fc:${name}:${signThinking(`fc:${name}`)}`).toString('base64');

// Gemini 3's rule for the current turn's function calls: an error message or null.
function checkThoughtSignatures(body, model) {
  if (geminiMajor(model) < 3) return null;
  const standard = (c) => c.role === 'user' && c.parts.some((p) => !p.functionResponse);
  const start = body.contents.findLastIndex(standard);
  for (let i = start + 1; i < body.contents.length; i++) {
    const c = body.contents[i];
    const first = c.role === 'model' ? c.parts.find((p) => p.functionCall) : undefined;
    if (!first) continue;
    if (first.thoughtSignature === undefined)
      return `Unable to submit request because function call \`${first.functionCall.name}\` in the ${i + 1}. content block is missing a \`thought_signature\`. Learn more: https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures`;
    if (first.thoughtSignature !== callSignature(first.functionCall.name)) return 'Unable to submit request because Thought signature is not valid.';
  }
  return null;
}

// The parts of an answer's function calls: Gemini 3 signs the first.
function callParts(p) {
  return p.calls.map((c, i) => (i === 0 && p.signed ? { functionCall: c, thoughtSignature: callSignature(c.name) } : { functionCall: c }));
}

// What the model "says": a function call, or an echo.
function plan(body, modelName) {
  const last = body.contents.at(-1);
  const { text, images, results } = describeParts(last.parts);
  const decls = (body.tools || []).flatMap((t) => t.functionDeclarations || []);
  const fcc = body.toolConfig?.functionCallingConfig;
  const prompt = body.contents.filter((c) => c.role === 'user').map((c) => describeParts(c.parts).text).join(' ');
  const promptTokens = words(prompt).length + words((body.systemInstruction?.parts || []).map((p) => p.text).join(' ')).length;
  if (decls.length && fcc?.mode === 'ANY' && last.role === 'user' && results.length === 0) {
    const name = fcc.allowedFunctionNames?.[0] || decls[0].name;
    // [[parallel]] in the text: one call per declared function, at once
    const names = /\[\[parallel\]\]/.test(text) ? decls.map((d) => d.name) : [name];
    const city = text.replace(/\[\[parallel\]\]/, '').trim() || 'unknown';
    return { calls: names.map((n) => ({ name: n, args: { city } })), promptTokens, modelName, signed: geminiMajor(modelName) >= 3 };
  }
  let answer;
  if (results.length) answer = `tool result: ${results.map((r) => JSON.stringify(r.response)).join(' ')}`;
  else answer = `echo: ${text}${images.length ? ` [${images.join('; ')}]` : ''}`;
  let out = words(answer);
  let finishReason = 'STOP';
  const max = body.generationConfig?.maxOutputTokens;
  if (max && out.length > max) {
    out = out.slice(0, max);
    finishReason = 'MAX_TOKENS';
  }
  const schema = body.generationConfig?.responseJsonSchema;
  if (body.generationConfig?.responseMimeType === 'application/json') out = [JSON.stringify(schema ? valueFromSchema(schema, text) : { echo: text })];
  const thought = body.generationConfig?.thinkingConfig?.includeThoughts ? `Thinking about: ${text}` : null;
  return { words: out, finishReason, promptTokens, modelName, thought };
}

function usage(p, n) {
  const thoughts = p.thought ? words(p.thought).length : 0;
  const u = { promptTokenCount: p.promptTokens, candidatesTokenCount: n, totalTokenCount: p.promptTokens + n + thoughts };
  if (thoughts) u.thoughtsTokenCount = thoughts;
  return u;
}

function wholeResponse(p, responseId) {
  const parts = p.calls ? callParts(p) : [{ text: p.words.join(' ') }];
  if (p.thought) parts.unshift({ text: p.thought, thought: true });
  const n = p.calls ? 5 : p.words.length;
  return { candidates: [{ content: { role: 'model', parts }, finishReason: p.calls ? 'STOP' : p.finishReason, index: 0 }], usageMetadata: usage(p, n), modelVersion: p.modelName, createTime: new Date().toISOString(), responseId };
}

function streamResponses(p, responseId) {
  const base = { modelVersion: p.modelName, createTime: new Date().toISOString(), responseId };
  if (p.calls) return [{ ...base, candidates: [{ content: { role: 'model', parts: callParts(p) }, finishReason: 'STOP', index: 0 }], usageMetadata: usage(p, 5) }];
  const thought = p.thought ? [{ ...base, candidates: [{ content: { role: 'model', parts: [{ text: p.thought, thought: true }] }, index: 0 }], usageMetadata: { promptTokenCount: p.promptTokens, totalTokenCount: p.promptTokens } }] : [];
  return thought.concat(p.words.map((w, i) => {
    const last = i === p.words.length - 1;
    const r = { ...base, candidates: [{ content: { role: 'model', parts: [{ text: i ? ` ${w}` : w }] }, index: 0 }] };
    if (last) {
      r.candidates[0].finishReason = p.finishReason;
      r.usageMetadata = usage(p, p.words.length);
    } else r.usageMetadata = { promptTokenCount: p.promptTokens, totalTokenCount: p.promptTokens };
    return r;
  }));
}

export function createEmulator({ serviceAccount = null, tokenTTL = 3599, audiences = [] } = {}) {
  const claudeCache = createCacheLedger();
  const publicKey = serviceAccount ? crypto.createPublicKey(serviceAccount.private_key) : null;
  const tokens = new Map(); // access token → expiry (ms)
  let faults = [];
  const replays = []; // recorded Claude streams for the next streamRawPredict calls
  let stats;
  let seq = 1;
  let selfURL = '';
  const resetStats = () => {
    stats = { total: 0, token_calls: 0, token_rejects: 0, metadata_calls: 0, unauthenticated: 0, requests: [] };
  };
  resetStats();

  function pickFault(model, kinds) {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i];
      if (!kinds.includes(f.fault)) continue;
      if (f.model && f.model !== model) continue;
      if (typeof f.count === 'number' && --f.count <= 0) faults.splice(i, 1);
      return f;
    }
    return null;
  }

  const send = (res, status, obj, headers = {}) => {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  function issue(res) {
    const token = `ya29.emu-${crypto.randomBytes(12).toString('hex')}`;
    tokens.set(token, Date.now() + tokenTTL * 1000);
    send(res, 200, { access_token: token, expires_in: tokenTTL, token_type: 'Bearer' });
  }

  // Google's checks of a service-account assertion, in its words.
  function checkAssertion(form) {
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return 'unsupported_grant_type';
    const jwt = form.get('assertion') || '';
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'invalid_grant: malformed JWT';
    let header;
    let claims;
    try {
      header = b64urlJSON(parts[0]);
      claims = b64urlJSON(parts[1]);
    } catch {
      return 'invalid_grant: JWT is not JSON';
    }
    if (header.alg !== 'RS256') return `invalid_grant: alg ${header.alg}`;
    if (serviceAccount.private_key_id && header.kid && header.kid !== serviceAccount.private_key_id) return 'invalid_grant: Invalid JWT Signature (unknown kid).';
    const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return 'invalid_grant: Invalid JWT Signature.';
    if (claims.iss !== serviceAccount.client_email) return 'invalid_grant: Invalid issuer';
    const auds = [serviceAccount.token_uri, `${selfURL}/token`, GOOGLE_TOKEN_URL, ...audiences].filter(Boolean);
    if (!auds.includes(claims.aud)) return `invalid_grant: Invalid JWT audience ${claims.aud}`;
    if (!String(claims.scope || '').split(' ').includes(SCOPE)) return 'invalid_scope';
    const now = Math.floor(Date.now() / 1000);
    if (!(claims.iat <= now + 60 && claims.exp > now && claims.exp - claims.iat <= 3600)) return 'invalid_grant: Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.';
    return null;
  }

  async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  function authorized(req) {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const exp = m && tokens.get(m[1]);
    return Boolean(exp && exp > Date.now());
  }


  // Counts and records a request, checks its token (a 401 in Google's shape
  // when it is not ours: undefined then) and parses its body (null when it
  // is not JSON).
  function admit(req, res, rec, raw, { long = false } = {}) {
    stats.total++;
    stats.requests.push(rec);
    if (!authorized(req)) {
      rec.auth = req.headers.authorization ? 'invalid' : 'missing';
      stats.unauthenticated++;
      rec.status = 401;
      send(res, 401, googleError(401, `Request had invalid authentication credentials.${long ? ' Expected OAuth 2 access token, login cookie or other valid authentication credential.' : ''}`));
      return undefined;
    }
    rec.auth = 'ok';
    try {
      rec.body = JSON.parse(raw);
    } catch {
      rec.body = null;
    }
    return rec.body;
  }
  function writeStream(res, rec, events, { cutAfter = null } = {}) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const n = cutAfter === null ? events.length : Math.min(cutAfter, events.length);
    for (let i = 0; i < n; i++) res.write(`data: ${JSON.stringify(events[i])}\r\n\r\n`);
    rec.chunks_sent = n;
    res.end();
  }

  async function gemini(req, res, m, url, raw) {
    const [, project, location, model, method] = m;
    if (method === 'predict') return predict(req, res, m, url, raw);
    const stream = method === 'streamGenerateContent';
    const rec = { path: url.pathname, project, location, model, stream, alt: url.searchParams.get('alt'), auth: 'none', body: null, status: null, fault: null };
    const body = admit(req, res, rec, raw, { long: true });
    if (body === undefined) return;
    const f = pickFault(model, ['status', 'hang', 'cut_stream', 'safety', 'blocked', 'too_long']);
    if (f) rec.fault = f.fault;
    if (f?.fault === 'hang') return;
    if (f?.fault === 'status') {
      rec.status = f.status || 500;
      return send(res, rec.status, googleError(rec.status, f.message || `Emulated ${GOOGLE_STATUS[rec.status] || 'error'}.`), f.retry_after ? { 'retry-after': String(f.retry_after) } : {});
    }
    if (f?.fault === 'too_long') {
      rec.status = 400;
      return send(res, 400, googleError(400, 'The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).'));
    }
    const bad = validate(body) ?? checkThinking(body, model) ?? checkThoughtSignatures(body, model);
    if (bad) {
      rec.status = 400;
      rec.error = bad;
      return send(res, 400, googleError(400, bad));
    }
    const p = plan(body, `${model}-emulated-001`);
    const responseId = `emu-${seq++}`;
    rec.status = 200;
    if (f?.fault === 'safety' || f?.fault === 'blocked') {
      const r =
        f.fault === 'safety'
          ? { candidates: [{ finishReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }], index: 0 }], usageMetadata: usage(p, 0), modelVersion: p.modelName, responseId }
          : { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: usage(p, 0), modelVersion: p.modelName, responseId };
      return stream ? writeStream(res, rec, [r]) : send(res, 200, r);
    }
    if (!stream) return send(res, 200, wholeResponse(p, responseId));
    if (rec.alt !== 'sse') return send(res, 200, streamResponses(p, responseId)); // Vertex's JSON-array form
    return writeStream(res, rec, streamResponses(p, responseId), { cutAfter: f?.fault === 'cut_stream' ? Number(f.after ?? 1) : null });
  }

  // Text embeddings (text-embedding-005, gemini-embedding-001): one
  // deterministic unit-scale vector per instance, from a hash of its text.
  function predict(req, res, m, url, raw) {
    const model = m[3];
    const rec = { path: url.pathname, project: m[1], location: m[2], model, stream: false, auth: 'none', body: null, status: null, fault: null };
    const body = admit(req, res, rec, raw);
    if (body === undefined) return;
    const f = pickFault(model, ['status', 'hang']);
    if (f?.fault === 'hang') return;
    if (f?.fault === 'status') return send(res, f.status || 500, googleError(f.status || 500, 'Emulated error.'));
    if (!Array.isArray(body?.instances) || body.instances.length === 0 || body.instances.some((i) => typeof i.content !== 'string')) {
      rec.status = 400;
      return send(res, 400, googleError(400, 'instances must be a non-empty list of {content: string}'));
    }
    const dim = body.parameters?.outputDimensionality || 8;
    const predictions = body.instances.map(({ content }) => {
      const values = [];
      for (let i = 0; values.length < dim; i++) for (const b of crypto.createHash('sha256').update(`${i}:${content}`).digest()) if (values.length < dim) values.push(Math.round(((b / 255) * 2 - 1) * 10000) / 10000);
      return { embeddings: { statistics: { truncated: false, token_count: words(content).length }, values } };
    });
    rec.status = 200;
    return send(res, 200, { predictions, metadata: { billableCharacterCount: body.instances.reduce((n, i) => n + i.content.length, 0) } });
  }

  // Claude on Vertex: Anthropic's Messages API with the model in the URL and
  // anthropic_version in the body; answers in Anthropic's format (the
  // Anthropic emulator's planner, so both answer alike).
  function claude(req, res, m, url, raw) {
    const [, project, location, model, method] = m;
    if (model === 'count-tokens') return countTokens(req, res, url, raw);
    const stream = method === 'streamRawPredict';
    const rec = { path: url.pathname, project, location, model, stream, auth: 'none', body: null, status: null, fault: null, publisher: 'anthropic', anthropic_beta: req.headers['anthropic-beta'] ?? null };
    const body = admit(req, res, rec, raw);
    if (body === undefined) return;
    const f = pickFault(model, ['status', 'hang', 'cut_stream']);
    if (f?.fault === 'hang') return;
    if (f?.fault === 'status') {
      rec.status = f.status || 500;
      const type = rec.status === 529 ? 'overloaded_error' : rec.status === 429 ? 'rate_limit_error' : 'api_error';
      return send(res, rec.status, errorBody(type, 'Emulated error.'));
    }
    let err = null;
    if (!body || typeof body !== 'object') err = 'invalid JSON';
    else if (body.anthropic_version !== 'vertex-2023-10-16') err = `anthropic_version: expected vertex-2023-10-16, got ${body.anthropic_version}`;
    else if ('model' in body) err = 'model: Extra inputs are not permitted (the model is in the URL)';
    else if (unknownBeta(req.headers['anthropic-beta']) !== undefined) err = 'invalid beta flag';
    const messagesBody = err ? null : { ...body, model };
    delete messagesBody?.anthropic_version;
    err ??= validateMessages(messagesBody);
    if (err) {
      rec.status = 400;
      return send(res, 400, errorBody('invalid_request_error', err));
    }
    const plan = planMessage(messagesBody, { cache: claudeCache });
    rec.status = 200;
    if (!stream) return send(res, 200, claudeMessage(plan));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    const replay = replays.shift();
    if (replay) return writeReplay(res, replay, messagesBody);
    const events = streamEvents(plan);
    const n = f?.fault === 'cut_stream' ? Number(f.after ?? 2) : events.length;
    for (const ev of events.slice(0, n)) res.write(sse(ev));
    res.end();
  }

  // A recorded Claude stream (setReplay): its events as they were, spaced.
  async function writeReplay(res, replay, body) {
    replay.body = body;
    replay.started_at = performance.now();
    for (const e of replay.events) {
      res.write(sse({ event: e.type, data: e }));
      replay.sent++;
      await new Promise((r) => setTimeout(r, replay.interval_ms));
    }
    replay.finished_at = performance.now();
    res.end();
  }

  // Claude's token count: publishers/anthropic/models/count-tokens:rawPredict,
  // the model in the body.
  function countTokens(req, res, url, raw) {
    const rec = { path: url.pathname, model: null, stream: false, auth: 'none', body: null, status: null, fault: null, publisher: 'anthropic', anthropic_beta: req.headers['anthropic-beta'] ?? null };
    const body = admit(req, res, rec, raw);
    if (body === undefined) return;
    rec.model = body?.model ?? null;
    const { anthropic_version: _, ...counted } = body && typeof body === 'object' ? body : {};
    let err = !body || typeof body !== 'object' ? 'invalid JSON' : null;
    if (!err && unknownBeta(req.headers['anthropic-beta']) !== undefined) err = 'invalid beta flag';
    err ??= validateMessages(counted, { counting: true });
    if (err) {
      rec.status = 400;
      return send(res, 400, errorBody('invalid_request_error', err));
    }
    rec.status = 200;
    send(res, 200, { input_tokens: planMessage({ ...counted, max_tokens: 1e9 }).usage.input_tokens });
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const raw = await readBody(req);
    if (url.pathname === '/token' && req.method === 'POST') {
      stats.token_calls++;
      const f = pickFault(null, ['token']);
      if (f) return send(res, f.token || 500, { error: 'internal_failure', error_description: 'Emulated token endpoint failure.' });
      if (!serviceAccount) return send(res, 400, { error: 'invalid_client', error_description: 'no service account configured' });
      const why = checkAssertion(new URLSearchParams(raw));
      if (why) {
        stats.token_rejects++;
        const [error, ...desc] = why.split(': ');
        return send(res, 400, { error, error_description: desc.join(': ') || error });
      }
      return issue(res);
    }
    if (url.pathname === METADATA_TOKEN_PATH && req.method === 'GET') {
      stats.metadata_calls++;
      if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, { error: 'Missing Metadata-Flavor:Google header.' });
      return issue(res);
    }
    if (url.pathname === '/_emulator/stats') return send(res, 200, stats);
    if (url.pathname === '/_emulator/faults') {
      if (req.method === 'DELETE') faults = [];
      else if (req.method === 'POST') faults.push(fromJSON(JSON.parse(raw)));
      return send(res, 200, { faults });
    }
    const c = CLAUDE_PATH.exec(url.pathname);
    if (c && req.method === 'POST') return claude(req, res, c, url, raw);
    const m = MODEL_PATH.exec(url.pathname);
    if (m && req.method === 'POST') return gemini(req, res, m, url, raw);
    return send(res, 404, googleError(404, `The requested URL ${url.pathname} was not found on this server.`));
  }

  const fromJSON = (f) => (typeof f === 'string' ? parseFaultSpec(f) : f.spec ? { ...parseFaultSpec(f.spec), ...Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'spec')) } : { ...f });

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, googleError(500, `emulator bug: ${e.stack}`));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30000;
  return {
    server,
    setSelfURL: (u) => {
      selfURL = u;
    },
    stats: () => structuredClone(stats),
    resetStats,
    // The next streamRawPredict answers with these Anthropic events,
    // interval_ms apart; the record says when they went out and what came in.
    setReplay: ({ events, interval_ms = 0 }) => {
      const r = { events, interval_ms, sent: 0, started_at: null, finished_at: null, body: null };
      replays.push(r);
      return r;
    },
    setFault: (f) => faults.push(fromJSON(f)),
    clearFaults: () => {
      faults = [];
    },
    expireTokens: () => tokens.clear(),
  };
}

// Starts an emulator on a free port; resolves once it listens.
export async function startEmulator({ serviceAccount = null, tokenTTL = 3599, port = 0, host = '127.0.0.1', audiences = [] } = {}) {
  const emu = createEmulator({ serviceAccount, tokenTTL, audiences });
  await new Promise((resolve, reject) => {
    emu.server.once('error', reject);
    emu.server.listen(port, host, resolve);
  });
  const actual = emu.server.address().port;
  const url = `http://${host}:${actual}`;
  emu.setSelfURL(url);
  return {
    port: actual,
    url,
    baseURL: url, // the Vertex endpoint: cloudmux's endpoint_url, the SDK's httpOptions.baseUrl
    tokenURL: `${url}/token`, // a service account's token_uri
    metadataURL: url, // cloudmux's metadata_url
    stats: emu.stats,
    resetStats: emu.resetStats,
    setFault: emu.setFault,
    clearFaults: emu.clearFaults,
    setReplay: emu.setReplay,
    expireTokens: emu.expireTokens,
    close: () =>
      new Promise((resolve) => {
        emu.server.close(() => resolve());
        emu.server.closeAllConnections();
      }),
  };
}

// A fresh service-account key for tests: an RSA key pair made here, in the
// JSON layout Google's console downloads.
export function makeServiceAccount({ tokenURI = GOOGLE_TOKEN_URL, email = 'cloudmux-test@emu-project.iam.gserviceaccount.com' } = {}) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    type: 'service_account',
    project_id: 'emu-project',
    private_key_id: crypto.randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: email,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenURI,
  };
}
