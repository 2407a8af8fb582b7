/* One request's record (httpd_record.c): made on first use, and a sub-request's kept where a
 * fast redirect can find it. The decision (httpd_request.c) and the redirect adoption
 * (httpd_redirects.c) both use it; it calls neither. */
#ifndef HTTPD_RECORD_H
#define HTTPD_RECORD_H

#include "httpd.h"

#include "auth.h"
#include "export.h"
#include "request_state.h"

/* The decision for one request_rec, so check_access and check_authn verify only once. */
typedef struct clerk_req {
    int decided;
    int preflight;
    clerk_request facts;
    clerk_state st;
    clerk_auth auth; /* signed in: made on first use by clerk_request_identity */
    int auth_made;
    const clerk_token_exports *exports;  /* signed in: the token's variables */
    const char *user;                    /* signed in: REMOTE_USER */
    const void *conf;                    /* the per_dir_config it was made under */
    const struct clerk_machine *machine; /* signed in with a machine token (httpd_machine.c) */
} clerk_req;

/* r's record, created on first use; the client's headers are scrubbed then, before anything
 * reads them. A sub-request's record is also kept on its main request's pool until the
 * sub-request is destroyed, for clerk_fast_redirected_record. */
clerk_req *clerk_request_record(request_rec *r);

/* The record of the sub-request whose configuration r was handed (ap_internal_fast_redirect),
 * or NULL. */
clerk_req *clerk_fast_redirected_record(const request_rec *r);

/* Removes the client's look-alikes of our exports from r->headers_in
 * (docs/design.md#header-scrubbing). */
void clerk_scrub_reserved_headers(request_rec *r);

#endif
