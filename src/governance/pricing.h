/* pricing.h — list prices per model and the cost of one request.
 *
 * A price list (data/pricing.yaml) says what each provider charges per
 * million tokens for a model: input, output, cached input (cache reads) and
 * cache writes (5-minute and one-hour).  It is read once, when a
 * configuration is loaded, and each target's price is resolved then and
 * stored in its cmx_target_config, so a request only multiplies a few
 * numbers.  A target's own `price:` in the config wins over the list.
 *
 * Model names match exactly, or after removing one snapshot suffix from the
 * name the target uses (see cmx_pricing_model_base): `gpt-4o-2024-08-06`
 * is priced as `gpt-4o`, but `gpt-4o-mini` is never priced as `gpt-4o`.
 *
 * This module must not do I/O on the request path, and never guesses a
 * price: an unknown model has an unknown cost, not zero. */
#ifndef CMX_GOVERNANCE_PRICING_H
#define CMX_GOVERNANCE_PRICING_H

#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "core/usage.h"

typedef struct cmx_price_entry {
    char *provider; /* provider type: openai, anthropic, bedrock, azure, vertex */
    char *model;
    /* USD per 1M tokens (known, not from_config): input not read from or
     * written to a cache, output, cached_input (read from a cache),
     * cache_write (written for 5 minutes), cache_write_1h (for an hour) */
    cmx_target_price price;
    char *as_of;  /* YYYY-MM-DD the price was taken */
    char *source; /* the page it was taken from */
    int line;
} cmx_price_entry;

typedef struct cmx_pricing {
    char *path;
    cmx_price_entry *entries;
    size_t n_entries;
} cmx_pricing;

/* The shipped data/pricing.yaml, built into the binary at build time
 * (cmake/embed_file.cmake): the list used when no file is found. */
extern const char cmx_pricing_builtin[];
extern const size_t cmx_pricing_builtin_len;

/* Parses a price list.  On a mistake returns CMX_ERR_CONFIG with err set to
 * "NAME:LINE:COL: what was expected" and *out NULL. */
cmx_err cmx_pricing_parse(const char *yaml, size_t len, const char *name, cmx_pricing **out,
                          cmx_error *err);
/* Same, from a file; a file that cannot be opened is CMX_ERR_IO. */
cmx_err cmx_pricing_load(const char *path, cmx_pricing **out, cmx_error *err);
void cmx_pricing_free(cmx_pricing *p);

/* Length of `model` without a trailing snapshot suffix: `-YYYY-MM-DD`,
 * `-YYYYMMDD`, `@YYYYMMDD` (Vertex), `-latest`, or a Bedrock version
 * `-vN` / `-vN:M` (then a date before it too).  Equals strlen(model)
 * when there is none. */
size_t cmx_pricing_model_base(const char *model);

/* The entry for a provider type and model: exact name first, then the name
 * without its snapshot suffix.  NULL when the list has no price. */
const cmx_price_entry *cmx_pricing_lookup(const cmx_pricing *p, const char *provider_type,
                                          const char *model);

/* Fills every target's price that the config did not set from the list
 * (a NULL list leaves them unknown).  Returns how many targets are priced. */
size_t cmx_pricing_apply(const cmx_pricing *p, cmx_config *c);

/* Finds the price list for a loaded config (the order is in docs/pricing.md:
 * CLOUDMUX_PRICING, pricing.file, data/pricing.yaml next to the config, the
 * binary's ../data and ../share/cloudmux, /usr/share/cloudmux, and else the
 * list built into the binary), loads it and applies it.  A file named by
 * CLOUDMUX_PRICING or pricing.file that cannot be read is a warning in diag
 * (no list then); a list that is broken is an error in diag and the function
 * returns its kind.  *used_path (may be NULL) gets a malloc'd copy of the
 * file used, "built-in" for the binary's own list, or NULL for none. */
cmx_err cmx_pricing_attach(cmx_config *c, cmx_config_diag *diag, char **used_path);

/* A config file loaded with its prices attached: what serve, check and a
 * reload run.  NULL with the problems in diag (which must be zeroed). */
cmx_config *cmx_config_load_priced(const char *path, cmx_config_diag *diag);

/* USD for one request's usage at a target's price: the prompt tokens
 * neither read from nor written to a cache at the input price, cache reads
 * at cached_input, cache writes at cache_write (their one-hour part at
 * cache_write_1h), completion at the output price.  Negative when unknown
 * (no price, or no token counts).  The one cost formula:
 * x-cloudmux-cost-usd, the access log, the ledger and the cascade's spend
 * cap all charge through it. */
double cmx_price_cost(const cmx_target_price *price, const cmx_usage *u);

/* USD a request is expected to cost before it is sent, from its estimated
 * prompt tokens, charged again as completion tokens (a rough answer length)
 * and nothing cached.  Negative when the price is unknown.  For choosing
 * (cheapest) and for not overspending (the cascade's cap). */
double cmx_price_estimate(const cmx_target_price *price, uint64_t prompt_tokens);

/* Writes a cost as a plain decimal with up to 10 places, trailing zeros
 * removed ("0.000123", "0", "12.5"); returns the length, 0 if it does not
 * fit or usd is negative. */
size_t cmx_cost_format(double usd, char *buf, size_t len);

#endif
