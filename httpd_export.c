/* What a decision hands to the application: the token's variables in the environment and/or as
 * request headers (ClerkPassClaimsAs, ClerkPassNestedClaims), REMOTE_USER's header twins, and
 * their signature (ClerkSignedHeadersKeyFile). The names and values are the core's (export.h);
 * this file only puts them where httpd's handlers read them. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "httpd_config.h"
#include "httpd_export.h"
#include "httpd_logno.h"
#include "httpd_request.h"

#include "b64url.h"
#include "export.h"
#include "machine_token.h"
#include "handoff.h"
#include "jwt.h"

APLOG_USE_MODULE(clerk_auth);

/* The signed-in token's payload segment, for X-Clerk-Claims. */
static const char *claims_header_value(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (rq && rq->machine) {
        if (!rq->machine->claims)
            return NULL;
        char *b = clerk_b64url_encode((const unsigned char *)rq->machine->claims,
                                      strlen(rq->machine->claims));
        const char *v = b ? apr_pstrdup(r->pool, b) : NULL;
        free(b);
        return v;
    }
    size_t n;
    const char *seg = rq && rq->st.token ? clerk_jwt_payload_segment(rq->st.token->jwt, &n) : NULL;
    return seg ? apr_pstrmemdup(r->pool, seg, n) : NULL;
}

typedef struct export_ctx {
    request_rec *r;
    int pass_as;
    /* apr_table_setn or, when the environment holds no CLERK_* name yet, apr_table_addn:
     * setn scans the table for each name, and every exported name starts alike. */
    void (*env_set)(apr_table_t *, const char *, const char *);
} export_ctx;

static void export_var(void *vctx, const char *name, const char *value)
{
    export_ctx *x = vctx;
    if (x->pass_as & PASS_ENV)
        x->env_set(x->r->subprocess_env, name, value);
    if (x->pass_as & PASS_HEADERS) {
        /* JSON in a header would need escaping rules of its own; base64url needs none. */
        if (strcmp(name, "CLERK_CLAIMS") == 0 && !(value = claims_header_value(x->r)))
            return;
        apr_table_setn(x->r->headers_in, clerk_export_header_name(x->r->pool, name), value);
    }
}

/* 1 when the environment already holds a CLERK_* name (SetEnvIf, an internal redirect): then
 * each token variable must replace, not add. */
static int env_has_clerk_names(const apr_table_t *env)
{
    const apr_array_header_t *h = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && strncasecmp(e[i].key, "CLERK_", 6) == 0)
            return 1;
    return 0;
}

/* The token's variables are made once per token (clerk_export_token_vars) and point into it; the
 * request holds its token until its pool is destroyed, so they outlive every reader. */
static void export_decision_vars(request_rec *r, const clerk_resolved *rs, clerk_req *rq)
{
    if (rs->pass_as == PASS_NONE || rq->preflight) /* a preflight's state is no decision */
        return;
    export_ctx x = {r, rs->pass_as,
                    env_has_clerk_names(r->subprocess_env) ? apr_table_setn : apr_table_addn};

    const int signed_in = rq->st.status == CLERK_SIGNED_IN;
    if (signed_in && rq->machine) { /* no session variable at all */
        clerk_export_state_vars(&rq->st, export_var, &x);
        clerk_machine_export_vars(rq->machine, export_var, &x);
        if (rs->pass_as & PASS_HEADERS) {
            apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
            apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
        }
        return;
    }
    if (!signed_in || rq->exports == NULL) {
        const clerk_auth *auth = signed_in && rq->auth_made ? &rq->auth : NULL;
        clerk_export_vars(r->pool, &rq->st, auth, export_var, &x);
        if (auth && (rs->pass_as & PASS_HEADERS)) {
            apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
            apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
        }
        return;
    }
    clerk_export_state_vars(&rq->st, export_var, &x);
    const clerk_token_exports *v = rq->exports;
    /* Nested entries come last in the block (export.h): without ClerkPassNestedClaims, stop
     * before them. */
    size_t n = v->n;
    while (!rs->pass_nested && n > 0 && v->v[n - 1].nested)
        n--;
    if (rs->pass_as & PASS_ENV)
        for (size_t i = 0; i < n; i++)
            x.env_set(r->subprocess_env, v->v[i].name, v->v[i].value);
    if (rs->pass_as & PASS_HEADERS) {
        /* Reserved names were scrubbed from headers_in before the decision. */
        for (size_t i = 0; i < n; i++)
            if (v->v[i].header_value != NULL)
                apr_table_addn(r->headers_in, v->v[i].header, v->v[i].header_value);
        apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
        apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
    }
}

/* X-Clerk-Signature over every header of ours (ClerkSignedHeadersKeyFile): client headers of
 * those names were scrubbed before the decision, so each one present now is an export. */
static void sign_exports(request_rec *r, const clerk_resolved *rs)
{
    const apr_array_header_t *h = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    const char **names = apr_palloc(r->pool, (h->nelts + 1) * sizeof *names);
    const char **values = apr_palloc(r->pool, (h->nelts + 1) * sizeof *values);
    size_t n = 0;
    for (int i = 0; i < h->nelts; i++) {
        if (!e[i].key || !clerk_export_is_reserved_header(e[i].key) ||
            strcasecmp(e[i].key, CLERK_HANDOFF_HEADER) == 0)
            continue;
        names[n] = e[i].key;
        values[n++] = e[i].val;
    }
    const char *sig =
        clerk_handoff_sign(r->pool, (const unsigned char *)rs->handoff_key, strlen(rs->handoff_key),
                           (int64_t)apr_time_sec(r->request_time), r->method, names, values, n);
    if (sig)
        apr_table_setn(r->headers_in, CLERK_HANDOFF_HEADER, sig);
    else
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      CLERK_LOGNO(1810) "cannot sign the %" APR_SIZE_T_FMT
                                        " exported headers (ClerkSignedHeadersKeyFile): the back "
                                        "end gets no " CLERK_HANDOFF_HEADER,
                      (apr_size_t)n);
}

void clerk_export_decision(request_rec *r, const clerk_resolved *rs, clerk_req *rq)
{
    export_decision_vars(r, rs, rq);
    if (rs->handoff_key && (rs->pass_as & PASS_HEADERS) && !rq->preflight)
        sign_exports(r, rs);
}
