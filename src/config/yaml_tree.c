/* yaml_tree.c — builds a cmx_ytree from libyaml's event stream.
 *
 * The parser is driven event by event with an explicit stack of open
 * containers, so a deeply nested document cannot overflow the C stack (and
 * a depth limit rejects absurd nesting early).  Children of an open container
 * are gathered in a malloc'd vector and copied into the arena when the
 * container closes, so the finished tree is exactly sized and freed with the
 * arena. */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define STD_TAG_PREFIX "tag:yaml.org,2002:"

typedef struct frame {
    cmx_ynode *node;
    const cmx_ynode **children; /* mapping: key, value, key, value, ... */
    size_t n, cap;
} frame;

typedef struct builder {
    cmx_arena *arena;
    frame stack[MAX_DEPTH];
    int depth;
    const cmx_ynode *root;
    int documents;
    cmx_ytree_error *err;
} builder;

static int fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    b->err->line = (int)mark.line + 1;
    b->err->col = (int)mark.column + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err->message, sizeof b->err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_nomem(builder *b)
{
    b->err->line = 0;
    b->err->col = 0;
    snprintf(b->err->message, sizeof b->err->message, "out of memory while reading YAML");
    return -1;
}

static int push_child(builder *b, frame *f, const cmx_ynode *child)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        const cmx_ynode **grown = realloc(f->children, cap * sizeof *grown);
        if (!grown)
            return fail_nomem(b);
        f->children = grown;
        f->cap = cap;
    }
    f->children[f->n++] = child;
    return 0;
}

/* Hangs a finished node under the open container, or makes it the root. */
static int attach(builder *b, const cmx_ynode *node)
{
    if (b->depth == 0) {
        b->root = node;
        return 0;
    }
    return push_child(b, &b->stack[b->depth - 1], node);
}

static cmx_ynode *new_node(builder *b, cmx_ynode_kind kind, yaml_mark_t mark)
{
    cmx_ynode *n = cmx_arena_calloc(b->arena, 1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)mark.line + 1;
    n->col = (int)mark.column + 1;
    return n;
}

/* Anchors, aliases and non-standard tags are refused (see yaml_tree.h). */
static int check_node_props(builder *b, yaml_mark_t mark, const yaml_char_t *anchor,
                            const yaml_char_t *tag)
{
    if (anchor)
        return fail_at(b, mark,
                       "YAML anchors (&%.40s) are not supported in the configuration; "
                       "write the value out in full",
                       (const char *)anchor);
    if (tag && strncmp((const char *)tag, STD_TAG_PREFIX, strlen(STD_TAG_PREFIX)) != 0 &&
        strcmp((const char *)tag, "!") != 0)
        return fail_at(b, mark, "YAML tag '%.40s' is not supported in the configuration",
                       (const char *)tag);
    return 0;
}

static int is_plain_null(const char *s, size_t len)
{
    return len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    if (check_node_props(b, ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag))
        return -1;
    size_t len = ev->data.scalar.length;
    const char *value = (const char *)ev->data.scalar.value;
    if (memchr(value, '\0', len))
        return fail_at(b, ev->start_mark, "NUL character in a string is not supported");
    cmx_ynode *n = new_node(b, CMX_YNODE_SCALAR, ev->start_mark);
    char *text = n ? cmx_arena_strndup(b->arena, value, len) : NULL;
    if (!text)
        return fail_nomem(b);
    n->text = text;
    n->len = len;
    n->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
                 is_plain_null(text, len);
    return attach(b, n);
}

static int on_open(builder *b, const yaml_event_t *ev, cmx_ynode_kind kind)
{
    const yaml_char_t *anchor =
        kind == CMX_YNODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag =
        kind == CMX_YNODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (check_node_props(b, ev->start_mark, anchor, tag))
        return -1;
    if (b->depth == MAX_DEPTH)
        return fail_at(b, ev->start_mark, "YAML nesting deeper than %d levels", MAX_DEPTH);
    cmx_ynode *n = new_node(b, kind, ev->start_mark);
    if (!n)
        return fail_nomem(b);
    frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    return 0;
}

static int on_close(builder *b)
{
    frame *f = &b->stack[b->depth - 1];
    cmx_ynode *n = f->node;
    if (n->kind == CMX_YNODE_MAP) {
        size_t np = f->n / 2;
        cmx_ypair *pairs = np ? cmx_arena_calloc(b->arena, np, sizeof *pairs) : NULL;
        if (np && !pairs)
            return fail_nomem(b);
        for (size_t i = 0; i < np; i++) {
            pairs[i].key = f->children[2 * i];
            pairs[i].value = f->children[2 * i + 1];
        }
        n->pairs = pairs;
        n->n_pairs = np;
    } else {
        const cmx_ynode **items = f->n ? cmx_arena_calloc(b->arena, f->n, sizeof *items) : NULL;
        if (f->n && !items)
            return fail_nomem(b);
        if (f->n)
            memcpy(items, f->children, f->n * sizeof *items);
        n->items = items;
        n->n_items = f->n;
    }
    free(f->children);
    f->children = NULL;
    b->depth--;
    return attach(b, n);
}

static int syntax_error(builder *b, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return fail_nomem(b);
    /* Reader errors (bad encoding) carry no problem mark; the reader's
     * position is the best we have. */
    yaml_mark_t mark = p->error == YAML_READER_ERROR ? p->mark : p->problem_mark;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->context)
        return fail_at(b, mark, "YAML syntax error: %s (%s at line %d, column %d)", problem,
                       p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return fail_at(b, mark, "YAML syntax error: %s", problem);
}

/* Handles one event; returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int on_event(builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return fail_at(b, ev->start_mark,
                           "more than one YAML document in the file (only one is allowed)");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_at(b, ev->start_mark,
                       "YAML aliases (*%.40s) are not supported in the configuration; "
                       "write the value out in full",
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT: return on_scalar(b, ev);
    case YAML_MAPPING_START_EVENT: return on_open(b, ev, CMX_YNODE_MAP);
    case YAML_SEQUENCE_START_EVENT: return on_open(b, ev, CMX_YNODE_SEQ);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT: return on_close(b);
    default: return 0;
    }
}

int cmx_ytree_parse(const char *text, size_t len, cmx_ytree *tree, cmx_ytree_error *err)
{
    builder b;
    memset(&b, 0, sizeof b);
    memset(err, 0, sizeof *err);
    b.err = err;
    tree->arena = NULL;
    tree->root = NULL;
    b.arena = cmx_arena_new(16 * 1024);
    if (!b.arena)
        return fail_nomem(&b);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cmx_arena_free(b.arena);
        return fail_nomem(&b);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    int rc = 0;
    while (rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(&b, &parser);
            break;
        }
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    for (int i = 0; i < b.depth; i++)
        free(b.stack[i].children);
    if (rc < 0) {
        cmx_arena_free(b.arena);
        return -1;
    }
    tree->arena = b.arena;
    tree->root = b.root && !(b.root->kind == CMX_YNODE_SCALAR && b.root->is_null) ? b.root : NULL;
    return 0;
}

void cmx_ytree_free(cmx_ytree *tree)
{
    if (!tree)
        return;
    cmx_arena_free(tree->arena);
    tree->arena = NULL;
    tree->root = NULL;
}

const cmx_ynode *cmx_ytree_get(const cmx_ynode *map, const char *key)
{
    if (!map || map->kind != CMX_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n_pairs; i++) {
        const cmx_ynode *k = map->pairs[i].key;
        if (k->kind == CMX_YNODE_SCALAR && strcmp(k->text, key) == 0)
            return map->pairs[i].value;
    }
    return NULL;
}

const char *cmx_ynode_kind_name(const cmx_ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->kind) {
    case CMX_YNODE_MAP: return "a mapping";
    case CMX_YNODE_SEQ: return "a list";
    default: return n->is_null ? "an empty value" : "a string";
    }
}
