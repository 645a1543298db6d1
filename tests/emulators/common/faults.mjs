// faults.mjs — the fault language every provider emulator speaks, so a fault
// reads the same whichever provider a test drives:
//
//   SPEC    := KIND [ ("," | " ") PARAM ]*
//   KIND    := name | name "=" value        e.g. "hang", "status=429"
//   PARAM   := key "=" value                e.g. "retry_after=2", "after=3"
//
//   per target : model "<model>+fault:status=429,retry_after=2"
//   per request: "[[fault:cut_stream after=3]]" anywhere in the last user message
//   per run    : POST /_emulator/faults {"fault":"status","status":429,"count":1}
//                or {"spec":"status=429,retry_after=2","count":1}
//
// Each emulator passes the set of fault kinds it knows; an unknown kind
// throws, so a typo in a test fails loudly instead of answering normally.

function coerce(value) {
  if (value === undefined) return true;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

const MODEL_FAULT = /\+fault:(.*)$/;
const DIRECTIVE = /\[\[fault:([^\]]*)\]\]/;

export function faultLanguage(kinds) {
  // Parses a SPEC string into {fault, ...params}.
  function parseFaultSpec(spec) {
    const parts = String(spec)
      .trim()
      .split(/[\s,]+/)
      .filter(Boolean);
    if (parts.length === 0) throw new Error('empty fault spec');
    const [kindPart, ...rest] = parts;
    const eq = kindPart.indexOf('=');
    const fault = eq < 0 ? kindPart : kindPart.slice(0, eq);
    if (!kinds.has(fault)) throw new Error(`unknown fault '${fault}'`);
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
  function faultFromJSON(body) {
    if (!body || typeof body !== 'object') throw new Error('fault body must be a JSON object');
    let f;
    if (typeof body.spec === 'string') f = { ...parseFaultSpec(body.spec) };
    else {
      if (!kinds.has(body.fault)) throw new Error(`unknown fault '${body.fault}'`);
      f = { ...body };
    }
    for (const k of ['count', 'model', 'path']) if (body[k] !== undefined) f[k] = body[k];
    delete f.spec;
    return f;
  }

  // "gpt-4o-mini+fault:hang" → {base: "gpt-4o-mini", fault: {fault: "hang"}}.
  function splitModel(model) {
    if (typeof model !== 'string') return { base: model, fault: null };
    const m = MODEL_FAULT.exec(model);
    if (!m) return { base: model, fault: null };
    return { base: model.slice(0, m.index), fault: parseFaultSpec(m[1]) };
  }

  function directiveIn(text) {
    const m = DIRECTIVE.exec(text || '');
    return m ? parseFaultSpec(m[1]) : null;
  }

  return { parseFaultSpec, faultFromJSON, splitModel, directiveIn };
}

// Removes directives such as [[fault:...]] and [[tool]] from text, so the
// echoed answer only contains what the user "said".
export function stripDirectives(text) {
  return (text || '')
    .replace(/\[\[[^\]]*\]\]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
