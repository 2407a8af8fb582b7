/* One request's Clerk decision (httpd_request.c): what the authorization providers, the status
 * page, preflights and caches read of it, and the record the hooks and the redirect adoption
 * (httpd_redirects.c) share. */
#ifndef HTTPD_REQUEST_H
#define HTTPD_REQUEST_H

#include <stdint.h>

#include <jansson.h>

#include "httpd.h"

#include "auth.h"
#include "export.h"
#include "request_state.h"

#include "httpd_config.h"

/* ---- what other glue reads of a request's decision ------------------------------------------ */

/* A request's Clerk identity, valid for the request's lifetime. */
typedef struct clerk_identity {
    const clerk_auth *auth;
    const json_t *payload; /* the verified claims */
    int64_t now_ms;        /* when the request was decided */
} clerk_identity;

enum {
    CLERK_IDENTITY_NONE = 0,      /* not signed in through AuthType Clerk */
    CLERK_IDENTITY_SIGNED_IN = 1, /* *id filled */
    CLERK_IDENTITY_PREFLIGHT = 2, /* a CORS preflight let through without credentials */
    CLERK_IDENTITY_MACHINE = 3    /* signed in with a machine token (clerk_request_machine) */
};

/* Which of the CLERK_IDENTITY_* r is; fills id when signed in with a session token. A request
 * signed in with a machine token is CLERK_IDENTITY_MACHINE (no session claims: the session
 * providers deny it, as the SDK's machine has() answers false). */
int clerk_request_identity(request_rec *r, clerk_identity *id);

struct clerk_machine;
/* The machine token r is signed in with, or NULL. */
const struct clerk_machine *clerk_request_machine(request_rec *r);

/* The request header that signed r in ("Authorization" or "Cookie"), or NULL when r is not
 * signed in through AuthType Clerk. */
const char *clerk_request_signed_in_by(request_rec *r);

/* r's CLERK_PREFLIGHT_* when it is a CORS preflight under AuthType Clerk, else 0. */
int clerk_preflight_mode(request_rec *r);

/* As clerk_preflight_mode, and records r as a preflight (no user, nothing exported) when the
 * mode is respond or handler. */
int clerk_preflight_decide(request_rec *r);

/* ---- the decision record, for the hooks and the redirect adoption --------------------------- */

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

/* 1 when r's AuthType is Clerk. */
int clerk_is_auth_type(request_rec *r);

/* r's record, created on first use; the client's headers are scrubbed then, before anything
 * reads them. */
clerk_req *clerk_request_record(request_rec *r);

/* r's decision under rs, made at most once per request_rec: r->user, the x-clerk-auth-*
 * headers and the exports are set as it says. */
clerk_req *clerk_decide(request_rec *r, const clerk_resolved *rs);

/* Removes the client's look-alikes of our exports from r->headers_in
 * (docs/design.md#header-scrubbing). */
void clerk_scrub_reserved_headers(request_rec *r);

/* ---- hooks (registered by mod_clerk_auth.c) ------------------------------------------------- */

/* check_access, first: scrubs a Clerk request's headers; decides a ClerkUnauthAction pass one. */
int clerk_check_access(request_rec *r);

/* check_authn: OK with r->user for a signed-in request, the configured answer for a
 * signed-out one, DECLINED for any AuthType but Clerk. */
int clerk_check_authn(request_rec *r);

/* post_read_request: ClerkScrubHeaders On scrubs every request of the server. */
int clerk_post_read_request(request_rec *r);

/* note_auth_failure: the Bearer challenge when mod_authz_core denies with 401. */
int clerk_note_auth_failure(request_rec *r, const char *auth_type);

#endif
