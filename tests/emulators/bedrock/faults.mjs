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

import { faultLanguage } from '../common/faults.mjs';

export const FAULT_KINDS = new Set(['status', 'model_not_ready', 'too_long', 'hang', 'exception_event', 'cut_stream', 'slow']);

// The spec grammar is the one every emulator shares.
export const { parseFaultSpec } = faultLanguage(FAULT_KINDS);

// "model+fault:hang" → {model: "model", fault: "hang"} (the spec unparsed).
export function splitModel(modelId) {
  const i = modelId.indexOf('+fault:');
  if (i < 0) return { model: modelId, fault: null };
  return { model: modelId.slice(0, i), fault: modelId.slice(i + 7) };
}
