/* config_internal.h — what the files of config/ share while loading: the
 * load context (where messages go, where relative paths start) and the
 * helpers that read typed values out of the YAML tree with located errors.
 *
 * Every reader follows one rule: a missing key leaves the default in place,
 * a present key either sets the field or records an error and leaves the
 * default, so loading always walks the whole file and reports every problem
 * in one go. */
#ifndef CMX_CONFIG_CONFIG_INTERNAL_H
#define CMX_CONFIG_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/yaml_tree.h"

typedef struct cmx_cfg_msg {
    int line, col;
    size_t seq; /* order of discovery, to keep the sort stable */
    char *text; /* "file:line:col: message" */
} cmx_cfg_msg;

typedef struct cmx_cfg_msgs {
    cmx_cfg_msg *items;
    size_t n, cap;
} cmx_cfg_msgs;

typedef struct cmx_cfg_ctx {
    const char *file;     /* name used in messages */
    const char *base_dir; /* anchors relative file: references and ca_file */
    cmx_config *cfg;
    cmx_cfg_msgs errors;
    cmx_cfg_msgs warnings;
    size_t seq;
    int oom;
} cmx_cfg_ctx;

/* Messages at a node's position (or line 0 / col 0 for the whole file). */
void cmx_cfg_error(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cmx_cfg_warning(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cmx_cfg_error_at(cmx_cfg_ctx *ctx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sorts messages by position and moves them into diag (which must be zeroed). */
void cmx_cfg_flush(cmx_cfg_ctx *ctx, cmx_config_diag *diag);
void cmx_cfg_msgs_free(cmx_cfg_msgs *m);

/* strdup that records running out of memory in the context. */
char *cmx_cfg_strdup(cmx_cfg_ctx *ctx, const char *s);

/* The scalar as it should appear in a message: quoted, shortened, control
 * characters replaced.  Never call it on a secret. */
const char *cmx_cfg_show(const cmx_ynode *n, char *buf, size_t len);

/* Checks that `node` is a mapping (a null value counts as an empty one) and
 * that all its keys are plain, unique and in `allowed` (NULL-terminated);
 * reports every offender.  Returns 1 if the node is usable as a mapping. */
int cmx_cfg_check_map(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path,
                      const char *const *allowed);
/* Reports key `key_node` as unknown in `path`, listing the allowed keys. */
void cmx_cfg_unknown_key(cmx_cfg_ctx *ctx, const cmx_ynode *key_node, const char *path,
                         const char *const *allowed);
/* For mappings keyed by user-chosen names: reports non-scalar keys and
 * duplicates (once each); returns 1 if pair i is the first with its name. */
int cmx_cfg_check_names(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path);
int cmx_cfg_is_first_name(const cmx_ynode *map, size_t i);

/* Typed readers: look `key` up in `map` (under `path` for messages) and set
 * *out if present and valid.  Return 1 if set, 0 if absent, -1 on error. */
int cmx_cfg_uint(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                 uint64_t min, uint64_t max, uint64_t *out);
int cmx_cfg_size(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                 uint64_t min, size_t *out);
int cmx_cfg_duration(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                     int allow_zero, uint32_t *out);
int cmx_cfg_bool(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                 int *out);
int cmx_cfg_double(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                   double min, double max, double *out);
/* Any scalar (not null) as a string; replaces *out (freeing the old one). */
int cmx_cfg_string(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                   char **out);
/* A secret reference at `node`, resolved; `path` is the full dotted name. */
int cmx_cfg_secret(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path, char **out);

/* A residency tag: 1 to 32 of [a-z0-9-]. */
int cmx_cfg_valid_residency(const char *tag);

/* Sections, each in its own file. */
void cmx_cfg_load_server(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_upstream(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_providers(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_models(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_state(cmx_cfg_ctx *ctx, const cmx_ynode *node);
/* governance, keys, teams, audit (config_governance.c) */
void cmx_cfg_load_governance(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_teams(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_keys(cmx_cfg_ctx *ctx, const cmx_ynode *node);
void cmx_cfg_load_audit(cmx_cfg_ctx *ctx, const cmx_ynode *node);
/* After all sections: the default store, key and team groups against models. */
void cmx_cfg_check_governance(cmx_cfg_ctx *ctx);
void cmx_cfg_governance_defaults(cmx_config *c);
void cmx_cfg_free_governance(cmx_config *c);
/* A key or team id: 1 to 64 of [A-Za-z0-9._-]. */
int cmx_cfg_valid_id(const char *s);

/* Defaults for a freshly allocated snapshot. */
void cmx_cfg_set_defaults(cmx_cfg_ctx *ctx, cmx_config *c);
/* Frees a snapshot regardless of its reference count (also partial ones). */
void cmx_cfg_destroy(cmx_config *c);
/* Builds the name → group lookup once the models are final. */
int cmx_cfg_build_index(cmx_config *c);

#endif
