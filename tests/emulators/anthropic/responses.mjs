// responses.mjs — what the Anthropic emulator says, as plain data.
//
// Every answer is a pure function of the request, so tests can predict it:
// the reply is "echo: <last user text>", token counts are word counts.  The
// validation follows the real Messages API closely enough to catch a
// translator that sends what Anthropic would refuse: max_tokens required,
// only user/assistant roles, alternating and starting with user, system only
// at the top level, no OpenAI-only fields, every tool_result answering a
// tool_use of the previous turn.  Shapes (message, stream events, error
// bodies) are the ones the official @anthropic-ai/sdk parses.
//
// Structured outputs, extended thinking and prompt caching follow
// Anthropic's documented rules (checkFeatures): output_config.format on
// Claude 4.5 and later only, with additionalProperties false on every
// object; output_config.effort and adaptive thinking on 4.6 and later;
// budget_tokens from 1024 and below max_tokens; no temperature but 1, no
// top_k, top_p from 0.95 and no forced tool while thinking; thinking blocks
// sent back only as the API gave them (signatures checked), and first in
// the assistant turn that continues a tool use; at most four cache_control
// marks.  The answer then holds a thinking block (signed), a JSON text that
// follows the schema, and cache reads and writes from the emulator's ledger.

import { randomBytes } from 'node:crypto';

import { stripDirectives } from './faults.mjs';
import { checkCacheControl, claudeVersion, issueRedacted, looseObject, redactedIssued, signThinking, thinkingSigned, valueFromSchema } from '../common/portable.mjs';

export const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];
const TOP_LEVEL = new Set([
  'model', 'messages', 'max_tokens', 'system', 'metadata', 'stop_sequences', 'stream', 'temperature',
  'top_p', 'top_k', 'tools', 'tool_choice', 'thinking', 'service_tier', 'container', 'mcp_servers',
  'context_management', 'output_config',
]);

export function newId(prefix) {
  return prefix + randomBytes(12).toString('hex');
}

export function words(text) {
  const t = (text || '').trim();
  return t ? t.split(/\s+/).length : 0;
}

// The blocks of a message's content (a string is one text block).
export function blocksOf(message) {
  const c = message?.content;
  if (typeof c === 'string') return [{ type: 'text', text: c }];
  return Array.isArray(c) ? c : [];
}

// Text (text blocks only), images and tool results of one message.
export function contentOf(message) {
  let text = '';
  let images = 0;
  const toolResults = [];
  for (const b of blocksOf(message)) {
    if (b?.type === 'text') text += (text ? ' ' : '') + (b.text || '');
    else if (b?.type === 'image') images++;
    else if (b?.type === 'tool_result') {
      const c = typeof b.content === 'string' ? b.content : blocksOf(b).map((x) => x.text || '').join(' ');
      toolResults.push(c);
    }
  }
  return { text, images, toolResults };
}

export function errorBody(type, message) {
  return { type: 'error', error: { type, message }, request_id: newId('req_') };
}

// The error body Anthropic sends with an HTTP status the emulator fakes.
export function errorForStatus(status, message) {
  const known = {
    400: ['invalid_request_error', 'Invalid request (emulated).'],
    401: ['authentication_error', 'invalid x-api-key'],
    403: ['permission_error', 'Your API key does not have permission to use the specified resource (emulated).'],
    404: ['not_found_error', 'The requested resource could not be found (emulated).'],
    413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes (emulated).'],
    429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (emulated).'],
    500: ['api_error', 'Internal server error (emulated).'],
    529: ['overloaded_error', 'Overloaded'],
  };
  const [type, msg] = known[status] || [status >= 500 ? 'api_error' : 'invalid_request_error', `Emulated status ${status}.`];
  return errorBody(type, message || msg);
}

function validateBlock(b, where, role, prevToolUses) {
  if (!b || typeof b !== 'object' || typeof b.type !== 'string') return `${where}: Input should be a valid content block`;
  switch (b.type) {
    case 'text':
      if (typeof b.text !== 'string') return `${where}.text: Field required`;
      if (b.text === '') return 'messages: text content blocks must be non-empty';
      return null;
    case 'image': {
      if (role !== 'user') return `${where}: image blocks are only allowed in user messages`;
      const s = b.source;
      if (s?.type === 'base64') {
        if (!MEDIA_TYPES.includes(s.media_type)) return `${where}.source.base64.media_type: Input should be ${MEDIA_TYPES.map((m) => `'${m}'`).join(', ')}`;
        if (typeof s.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s.data)) return `${where}.source.base64.data: invalid base64 data`;
        return null;
      }
      if (s?.type === 'url') return typeof s.url === 'string' && /^https?:\/\//.test(s.url) ? null : `${where}.source.url.url: Input should be a valid URL`;
      return `${where}.source: Input tag '${s?.type}' found using 'type' does not match any of the expected tags: 'base64', 'url'`;
    }
    case 'tool_use':
      if (role !== 'assistant') return `${where}: tool_use blocks are only allowed in assistant messages`;
      if (typeof b.id !== 'string' || typeof b.name !== 'string') return `${where}: tool_use needs id and name`;
      if (!b.input || typeof b.input !== 'object' || Array.isArray(b.input)) return `${where}.input: Input should be a valid dictionary`;
      return null;
    case 'document': {
      const s = b.source;
      if (s?.type === 'base64') return s.media_type === 'application/pdf' && typeof s.data === 'string' ? null : `${where}.source.base64.media_type: Input should be 'application/pdf'`;
      if (s?.type === 'text') return typeof s.data === 'string' ? null : `${where}.source.text.data: Field required`;
      if (s?.type === 'url') return typeof s.url === 'string' ? null : `${where}.source.url.url: Field required`;
      return `${where}.source: Input tag '${s?.type}' found using 'type' does not match any of the expected tags: 'base64', 'text', 'url', 'content', 'file'`;
    }
    case 'thinking':
      if (role !== 'assistant') return `${where}: thinking blocks are only allowed in assistant messages`;
      if (typeof b.thinking !== 'string' || typeof b.signature !== 'string') return `${where}: thinking blocks need thinking and signature`;
      return null;
    case 'redacted_thinking':
      if (role !== 'assistant') return `${where}: redacted_thinking blocks are only allowed in assistant messages`;
      return typeof b.data === 'string' ? null : `${where}.data: Field required`;
    case 'tool_result':
      if (role !== 'user') return `${where}: tool_result blocks are only allowed in user messages`;
      if (!prevToolUses.has(b.tool_use_id))
        return `${where}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      return null;
    default:
      return null;
  }
}

// Returns an error message (for invalid_request_error) or null.  A
// count_tokens body has no max_tokens.
export function validateMessages(body, { counting = false } = {}) {
  for (const k of Object.keys(body)) if (!TOP_LEVEL.has(k) || (counting && ['max_tokens', 'stream', 'stop_sequences', 'temperature', 'top_p', 'top_k', 'metadata'].includes(k))) return `${k}: Extra inputs are not permitted`;
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!counting && body.max_tokens === undefined) return 'max_tokens: Field required';
  if (!counting && (!Number.isInteger(body.max_tokens) || body.max_tokens < 1)) return 'max_tokens: Input should be a valid integer greater than or equal to 1';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (body.messages.length === 0) return 'messages: at least one message is required';
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) return 'system: Input should be a valid string or list of text blocks';
  if (body.temperature !== undefined && !(typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 1))
    return 'temperature: Input should be less than or equal to 1';
  if (body.stop_sequences !== undefined && !(Array.isArray(body.stop_sequences) && body.stop_sequences.every((s) => typeof s === 'string')))
    return 'stop_sequences: Input should be a valid list of strings';
  let prevToolUses = new Set();
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    if (m?.role === 'system')
      return 'Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.';
    if (m?.role !== 'user' && m?.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (i === 0 && m.role !== 'user') return 'messages: first message must use the "user" role';
    if (i > 0 && body.messages[i - 1].role === m.role)
      return `messages: roles must alternate between "user" and "assistant", but found multiple "${m.role}" roles in a row`;
    for (const k of Object.keys(m)) if (k !== 'role' && k !== 'content') return `messages.${i}.${k}: Extra inputs are not permitted`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) return `messages.${i}.content: Field required`;
    if (typeof m.content === 'string' && m.content === '' && i < body.messages.length - 1)
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    const blocks = blocksOf(m);
    for (let j = 0; j < blocks.length; j++) {
      const e = validateBlock(blocks[j], `messages.${i}.content.${j}`, m.role, prevToolUses);
      if (e) return e;
    }
    prevToolUses = new Set(blocks.filter((b) => b.type === 'tool_use').map((b) => b.id));
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (let i = 0; i < body.tools.length; i++) {
      const t = body.tools[i];
      if (typeof t?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) return `tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
      if (!t.input_schema || typeof t.input_schema !== 'object' || t.input_schema.type !== 'object') return `tools.${i}.input_schema: Input should be a JSON schema of type object`;
      for (const k of Object.keys(t)) if (!['name', 'description', 'input_schema', 'cache_control', 'type'].includes(k)) return `tools.${i}.${k}: Extra inputs are not permitted`;
    }
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (!['auto', 'any', 'tool', 'none'].includes(tc?.type)) return "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'";
    if (tc.type === 'tool' && typeof tc.name !== 'string') return 'tool_choice.tool.name: Field required';
  }
  return checkFeatures(body);
}

// Whether the request thinks: thinking enabled (with a budget) or adaptive.
export const thinks = (body) => body.thinking?.type === 'enabled' || body.thinking?.type === 'adaptive';

function checkOutputConfig(body, version) {
  const oc = body.output_config;
  if (oc === undefined) return null;
  if (!oc || typeof oc !== 'object' || Array.isArray(oc)) return 'output_config: Input should be a valid dictionary';
  for (const k of Object.keys(oc)) if (k !== 'format' && k !== 'effort') return `output_config.${k}: Extra inputs are not permitted`;
  if (oc.format !== undefined) {
    if (oc.format?.type !== 'json_schema' || !oc.format.schema || typeof oc.format.schema !== 'object')
      return "output_config.format: Input should be {'type': 'json_schema', 'schema': {...}}";
    if (version < 45) return `output_config.format: structured outputs are not supported for model '${body.model}'`;
    const loose = looseObject(oc.format.schema);
    if (loose) return `output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false (at ${loose})`;
  }
  if (oc.effort !== undefined) {
    if (!['low', 'medium', 'high', 'max'].includes(oc.effort)) return "output_config.effort: Input should be 'low', 'medium', 'high' or 'max'";
    if (version < 46) return `output_config.effort: the effort parameter is not supported for model '${body.model}'`;
  }
  return null;
}

function checkThinking(body, version) {
  const t = body.thinking;
  if (t === undefined) return null;
  if (t?.type === 'disabled') return null;
  if (t?.type === 'adaptive') return version >= 46 ? null : `thinking.adaptive: adaptive thinking is not supported for model '${body.model}'`;
  if (t?.type !== 'enabled') return "thinking: Input tag found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'";
  if (!Number.isInteger(t.budget_tokens) || t.budget_tokens < 1024) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
  if (t.budget_tokens >= body.max_tokens) return '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size';
  return null;
}

// What thinking forbids, and the thinking blocks a conversation sends back.
function checkWhileThinking(body) {
  const msgs = body.messages;
  for (let i = 0; i < msgs.length; i++) {
    if (msgs[i].role !== 'assistant') continue;
    for (const [j, b] of blocksOf(msgs[i]).entries()) {
      if (b?.type === 'thinking' && !thinkingSigned(b.thinking, b.signature)) return `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      if (b?.type === 'redacted_thinking' && !redactedIssued(b.data)) return `messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
  }
  if (!thinks(body)) return null;
  if (body.temperature !== undefined && body.temperature !== 1)
    return '`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
  if (body.top_k !== undefined) return '`top_k` may not be set when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
  if (body.top_p !== undefined && body.top_p < 0.95) return '`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility';
  if (body.tool_choice?.type === 'any' || body.tool_choice?.type === 'tool') return 'Thinking may not be enabled when tool_choice forces tool use.';
  // the assistant turn a tool result answers must start with its thinking
  const last = msgs.length - 1;
  if (last >= 1 && contentOf(msgs[last]).toolResults.length && msgs[last - 1].role === 'assistant') {
    const first = blocksOf(msgs[last - 1])[0];
    if (first && first.type !== 'thinking' && first.type !== 'redacted_thinking')
      return `messages.${last - 1}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`;
  }
  return null;
}

// Every cache_control mark, in prompt order (tools, system, messages).
export function cacheParts(body) {
  const parts = [];
  const add = (text, cc, where) => parts.push({ text, tokens: words(text), mark: cc !== undefined, ttl: cc?.ttl, cc, where });
  for (const [i, t] of (body.tools || []).entries()) add(JSON.stringify({ ...t, cache_control: undefined }), t.cache_control, `tools.${i}`);
  if (typeof body.system === 'string') add(body.system, undefined, 'system');
  else for (const [i, b] of (body.system || []).entries()) add(b.text || '', b.cache_control, `system.${i}`);
  for (const [i, m] of body.messages.entries())
    for (const [j, b] of blocksOf(m).entries())
      add(b.type === 'text' ? b.text : b.type === 'tool_result' ? JSON.stringify(b.content) : JSON.stringify(b), b.cache_control, `messages.${i}.content.${j}`);
  return parts;
}

function checkCache(body) {
  const marked = cacheParts(body).filter((p) => p.mark);
  for (const p of marked) {
    const e = checkCacheControl(p.cc, p.where);
    if (e) return e;
  }
  if (marked.length > 4) return `A maximum of 4 blocks with cache_control may be provided. Found ${marked.length}.`;
  return null;
}

// Structured outputs, thinking and caching, as the real API checks them.
export function checkFeatures(body) {
  const version = claudeVersion(body.model);
  return checkOutputConfig(body, version) ?? checkThinking(body, version) ?? checkWhileThinking(body) ?? checkCache(body);
}

// Deterministic input for a tool from its JSON schema.
export function toolInput(tool, text) {
  return valueFromSchema({ type: 'object', properties: tool.input_schema?.properties || {} }, text || 'text');
}

function chosenTool(body, last, lastText) {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return null;
  if (contentOf(last).toolResults.length) return null; // the result came back: answer in text
  const tc = body.tool_choice;
  if (tc?.type === 'none') return null;
  if (tc?.type === 'tool') return body.tools.find((t) => t.name === tc.name) || body.tools[0];
  if (tc?.type === 'any' || /\[\[tool\]\]/.test(lastText)) return body.tools[0];
  return null;
}

// Plans the answer: text or tool_use, stop reason, usage.  The stream and
// the whole message are both rendered from this.
export function planMessage(body, { cache = null } = {}) {
  let inputTokens = 0;
  let images = 0;
  const system = typeof body.system === 'string' ? body.system : (body.system || []).map((b) => b.text || '').join(' ');
  inputTokens += words(stripDirectives(system));
  for (const m of body.messages) {
    const c = contentOf(m);
    inputTokens += words(stripDirectives(c.text)) + c.toolResults.reduce((n, r) => n + words(r), 0);
    images += c.images;
  }
  inputTokens += images * 85;
  const last = body.messages[body.messages.length - 1];
  const lastC = contentOf(last);
  const said = stripDirectives(lastC.text);
  const cacheHint = /\[\[cache:(\d+)\]\]/.exec(lastC.text);
  const cacheWrite = /\[\[cache_write:(\d+)\]\]/.exec(lastC.text);
  const plan = { id: newId('msg_'), model: body.model, images };
  const tool = last.role === 'user' ? chosenTool(body, last, lastC.text) : null;
  if (thinks(body)) {
    const text = `Thinking about: ${said || 'the question'}`;
    plan.thinking = { text, signature: signThinking(text) };
    if (/\[\[redacted\]\]/.test(lastC.text)) plan.redacted = issueRedacted();
  }
  const format = body.output_config?.format;
  if (format && !tool) {
    const json = JSON.stringify(valueFromSchema(format.schema, said || 'text'));
    plan.pieces = json.match(/.{1,8}/gs) || [];
    plan.text = json;
    plan.stopReason = 'end_turn';
    plan.stopSequence = null;
    plan.outputTokens = Math.max(1, Math.ceil(json.length / 4));
  } else if (tool) {
    plan.toolUse = { id: newId('toolu_'), name: tool.name, input: toolInput(tool, said) };
    plan.stopReason = 'tool_use';
    plan.stopSequence = null;
    plan.outputTokens = Math.max(1, Math.ceil(JSON.stringify(plan.toolUse.input).length / 4));
  } else {
    let text;
    if (lastC.toolResults.length) text = `echo: tool result: ${lastC.toolResults.join(' ')}`;
    else text = `echo: ${said}` + (images ? ` [images: ${images}]` : '');
    plan.stopReason = 'end_turn';
    plan.stopSequence = null;
    for (const s of body.stop_sequences || []) {
      const at = s ? text.indexOf(s) : -1;
      if (at >= 0) {
        text = text.slice(0, at);
        plan.stopReason = 'stop_sequence';
        plan.stopSequence = s;
        break;
      }
    }
    let pieces = text.split(/(?= )/).filter((p) => p !== '');
    if (pieces.length > body.max_tokens) {
      pieces = pieces.slice(0, body.max_tokens);
      plan.stopReason = 'max_tokens';
      plan.stopSequence = null;
    }
    plan.pieces = pieces;
    plan.text = pieces.join('');
    plan.outputTokens = pieces.length;
  }
  if (plan.thinking) plan.outputTokens += words(plan.thinking.text);
  plan.usage = {
    input_tokens: inputTokens,
    cache_creation_input_tokens: cacheWrite ? Number(cacheWrite[1]) : 0,
    cache_read_input_tokens: cacheHint ? Number(cacheHint[1]) : 0,
    output_tokens: plan.outputTokens,
  };
  if (cache) {
    // the marked prefix is read or written; the rest is input (tools count too)
    const parts = cacheParts(body);
    const { read, write, write1h } = cache.use(parts);
    if (read || write) {
      const toolTokens = parts.filter((p) => p.where.startsWith('tools.')).reduce((n, p) => n + p.tokens, 0);
      plan.usage.input_tokens = Math.max(0, inputTokens + toolTokens - read - write);
      plan.usage.cache_read_input_tokens += read;
      plan.usage.cache_creation_input_tokens = write;
    }
    // the writes by lifetime, as the API breaks them down
    if (write) plan.usage.cache_creation = { ephemeral_5m_input_tokens: write - write1h, ephemeral_1h_input_tokens: write1h };
  }
  return plan;
}

function contentBlocks(plan) {
  const thinking = [];
  if (plan.thinking) thinking.push({ type: 'thinking', thinking: plan.thinking.text, signature: plan.thinking.signature });
  if (plan.redacted) thinking.push({ type: 'redacted_thinking', data: plan.redacted });
  if (plan.toolUse) return [...thinking, { type: 'tool_use', id: plan.toolUse.id, name: plan.toolUse.name, input: plan.toolUse.input }];
  return plan.text ? [...thinking, { type: 'text', text: plan.text }] : thinking;
}

export function message(plan) {
  return {
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: contentBlocks(plan),
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    usage: plan.usage,
  };
}

// The events of a streamed answer, in order: [{event, data}].
export function streamEvents(plan) {
  const ev = (data) => ({ event: data.type, data });
  const out = [
    ev({
      type: 'message_start',
      message: { id: plan.id, type: 'message', role: 'assistant', model: plan.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...plan.usage, output_tokens: 1 } },
    }),
  ];
  let index = 0;
  if (plan.thinking) {
    out.push(ev({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
    for (const p of plan.thinking.text.split(/(?= )/))
      out.push(ev({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } }));
    out.push(ev({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: plan.thinking.signature } }));
    out.push(ev({ type: 'content_block_stop', index: index++ }));
  }
  if (plan.redacted) {
    out.push(ev({ type: 'content_block_start', index, content_block: { type: 'redacted_thinking', data: plan.redacted } }));
    out.push(ev({ type: 'content_block_stop', index: index++ }));
  }
  if (plan.toolUse) {
    const t = plan.toolUse;
    out.push(ev({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} } }));
    out.push(ev({ type: 'ping' }));
    const json = JSON.stringify(t.input);
    out.push(ev({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } }));
    // Anthropic sends the input in small fragments.
    for (let i = 0; i < json.length; i += 8)
      out.push(ev({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 8) } }));
  } else {
    out.push(ev({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
    out.push(ev({ type: 'ping' }));
    for (const p of plan.pieces) out.push(ev({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } }));
  }
  out.push(ev({ type: 'content_block_stop', index }));
  out.push(ev({ type: 'message_delta', delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence }, usage: { output_tokens: plan.outputTokens } }));
  out.push(ev({ type: 'message_stop' }));
  return out;
}

export function sse({ event, data }) {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
