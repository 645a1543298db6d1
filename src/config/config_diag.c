/* config_diag.c — collecting the loader's errors and warnings.
 *
 * Sections are loaded in a fixed order (providers before models, so targets
 * can be resolved), which is not always the order of the file.  Messages are
 * therefore kept with their position and sorted before they reach the user,
 * who then reads them top to bottom like compiler output. */
#include "config/config_internal.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_msg(cmx_cfg_ctx *ctx, cmx_cfg_msgs *m, int line, int col, const char *fmt,
                    va_list ap)
{
    char body[768];
    vsnprintf(body, sizeof body, fmt, ap);
    char *text = NULL;
    int n = line > 0 ? asprintf(&text, "%s:%d:%d: %s", ctx->file, line, col, body)
                     : asprintf(&text, "%s: %s", ctx->file, body);
    if (n < 0) {
        ctx->oom = 1;
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        cmx_cfg_msg *grown = realloc(m->items, cap * sizeof *grown);
        if (!grown) {
            free(text);
            ctx->oom = 1;
            return;
        }
        m->items = grown;
        m->cap = cap;
    }
    m->items[m->n++] = (cmx_cfg_msg){line, col, ctx->seq++, text};
}

void cmx_cfg_error_at(cmx_cfg_ctx *ctx, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_msg(ctx, &ctx->errors, line, col, fmt, ap);
    va_end(ap);
}

void cmx_cfg_error(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_msg(ctx, &ctx->errors, at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
}

void cmx_cfg_warning(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_msg(ctx, &ctx->warnings, at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
}

static int by_position(const void *a, const void *b)
{
    const cmx_cfg_msg *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void move_out(cmx_cfg_msgs *m, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!m->n)
        return;
    qsort(m->items, m->n, sizeof *m->items, by_position);
    char **texts = malloc(m->n * sizeof *texts);
    if (!texts)
        return; /* the caller still holds the messages and frees them */
    for (size_t i = 0; i < m->n; i++) {
        texts[i] = m->items[i].text;
        m->items[i].text = NULL;
    }
    *out = texts;
    *n_out = m->n;
}

void cmx_cfg_flush(cmx_cfg_ctx *ctx, cmx_config_diag *diag)
{
    move_out(&ctx->errors, &diag->errors, &diag->n_errors);
    move_out(&ctx->warnings, &diag->warnings, &diag->n_warnings);
    cmx_cfg_msgs_free(&ctx->errors);
    cmx_cfg_msgs_free(&ctx->warnings);
}

void cmx_cfg_msgs_free(cmx_cfg_msgs *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->items[i].text);
    free(m->items);
    memset(m, 0, sizeof *m);
}

void cmx_config_diag_free(cmx_config_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_errors; i++)
        free(d->errors[i]);
    for (size_t i = 0; i < d->n_warnings; i++)
        free(d->warnings[i]);
    free(d->errors);
    free(d->warnings);
    memset(d, 0, sizeof *d);
}

char *cmx_cfg_strdup(cmx_cfg_ctx *ctx, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        ctx->oom = 1;
    return copy;
}

const char *cmx_cfg_show(const cmx_ynode *n, char *buf, size_t len)
{
    if (!n || n->kind != CMX_YNODE_SCALAR || n->is_null)
        return cmx_ynode_kind_name(n);
    /* 'text' quoted, at most ~40 characters, control characters as '?'. */
    size_t max = len > 48 ? 40 : len - 8, o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < n->len && o < max; i++) {
        unsigned char c = (unsigned char)n->text[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n->len > max - 1) {
        memcpy(buf + o, CMX_LIT("..."));
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}
