/* residency_tag.h — the syntax of a data-residency tag ("eu", "us-east"),
 * checked the same way wherever one is written: a provider's, a model
 * group's or an API key's `residency` in the config, and a client's
 * x-cloudmux-residency header.  Which region a request must stay in is the
 * router's decision (router/residency.h). */
#ifndef CMX_CORE_RESIDENCY_TAG_H
#define CMX_CORE_RESIDENCY_TAG_H

#include <stddef.h>

/* What a tag is, for messages: "expected " CMX_RESIDENCY_TAG_SYNTAX. */
#define CMX_RESIDENCY_TAG_SYNTAX "a region tag of 1 to 32 lower-case letters, digits or '-'"

/* 1 when the len bytes at s are 1 to 32 of [a-z0-9-]. */
int cmx_residency_tag_valid(const char *s, size_t len);

#endif
