/* Machine tokens (API keys, M2M tokens, OAuth access tokens): which kind a token is, which
 * tokens a location accepts, what Clerk's Backend API answers mean, and the MAC'd record a
 * verification result is shared as (@clerk/backend tokens/machine.ts, tokens/request.ts,
 * tokens/verify.ts, tokens/authObjects.ts; docs/design.md#machine-tokens). */
#ifndef CLERK_MACHINE_TOKEN_H
#define CLERK_MACHINE_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "reason.h"

/* Token types as bits, so a location's accepted set is one unsigned. */
enum {
    CLERK_TT_SESSION = 1, /* session_token */
    CLERK_TT_API_KEY = 2, /* api_key */
    CLERK_TT_M2M = 4,     /* m2m_token */
    CLERK_TT_OAUTH = 8,   /* oauth_token */
    CLERK_TT_ALL = 15
};

/* Longest machine token sent to the Backend API; longer ones are refused unsent. */
#define CLERK_MACHINE_TOKEN_MAX 4096

/* 1 when tok[0..len) may be sent to the Backend API: at most CLERK_MACHINE_TOKEN_MAX bytes of
 * printable ASCII without spaces (what Clerk issues); else 0, and the token is token-invalid
 * unsent. */
int clerk_machine_token_sendable(const char *tok, size_t len);

/* Clerk's name of one CLERK_TT_* bit ("api_key", ...); "" for anything else, never NULL. */
const char *clerk_token_type_name(unsigned type);

/* The bit of a ClerkAcceptsToken word (session_token, api_key, m2m_token, oauth_token), or
 * CLERK_TT_ALL for "any"; 0 when word is none of them. */
unsigned clerk_token_type_parse(const char *word);

/* 1 when tok[0..len) has the JWT form machine.ts tests (three non-empty base64url segments),
 * else 0. */
int clerk_machine_is_jwt_format(const char *tok, size_t len);

/* The token's type as getMachineTokenType (tokens/machine.ts) finds it: CLERK_TT_M2M for an
 * mt_ prefix or a JWT whose sub starts with mch_, CLERK_TT_OAUTH for an oat_ prefix or a JWT with
 * typ at+jwt / application/at+jwt, CLERK_TT_API_KEY for an ak_ prefix; CLERK_TT_SESSION when it
 * is none of these (isMachineToken false). */
unsigned clerk_machine_classify(const char *tok, size_t len);

/* What a location accepts (ClerkAcceptsToken): the SDK's acceptsToken as a single type (list 0)
 * or as a list / "any" (list 1). */
typedef struct clerk_accepts {
    unsigned types; /* CLERK_TT_* bits; 0 means the default, session_token alone */
    int list;
} clerk_accepts;

/* Where authenticateRequest sends a request (tokens/request.ts). */
typedef enum clerk_machine_route {
    CLERK_ROUTE_SESSION = 0, /* the session-token decision, unchanged */
    CLERK_ROUTE_MACHINE,     /* verify the header token as the machine type given */
    CLERK_ROUTE_SIGNED_OUT   /* signed out with the reason given, nothing verified */
} clerk_machine_route;

/* Routes a request: header_token is the Authorization bearer token (NULL when none). On
 * CLERK_ROUTE_MACHINE *type is the token's type; on CLERK_ROUTE_SIGNED_OUT *reason is
 * token-type-mismatch or, for a single machine type and no header token, "No token in header".
 * A machine token in a cookie is never routed here (the session decision refuses it). */
clerk_machine_route clerk_machine_route_request(const clerk_accepts *a, const char *header_token,
                                                size_t len, unsigned *type, clerk_reason *reason);

/* What a verified machine token tells the application (authenticatedMachineObject). Strings
 * are pool copies; absent ones are NULL. */
typedef struct clerk_machine {
    unsigned type;          /* CLERK_TT_API_KEY / _M2M / _OAUTH */
    const char *id;         /* the token's id (ak_..., mt_..., oat_...) */
    const char *subject;    /* user_/org_ for API keys, mch_ for M2M, the user for OAuth */
    const char *name;       /* API key name */
    const char *client_id;  /* OAuth client */
    const char *user_id;    /* API key with a user_ subject, or the OAuth subject */
    const char *org_id;     /* API key with an org_ subject */
    const char *machine_id; /* M2M subject */
    const char *scopes;     /* scopes joined with single spaces; "" when none */
    const char *claims;     /* compact JSON of claims (API key, M2M) when an object, else NULL */
    int64_t expiration_ms;  /* -1 when it never expires */
    const char *aud;        /* OAuth: the answer's aud as compact JSON, or NULL when absent */
} clerk_machine;

/* Maps a 2xx Backend API answer (the resource JSON of api_keys/verify, m2m_tokens/verify or
 * oauth_applications/access_tokens/verify) for a token of type to *m. Refuses, with err: a body
 * that is not one strict JSON object (unexpected-error), missing or mistyped id, subject,
 * scopes, name (API key) or client_id (OAuth) (unexpected-error), a revoked or expired token
 * or one whose expiration is at or before now_ms (token-invalid), and subjects or scopes with
 * control bytes or spaces (unexpected-error). Returns 0 or -1. */
int clerk_machine_from_json(apr_pool_t *p, unsigned type, const char *body, size_t len,
                            int64_t now_ms, clerk_machine *m, clerk_error *err);

/* The error a non-2xx Backend API status means for a token of type, as handleClerkAPIError:
 * 401 secret-key-invalid, 404 token-invalid ("API key not found", ...), else unexpected-error.
 * Always returns -1. */
int clerk_machine_status_error(unsigned type, long status, clerk_error *err);

/* The path of the Backend API's verify endpoint for type (no /v1: the SDK builds these with
 * skipApiVersionInUrl), and the JSON member the token goes in; NULL for other types. */
const char *clerk_machine_verify_path(unsigned type);
const char *clerk_machine_verify_member(unsigned type);

/* The verify request body {"<member>": token} as compact JSON (malloc'd, caller frees), or
 * NULL on allocation failure. */
char *clerk_machine_verify_body(unsigned type, const char *tok, size_t len);

/* The key one instance's records are keyed and MAC'd with: HMAC-SHA256 under mac_key (the
 * store's key) of the Backend API URL and the secret key that verifies, so two instances (or
 * two Backend APIs) sharing a store never read each other's results. out: 32 bytes. Returns 0,
 * -1 on a crypto failure. */
int clerk_machine_instance_key(const unsigned char *mac_key, size_t mac_key_len,
                               const char *api_url, const char *secret, unsigned char out[32]);

/* Calls fn for each variable a signed-in machine token exports: CLERK_TOKEN_TYPE,
 * CLERK_TOKEN_ID, CLERK_SUBJECT, CLERK_SCOPES, and where the SDK's machine auth object has them
 * CLERK_USER_ID, CLERK_ORG_ID, CLERK_MACHINE_ID, CLERK_CLIENT_ID, CLERK_API_KEY_NAME and
 * CLERK_CLAIMS. No session variable is ever called. */
void clerk_machine_export_vars(const clerk_machine *m,
                               void (*fn)(void *ctx, const char *name, const char *value),
                               void *ctx);

/* Cache key of a token: one byte of the HMAC-SHA256 of the type name and the token under key
 * (never NUL), the hex of that HMAC, then ".clerk-mt", written to out (CLERK_MACHINE_CACHE_KEY_LEN
 * + 1 bytes). The token text is never part of it. Returns 0, -1 on a crypto failure. */
#define CLERK_MACHINE_CACHE_KEY_LEN (1 + 64 + 9)
int clerk_machine_cache_key(const unsigned char *key, size_t keylen, unsigned type, const char *tok,
                            size_t len, char *out);

/* A shared verification result, answered by the Backend API at verified_ms and valid until
 * until_ms: the Backend API's resource JSON (positive) or a refusal's reason and message
 * (negative), MAC'd with HMAC-SHA256 under key over cache_key and the content, so a record is
 * valid only under the key it was stored at. The lifetime and the answer's time travel inside
 * the record because some stores (mod_socache_memcache) ignore the expiry they are given, and
 * because a reader with a shorter TTL than the writer's must not trust it longer than its own
 * TTL. Returns a malloc'd record (caller frees) and its length, or NULL. */
unsigned char *clerk_machine_record_encode(const unsigned char *key, size_t keylen,
                                           const char *cache_key, unsigned type,
                                           const char *resource_json, const clerk_error *refusal,
                                           int64_t verified_ms, int64_t until_ms, size_t *outlen);

/* Reads a record made by clerk_machine_record_encode under the same key and cache_key: returns
 * 1 with *m filled (positive; mapped again with clerk_machine_from_json at now_ms, so a token
 * that expired since is refused), 0 with err filled (negative, or the positive record's token
 * expired: refused), or -1 when the record is not one (wrong MAC, malformed, another type, no
 * answer time), its lifetime ended at or before now_ms, or its answer is max_age_ms (positive)
 * or neg_max_age_ms (negative) old or older, the reader's own TTLs (0: never read): the caller
 * verifies again. */
int clerk_machine_record_decode(apr_pool_t *p, const unsigned char *key, size_t keylen,
                                const char *cache_key, unsigned type, const unsigned char *rec,
                                size_t len, int64_t now_ms, int64_t max_age_ms,
                                int64_t neg_max_age_ms, clerk_machine *m, clerk_error *err);

#endif
