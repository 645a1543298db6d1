// portable.mjs — what the emulators share to behave like the real services
// for structured outputs, reasoning and prompt caching:
//
// - the model families' feature lists, from the providers' docs: Claude's
//   structured outputs from the 4.5 models on (Vertex: 4.6), its effort
//   setting and adaptive thinking from 4.6; Gemini 3's thinking levels,
//   Gemini 2.5's budgets;
// - a value that follows a JSON schema (what a constrained model writes);
// - thinking signatures the emulator issues and checks, as the real services
//   check that a conversation sends back the very thinking they produced;
// - a prompt-cache ledger: the first request with a cache mark writes the
//   prefix, later ones with the same prefix read it, prefixes under the
//   model's minimum are not cached (no error), as Anthropic documents it.

import { createHash, createHmac } from 'node:crypto';

export const words = (s) => String(s ?? '').split(/\s+/).filter(Boolean);

// Claude's family version: 46 for claude-opus-4-6, 37 for claude-3-7-sonnet,
// 0 for anything else.
export function claudeVersion(model) {
  const m = /claude-(?:opus|sonnet|haiku)-(\d{1,2})(?:-(\d{1,2}))?(?!\d)/.exec(model || '') || /claude-(\d{1,2})-(\d{1,2})(?!\d)/.exec(model || '');
  if (!m) return 0;
  return Number(m[1]) * 10 + Math.min(Number(m[2] || 0), 9);
}

export function geminiMajor(model) {
  const m = /gemini-(\d{1,2})/.exec(model || '');
  return m ? Number(m[1]) : 0;
}

// A value that follows a JSON schema: strings get `text`, numbers 1,
// booleans true, enums their first value, objects every property.
export function valueFromSchema(schema, text = 'text') {
  const s = schema || {};
  if (Array.isArray(s.enum)) return s.enum[0];
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.anyOf) && s.anyOf.length) return valueFromSchema(s.anyOf.find((x) => x.type !== 'null') || s.anyOf[0], text);
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (t === 'object' || (!t && s.properties)) {
    const out = {};
    for (const [k, v] of Object.entries(s.properties || {})) out[k] = valueFromSchema(v, text);
    return out;
  }
  if (t === 'array') return s.items ? [valueFromSchema(s.items, text)] : [];
  if (t === 'number' || t === 'integer') return 1;
  if (t === 'boolean') return true;
  if (t === 'null') return null;
  return text;
}

// The first object in a schema without additionalProperties: false (a
// strict schema needs it on every object), as a JSON pointer; null if none.
export function looseObject(schema, at = '') {
  if (!schema || typeof schema !== 'object') return null;
  const t = Array.isArray(schema.type) ? schema.type : [schema.type];
  if ((t.includes('object') || schema.properties) && schema.additionalProperties !== false) return at || '/';
  for (const [k, v] of Object.entries(schema.properties || {})) {
    const r = looseObject(v, `${at}/properties/${k}`);
    if (r) return r;
  }
  for (const key of ['items', 'additionalItems']) {
    const r = schema[key] && typeof schema[key] === 'object' ? looseObject(schema[key], `${at}/${key}`) : null;
    if (r) return r;
  }
  for (const key of ['anyOf', 'allOf', 'oneOf']) {
    for (const [i, v] of (schema[key] || []).entries()) {
      const r = looseObject(v, `${at}/${key}/${i}`);
      if (r) return r;
    }
  }
  for (const [k, v] of Object.entries(schema.$defs || schema.definitions || {})) {
    const r = looseObject(v, `${at}/$defs/${k}`);
    if (r) return r;
  }
  return null;
}

// Thinking the emulator produced, and the proof of it.
const SECRET = 'emulator-thinking-key';
export const signThinking = (text) => createHmac('sha256', SECRET).update(String(text)).digest('base64');
export const thinkingSigned = (text, signature) => typeof signature === 'string' && signature === signThinking(text);
let redactedCount = 0;
export function issueRedacted() {
  const body = `redacted:${++redactedCount}`;
  return Buffer.from(`${body}:${signThinking(body)}`).toString('base64');
}
export function redactedIssued(data) {
  const s = Buffer.from(String(data), 'base64').toString('utf8');
  const at = s.lastIndexOf(':');
  return at > 0 && thinkingSigned(s.slice(0, at), s.slice(at + 1));
}

// The prompt cache: a prefix (the parts up to the last cache mark, in the
// order tools, system, messages) is written by the first request that marks
// it, read by the next ones; under `min` tokens nothing is cached.  A write
// lives as long as the mark that closes each piece of it says: the parts up
// to the last mark with ttl "1h" are written for an hour (one-hour marks
// come before five-minute ones), the rest for the 5-minute default.
export function createCacheLedger({ min = 1024 } = {}) {
  const written = new Set();
  return {
    // parts: [{tokens, text, mark, ttl}] in prompt order → {read, write, write1h}
    use(parts) {
      const none = { read: 0, write: 0, write1h: 0 };
      const last = parts.findLastIndex((p) => p.mark);
      if (last < 0) return none;
      const prefix = parts.slice(0, last + 1);
      const tokens = prefix.reduce((n, p) => n + p.tokens, 0);
      if (tokens < min) return none;
      const key = createHash('sha256').update(JSON.stringify(prefix.map((p) => p.text))).digest('hex');
      if (written.has(key)) return { ...none, read: tokens };
      written.add(key);
      const hour = prefix.findLastIndex((p) => p.mark && p.ttl === '1h');
      const write1h = prefix.slice(0, hour + 1).reduce((n, p) => n + p.tokens, 0);
      return { read: 0, write: tokens, write1h };
    },
  };
}

// The cache marks in order, each checked; an error message or null.
export function checkCacheControl(cc, where) {
  if (!cc || typeof cc !== 'object' || cc.type !== 'ephemeral') return `${where}.cache_control.type: Input should be 'ephemeral'`;
  for (const k of Object.keys(cc)) if (k !== 'type' && k !== 'ttl') return `${where}.cache_control.ephemeral.${k}: Extra inputs are not permitted`;
  if (cc.ttl !== undefined && cc.ttl !== '5m' && cc.ttl !== '1h') return `${where}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'`;
  return null;
}
