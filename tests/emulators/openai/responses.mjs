// responses.mjs — what the OpenAI emulator says, as plain data.
//
// Every answer is a pure function of the request, so tests can predict it:
// the reply is "echo: <last user text>", token counts are word counts, and
// embedding vectors come from a hash of the input.  The objects follow the
// shapes the real API sends (chat.completion, chat.completion.chunk with
// usage:null on every chunk when include_usage is set, list, embedding with
// float or base64 encoding), because the official client is the judge.

import { createHash, randomBytes } from 'node:crypto';

import { stripDirectives } from './faults.mjs';

export const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'text-embedding-3-small'];
export const FINGERPRINT = 'fp_emulator';

export function newId(prefix) {
  return prefix + randomBytes(12).toString('hex');
}

export function words(text) {
  const t = (text || '').trim();
  return t ? t.split(/\s+/).length : 0;
}

// Text and image count of one message's content (string or content parts).
export function contentOf(message) {
  const c = message?.content;
  if (typeof c === 'string') return { text: c, images: 0 };
  if (!Array.isArray(c)) return { text: '', images: 0 };
  let text = '';
  let images = 0;
  for (const part of c) {
    if (part?.type === 'text') text += (text ? ' ' : '') + (part.text || '');
    else if (part?.type === 'image_url' || part?.type === 'input_image') images++;
  }
  return { text, images };
}

export function lastUserMessage(messages) {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return messages[i];
  return null;
}

// The members of an assistant message's tool call in a request.
const TOOL_CALL_MEMBERS = new Set(['id', 'type', 'function']);

// Returns an OpenAI error object {message, type, param, code} for a chat or
// embeddings body, or null when the body is acceptable.
export function validateChat(body) {
  const err = (message, param, code = null) => ({ message, type: 'invalid_request_error', param, code });
  if (typeof body.model !== 'string' || body.model === '')
    return err('you must provide a model parameter', null);
  if (!Array.isArray(body.messages)) {
    if (body.messages === undefined) return err("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
    return err(`Invalid type for 'messages': expected an array, but got ${typeof body.messages} instead.`, 'messages', 'invalid_type');
  }
  if (body.messages.length === 0)
    return err("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    if (!m || typeof m !== 'object') return err(`Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`, 'invalid_type');
    if (typeof m.role !== 'string') return err(`Missing required parameter: 'messages[${i}].role'.`, `messages[${i}].role`, 'missing_required_parameter');
    if (!['system', 'developer', 'user', 'assistant', 'tool', 'function'].includes(m.role))
      return err(`Invalid value: '${m.role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, `messages[${i}].role`, 'invalid_value');
    // a tool call sent back may hold only what the API defines for it; a
    // member from another vendor's dialect (Google's extra_content) is
    // refused as OpenAI and Azure refuse unknown message members
    for (const [j, tc] of (Array.isArray(m.tool_calls) ? m.tool_calls : []).entries()) {
      const extra = tc && typeof tc === 'object' ? Object.keys(tc).filter((k) => !TOOL_CALL_MEMBERS.has(k)) : [];
      if (extra.length)
        return err(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected) - 'messages.${i}.tool_calls.${j}'`, null);
    }
  }
  if (body.tools !== undefined && !Array.isArray(body.tools)) return err("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type');
  return null;
}

export function validateEmbeddings(body) {
  const err = (message, param, code = null) => ({ message, type: 'invalid_request_error', param, code });
  if (typeof body.model !== 'string' || body.model === '') return err('you must provide a model parameter', null);
  const inp = body.input;
  const ok = typeof inp === 'string' || (Array.isArray(inp) && inp.length > 0);
  if (!ok) return err("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'input');
  return null;
}

// The tool the emulator decides to call, or null for a plain text answer.
// It calls a tool when tools were given and either tool_choice demands one
// ("required" or a named function) or the last user message says [[tool]].
export function chosenTool(body, lastUserText) {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return null;
  const last = body.messages[body.messages.length - 1];
  if (last?.role === 'tool') return null; // the tool result came back: answer in text
  const tc = body.tool_choice;
  if (tc === 'none') return null;
  if (tc && typeof tc === 'object' && tc.function?.name)
    return body.tools.find((t) => t.function?.name === tc.function.name) || body.tools[0];
  if (tc === 'required' || /\[\[tool\]\]/.test(lastUserText)) return body.tools[0];
  return null;
}

// Deterministic arguments for a tool from its JSON schema.
export function toolArguments(tool, text) {
  const props = tool.function?.parameters?.properties || {};
  const args = {};
  for (const [name, schema] of Object.entries(props)) {
    const t = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
    if (t === 'number' || t === 'integer') args[name] = 1;
    else if (t === 'boolean') args[name] = true;
    else if (t === 'array') args[name] = [];
    else if (t === 'object') args[name] = {};
    else if (Array.isArray(schema?.enum)) args[name] = schema.enum[0];
    else args[name] = text || name;
  }
  return JSON.stringify(args);
}

// Plans the answer to a chat request: content or tool call, finish reason,
// usage.  The stream and the whole response are both rendered from this.
export function planChat(body) {
  let promptTokens = 0;
  let images = 0;
  for (const m of body.messages) {
    const c = contentOf(m);
    promptTokens += words(stripDirectives(c.text));
    images += c.images;
  }
  promptTokens += images * 85; // OpenAI bills a low-detail image as 85 tokens
  const lastUser = lastUserMessage(body.messages);
  const lastUserText = lastUser ? contentOf(lastUser).text : '';
  const said = stripDirectives(lastUserText);
  const tool = chosenTool(body, lastUserText);
  const plan = { model: body.model, id: newId('chatcmpl-'), created: Math.floor(Date.now() / 1000), images };
  if (tool) {
    plan.toolCall = { id: newId('call_').slice(0, 29), name: tool.function?.name || 'tool', arguments: toolArguments(tool, said) };
    plan.content = null;
    plan.finishReason = 'tool_calls';
    plan.completionTokens = Math.max(1, Math.ceil(plan.toolCall.arguments.length / 4));
  } else {
    const last = body.messages[body.messages.length - 1];
    let content;
    if (last?.role === 'tool') content = `echo: tool result: ${contentOf(last).text}`;
    else content = `echo: ${said}` + (images ? ` [images: ${images}]` : '');
    let pieces = content.split(/(?= )/); // words, each but the first with its leading space
    plan.finishReason = 'stop';
    const max = body.max_completion_tokens ?? body.max_tokens;
    if (Number.isInteger(max) && max > 0 && pieces.length > max) {
      pieces = pieces.slice(0, max);
      plan.finishReason = 'length';
    }
    plan.pieces = pieces;
    plan.content = pieces.join('');
    plan.completionTokens = pieces.length;
  }
  // [[cached:N]] in the last user message: N of the prompt tokens were read
  // from OpenAI's prompt cache (at most all of them), as a cache hit reports.
  const cachedAsked = /\[\[cached:(\d+)\]\]/.exec(lastUserText);
  const cached = cachedAsked ? Math.min(Number(cachedAsked[1]), promptTokens) : 0;
  plan.usage = {
    prompt_tokens: promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: promptTokens + plan.completionTokens,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  return plan;
}

export function chatCompletion(plan) {
  const message = { role: 'assistant', content: plan.content, refusal: null, annotations: [] };
  if (plan.toolCall)
    message.tool_calls = [{ id: plan.toolCall.id, type: 'function', function: { name: plan.toolCall.name, arguments: plan.toolCall.arguments } }];
  return {
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
    usage: plan.usage,
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  };
}

// The chunk objects of a streamed answer, in order, without [DONE].
export function chatChunks(plan, includeUsage) {
  const chunk = (delta, finish = null) => {
    const c = {
      id: plan.id,
      object: 'chat.completion.chunk',
      created: plan.created,
      model: plan.model,
      service_tier: 'default',
      system_fingerprint: FINGERPRINT,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (includeUsage) c.usage = null;
    return c;
  };
  const out = [];
  if (plan.toolCall) {
    const tc = plan.toolCall;
    out.push(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: tc.id, type: 'function', function: { name: tc.name, arguments: '' } }], refusal: null }));
    // OpenAI sends the arguments in small fragments.
    for (let i = 0; i < tc.arguments.length; i += 8)
      out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: tc.arguments.slice(i, i + 8) } }] }));
  } else {
    out.push(chunk({ role: 'assistant', content: '', refusal: null }));
    for (const p of plan.pieces) out.push(chunk({ content: p }));
  }
  out.push(chunk({}, plan.finishReason));
  if (includeUsage) {
    const u = chunk({});
    u.choices = [];
    u.usage = plan.usage;
    out.push(u);
  }
  return out;
}

// A unit vector of `dims` floats derived from the text (SHA-256 counter mode).
export function embeddingVector(text, dims) {
  const v = new Array(dims);
  let block = Buffer.alloc(0);
  for (let i = 0, off = 0; i < dims; i++, off += 4) {
    if (off + 4 > block.length) {
      block = createHash('sha256').update(`${i}:${text}`).digest();
      off = 0;
    }
    v[i] = block.readUInt32LE(off) / 0xffffffff - 0.5;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.fround(x / norm));
}

export function embeddings(body) {
  let inputs = body.input;
  if (typeof inputs === 'string') inputs = [inputs];
  else if (inputs.every((x) => typeof x === 'number')) inputs = [inputs];
  const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : 8;
  let tokens = 0;
  const data = inputs.map((inp, index) => {
    const text = typeof inp === 'string' ? inp : JSON.stringify(inp);
    tokens += typeof inp === 'string' ? words(inp) : inp.length;
    const vec = embeddingVector(text, dims);
    const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
    return { object: 'embedding', index, embedding };
  });
  return { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

export function modelList() {
  return { object: 'list', data: MODELS.map((id) => modelObject(id)) };
}

export function modelObject(id) {
  return { id, object: 'model', created: 1715367049, owned_by: 'system' };
}

// The OpenAI error body for an HTTP status the emulator was asked to fake.
export function errorForStatus(status, message) {
  const known = {
    400: ['invalid_request_error', null, 'Invalid request (emulated).'],
    401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided (emulated).'],
    403: ['permission_denied', 'unsupported_country_region_territory', 'Country, region, or territory not supported (emulated).'],
    404: ['invalid_request_error', 'model_not_found', 'The model does not exist or you do not have access to it (emulated).'],
    408: ['timeout', null, 'Request timed out (emulated).'],
    409: ['conflict', null, 'Conflict (emulated).'],
    429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests (emulated). Please try again later.'],
    500: ['server_error', null, 'The server had an error while processing your request (emulated).'],
    502: ['server_error', null, 'Bad gateway (emulated).'],
    503: ['server_error', null, 'The engine is currently overloaded, please try again later (emulated).'],
    504: ['server_error', null, 'Gateway timeout (emulated).'],
  };
  const [type, code, msg] = known[status] || [status >= 500 ? 'server_error' : 'invalid_request_error', null, `Emulated status ${status}.`];
  return { error: { message: message || msg, type, param: null, code } };
}
