// claude_betas.mjs — the anthropic-beta names Claude on Bedrock and on
// Vertex takes, as AWS's and Google's documentation list them; both clouds
// refuse a request naming any other with a 400 ("invalid beta flag").
export const CLOUD_BETAS = new Set([
  'claude-code-20250219',
  'computer-use-2024-10-22',
  'computer-use-2025-01-24',
  'token-efficient-tools-2025-02-19',
  'interleaved-thinking-2025-05-14',
  'fine-grained-tool-streaming-2025-05-14',
  'output-128k-2025-02-19',
  'dev-full-thinking-2025-05-14',
  'context-1m-2025-08-07',
  'context-management-2025-06-27',
  'effort-2025-11-24',
  'tool-search-tool-2025-10-19',
  'tool-examples-2025-10-29',
]);

// The first name of a list (an array, or a comma-separated header) the
// clouds do not take, or undefined.
export function unknownBeta(names) {
  const list = Array.isArray(names) ? names : String(names ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return list.find((n) => typeof n !== 'string' || !CLOUD_BETAS.has(n));
}
