// invoke.mjs — the Bedrock emulator's InvokeModel and
// InvokeModelWithResponseStream: the model-native bodies.
//
// InvokeModel hands the body to the model as it is, so each family checks
// its own body the way the real models do and answers in its own shape:
//
// - anthropic.* : Anthropic's Messages request with "anthropic_version":
//   "bedrock-2023-05-31", no "model" (the URL names it), max_tokens required,
//   and otherwise checked and answered as the Anthropic emulator does
//   (structured outputs, thinking, cache marks included).  The answer is an
//   Anthropic message; the stream is event-stream `chunk` events whose
//   payload is {"bytes": base64 of one Anthropic stream event}.
// - amazon.titan-embed-text-v1 / -v2:0 : {inputText, dimensions?, normalize?}
//   → {embedding, inputTextTokenCount}.
// - cohere.embed-* : {texts, input_type} → {id, texts, embeddings: [[...]],
//   response_type: "embeddings_floats"}.
//
// Answers are deterministic ("echo: <last user text>", vectors from a hash
// of the text) and every answer carries Bedrock's
// x-amzn-bedrock-input-token-count / -output-token-count headers.  Claude
// answers come from the Anthropic emulator's planner (thinking, structured
// outputs, prompt caching, [[cache:N]] and [[cache_write:N]]);
// CountTokens counts an InvokeModel body's input the same way.
import { message, planMessage, streamEvents, validateMessages } from '../anthropic/responses.mjs';
import { unknownBeta } from '../common/claude_betas.mjs';

const words = (s) => String(s).split(/\s+/).filter(Boolean);

function textOf(content) {
  if (typeof content === 'string') return content;
  return (content || [])
    .map((b) => (b.type === 'text' ? b.text : b.type === 'tool_result' ? (typeof b.content === 'string' ? b.content : textOf(b.content)) : ''))
    .filter(Boolean)
    .join(' ');
}

// [status, type, message] when the body is not one Claude on Bedrock takes:
// Bedrock's own checks, then the Messages API's (anthropic/responses.mjs).
export function checkAnthropicBody(body, model) {
  if (body.anthropic_version !== 'bedrock-2023-05-31')
    return [400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found or invalid, please reformat your input and try again.'];
  if ('model' in body) return [400, 'ValidationException', 'Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.'];
  if ('anthropic_beta' in body && (!Array.isArray(body.anthropic_beta) || unknownBeta(body.anthropic_beta) !== undefined))
    return [400, 'ValidationException', 'invalid beta flag'];
  if (!Number.isInteger(body.max_tokens)) return [400, 'ValidationException', 'Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.'];
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return [400, 'ValidationException', 'Malformed input request: #: required key [messages] not found, please reformat your input and try again.'];
  const bad = validateMessages(messagesBody(body, model));
  return bad ? [400, 'ValidationException', bad] : null;
}

// The Messages body the model sees: the version and the beta list out (Bedrock
// takes both), the model named.
function messagesBody(body, model) {
  const { anthropic_version: _version, anthropic_beta: _beta, ...rest } = body;
  return { ...rest, model: model.replace(/^(?:[a-z]+\.)?anthropic\./, '').replace(/-v\d+:\d+$/, '') };
}

// The Anthropic message answering a Messages body, and its stream events
// (the Messages API's, message_stop carrying Bedrock's invocation metrics).
export function anthropicAnswer(body, model, cache) {
  const plan = planMessage(messagesBody(body, model), { cache });
  const msg = message(plan);
  const events = streamEvents(plan).map((e) => e.data).filter((d) => d.type !== 'ping');
  events.at(-1)['amazon-bedrock-invocationMetrics'] = {
    inputTokenCount: msg.usage.input_tokens,
    outputTokenCount: msg.usage.output_tokens,
    invocationLatency: 1,
    firstByteLatency: 1,
  };
  return { msg, events };
}

// A deterministic unit-free vector for a text: the same text, the same vector.
function vectorFor(text, n, normalize) {
  let h = 2166136261;
  for (const c of Buffer.from(String(text), 'utf8')) h = Math.imul(h ^ c, 16777619) >>> 0;
  const v = [];
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    v.push(Math.fround(((h % 20001) - 10000) / 10000));
  }
  if (!normalize) return v;
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.fround(x / norm));
}

// {status, type, message} or {body, inputTokens} for an embedding model.
export function embedAnswer(model, body) {
  if (/^amazon\.titan-embed-text-v2/.test(model)) {
    if (typeof body.inputText !== 'string' || body.inputText === '')
      return { error: [400, 'ValidationException', 'Malformed input request: #: required key [inputText] not found, please reformat your input and try again.'] };
    const extra = Object.keys(body).filter((k) => !['inputText', 'dimensions', 'normalize', 'embeddingTypes'].includes(k));
    if (extra.length) return { error: [400, 'ValidationException', `Malformed input request: #: extraneous key [${extra[0]}] is not permitted, please reformat your input and try again.`] };
    const dims = body.dimensions ?? 1024;
    if (![256, 512, 1024].includes(dims)) return { error: [400, 'ValidationException', 'Malformed input request: #/dimensions: 300 is not a valid enum value, please reformat your input and try again.'.replace('300', String(dims))] };
    const tokens = words(body.inputText).length;
    const embedding = vectorFor(body.inputText, dims, body.normalize !== false);
    // v2 always answers embeddingsByType too, "float" at least
    return { body: { embedding, inputTextTokenCount: tokens, embeddingsByType: { float: embedding } }, inputTokens: tokens };
  }
  if (/^amazon\.titan-embed-text-v1/.test(model)) {
    if (typeof body.inputText !== 'string') return { error: [400, 'ValidationException', 'Malformed input request: #: required key [inputText] not found, please reformat your input and try again.'] };
    const extra = Object.keys(body).filter((k) => k !== 'inputText');
    if (extra.length) return { error: [400, 'ValidationException', `Malformed input request: #: extraneous key [${extra[0]}] is not permitted, please reformat your input and try again.`] };
    const tokens = words(body.inputText).length;
    return { body: { embedding: vectorFor(body.inputText, 1536, false), inputTextTokenCount: tokens }, inputTokens: tokens };
  }
  if (/^cohere\.embed/.test(model)) {
    if (!Array.isArray(body.texts) || body.texts.length === 0 || body.texts.length > 96 || !body.texts.every((t) => typeof t === 'string'))
      return { error: [400, 'ValidationException', 'Malformed input request: #/texts: expected a list of 1 to 96 strings, please reformat your input and try again.'] };
    if (!['search_document', 'search_query', 'classification', 'clustering'].includes(body.input_type))
      return { error: [400, 'ValidationException', 'Malformed input request: #: required key [input_type] not found, please reformat your input and try again.'] };
    const tokens = body.texts.reduce((n, t) => n + words(t).length, 0);
    return {
      body: { id: 'emulated-cohere-embed', texts: body.texts, embeddings: body.texts.map((t) => vectorFor(t, 1024, false)), response_type: 'embeddings_floats' },
      inputTokens: tokens,
    };
  }
  return { error: [400, 'ValidationException', 'The provided model identifier is invalid.'] };
}

// CountTokens: the input tokens of the InvokeModel body it carries (as the
// answer to it would count them).
export function countAnthropicTokens(body, model) {
  return planMessage({ ...messagesBody(body, model), max_tokens: 1e9 }).usage.input_tokens;
}
