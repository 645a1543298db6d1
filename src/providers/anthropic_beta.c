/* anthropic_beta.c — the anthropic-beta names a Claude target passes on
 * (see anthropic_beta.h). */
#include "providers/anthropic_beta.h"

#include <string.h>

#include "providers/bedrock_config.h"
#include "providers/vertex_config.h"

const char *cmx_anthropic_betas_of(const cmx_provider_config *p)
{
    if (!p || !p->type_name || !p->settings)
        return NULL;
    if (strcmp(p->type_name, "bedrock") == 0)
        return cmx_bedrock_settings_of(p)->anthropic_betas;
    if (strcmp(p->type_name, "vertex") == 0)
        return cmx_vertex_settings_of(p)->anthropic_betas;
    return NULL;
}

/* The next name of a comma-separated list at *p: its start and length
 * (0 at the end), *p moved past it. */
static size_t next_name(const char **p, const char **name)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s) {
        *p = s;
        return 0;
    }
    const char *e = s;
    while (*e && *e != ',')
        e++;
    const char *end = e;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *p = e;
    *name = s;
    return (size_t)(end - s);
}

int cmx_anthropic_betas_valid(const char *s)
{
    for (const char *c = s; *c; c++) {
        int word = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                   (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_';
        if (!word && *c != '*' && *c != ',' && *c != ' ')
            return 0;
    }
    /* "*" stands for every name only alone: "context-*" would match none */
    const char *name;
    size_t n;
    int names = 0;
    for (const char *p = s; (n = next_name(&p, &name)) != 0; names++)
        if (n != 1 && memchr(name, '*', n))
            return 0;
    return names > 0;
}

static int listed(const char *allowed, const char *name, size_t n)
{
    const char *a;
    size_t an;
    for (const char *p = allowed; (an = next_name(&p, &a)) != 0;)
        if ((an == 1 && *a == '*') || (an == n && memcmp(a, name, n) == 0))
            return 1;
    return 0;
}

static void add(cmx_buf *b, const char *sep, const char *name, size_t n)
{
    if (!b)
        return;
    if (b->len)
        cmx_buf_append_str(b, sep);
    cmx_buf_append(b, name, n);
}

size_t cmx_anthropic_beta_filter(const char *header, const char *allowed, cmx_buf *kept,
                                 cmx_buf *dropped)
{
    size_t n_dropped = 0, n;
    const char *name;
    for (const char *p = header ? header : ""; (n = next_name(&p, &name)) != 0;) {
        if (!allowed || listed(allowed, name, n)) {
            add(kept, ",", name, n);
        } else {
            add(dropped, ", ", name, n);
            n_dropped++;
        }
    }
    return n_dropped;
}
