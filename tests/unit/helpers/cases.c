/* cases.c — the unit tests' case tables in text files; see cases.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers/cases.h"

#include <stdlib.h>
#include <string.h>

void cmx_cases_open(cmx_cases *cs, const char *name, int fields)
{
    memset(cs, 0, sizeof *cs);
    assert_true(fields > 0 && fields <= CMX_CASES_MAX_FIELDS);
    const char *src = getenv("CMX_SOURCE_DIR");
    assert_non_null(src);
    snprintf(cs->path, sizeof cs->path, "%s/tests/unit/cases/%s", src, name);
    cs->fields = fields;
    cs->file = fopen(cs->path, "r");
    if (!cs->file)
        fail_msg("cannot open %s", cs->path);
}

/* The next line of the file into *line (without its newline): 1, or 0 at the end. */
static int read_line(cmx_cases *cs, char **line)
{
    if (cs->pending) {
        *line = cs->pending;
        cs->pending = NULL;
        return 1;
    }
    size_t cap = 0;
    *line = NULL;
    ssize_t n = getline(line, &cap, cs->file);
    if (n < 0) {
        free(*line);
        return 0;
    }
    if (n > 0 && (*line)[n - 1] == '\n')
        (*line)[n - 1] = '\0';
    cs->next_line++;
    return 1;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t\r")] == '\0';
}

static void append(cmx_cases *cs, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > cs->text_cap) {
        cs->text_cap = (*len + n + 1) * 2;
        cs->text = realloc(cs->text, cs->text_cap);
        assert_non_null(cs->text);
    }
    memcpy(cs->text + *len, s, n);
    *len += n;
    cs->text[*len] = '\0';
}

/* Splits the row (its lines joined by '\n') into fields, in place in cs->text. */
static void split_row(cmx_cases *cs, const char *row)
{
    size_t len = 0;
    int n = 0;
    const char *p = row;
    for (;;) {
        p += strspn(p, " \t\r\n");
        if (!*p)
            break;
        if (n == cs->fields)
            fail_msg("%s: more than %d fields", cmx_case_where(cs), cs->fields);
        cs->offset[n] = len;
        cs->none[n] = 0;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                char c = *p;
                if (c == '\0' || c == '\n')
                    fail_msg("%s: unterminated string", cmx_case_where(cs));
                if (c == '\\') {
                    c = *++p;
                    if (c == '\n') { /* the string goes on, after the next line's indentation */
                        p += strspn(p + 1, " \t");
                        continue;
                    }
                    c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
                }
                append(cs, &len, &c, 1);
            }
            p++;
        } else {
            size_t w = strcspn(p, " \t\r\n");
            cs->none[n] = w == 1 && *p == '-';
            append(cs, &len, p, w);
            p += w;
        }
        append(cs, &len, "", 1); /* each field ends with its NUL */
        n++;
    }
    if (n != cs->fields)
        fail_msg("%s: %d fields, expected %d", cmx_case_where(cs), n, cs->fields);
}

int cmx_cases_next(cmx_cases *cs)
{
    char *line;
    do {
        if (!read_line(cs, &line))
            return 0;
        if (line[0] == '#' || is_blank(line)) {
            free(line);
            line = NULL;
        }
    } while (!line);
    if (line[0] == ' ' || line[0] == '\t')
        fail_msg("%s:%d: a continuation line without a row above", cs->path, cs->next_line);
    cs->line = cs->next_line;
    /* The row's lines, joined by '\n': the ones after it that start with white space. */
    char *row = line;
    size_t row_len = strlen(row);
    char *more;
    while (read_line(cs, &more)) {
        if ((more[0] != ' ' && more[0] != '\t') || is_blank(more)) {
            cs->pending = more;
            break;
        }
        size_t n = strlen(more);
        row = realloc(row, row_len + n + 2);
        assert_non_null(row);
        row[row_len++] = '\n';
        memcpy(row + row_len, more, n + 1);
        row_len += n;
        free(more);
    }
    split_row(cs, row);
    free(row);
    cs->rows++;
    if (getenv("CMX_TEST_VERBOSE"))
        print_message("%s\n", cmx_case_where(cs));
    return 1;
}

void cmx_cases_close(cmx_cases *cs)
{
    fclose(cs->file);
    free(cs->pending);
    free(cs->text);
    if (cs->rows == 0)
        fail_msg("%s has no case", cs->path);
}

const char *cmx_case_text(const cmx_cases *cs, int i)
{
    assert_true(i >= 0 && i < cs->fields);
    return cs->none[i] ? NULL : cs->text + cs->offset[i];
}

long long cmx_case_int(const cmx_cases *cs, int i)
{
    const char *s = cmx_case_text(cs, i);
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end)
        fail_msg("%s: field %d is not a whole number", cmx_case_where(cs), i + 1);
    return v;
}

int cmx_case_yes(const cmx_cases *cs, int i)
{
    const char *s = cmx_case_text(cs, i);
    if (s && strcmp(s, "yes") == 0)
        return 1;
    if (s && strcmp(s, "no") == 0)
        return 0;
    fail_msg("%s: field %d is neither yes nor no", cmx_case_where(cs), i + 1);
    return 0;
}

const char *cmx_case_where(const cmx_cases *cs)
{
    static char where[1100];
    const char *name = strrchr(cs->path, '/');
    snprintf(where, sizeof where, "%s:%d", name ? name + 1 : cs->path, cs->line);
    return where;
}
