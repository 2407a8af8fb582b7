/* Machine tokens: classification, acceptsToken routing, Backend API answers, shared records
 * (machine_token.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "json_strict.h"
#include "jwt.h"
#include "machine_token.h"

#define M2M_TOKEN_PREFIX   "mt_"
#define OAUTH_TOKEN_PREFIX "oat_"
#define API_KEY_PREFIX     "ak_"
#define M2M_SUBJECT_PREFIX "mch_"
#define RECORD_MAGIC       "CMT1 "
#define RECORD_MAX         (64 * 1024)
/* A resource answer is a few hundred bytes; this bounds what a record holds and parses. */
#define RESOURCE_MAX (32 * 1024)
#define SCOPES_MAX   256

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* differences.h: machine-token-refused-unsent */
int clerk_machine_token_sendable(const char *tok, size_t len)
{
    if (tok == NULL || len == 0 || len > CLERK_MACHINE_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
            return 0;
    return 1;
}

const char *clerk_token_type_name(unsigned type)
{
    switch (type) {
    case CLERK_TT_SESSION:
        return "session_token";
    case CLERK_TT_API_KEY:
        return "api_key";
    case CLERK_TT_M2M:
        return "m2m_token";
    case CLERK_TT_OAUTH:
        return "oauth_token";
    default:
        return "";
    }
}

unsigned clerk_token_type_parse(const char *word)
{
    if (word == NULL)
        return 0;
    if (strcmp(word, "any") == 0)
        return CLERK_TT_ALL;
    for (unsigned t = CLERK_TT_SESSION; t <= CLERK_TT_OAUTH; t <<= 1)
        if (strcmp(word, clerk_token_type_name(t)) == 0)
            return t;
    return 0;
}

static int b64url_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* machine.ts JwtFormatRegExp: /^[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+$/ */
int clerk_machine_is_jwt_format(const char *tok, size_t len)
{
    int seg = 0;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c == '.') {
            if (run == 0 || ++seg > 2)
                return 0;
            run = 0;
        } else if (b64url_char(c))
            run++;
        else
            return 0;
    }
    return seg == 2 && run > 0;
}

/* isM2MJwt / isOAuthJwt on one decode: CLERK_TT_M2M, CLERK_TT_OAUTH or 0. */
static unsigned jwt_machine_type(const char *tok, size_t len)
{
    if (!clerk_machine_is_jwt_format(tok, len))
        return 0;
    clerk_jwt *jwt = NULL;
    clerk_error err;
    if (clerk_jwt_decode(tok, len, CLERK_MACHINE_TOKEN_MAX * 4, &jwt, &err) != 0)
        return 0;
    unsigned t = 0;
    const json_t *sub = json_object_get(jwt->payload, "sub");
    const json_t *typ = json_object_get(jwt->header, "typ");
    if (json_is_string(sub) &&
        strncmp(json_string_value(sub), M2M_SUBJECT_PREFIX, strlen(M2M_SUBJECT_PREFIX)) == 0)
        t = CLERK_TT_M2M;
    else if (json_is_string(typ) && (strcmp(json_string_value(typ), "at+jwt") == 0 ||
                                     strcmp(json_string_value(typ), "application/at+jwt") == 0))
        t = CLERK_TT_OAUTH;
    clerk_jwt_free(jwt);
    return t;
}

unsigned clerk_machine_classify(const char *tok, size_t len)
{
    if (tok == NULL)
        return CLERK_TT_SESSION;
    /* getMachineTokenType's order: M2M (prefix or JWT), OAuth (prefix or JWT), API key. */
    unsigned jt = jwt_machine_type(tok, len);
    if (has_prefix(tok, len, M2M_TOKEN_PREFIX) || jt == CLERK_TT_M2M)
        return CLERK_TT_M2M;
    if (has_prefix(tok, len, OAUTH_TOKEN_PREFIX) || jt == CLERK_TT_OAUTH)
        return CLERK_TT_OAUTH;
    if (has_prefix(tok, len, API_KEY_PREFIX))
        return CLERK_TT_API_KEY;
    return CLERK_TT_SESSION;
}

clerk_machine_route clerk_machine_route_request(const clerk_accepts *a, const char *header_token,
                                                size_t len, unsigned *type, clerk_reason *reason)
{
    unsigned accepts = a->types ? a->types : CLERK_TT_SESSION;
    *type = 0;
    *reason = CLERK_R_NONE;
    if (!a->list && accepts == CLERK_TT_SESSION)
        return CLERK_ROUTE_SESSION;
    unsigned parsed = header_token ? clerk_machine_classify(header_token, len) : CLERK_TT_SESSION;
    if (a->list) {
        /* isTokenTypeInAcceptedArray: no header token counts as a session token. */
        if (!(accepts & parsed)) {
            *reason = CLERK_R_TOKEN_TYPE_MISMATCH;
            return CLERK_ROUTE_SIGNED_OUT;
        }
        if (header_token && parsed != CLERK_TT_SESSION) {
            *type = parsed;
            return CLERK_ROUTE_MACHINE;
        }
        return CLERK_ROUTE_SESSION; /* the header's session token, or the cookie */
    }
    /* A single machine type: the token must be in the header, and of that type. */
    if (!header_token) {
        *reason = CLERK_R_NO_TOKEN_IN_HEADER;
        return CLERK_ROUTE_SIGNED_OUT;
    }
    if (parsed == CLERK_TT_SESSION || !(accepts & parsed)) {
        *reason = CLERK_R_TOKEN_TYPE_MISMATCH;
        return CLERK_ROUTE_SIGNED_OUT;
    }
    *type = parsed;
    return CLERK_ROUTE_MACHINE;
}

/* ---- Backend API answers ------------------------------------------------------------------- */

/* Printable ASCII and UTF-8, no space, no control byte, no DEL: safe as REMOTE_USER, in a
 * header and as one space-separated word. */
static int word_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* No control byte and no DEL: safe in an environment variable and a request header. */
static int text_ok(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* A string member without control bytes, or NULL. */
static const char *get_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s != NULL && text_ok(s) ? s : NULL;
}

static const char *not_found_message(unsigned type)
{
    return type == CLERK_TT_API_KEY ? "API key not found"
           : type == CLERK_TT_M2M   ? "Machine token not found"
                                    : "OAuth token not found";
}

int clerk_machine_status_error(unsigned type, long status, clerk_error *err)
{
    if (status == 401)
        return clerk_error_set(err, CLERK_R_SECRET_KEY_INVALID, "Invalid secret key");
    if (status == 404)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", not_found_message(type));
    return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Unexpected error (HTTP %ld)", status);
}

int clerk_machine_from_json(apr_pool_t *p, unsigned type, const char *body, size_t len,
                            int64_t now_ms, clerk_machine *m, clerk_error *err)
{
    clerk_error perr = {0};
    memset(m, 0, sizeof *m);
    if (type != CLERK_TT_API_KEY && type != CLERK_TT_M2M && type != CLERK_TT_OAUTH)
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Not a machine token type.");
    if (body == NULL || len > RESOURCE_MAX)
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                               "Unexpected error: the Backend API's answer is over %d bytes.",
                               RESOURCE_MAX);
    /* differences.h: machine-answer-checked */
    json_t *o = clerk_json_parse_object(body, len, CLERK_JSON_MAX_DEPTH, &perr);
    if (o == NULL)
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                               "Unexpected error: the Backend API's answer is not a JSON object "
                               "(%s).",
                               perr.message);
    int rc = -1;
    const char *id = get_str(o, "id"), *subject = get_str(o, "subject");
    const json_t *scopes = json_object_get(o, "scopes");
    if (id == NULL || !word_ok(subject) || !json_is_array(scopes) ||
        json_array_size(scopes) > SCOPES_MAX) {
        clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                        "Unexpected error: the Backend API's answer lacks a usable id, subject or "
                        "scopes.");
        goto out;
    }
    /* Stricter than the SDK, which maps whatever the answer says: a revoked or expired token is
     * never signed in.
     * differences.h: machine-revoked-expired-refused */
    if (json_is_true(json_object_get(o, "revoked"))) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID, "The %s is revoked.",
                        clerk_token_type_name(type));
        goto out;
    }
    const json_t *exp = json_object_get(o, "expiration");
    m->expiration_ms = -1;
    if (json_is_number(exp)) {
        double e = json_number_value(exp);
        m->expiration_ms = e > 9e15 ? INT64_MAX : e < 0 ? 0 : (int64_t)e;
    } else if (exp != NULL && !json_is_null(exp)) {
        clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                        "Unexpected error: the Backend API's answer has a non-numeric expiration.");
        goto out;
    }
    if (json_is_true(json_object_get(o, "expired")) ||
        (m->expiration_ms >= 0 && m->expiration_ms <= now_ms)) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID, "The %s has expired.",
                        clerk_token_type_name(type));
        goto out;
    }
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        const char *s = json_string_value(json_array_get(scopes, i));
        if (!word_ok(s)) {
            clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                            "Unexpected error: a scope in the Backend API's answer is not a "
                            "non-empty string without spaces or control characters.");
            goto out;
        }
        total += strlen(s) + 1;
    }
    char *joined = apr_palloc(p, total + 1), *w = joined;
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        const char *s = json_string_value(json_array_get(scopes, i));
        if (i)
            *w++ = ' ';
        size_t n = strlen(s);
        memcpy(w, s, n);
        w += n;
    }
    *w = '\0';
    m->scopes = joined;
    m->type = type;
    m->id = apr_pstrdup(p, id);
    m->subject = apr_pstrdup(p, subject);
    if (type == CLERK_TT_API_KEY) {
        const char *name = get_str(o, "name");
        if (name == NULL) {
            clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                            "Unexpected error: the Backend API's answer lacks the API key's name.");
            goto out;
        }
        m->name = apr_pstrdup(p, name);
        if (strncmp(subject, "user_", 5) == 0)
            m->user_id = m->subject;
        else if (strncmp(subject, "org_", 4) == 0)
            m->org_id = m->subject;
    } else if (type == CLERK_TT_M2M) {
        m->machine_id = m->subject;
    } else {
        const char *client = get_str(o, "client_id");
        if (client == NULL) {
            clerk_error_set(
                err, CLERK_R_UNEXPECTED_ERROR,
                "Unexpected error: the Backend API's answer lacks the OAuth client_id.");
            goto out;
        }
        m->client_id = apr_pstrdup(p, client);
        m->user_id = m->subject;
        const json_t *aud = json_object_get(o, "aud");
        char *a = aud != NULL && !json_is_null(aud)
                      ? json_dumps(aud, JSON_COMPACT | JSON_ENCODE_ANY)
                      : NULL;
        m->aud = a != NULL ? apr_pstrdup(p, a) : NULL;
        free(a);
    }
    const json_t *claims = json_object_get(o, "claims");
    if (type != CLERK_TT_OAUTH && json_is_object(claims)) {
        char *c = json_dumps(claims, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (c == NULL) {
            clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Unexpected error: out of memory.");
            goto out;
        }
        m->claims = apr_pstrdup(p, c);
        free(c);
    }
    rc = 0;
out:
    json_decref(o);
    if (rc != 0)
        memset(m, 0, sizeof *m);
    return rc;
}

const char *clerk_machine_verify_path(unsigned type)
{
    return type == CLERK_TT_API_KEY ? "/api_keys/verify"
           : type == CLERK_TT_M2M   ? "/m2m_tokens/verify"
           : type == CLERK_TT_OAUTH ? "/oauth_applications/access_tokens/verify"
                                    : NULL;
}

const char *clerk_machine_verify_member(unsigned type)
{
    return type == CLERK_TT_API_KEY ? "secret"
           : type == CLERK_TT_M2M   ? "token"
           : type == CLERK_TT_OAUTH ? "access_token"
                                    : NULL;
}

char *clerk_machine_verify_body(unsigned type, const char *tok, size_t len)
{
    const char *member = clerk_machine_verify_member(type);
    if (member == NULL)
        return NULL;
    json_t *o = json_object();
    json_t *v = json_stringn(tok, len);
    if (o == NULL || v == NULL || json_object_set_new(o, member, v) != 0) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---- shared records ------------------------------------------------------------------------ */

/* Upper-case hex of in[0..n) into out (2n + 1 bytes); 0, or -1 on failure. */
static int hex(const unsigned char *in, size_t n, char *out)
{
    return OPENSSL_buf2hexstr_ex(out, 2 * n + 1, NULL, in, n, '\0') == 1 ? 0 : -1;
}

int clerk_machine_instance_key(const unsigned char *mac_key, size_t mac_key_len,
                               const char *api_url, const char *secret, unsigned char out[32])
{
    size_t ul = strlen(api_url) + 1, sl = strlen(secret);
    unsigned char *in = malloc(ul + sl);
    if (in == NULL)
        return -1;
    memcpy(in, api_url, ul); /* the NUL separates the two */
    memcpy(in + ul, secret, sl);
    unsigned int n = 0;
    int ok = HMAC(EVP_sha256(), mac_key, (int)mac_key_len, in, ul + sl, out, &n) != NULL && n == 32;
    OPENSSL_cleanse(in, ul + sl);
    free(in);
    return ok ? 0 : -1;
}

void clerk_machine_export_vars(const clerk_machine *m,
                               void (*fn)(void *ctx, const char *name, const char *value),
                               void *ctx)
{
    fn(ctx, "CLERK_TOKEN_TYPE", clerk_token_type_name(m->type));
    fn(ctx, "CLERK_TOKEN_ID", m->id);
    fn(ctx, "CLERK_SUBJECT", m->subject);
    fn(ctx, "CLERK_SCOPES", m->scopes ? m->scopes : "");
    const struct {
        const char *name, *value;
    } opt[] = {{"CLERK_USER_ID", m->user_id},       {"CLERK_ORG_ID", m->org_id},
               {"CLERK_MACHINE_ID", m->machine_id}, {"CLERK_CLIENT_ID", m->client_id},
               {"CLERK_API_KEY_NAME", m->name},     {"CLERK_CLAIMS", m->claims}};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        if (opt[i].value != NULL)
            fn(ctx, opt[i].name, opt[i].value);
}

int clerk_machine_cache_key(const unsigned char *key, size_t keylen, unsigned type, const char *tok,
                            size_t len, char *out)
{
    const char *name = clerk_token_type_name(type);
    unsigned char md[32];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)name, strlen(name) + 1) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)tok, len) == 1 &&
             EVP_MAC_final(ctx, md, &outl, sizeof md) == 1 && outl == sizeof md;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        return -1;
    /* mod_socache_shmcb files a record under the subcache its id's first byte names (masked
     * to the subcache count, up to 256): a common prefix, or even a hex digit (16 values),
     * would crowd every machine token into a few subcaches and evict them early, so one
     * Backend API call per key per TTL would become several. The first byte is the hash's own
     * (never NUL: the store takes the id as a string); the socache providers that leave the
     * host (memcache, redis) hex-encode ids. */
    out[0] = (char)(md[0] ? md[0] : 1);
    if (hex(md, sizeof md, out + 1) != 0)
        return -1;
    memcpy(out + 65, ".clerk-mt", 10);
    return 0;
}

/* HMAC-SHA256 under key over cache_key, NUL, content; hex into out (65 bytes). */
static int record_mac(const unsigned char *key, size_t keylen, const char *cache_key,
                      const char *content, size_t len, char *out)
{
    size_t kl = strlen(cache_key) + 1;
    unsigned char *in = malloc(kl + len);
    if (in == NULL)
        return -1;
    memcpy(in, cache_key, kl);
    memcpy(in + kl, content, len);
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = HMAC(EVP_sha256(), key, (int)keylen, in, kl + len, md, &mdlen) != NULL && mdlen == 32;
    free(in);
    if (!ok)
        return -1;
    return hex(md, 32, out);
}

unsigned char *clerk_machine_record_encode(const unsigned char *key, size_t keylen,
                                           const char *cache_key, unsigned type,
                                           const char *resource_json, const clerk_error *refusal,
                                           int64_t verified_ms, int64_t until_ms, size_t *outlen)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(clerk_token_type_name(type)));
    json_object_set_new(o, "until", json_integer((json_int_t)until_ms));
    json_object_set_new(o, "verified", json_integer((json_int_t)verified_ms));
    if (resource_json != NULL) {
        json_t *r = json_loads(resource_json, JSON_REJECT_DUPLICATES, NULL);
        if (r == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "resource", r);
    } else {
        json_object_set_new(o, "reason", json_integer(refusal ? refusal->reason : 0));
        json_object_set_new(o, "message", json_string(refusal ? refusal->message : ""));
    }
    char *content = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (content == NULL)
        return NULL;
    size_t cl = strlen(content);
    size_t total = sizeof RECORD_MAGIC - 1 + 64 + 1 + cl;
    char mac[65];
    unsigned char *rec = NULL;
    if (total <= RECORD_MAX && record_mac(key, keylen, cache_key, content, cl, mac) == 0 &&
        (rec = malloc(total)) != NULL) {
        memcpy(rec, RECORD_MAGIC, sizeof RECORD_MAGIC - 1);
        memcpy(rec + sizeof RECORD_MAGIC - 1, mac, 64);
        rec[sizeof RECORD_MAGIC - 1 + 64] = '\n';
        memcpy(rec + sizeof RECORD_MAGIC + 64, content, cl);
        *outlen = total;
    }
    free(content);
    return rec;
}

int clerk_machine_record_decode(apr_pool_t *p, const unsigned char *key, size_t keylen,
                                const char *cache_key, unsigned type, const unsigned char *rec,
                                size_t len, int64_t now_ms, int64_t max_age_ms,
                                int64_t neg_max_age_ms, clerk_machine *m, clerk_error *err)
{
    const size_t head = sizeof RECORD_MAGIC - 1 + 64 + 1;
    if (rec == NULL || len <= head || len > RECORD_MAX ||
        memcmp(rec, RECORD_MAGIC, sizeof RECORD_MAGIC - 1) != 0 || rec[head - 1] != '\n')
        return -1;
    const char *content = (const char *)rec + head;
    size_t cl = len - head;
    char mac[65];
    if (record_mac(key, keylen, cache_key, content, cl, mac) != 0 ||
        CRYPTO_memcmp(mac, rec + sizeof RECORD_MAGIC - 1, 64) != 0)
        return -1;
    json_t *o = clerk_json_parse_object(content, cl, CLERK_JSON_MAX_DEPTH + 1, NULL);
    if (o == NULL)
        return -1;
    int rc = -1;
    const char *t = get_str(o, "type");
    const json_t *res = json_object_get(o, "resource");
    const json_t *reason = json_object_get(o, "reason");
    const json_t *until = json_object_get(o, "until");
    const json_t *verified = json_object_get(o, "verified");
    if (t == NULL || strcmp(t, clerk_token_type_name(type)) != 0 || !json_is_integer(until) ||
        json_integer_value(until) <= now_ms || !json_is_integer(verified))
        goto out;
    /* The reader's TTL bounds how old an answer it trusts, whatever the writer's TTL was (a
     * revocation is seen within the reader's TTL). */
    int64_t age = now_ms - (int64_t)json_integer_value(verified);
    if (age >= (json_is_object(res) ? max_age_ms : neg_max_age_ms))
        goto out;
    if (json_is_object(res)) {
        char *s = json_dumps(res, JSON_COMPACT);
        if (s == NULL)
            goto out;
        rc = clerk_machine_from_json(p, type, s, strlen(s), now_ms, m, err) == 0 ? 1 : 0;
        free(s);
    } else if (json_is_integer(reason) && json_integer_value(reason) > CLERK_R_NONE &&
               json_integer_value(reason) < CLERK_R__COUNT) {
        const char *msg = get_str(o, "message");
        clerk_error_set(err, (clerk_reason)json_integer_value(reason), "%s", msg ? msg : "");
        rc = 0;
    }
out:
    json_decref(o);
    return rc;
}
