/* anthropic_beta.h — which of a Messages call's anthropic-beta names a
 * Claude target passes on.
 *
 * Anthropic takes every beta it has; Claude on Bedrock and on Vertex takes
 * a list of its own and refuses the whole request ("invalid beta flag")
 * for any other name.  Those providers hold the names they pass on in
 * their `anthropic_betas` key (a comma-separated list, "*" for all); the
 * rest of the header is dropped, and the gateway names it in the answer's
 * x-cloudmux-dropped header. */
#ifndef CMX_PROVIDERS_ANTHROPIC_BETA_H
#define CMX_PROVIDERS_ANTHROPIC_BETA_H

#include "config/config.h"
#include "core/buf.h"

/* The betas Bedrock and Vertex document for Claude, the default of their
 * `anthropic_betas` key. */
#define CMX_CLAUDE_CLOUD_BETAS                                                                     \
    "claude-code-20250219,computer-use-2024-10-22,computer-use-2025-01-24,"                        \
    "token-efficient-tools-2025-02-19,interleaved-thinking-2025-05-14,"                            \
    "fine-grained-tool-streaming-2025-05-14,output-128k-2025-02-19,"                               \
    "dev-full-thinking-2025-05-14,context-1m-2025-08-07,context-management-2025-06-27,"            \
    "effort-2025-11-24,tool-search-tool-2025-10-19,tool-examples-2025-10-29"

/* A value of `anthropic_betas`: names of letters, digits, '-', '.' and '_'
 * between commas and blanks, or "*". */
int cmx_anthropic_betas_valid(const char *s);

/* The names provider p passes on: its `anthropic_betas`, or NULL when it
 * passes every name (anthropic, and any provider without the key). */
const char *cmx_anthropic_betas_of(const cmx_provider_config *p);

/* Splits `header` (comma-separated names, blanks around them ignored) by
 * `allowed` (the same form; NULL or "*" allows all): the names passed on
 * go to `kept` (","-separated, as a header or a list is written), the
 * others to `dropped` (", "-separated, as the gateway's note is), each
 * after what its buffer holds.  Either buffer may be NULL.  Returns how many names
 * were dropped. */
size_t cmx_anthropic_beta_filter(const char *header, const char *allowed, cmx_buf *kept,
                                 cmx_buf *dropped);

#endif
