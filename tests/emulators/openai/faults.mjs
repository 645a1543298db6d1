// faults.mjs — the fault language of the OpenAI emulator.
//
// One small syntax is shared by the three ways a test can ask for a fault, so
// a fault reads the same wherever it is written:
//
//   SPEC    := KIND [ ("," | " ") PARAM ]*
//   KIND    := name | name "=" value        e.g. "hang", "status=429"
//   PARAM   := key "=" value                e.g. "retry_after=2", "after=3"
//
//   per target : model "gpt-4o-mini+fault:status=429,retry_after=2"
//   per request: "[[fault:cut_stream after=3]]" anywhere in the last user message
//   per run    : POST /_emulator/faults {"fault":"status","status":429,"count":1}
//                or {"spec":"status=429,retry_after=2","count":1}
//
// Precedence: request directive, then model suffix, then run faults (oldest
// first).  Numbers are parsed as numbers; everything else stays a string.

import { faultLanguage, stripDirectives } from '../common/faults.mjs';

export const FAULT_KINDS = new Set([
  'status', // any HTTP status with an OpenAI-shaped error body
  'hang', // accept the request and never answer
  'reset', // destroy the socket (immediately, or after N body bytes)
  'delay', // answer normally after ms milliseconds (time to first byte)
  'slow', // stream chunks interval_ms apart
  'cut_stream', // stop a stream after N chunks without [DONE]
  'error_event', // a Responses stream fails after N events: error, then response.failed
  'invalid_json', // 200 application/json whose body is not JSON
  'wrong_content_type', // 200 text/html
  'garbage_sse', // 200 text/event-stream with malformed events
  'reframe', // (Responses) a whole stream, but from event N on in CRLF lines, each after a comment
]);

export const { parseFaultSpec, faultFromJSON, splitModel, directiveIn } = faultLanguage(FAULT_KINDS);
export { stripDirectives };
