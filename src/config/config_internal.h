/* config_internal.h — what the files of config/ share while loading: the
 * load context (where messages go, where relative paths start) and the
 * section loaders; the typed readers with located errors are declared in
 * config_module.h, which provider modules use too.
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
#include "config/config_module.h"
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

struct cmx_cfg_ctx {
    const char *file;     /* name used in messages */
    const char *base_dir; /* anchors relative file: references and ca_file */
    cmx_config *cfg;
    cmx_cfg_msgs errors;
    cmx_cfg_msgs warnings;
    size_t seq;
    int oom;
};

/* Messages at line `line` (0: the whole file); the node-located ones and
 * the typed readers are in config_module.h, shared with the modules. */
void cmx_cfg_error_at(cmx_cfg_ctx *ctx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sorts messages by position and moves them into diag (which must be zeroed). */
void cmx_cfg_flush(cmx_cfg_ctx *ctx, cmx_config_diag *diag);
void cmx_cfg_msgs_free(cmx_cfg_msgs *m);

/* Reports key `key_node` as unknown in `path`, listing the allowed keys. */
void cmx_cfg_unknown_key(cmx_cfg_ctx *ctx, const cmx_ynode *key_node, const char *path,
                         const char *const *allowed);
/* For mappings keyed by user-chosen names: reports non-scalar keys and
 * duplicates (once each); returns 1 if pair i is the first with its name. */
int cmx_cfg_check_names(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path);
int cmx_cfg_is_first_name(const cmx_ynode *map, size_t i);

/* A `residency` key: a region tag (core/residency_tag.h), checked. */
cmx_cfg_read cmx_cfg_residency(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                               char **out);

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
/* Frees a provider's module settings (secrets wiped) through its key table. */
void cmx_cfg_free_provider_settings(cmx_provider_config *p);
/* Frees a snapshot regardless of its reference count (also partial ones). */
void cmx_cfg_destroy(cmx_config *c);
/* Builds the name → group lookup once the models are final. */
int cmx_cfg_build_index(cmx_config *c);

#endif
