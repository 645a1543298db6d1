/* yaml_tree.h — a YAML document as a small tree of scalars, mappings and
 * sequences, every node carrying its 1-based line and column.
 *
 * libyaml's event stream has the positions but no structure, and its own
 * document loader drops the positions of keys; the config loader needs both to
 * say "config.yaml:12:5: ..." about any key or value.  The tree is read-only
 * once built and lives in one arena, freed at once.
 *
 * Deliberately unsupported, each with a precise error: anchors and aliases
 * (a config is read by people; `<<: *base` merges hide where a value comes
 * from), tags other than the standard `!!str`-style ones, more than one
 * document per file, and NUL bytes inside strings.  Duplicate keys are kept
 * in the tree; the loader reports them with the path it knows. */
#ifndef CMX_CONFIG_YAML_TREE_H
#define CMX_CONFIG_YAML_TREE_H

#include <stddef.h>

#include "core/arena.h"

typedef enum { CMX_YNODE_SCALAR, CMX_YNODE_MAP, CMX_YNODE_SEQ } cmx_ynode_kind;

typedef struct cmx_ynode cmx_ynode;

typedef struct cmx_ypair {
    const cmx_ynode *key;
    const cmx_ynode *value;
} cmx_ypair;

struct cmx_ynode {
    cmx_ynode_kind kind;
    int line; /* 1-based */
    int col;  /* 1-based */
    /* scalar: NUL-terminated text; is_null for a plain empty, `~` or `null` */
    const char *text;
    size_t len;
    int is_null;
    /* mapping: pairs in document order */
    const cmx_ypair *pairs;
    size_t n_pairs;
    /* sequence: items in document order */
    const cmx_ynode *const *items;
    size_t n_items;
};

typedef struct cmx_ytree {
    cmx_arena *arena;
    const cmx_ynode *root; /* NULL for a document with no content */
} cmx_ytree;

typedef struct cmx_ytree_error {
    int line; /* 1-based; 0 when the problem has no position (out of memory) */
    int col;
    char message[256];
} cmx_ytree_error;

/* Parses `len` bytes of YAML.  Returns 0 with *tree filled (free it with
 * cmx_ytree_free), or -1 with *err filled and nothing to free. */
int cmx_ytree_parse(const char *text, size_t len, cmx_ytree *tree, cmx_ytree_error *err);
void cmx_ytree_free(cmx_ytree *tree);

/* The value of the first pair whose key is the scalar `key`, or NULL. */
const cmx_ynode *cmx_ytree_get(const cmx_ynode *map, const char *key);

const char *cmx_ynode_kind_name(const cmx_ynode *n); /* "a mapping", "a list", ... */

#endif
