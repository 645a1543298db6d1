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

import { faultLanguage, stripDirectives } from '../common/faults.mjs';

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
  'reframe', // a whole stream, but from event N on in CRLF lines, each after a comment
]);

export const { parseFaultSpec, faultFromJSON, splitModel, directiveIn } = faultLanguage(FAULT_KINDS);
export { stripDirectives };
