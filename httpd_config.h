/* The per-directory configuration (httpd_config.c): the raw record every directive writes, the
 * resolved record every request reads, and how one becomes the other. */
#ifndef HTTPD_CONFIG_H
#define HTTPD_CONFIG_H

#include "httpd.h"
#include "http_config.h"

#include "jwk.h"
#include "publishable_key.h"
#include "request_state.h"

#define CLERK_AUTH_TYPE "Clerk"

typedef enum {
    ACTION_UNSET = 0,
    ACTION_AUTH,
    ACTION_PASS,
    ACTION_401,
    ACTION_403,
    ACTION_404
} unauth_action;

/* ClerkPassClaimsAs as a bit set; -1 is "unset". */
enum { PASS_NONE = 0, PASS_ENV = 1, PASS_HEADERS = 2, PASS_BOTH = 3 };

typedef struct clerk_resolved clerk_resolved;

/* One per-directory record. Every field starts "unset" (NULL, 0 or -1) so a nested section or
 * .htaccess overrides only what it sets; defaults are applied in resolve_dir_conf alone. Keys and
 * PEM/JWKS are parsed by the directive handlers, once, into the configuration pool. */
typedef struct clerk_dir_conf {
    const clerk_publishable_key *pk;
    const char *secret_key;
    const char *jwks_url;
    clerk_keyset *pem_keys;  /* ClerkJWTKey */
    clerk_keyset *jwks_keys; /* ClerkJWKSFile */
    const char *jwks_kids;   /* the file's usable kids, sorted, for Clerk's kid-mismatch text */
    apr_array_header_t *azp; /* const char * */
    apr_array_header_t *aud; /* const char * */
    const char *issuer;
    const char *sign_in_url;
    const char *user_claim;
    int clock_skew_s;
    unsigned algs;
    int action;
    int pass_as;
    int pass_nested;         /* ClerkPassNestedClaims */
    const char *handoff_key; /* ClerkSignedHeadersKeyFile's content */
    int accept_pending;
    int debug_headers;
    int trust_forwarded;
    apr_size_t max_token_size;
    const char *frontend_api; /* ClerkFrontendAPI (httpd_handshake.c) */
    int handshake;            /* ClerkHandshake */
    int preflight;            /* ClerkCORSPreflight: CLERK_PREFLIGHT_*, 0 unset */
    int scrub_all;            /* ClerkScrubHeaders (server/vhost scope only), -1 unset */
    /* The key source travels as one group with the instance it was set for (see
     * merge_dir_conf): where its first directive is, the server (main or virtual host) whose
     * configuration holds it, and, once merged, the publishable key in force there. A raw
     * record's origin is itself. */
    const char *pk_at;   /* "line N of FILE" of pk, for messages */
    const char *keys_at; /* "ClerkSecretKey on line N of FILE" */
    server_rec *key_server;
    int origin_known;
    const clerk_publishable_key *origin_pk;
    const clerk_resolved *res;    /* derived once per record by merge / post_config */
    struct clerk_multidomain *md; /* httpd_multidomain.c; NULL: none set */
} clerk_dir_conf;

/* What a request reads: the record with every default applied, and the core's clerk_config. */
struct clerk_resolved {
    clerk_config core; /* cache and log_ctx are filled per request on a stack copy */
    clerk_keyset *pem;
    clerk_keyset *jwks;
    const char *jwks_kids;
    int remote; /* ClerkSecretKey(File) or ClerkJWKSURL: a remote key source is configured */
    const char *secret_key; /* for the remote source (httpd_jwks.c) */
    const char *jwks_url;
    unauth_action action;
    int pass_as;
    int pass_nested;
    const char *handoff_key;
    int debug_headers;
    int trust_forwarded;
    const char *sign_in_url;
    const char *user_claim;
    int preflight; /* CLERK_PREFLIGHT_* */
    int scrub_all;
    const char *key_error; /* the key source belongs to another instance: refuse (fail closed) */
    const char *keys_at;
    server_rec *key_server; /* whose ClerkAPIURL the secret key goes to (key_api_error) */
};

/* A new raw record, every field unset (the module record's per-directory creator). */
void *clerk_create_dir_conf(apr_pool_t *p, char *dir);

/* addv merged over basev, resolved (the module record's per-directory merger). */
void *clerk_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

/* d with every default applied, allocated from p. */
const clerk_resolved *clerk_resolve_dir_conf(apr_pool_t *p, const clerk_dir_conf *d);

/* r's resolved record (made at startup, or now for an .htaccess merge). */
const clerk_resolved *clerk_request_conf(request_rec *r);

/* The record of this module in a configuration vector, or NULL (v NULL too). */
const clerk_dir_conf *clerk_conf_of(ap_conf_vector_t *v);

/* 1 when d names a key source of its own (PEM, JWKS file, JWKS URL, secret key). */
int clerk_has_key_source(const clerk_dir_conf *d);

/* 1 when a and b are the same publishable key (or both none). */
int clerk_same_pk(const clerk_publishable_key *a, const clerk_publishable_key *b);

/* Why rs's secret key may not be used in server s (its way to the Backend API differs from
 * that of the server whose configuration holds the key), or NULL. */
const char *clerk_key_api_error(apr_pool_t *p, const clerk_resolved *rs, server_rec *s);

/* Why r must not be decided with rs's key source (another instance's, or another server's
 * way to the Backend API), or NULL. */
const char *clerk_key_refusal(request_rec *r, const clerk_resolved *rs);

/* 1 when the per-dir record dconf verifies with a remote JWKS (no ClerkJWTKey, and
 * ClerkSecretKey(File) or ClerkJWKSURL), with its secret key and JWKS URL (either may be NULL).
 * For httpd_jwks.c, which knows the record only by pointer. */
int clerk_dir_remote_source(const void *dconf, const char **secret_key, const char **jwks_url);

#endif
