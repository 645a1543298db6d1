// invoke.mjs — the Bedrock emulator's InvokeModel and
// InvokeModelWithResponseStream: the model-native bodies.
//
// InvokeModel hands the body to the model as it is, so each family checks
// its own body the way the real models do and answers in its own shape:
//
// - anthropic.* : Anthropic's Messages request with "anthropic_version":
//   "bedrock-2023-05-31", no "model" (the URL names it), max_tokens required.
//   The answer is an Anthropic message; the stream is event-stream `chunk`
//   events whose payload is {"bytes": base64 of one Anthropic stream event}.
// - amazon.titan-embed-text-v1 / -v2:0 : {inputText, dimensions?, normalize?}
//   → {embedding, inputTextTokenCount}.
// - cohere.embed-* : {texts, input_type} → {id, texts, embeddings: [[...]],
//   response_type: "embeddings_floats"}.
//
// Answers are deterministic ("echo: <last user text>", vectors from a hash
// of the text) and every answer carries Bedrock's
// x-amzn-bedrock-input-token-count / -output-token-count headers.  Claude's
// extended thinking ("thinking": {"type": "enabled"}) puts a thinking block
// with its signature first; [[cache:N]] and [[cache_write:N]] in the last
// user text report prompt-cache reads and writes.
const words = (s) => String(s).split(/\s+/).filter(Boolean);

function textOf(content) {
  if (typeof content === 'string') return content;
  return (content || [])
    .map((b) => (b.type === 'text' ? b.text : b.type === 'tool_result' ? (typeof b.content === 'string' ? b.content : textOf(b.content)) : ''))
    .filter(Boolean)
    .join(' ');
}

// [status, type, message] when the body is not one Claude on Bedrock takes.
export function checkAnthropicBody(body) {
  if (body.anthropic_version !== 'bedrock-2023-05-31')
    return [400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found or invalid, please reformat your input and try again.'];
  if ('model' in body) return [400, 'ValidationException', 'Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.'];
  if (!Number.isInteger(body.max_tokens)) return [400, 'ValidationException', 'Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.'];
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return [400, 'ValidationException', 'Malformed input request: #: required key [messages] not found, please reformat your input and try again.'];
  return null;
}

// The Anthropic message answering a Messages body.
export function anthropicAnswer(body, model) {
  const last = body.messages.at(-1);
  const system = typeof body.system === 'string' ? body.system : textOf(body.system);
  const input = words(system).length + body.messages.reduce((n, m) => n + words(textOf(m.content)).length, 0);
  const lastText = textOf(last.content);
  const images = Array.isArray(last.content) ? last.content.filter((b) => b.type === 'image').length : 0;
  const choice = body.tool_choice;
  const hasResult = Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result');
  let content;
  let stop = 'end_turn';
  if (body.tools?.length && !hasResult && (choice?.type === 'any' || choice?.type === 'tool')) {
    const name = choice.name || body.tools[0].name;
    content = [{ type: 'tool_use', id: `toolu_bdrk_${name}_1`, name, input: { city: textOf(last.content), days: 1 } }];
    stop = 'tool_use';
  } else {
    let text = `echo: ${lastText}${images ? ` [images: ${images}]` : ''}`;
    if (words(text).length > body.max_tokens) {
      text = words(text).slice(0, body.max_tokens).join(' ');
      stop = 'max_tokens';
    }
    content = [{ type: 'text', text }];
  }
  let output = content[0].type === 'text' ? words(content[0].text).length : 10;
  if (body.thinking?.type === 'enabled') {
    const thinking = `Thinking about: ${lastText}`;
    content.unshift({ type: 'thinking', thinking, signature: 'sig_bdrk_emulated' });
    output += words(thinking).length;
  }
  const cacheRead = /\[\[cache:(\d+)\]\]/.exec(lastText);
  const cacheWrite = /\[\[cache_write:(\d+)\]\]/.exec(lastText);
  return {
    id: 'msg_bdrk_emulated01',
    type: 'message',
    role: 'assistant',
    model: model.replace(/^(?:[a-z]+\.)?anthropic\./, '').replace(/-v\d+:\d+$/, ''),
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: {
      input_tokens: input,
      cache_creation_input_tokens: cacheWrite ? Number(cacheWrite[1]) : 0,
      cache_read_input_tokens: cacheRead ? Number(cacheRead[1]) : 0,
      output_tokens: output,
    },
  };
}

// The Anthropic stream events of a message, in order.
export function anthropicStreamEvents(msg) {
  const ev = [
    { type: 'message_start', message: { ...msg, content: [], stop_reason: null, usage: { ...msg.usage, output_tokens: 1 } } },
  ];
  msg.content.forEach((b, index) => {
    if (b.type === 'thinking') {
      ev.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      words(b.thinking).forEach((w, k) => ev.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: k ? ` ${w}` : w } }));
      ev.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'text') {
      ev.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      words(b.text).forEach((w, k) => ev.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: k ? ` ${w}` : w } }));
    } else {
      const json = JSON.stringify(b.input);
      const cut = Math.floor(json.length / 2);
      ev.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      ev.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(0, cut) } });
      ev.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(cut) } });
    }
    ev.push({ type: 'content_block_stop', index });
  });
  ev.push({ type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: msg.usage.output_tokens } });
  ev.push({
    type: 'message_stop',
    'amazon-bedrock-invocationMetrics': {
      inputTokenCount: msg.usage.input_tokens,
      outputTokenCount: msg.usage.output_tokens,
      invocationLatency: 1,
      firstByteLatency: 1,
    },
  });
  return ev;
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

// CountTokens: the input tokens of the InvokeModel body it carries.
export function countAnthropicTokens(body) {
  const system = typeof body.system === 'string' ? body.system : textOf(body.system);
  return words(system).length + body.messages.reduce((n, m) => n + words(textOf(m.content)).length, 0);
}
