/* admin_governance.c — /admin/... requests: keys, teams and spend.
 *
 * They touch the store, which may take milliseconds (PostgreSQL, a report
 * over a big ledger), so they never run on the worker's loop: the request is
 * handed to the governance thread and its reply comes back through the
 * worker's mailbox.  If the client leaves meanwhile the call is only marked
 * orphaned; the reply is dropped when it arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "mailbox.h"

typedef struct cmx_admin_call {
    cmx_letter letter; /* first: the mailbox hands the letter back */
    cmx_mailbox *mailbox;
    cmx_api_ctx *c; /* NULL once the client went away */
    cmx_gov_reply reply;
} admin_call;

static void answer(cmx_api_ctx *c, const cmx_gov_reply *reply)
{
    if (reply->kind != CMX_OK || !reply->body) {
        char allow[48] = "";
        if (reply->allow[0])
            snprintf(allow, sizeof allow, "Allow: %s\r\n", reply->allow);
        const char *msg = reply->message[0] ? reply->message : "the admin request failed";
        cmx_reply_error(c, reply->status ? reply->status : 500,
                        reply->kind != CMX_OK ? reply->kind : CMX_ERR_INTERNAL,
                        reply->param[0] ? reply->param : NULL, reply->code[0] ? reply->code : NULL,
                        msg, NULL, allow[0] ? allow : NULL);
        return;
    }
    cmx_reply_log(c, reply->status, NULL, NULL);
    cmx_http_respond(c->ex, reply->status, reply->content_type,
                     cmx_reply_headers(c, NULL, "Cache-Control: no-store\r\n"), reply->body,
                     strlen(reply->body));
}

static void deliver(cmx_letter *l)
{
    admin_call *a = (admin_call *)l;
    if (a->c) {
        a->c->admin_call = NULL;
        answer(a->c, &a->reply);
    }
    cmx_gov_reply_free(&a->reply);
    free(a);
}

static void discard(cmx_letter *l)
{
    admin_call *a = (admin_call *)l;
    cmx_gov_reply_free(&a->reply);
    free(a);
}

/* On the governance thread. */
static void on_reply(void *arg, cmx_gov_reply *reply)
{
    admin_call *a = arg;
    a->reply = *reply;
    cmx_mailbox_post(a->mailbox, &a->letter);
}

static void on_client_gone(cmx_http_exchange *ex, void *arg)
{
    cmx_api_ctx *c = arg;
    if (c->admin_call)
        c->admin_call->c = NULL;
    c->admin_call = NULL;
    cmx_reply_log(c, 499, NULL, "cancelled");
}

void cmx_admin_governance(cmx_api_ctx *c, long key_index)
{
    cmx_worker *w = c->worker;
    if (!w->gov) {
        cmx_reply_error(c, 404, CMX_ERR_NOT_FOUND, NULL, "governance_off",
                        "the admin API for keys, teams and spend needs a 'governance' section "
                        "(a store) in the configuration",
                        NULL, NULL);
        return;
    }
    const cmx_http_request *req = c->req;
    char *method = cmx_arena_strndup(req->arena, req->method.ptr, req->method.len);
    char *path = cmx_arena_strndup(req->arena, req->path.ptr, req->path.len);
    char *query = cmx_arena_strndup(req->arena, req->query.ptr, req->query.len);
    admin_call *a = calloc(1, sizeof *a);
    if (!method || !path || !query || !a) {
        free(a);
        cmx_reply_error(c, 500, CMX_ERR_NOMEM, NULL, NULL, "out of memory", NULL, NULL);
        return;
    }
    a->letter.deliver = deliver;
    a->letter.discard = discard;
    a->mailbox = w->mailbox;
    a->c = c;
    c->admin_call = a;
    cmx_http_on_close(c->ex, on_client_gone, c);
    /* Who did it, for the audit log: an id made from the admin key, never the key. */
    char actor[24] = "admin";
    if (key_index >= 0 && (size_t)key_index < c->cfg->server.n_admin_keys)
        cmx_admin_key_id(c->cfg->server.admin_keys[key_index], actor);
    cmx_gov_admin_submit(w->gov, actor, method, path, query, req->body, req->body_len, on_reply, a);
}
