/* test_ingress.c — the data-driven tests of the client APIs' checks and
 * converters (ingress/): Anthropic's Messages API and OpenAI's Responses
 * API to and from the chat format.
 *
 * Each folder under tests/data/ingress_messages/ and
 * tests/data/ingress_responses/ is one case, made of pairs of files, each
 * pair one direction:
 *
 *   request.json        → expected_chat_request.json (the chat form),
 *                         expected_dropped.txt (what it dropped, when
 *                         something was), or expected_error.json
 *                         {"kind","message"} (the message a substring) when
 *                         the check or the conversion refuses it
 *   chat_answer.json    → expected_answer.json (a message or a response;
 *                         {"error":{"kind"}} when refused)
 *   chat_stream.txt     → expected_events.txt: one chat chunk a line in,
 *                         "<event name> <JSON>" a line out, then [END] when
 *                         the stream completed; a case with a file `fail`
 *                         ends the stream with that failure instead
 *                         ("kind: message")
 *
 * The request is the case's own (a Responses answer repeats its settings),
 * or a minimal one when it has none.  A response's id and time are fixed
 * ("resp_test", 1700000000).  JSON is compared by value.  Each folder must
 * hold at least MIN_CASES cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka after the standard headers it needs */
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/str.h"
#include "helpers/case_files.h"
#include "ingress/ingress.h"

#define MIN_CASES 8

static void assert_json_equal(const char *expected, size_t elen, const char *actual, size_t alen,
                              const char *what)
{
    json_t *e = json_loadb(expected, elen, 0, NULL);
    json_t *a = json_loadb(actual, alen, 0, NULL);
    if (!e)
        fail_msg("%s: the expected JSON does not parse", what);
    if (!a)
        fail_msg("%s: the output is not JSON: %.*s", what, (int)alen, actual);
    int differs = cmx_case_json_differs(e, a, what);
    json_decref(e);
    json_decref(a);
    if (differs)
        fail();
}

typedef struct test_case {
    cmx_api api; /* CMX_API_MESSAGES or CMX_API_RESPONSES */
    char dir[1024];
    char name[256];
} test_case;

/* The case's request, checked (or a minimal one); *body keeps the bytes alive. */
static cmx_err check_request(const test_case *tc, cmx_arena *arena, char **body,
                             cmx_ingress_request *req, cmx_error *err)
{
    size_t len;
    *body = cmx_case_read(tc->dir, "request.json", &len);
    if (!*body) {
        const char *min =
            tc->api == CMX_API_MESSAGES
                ? "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\","
                  "\"content\":\"x\"}]}"
                : "{\"model\":\"m\",\"input\":\"x\"}";
        *body = strdup(min);
        len = strlen(min);
    }
    cmx_request_scan scan;
    return tc->api == CMX_API_MESSAGES
               ? cmx_messages_check(CMX_API_MESSAGES, *body, len, arena, req, &scan, err)
               : cmx_responses_check(*body, len, arena, req, &scan, err);
}

static void expect_error(const test_case *tc, cmx_err rc, const cmx_error *err)
{
    size_t len;
    char *text = cmx_case_read(tc->dir, "expected_error.json", &len);
    json_t *exp = json_loadb(text, len, 0, NULL);
    free(text);
    const char *kind = json_string_value(json_object_get(exp, "kind"));
    const char *msg = json_string_value(json_object_get(exp, "message"));
    if (rc == CMX_OK)
        fail_msg("%s: expected error %s, got none", tc->name, kind);
    assert_string_equal(cmx_err_name(rc), kind);
    if (msg && !strstr(err->message, msg))
        fail_msg("%s: error message '%s' does not contain '%s'", tc->name, err->message, msg);
    json_decref(exp);
}

static void run_request(const test_case *tc, cmx_arena *arena, const cmx_ingress_request *req,
                        const char *beta)
{
    cmx_buf out = CMX_BUF_INIT, dropped = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = tc->api == CMX_API_MESSAGES
                     ? cmx_messages_to_chat(req, beta, arena, &out, &dropped, &err)
                     : cmx_responses_to_chat(req, arena, &out, &dropped, &err);
    if (cmx_case_has(tc->dir, "expected_error.json")) {
        expect_error(tc, rc, &err);
    } else {
        if (rc != CMX_OK)
            fail_msg("%s: conversion failed: %s", tc->name, err.message);
        assert_false(cmx_buf_failed(&out));
        size_t elen;
        char *exp = cmx_case_read(tc->dir, "expected_chat_request.json", &elen);
        if (!exp)
            fail_msg("%s: no expected_chat_request.json", tc->name);
        char what[300];
        snprintf(what, sizeof what, "%s: chat request", tc->name);
        assert_json_equal(exp, elen, out.data, out.len, what);
        free(exp);
        char *want = cmx_case_read(tc->dir, "expected_dropped.txt", NULL);
        if (want) {
            want[strcspn(want, "\n")] = '\0';
            assert_string_equal(dropped.data ? dropped.data : "", want);
        } else if (dropped.len) {
            fail_msg("%s: dropped '%s' without expected_dropped.txt", tc->name, dropped.data);
        }
        free(want);
    }
    cmx_buf_free(&out);
    cmx_buf_free(&dropped);
}

static void run_answer(const test_case *tc, cmx_arena *arena, const cmx_ingress_request *req)
{
    size_t len, elen;
    char *chat = cmx_case_read(tc->dir, "chat_answer.json", &len);
    char *exp = cmx_case_read(tc->dir, "expected_answer.json", &elen);
    cmx_buf out = CMX_BUF_INIT;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_responses_meta meta = {req, "resp_test", 1700000000};
    cmx_err rc = tc->api == CMX_API_MESSAGES
                     ? cmx_messages_from_chat(chat, len, arena, &out, &err)
                     : cmx_responses_from_chat(&meta, chat, len, arena, &out, &err);
    char what[300];
    snprintf(what, sizeof what, "%s: answer", tc->name);
    if (rc != CMX_OK) {
        char got[128];
        int n = snprintf(got, sizeof got, "{\"error\":{\"kind\":\"%s\"}}", cmx_err_name(rc));
        assert_json_equal(exp, elen, got, (size_t)n, what);
    } else {
        assert_json_equal(exp, elen, out.data, out.len, what);
    }
    cmx_buf_free(&out);
    free(chat);
    free(exp);
}

static void collect(void *ctx, const char *event, const char *json, size_t len)
{
    cmx_buf *b = ctx;
    cmx_buf_printf(b, "%s ", event);
    cmx_buf_append(b, json, len);
    cmx_buf_append(b, CMX_LIT("\n"));
}

static void run_stream(const test_case *tc, cmx_arena *arena, const cmx_ingress_request *req)
{
    size_t len, elen;
    char *text = cmx_case_read(tc->dir, "chat_stream.txt", &len);
    char *exp = cmx_case_read(tc->dir, "expected_events.txt", &elen);
    char *fail_with = cmx_case_read(tc->dir, "fail", NULL);
    cmx_buf events = CMX_BUF_INIT;
    cmx_messages_stream ms;
    cmx_responses_stream rs;
    cmx_responses_meta meta = {req, "resp_test", 1700000000};
    if (tc->api == CMX_API_MESSAGES)
        cmx_messages_stream_init(&ms, arena, collect, &events);
    else
        cmx_responses_stream_init(&rs, &meta, collect, &events);
    cmx_error err;
    for (char *line = text, *end = text + len; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t l = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (l) {
            cmx_error_clear(&err);
            cmx_err rc = tc->api == CMX_API_MESSAGES
                             ? cmx_messages_stream_chunk(&ms, line, l, &err)
                             : cmx_responses_stream_chunk(&rs, line, l, &err);
            if (rc != CMX_OK)
                cmx_buf_printf(&events, "[CHUNK REFUSED] %s\n", cmx_err_name(rc));
        }
        line += l + 1;
    }
    if (fail_with) {
        fail_with[strcspn(fail_with, "\n")] = '\0';
        char *colon = strchr(fail_with, ':');
        *colon = '\0';
        cmx_err kind = CMX_ERR_UNAVAILABLE;
        for (int k = 0; k < CMX_ERR__COUNT; k++)
            if (strcmp(cmx_err_name((cmx_err)k), fail_with) == 0)
                kind = (cmx_err)k;
        assert_int_equal(tc->api, CMX_API_RESPONSES); /* Messages failures are the gateway's */
        cmx_responses_stream_fail(&rs, kind, colon + 2);
    } else {
        cmx_error_clear(&err);
        cmx_err rc = tc->api == CMX_API_MESSAGES ? cmx_messages_stream_end(&ms, &err)
                                                 : cmx_responses_stream_end(&rs, &err);
        assert_int_equal(rc, CMX_OK);
        cmx_buf_append_str(&events, "[END]\n");
    }
    /* line by line: the event name exactly, its JSON by value */
    const char *e = exp, *eend = exp + elen, *a = events.data, *aend = events.data + events.len;
    for (size_t n = 1;; n++) {
        while (e < eend && *e == '\n')
            e++;
        while (a < aend && *a == '\n')
            a++;
        if (e >= eend && a >= aend)
            break;
        const char *enl = memchr(e, '\n', (size_t)(eend - e)),
                   *anl = memchr(a, '\n', (size_t)(aend - a));
        size_t el = enl ? (size_t)(enl - e) : (size_t)(eend - e);
        size_t al = anl ? (size_t)(anl - a) : (size_t)(aend - a);
        if (e >= eend || a >= aend)
            fail_msg("%s: event %zu: expected '%.*s', got '%.*s'", tc->name, n, (int)el, e, (int)al,
                     a);
        const char *esp = memchr(e, ' ', el), *asp = memchr(a, ' ', al);
        size_t en = esp ? (size_t)(esp - e) : el, an = asp ? (size_t)(asp - a) : al;
        if (en != an || memcmp(e, a, en) != 0)
            fail_msg("%s: event %zu: expected '%.*s', got '%.*s'", tc->name, n, (int)el, e, (int)al,
                     a);
        if (esp && e[0] != '[') {
            char what[320];
            snprintf(what, sizeof what, "%s: event %zu (%.*s)", tc->name, n, (int)en, e);
            assert_json_equal(esp + 1, el - en - 1, asp ? asp + 1 : "", asp ? al - an - 1 : 0,
                              what);
        }
        e += el;
        a += al;
    }
    if (tc->api == CMX_API_MESSAGES)
        cmx_messages_stream_free(&ms);
    else
        cmx_responses_stream_free(&rs);
    cmx_buf_free(&events);
    free(text);
    free(exp);
    free(fail_with);
}

static void run_case(void **state)
{
    const test_case *tc = *state;
    cmx_arena *arena = cmx_arena_new(4096);
    char *body = NULL;
    cmx_ingress_request req;
    cmx_error err;
    cmx_error_clear(&err);
    cmx_err rc = check_request(tc, arena, &body, &req, &err);
    int directions = 0;
    if (rc != CMX_OK) {
        /* refused by the check itself */
        if (!cmx_case_has(tc->dir, "expected_error.json"))
            fail_msg("%s: the request was refused: %s", tc->name, err.message);
        expect_error(tc, rc, &err);
        directions++;
    } else {
        char *beta = cmx_case_read(tc->dir, "anthropic_beta", NULL);
        if (beta)
            beta[strcspn(beta, "\n")] = '\0';
        if (cmx_case_has(tc->dir, "request.json")) {
            run_request(tc, arena, &req, beta);
            directions++;
        }
        free(beta);
        if (cmx_case_has(tc->dir, "chat_answer.json")) {
            run_answer(tc, arena, &req);
            directions++;
        }
        if (cmx_case_has(tc->dir, "chat_stream.txt")) {
            run_stream(tc, arena, &req);
            directions++;
        }
    }
    if (!directions)
        fail_msg("%s: no request.json, chat_answer.json or chat_stream.txt", tc->name);
    free(body);
    cmx_arena_free(arena);
}

static size_t found[2];

static test_case *find_cases(const char *root, size_t *n)
{
    static const struct {
        const char *folder;
        cmx_api api;
    } apis[] = {{"ingress_messages", CMX_API_MESSAGES}, {"ingress_responses", CMX_API_RESPONSES}};
    test_case *cases = NULL;
    *n = 0;
    for (size_t k = 0; k < 2; k++) {
        char pdir[768];
        snprintf(pdir, sizeof pdir, "%.600s/tests/data/%s", root, apis[k].folder);
        size_t m;
        char **names = cmx_case_dirs(pdir, &m);
        cases = realloc(cases, (*n + m + 1) * sizeof *cases);
        for (size_t i = 0; i < m; i++) {
            test_case *tc = &cases[(*n)++];
            snprintf(tc->dir, sizeof tc->dir, "%s/%.200s", pdir, names[i]);
            snprintf(tc->name, sizeof tc->name, "%s/%.200s", apis[k].folder, names[i]);
            tc->api = apis[k].api;
        }
        found[k] += m;
        cmx_case_dirs_free(names, m);
    }
    return cases;
}

/* A wrong path or a renamed folder must fail, never pass as zero tests. */
static void both_folders_have_their_cases(void **state)
{
    (void)state;
    assert_true(found[0] >= MIN_CASES);
    assert_true(found[1] >= MIN_CASES);
}

int main(void)
{
    const char *root = getenv("CMX_SOURCE_DIR");
    if (!root)
        root = ".";
    size_t n;
    test_case *cases = find_cases(root, &n);
    struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
    tests[0] = (struct CMUnitTest)cmocka_unit_test(both_folders_have_their_cases);
    for (size_t i = 0; i < n; i++)
        tests[i + 1] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, &cases[i]};
    int failed = _cmocka_run_group_tests("ingress", tests, n + 1, NULL, NULL);
    free(tests);
    free(cases);
    return failed;
}
