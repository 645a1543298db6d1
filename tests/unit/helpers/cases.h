/* cases.h — tables of test cases kept as text files under tests/unit/cases/,
 * so that adding a case is adding a line, not writing C (as curl keeps its
 * tests in tests/data/).  A test opens its file and walks the rows:
 *
 *     cmx_cases cs;
 *     cmx_cases_open(&cs, "durations.txt", 2);
 *     while (cmx_cases_next(&cs))
 *         check(cmx_case_text(&cs, 0), cmx_case_int(&cs, 1));
 *     cmx_cases_close(&cs);
 *
 * The format: one case a row, its fields separated by white space.  A field
 * is a bare word, or a "quoted string" with the C escapes \n \t \r \" \\
 * (adjacent quoted strings are joined, as in C), or a lone - for "none".
 * A line that starts with white space continues the row above it; blank
 * lines and lines starting with # are skipped.  A row with another number
 * of fields than the test expects, or a file with no row at all, fails the
 * test: a renamed or emptied file never passes as zero cases.  With
 * CMX_TEST_VERBOSE set, each row's place is printed as it is read (a failed
 * check is then the last row printed). */
#ifndef CMX_TEST_HELPERS_CASES_H
#define CMX_TEST_HELPERS_CASES_H

#include <stddef.h>
#include <stdio.h>

enum { CMX_CASES_MAX_FIELDS = 12 };

typedef struct cmx_cases {
    FILE *file;
    char path[1024];
    int fields;    /* how many each row has */
    int line;      /* of the current row's first line */
    int next_line; /* the line read ahead, not yet used */
    char *pending; /* that line */
    size_t rows;   /* read so far */
    char *text;    /* the current row's fields, one after another */
    size_t text_cap;
    size_t offset[CMX_CASES_MAX_FIELDS];
    int none[CMX_CASES_MAX_FIELDS]; /* the field was a lone - */
} cmx_cases;

/* Opens tests/unit/cases/<name> (under $CMX_SOURCE_DIR); every row must
 * have `fields` fields. */
void cmx_cases_open(cmx_cases *cs, const char *name, int fields);
/* Reads the next row: 1, or 0 at the end of the file. */
int cmx_cases_next(cmx_cases *cs);
/* Fails the test when the file had no row; closes it. */
void cmx_cases_close(cmx_cases *cs);

/* Field i of the current row: its text (NULL for -), as a whole number, as
 * yes (1) or no (0). */
const char *cmx_case_text(const cmx_cases *cs, int i);
long long cmx_case_int(const cmx_cases *cs, int i);
int cmx_case_yes(const cmx_cases *cs, int i);
/* "name:line" of the current row, for messages. */
const char *cmx_case_where(const cmx_cases *cs);

#endif
