// faults.mjs — the fault language of the Anthropic emulator.
//
// The same syntax as the OpenAI emulator (tests/emulators/openai/faults.mjs),
// so a fault reads the same whichever provider a test drives:
//
//   SPEC    := KIND [ ("," | " ") PARAM ]*
//   KIND    := name | name "=" value        e.g. "hang", "status=529"
//   PARAM   := key "=" value                e.g. "retry_after=2", "after=3"
//
//   per target : model "claude-sonnet-4-5+fault:status=529"
//   per request: "[[fault:error_event after=3]]" anywhere in the last user message
//   per run    : POST /_emulator/faults {"fault":"status","status":429,"count":1}
//                or {"spec":"status=429,retry_after=2","count":1}
//
// Precedence: request directive, then model suffix, then run faults (oldest
// first).  Two kinds are Anthropic's own: `error_event` (an `event: error`
// in the middle of a stream, overloaded_error by default) and
// `prompt_too_long` (the 400 Anthropic sends for an oversized prompt).

export const FAULT_KINDS = new Set([
  'status', // any HTTP status with an Anthropic-shaped error body
  'hang', // accept the request and never answer
  'reset', // destroy the socket (immediately, or after N body bytes)
  'delay', // answer normally after ms milliseconds (time to first byte)
  'slow', // stream events interval_ms apart
  'cut_stream', // stop a stream after N events without message_stop
  'error_event', // an `error` event after N events, then the end
  'prompt_too_long', // 400 invalid_request_error "prompt is too long: ..."
  'invalid_json', // 200 application/json whose body is not JSON
  'wrong_content_type', // 200 text/html
  'garbage_sse', // 200 text/event-stream with malformed events
]);

function coerce(value) {
  if (value === undefined) return true;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

// Parses a SPEC string into {fault, ...params}; throws on an unknown kind so
// a typo in a test fails loudly instead of silently answering normally.
export function parseFaultSpec(spec) {
  const parts = String(spec)
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  if (parts.length === 0) throw new Error('empty fault spec');
  const [kindPart, ...rest] = parts;
  const eq = kindPart.indexOf('=');
  const fault = eq < 0 ? kindPart : kindPart.slice(0, eq);
  if (!FAULT_KINDS.has(fault)) throw new Error(`unknown fault '${fault}'`);
  const out = { fault };
  if (eq >= 0) out[fault] = coerce(kindPart.slice(eq + 1));
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i < 0) out[p] = true;
    else out[p.slice(0, i)] = coerce(p.slice(i + 1));
  }
  return out;
}

// Normalises a control-endpoint body into a fault object.
export function faultFromJSON(body) {
  if (!body || typeof body !== 'object') throw new Error('fault body must be a JSON object');
  let f;
  if (typeof body.spec === 'string') f = { ...parseFaultSpec(body.spec) };
  else {
    if (!FAULT_KINDS.has(body.fault)) throw new Error(`unknown fault '${body.fault}'`);
    f = { ...body };
  }
  for (const k of ['count', 'model', 'path']) if (body[k] !== undefined) f[k] = body[k];
  delete f.spec;
  return f;
}

const MODEL_FAULT = /\+fault:(.*)$/;
const DIRECTIVE = /\[\[fault:([^\]]*)\]\]/;

// "claude-sonnet-4-5+fault:hang" → {base: "claude-sonnet-4-5", fault: {fault: "hang"}}.
export function splitModel(model) {
  if (typeof model !== 'string') return { base: model, fault: null };
  const m = MODEL_FAULT.exec(model);
  if (!m) return { base: model, fault: null };
  return { base: model.slice(0, m.index), fault: parseFaultSpec(m[1]) };
}

export function directiveIn(text) {
  const m = DIRECTIVE.exec(text || '');
  return m ? parseFaultSpec(m[1]) : null;
}

// Removes directives such as [[fault:...]], [[tool]] and [[cache:N]] from
// text, so the echoed answer only contains what the user "said".
export function stripDirectives(text) {
  return (text || '')
    .replace(/\[\[[^\]]*\]\]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
