/* One request's record: made on first use, when the client's look-alikes of our exports are
 * scrubbed from its headers, and, for a sub-request, kept on its main request's pool so that
 * the main request can adopt it after ap_internal_fast_redirect (httpd_redirects.c draws the
 * lifecycle). Both the decision (httpd_request.c) and the redirect adoption use the record; it
 * calls neither, so the two files depend on it and not on each other's record keeping. */
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "httpd_config.h"
#include "httpd_logno.h"
#include "httpd_record.h"

#include "export.h"

APLOG_USE_MODULE(clerk_auth);

/* docs/design.md#header-scrubbing: nothing the client sends may look like what we export
 * (REMOTE_USER, AUTH_TYPE, CLERK_*, with or without X-, '-' and '_' alike). */
void clerk_scrub_reserved_headers(request_rec *r)
{
    const apr_array_header_t *h = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = NULL;

    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && clerk_export_is_reserved_header(e[i].key)) {
            if (!drop)
                drop = apr_array_make(r->pool, 2, sizeof(const char *));
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
        }
    for (int i = 0; drop && i < drop->nelts; i++) {
        const char *name = APR_ARRAY_IDX(drop, i, const char *);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0002) "removed client-sent header %.64s", name);
        apr_table_unset(r->headers_in, name);
    }
}

/* A sub-request's record, kept on its main request's pool for ap_internal_fast_redirect, which
 * hands the sub-request's configuration to the main request but not its record, user or
 * scrubbed headers. A sub-request that is destroyed takes its record out again. */
#define SUBREQ_RECORD_KEY "clerk_auth_subreq_record"

typedef struct subreq_slot {
    clerk_req *rq;
} subreq_slot;

typedef struct subreq_keep {
    subreq_slot *slot;
    clerk_req *rq;
} subreq_keep;

static apr_status_t forget_subreq_record(void *data)
{
    subreq_keep *k = data;
    if (k->slot->rq == k->rq)
        k->slot->rq = NULL;
    return APR_SUCCESS;
}

static void keep_for_main(request_rec *r, clerk_req *rq)
{
    apr_pool_t *mp = r->main->pool;
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, mp);
    if (!slot) {
        slot = apr_pcalloc(mp, sizeof(*slot));
        apr_pool_userdata_setn(slot, SUBREQ_RECORD_KEY, NULL, mp);
    }
    slot->rq = rq;
    subreq_keep *k = apr_palloc(r->pool, sizeof(*k));
    k->slot = slot;
    k->rq = rq;
    apr_pool_cleanup_register(r->pool, k, forget_subreq_record, apr_pool_cleanup_null);
}

/* The record of the sub-request whose configuration r was handed (fast redirect), or NULL. */
clerk_req *clerk_fast_redirected_record(const request_rec *r)
{
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, r->pool);
    return slot && slot->rq && slot->rq->conf == r->per_dir_config ? slot->rq : NULL;
}

/* The request's record, created on first use; the client's headers are scrubbed then, before
 * anything reads them. */
clerk_req *clerk_request_record(request_rec *r)
{
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        rq->conf = r->per_dir_config;
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
        clerk_scrub_reserved_headers(r);
        if (r->main)
            keep_for_main(r, rq);
    }
    return rq;
}
