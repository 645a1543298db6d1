/* admin_records.h — keys and teams as the admin API writes and reads them:
 * JSON fields onto records (validated, with a message naming the field) and
 * records back to JSON (never a secret).  Config-defined keys and teams are
 * turned into records too, so one listing shows both. */
#ifndef CMX_GOVERNANCE_ADMIN_RECORDS_H
#define CMX_GOVERNANCE_ADMIN_RECORDS_H

#include <jansson.h>

#include "config/config.h"
#include "core/err.h"
#include "store/store.h"

/* Sets the fields present in `in` on k.  creating: id may be given, and
 * name is required.  default_warn_at: for a budget without warn_at. */
cmx_err cmx_key_fields_apply(cmx_key_rec *k, json_t *in, int creating, double default_warn_at,
                             int64_t now_ms, cmx_error *err);
cmx_err cmx_team_fields_apply(cmx_team_rec *t, json_t *in, int creating, double default_warn_at,
                              cmx_error *err);

/* The key or team as JSON.  spent_usd < 0: not shown. */
json_t *cmx_key_rec_json(const cmx_key_rec *k, const char *source, double spent_usd,
                         int64_t now_ms);
json_t *cmx_team_rec_json(const cmx_team_rec *t, const char *source, double spent_usd,
                          int64_t now_ms);

/* A budget as JSON, or null; spent_usd < 0: without spend and reset time. */
json_t *cmx_budget_rec_json(const cmx_budget_rec *b, double spent_usd, int64_t now_ms);

/* Config entries as records (malloc'd fields; free with the rec functions). */
int cmx_key_rec_from_config(const cmx_vkey_config *c, cmx_key_rec *out);
int cmx_team_rec_from_config(const cmx_principal_config *c, cmx_team_rec *out);

#endif
