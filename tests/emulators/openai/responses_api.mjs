// responses_api.mjs — the OpenAI emulator's Responses API (POST /v1/responses),
// as plain data.
//
// The request is read the way the chat planner reads one (responses.mjs):
// instructions and input items become messages, function tools become
// tools, so the answer is the chat answer's ("echo: <last user text>", a
// function call when tool_choice requires one or the text says [[tool]],
// word-count usage).  What is the Responses API's own: the response object
// with its output items, max_output_tokens cutting the answer into status
// "incomplete" (incomplete_details.reason "max_output_tokens"), text.format
// json_schema answering JSON built from the schema, and the stream's event
// sequence with sequence numbers, as the official `openai` client parses
// it (tests/e2e/emulator_openai.test.mjs holds the emulator to that).

import { newId, planChat, toolArguments, words } from './responses.mjs';

const err = (message, param = null, code = null) => ({ error: { message, type: 'invalid_request_error', param, code } });

// An error body for a request the Responses API refuses, or null.
export function validateResponses(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err('We could not parse the JSON body of your request.');
  if (typeof body.model !== 'string' || body.model === '') return err('Missing required parameter: \'model\'.', 'model', 'missing_required_parameter');
  if (body.previous_response_id) return { status: 404, ...err(`Previous response with id '${body.previous_response_id}' not found.`, 'previous_response_id', 'previous_response_not_found') };
  const input = body.input;
  if (typeof input !== 'string' && !(Array.isArray(input) && input.length > 0)) return err("Invalid 'input': expected a string or a non-empty array.", 'input', 'invalid_type');
  if (Array.isArray(input))
    for (let i = 0; i < input.length; i++) {
      const it = input[i];
      if (!it || typeof it !== 'object') return err(`Invalid type for 'input[${i}]': expected an object.`, `input[${i}]`, 'invalid_type');
      const type = it.type ?? 'message';
      if (type === 'message' && !['user', 'assistant', 'system', 'developer'].includes(it.role))
        return err(`Invalid value for 'input[${i}].role'.`, `input[${i}].role`, 'invalid_value');
      if (type === 'function_call' && (typeof it.call_id !== 'string' || typeof it.name !== 'string' || typeof it.arguments !== 'string'))
        return err(`Missing required parameter: 'input[${i}].call_id'.`, `input[${i}]`, 'missing_required_parameter');
      if (type === 'function_call_output' && typeof it.call_id !== 'string')
        return err(`Missing required parameter: 'input[${i}].call_id'.`, `input[${i}].call_id`, 'missing_required_parameter');
    }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return err("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type');
    for (let i = 0; i < body.tools.length; i++)
      if (body.tools[i]?.type === 'function' && typeof body.tools[i].name !== 'string')
        return err(`Missing required parameter: 'tools[${i}].name'.`, `tools[${i}].name`, 'missing_required_parameter');
  }
  const format = body.text?.format;
  if (format?.type === 'json_schema' && (typeof format.name !== 'string' || !format.schema))
    return err("Missing required parameter: 'text.format.name'.", 'text.format.name', 'missing_required_parameter');
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null && !(Number.isInteger(body.max_output_tokens) && body.max_output_tokens >= 16))
    return err("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16.", 'max_output_tokens', 'integer_below_min_value');
  return null;
}

function partsText(content) {
  if (typeof content === 'string') return content;
  return (content || []).map((p) => p.text ?? p.refusal ?? '').filter(Boolean).join(' ');
}

// The request as chat messages and tools, for the chat planner.
function asChat(body) {
  const messages = [];
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else
    for (const it of body.input) {
      const type = it.type ?? 'message';
      if (type === 'message') {
        const images = Array.isArray(it.content) ? it.content.filter((p) => p.type === 'input_image') : [];
        const content = [{ type: 'text', text: partsText(it.content) }, ...images.map(() => ({ type: 'image_url' }))];
        messages.push({ role: it.role, content });
      } else if (type === 'function_call') messages.push({ role: 'assistant', content: null });
      else if (type === 'function_call_output') messages.push({ role: 'tool', content: typeof it.output === 'string' ? it.output : partsText(it.output) });
    }
  const tools = (body.tools || []).filter((t) => t.type === 'function').map((t) => ({ type: 'function', function: { name: t.name, parameters: t.parameters } }));
  let tool_choice = body.tool_choice;
  if (tool_choice && typeof tool_choice === 'object' && tool_choice.type === 'function') tool_choice = { type: 'function', function: { name: tool_choice.name } };
  return { model: body.model, messages, tools, tool_choice, max_tokens: body.max_output_tokens ?? undefined };
}

// Plans the answer: output items, status, usage.
export function planResponse(body) {
  const chat = planChat(asChat(body));
  const plan = { id: newId('resp_'), created_at: Math.floor(Date.now() / 1000), model: body.model, items: [], status: 'completed', incomplete: null };
  const format = body.text?.format;
  if (chat.toolCall) {
    plan.items.push({ type: 'function_call', id: newId('fc_'), call_id: chat.toolCall.id, name: chat.toolCall.name, arguments: chat.toolCall.arguments, status: 'completed' });
  } else {
    let pieces = chat.pieces;
    if (format?.type === 'json_schema' || format?.type === 'json_object') {
      const said = chat.content.replace(/^echo: /, '');
      const json = toolArguments({ function: { parameters: format.schema || { type: 'object', properties: { answer: { type: 'string' } } } } }, said);
      pieces = [json.slice(0, Math.ceil(json.length / 2)), json.slice(Math.ceil(json.length / 2))];
    }
    plan.items.push({ type: 'message', id: newId('msg_'), role: 'assistant', status: 'completed', pieces, text: pieces.join('') });
    if (chat.finishReason === 'length') {
      plan.status = 'incomplete';
      plan.incomplete = { reason: 'max_output_tokens' };
      plan.items[0].status = 'incomplete';
    }
  }
  const output = chat.toolCall ? Math.max(1, Math.ceil(chat.toolCall.arguments.length / 4)) : words(plan.items[0].text);
  plan.usage = {
    input_tokens: chat.usage.prompt_tokens,
    input_tokens_details: { cached_tokens: chat.usage.prompt_tokens_details.cached_tokens },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: chat.usage.prompt_tokens + output,
  };
  return plan;
}

function item(it, done) {
  if (it.type === 'function_call')
    return { type: 'function_call', id: it.id, call_id: it.call_id, name: it.name, arguments: done ? it.arguments : '', status: done ? it.status : 'in_progress' };
  return {
    type: 'message',
    id: it.id,
    role: 'assistant',
    status: done ? it.status : 'in_progress',
    content: done ? [{ type: 'output_text', text: it.text, annotations: [], logprobs: [] }] : [],
  };
}

export function responseObject(plan, body, { status = plan.status, done = true } = {}) {
  return {
    id: plan.id,
    object: 'response',
    created_at: plan.created_at,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? plan.incomplete : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    model: plan.model,
    output: done ? plan.items.map((it) => item(it, true)) : [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: done ? plan.usage : null,
    user: null,
  };
}

// The stream's events, in order: [{type, ...}] with sequence numbers.
export function responseEvents(plan, body) {
  const out = [];
  const push = (e) => out.push({ ...e, sequence_number: out.length });
  push({ type: 'response.created', response: responseObject(plan, body, { status: 'in_progress', done: false }) });
  push({ type: 'response.in_progress', response: responseObject(plan, body, { status: 'in_progress', done: false }) });
  plan.items.forEach((it, output_index) => {
    push({ type: 'response.output_item.added', output_index, item: item(it, false) });
    if (it.type === 'message') {
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      push({ type: 'response.content_part.added', item_id: it.id, output_index, content_index: 0, part });
      for (const p of it.pieces) push({ type: 'response.output_text.delta', item_id: it.id, output_index, content_index: 0, delta: p, logprobs: [] });
      push({ type: 'response.output_text.done', item_id: it.id, output_index, content_index: 0, text: it.text, logprobs: [] });
      push({ type: 'response.content_part.done', item_id: it.id, output_index, content_index: 0, part: { ...part, text: it.text } });
    } else {
      for (let i = 0; i < it.arguments.length; i += 8)
        push({ type: 'response.function_call_arguments.delta', item_id: it.id, output_index, delta: it.arguments.slice(i, i + 8) });
      push({ type: 'response.function_call_arguments.done', item_id: it.id, output_index, name: it.name, arguments: it.arguments });
    }
    push({ type: 'response.output_item.done', output_index, item: item(it, true) });
  });
  push({ type: plan.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response: responseObject(plan, body) });
  return out;
}

// A failure after the first byte, as OpenAI streams one.
export function failureEvents(plan, body, seq) {
  const error = { code: 'server_error', message: 'The server had an error while processing your request (emulated).' };
  return [
    { type: 'error', sequence_number: seq, code: error.code, message: error.message, param: null },
    { type: 'response.failed', sequence_number: seq + 1, response: { ...responseObject(plan, body, { status: 'failed', done: false }), error } },
  ];
}
