// faults.mjs — the fault language of the Bedrock emulator.
//
// The same syntax as the other emulators' (tests/emulators/openai/faults.mjs),
// carried in the model id since that is what a cloudmux target names:
//
//   SPEC    := KIND [ ("," | " ") PARAM ]*
//   model id: "anthropic.claude-3-haiku-20240307-v1:0+fault:status=429,retry_after=2"
//
// Kinds:
//   status=N            an HTTP error with AWS's error type for it (429
//                       ThrottlingException, 503 ServiceUnavailableException,
//                       403 AccessDeniedException, 400 ValidationException,
//                       others InternalServerException); retry_after=S adds
//                       a Retry-After header
//   model_not_ready     429 ModelNotReadyException (Bedrock's own status for it)
//   too_long            400 ValidationException "Input is too long for requested model."
//   hang                accept the request and never answer
//   exception_event     a stream exception message after `after` events
//                       (default 3), type=throttlingException by default
//                       (type=modelStreamErrorException ...), then the end
//   cut_stream          a stream whose socket is destroyed after `after` events
//   slow                stream events interval_ms apart (default 50)

export const FAULT_KINDS = new Set(['status', 'model_not_ready', 'too_long', 'hang', 'exception_event', 'cut_stream', 'slow']);

function coerce(value) {
  if (value === undefined) return true;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

// Parses a SPEC into {fault, ...params}; an unknown kind throws, so a typo
// in a test fails loudly instead of answering normally.
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

// "model+fault:hang" → {model: "model", fault: "hang"} (the spec unparsed).
export function splitModel(modelId) {
  const i = modelId.indexOf('+fault:');
  if (i < 0) return { model: modelId, fault: null };
  return { model: modelId.slice(0, i), fault: modelId.slice(i + 7) };
}
