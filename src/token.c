/* Clerk's verifyToken (tokens/verify.ts + jwt/verifyJwt.ts) over a decoded, refcounted token. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "jws.h"
#include "token.h"

/* JOSE header "cat" values (Clerk's jwtCategories.ts). */
#define CAT_SESSION "cl_B7d4PD111AAA"
#define CAT_M2M     "cl_B7d4PD333AAA"
#define CAT_IGNORE  "cl_I7d4PD111III" /* stamped on every class: carries no class information */

/* sub prefix of machine-to-machine tokens (Clerk's machine.ts). */
#define M2M_SUBJECT_PREFIX "mch_"

static int wrong_type(const clerk_token *t);

int clerk_token_decode(const char *tok, size_t len, size_t max_len, clerk_token **out,
                       clerk_error *err)
{
    return clerk_token_decode_with(tok, len, max_len, NULL, NULL, out, err);
}

int clerk_token_decode_with(const char *tok, size_t len, size_t max_len,
                            clerk_jwt_header_lookup known, void *known_ctx, clerk_token **out,
                            clerk_error *err)
{
    *out = NULL;
    clerk_jwt *jwt = NULL;
    if (clerk_jwt_decode_with(tok, len, max_len, known, known_ctx, &jwt, err) != 0)
        return -1;
    clerk_token *t = calloc(1, sizeof *t);
    if (t == NULL) {
        clerk_jwt_free(jwt);
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Out of memory decoding a JWT.");
    }
    t->jwt = jwt;
    clerk_claims_extract(jwt->payload, &t->claims);
    t->wrong_type = wrong_type(t);
    atomic_init(&t->refs, 1);
    *out = t;
    return 0;
}

/* Decided once per token: the header and sub never change, and a cached token is asked on every
 * request. */
static int wrong_type(const clerk_token *t)
{
    const json_t *typ = json_object_get(t->jwt->header, "typ");
    if (json_is_string(typ) && (strcmp(json_string_value(typ), "at+jwt") == 0 ||
                                strcmp(json_string_value(typ), "application/at+jwt") == 0))
        return 1;
    if (t->claims.sub != NULL &&
        strncmp(t->claims.sub, M2M_SUBJECT_PREFIX, strlen(M2M_SUBJECT_PREFIX)) == 0)
        return 1;
    /* Any present cat (even a non-string) that is not a session one marks another class. */
    const json_t *cat = json_object_get(t->jwt->header, "cat");
    if (cat != NULL && !(json_is_string(cat) && (strcmp(json_string_value(cat), CAT_SESSION) == 0 ||
                                                 strcmp(json_string_value(cat), CAT_IGNORE) == 0)))
        return 1;
    return 0;
}

int clerk_token_is_wrong_type(const clerk_token *t)
{
    return t->wrong_type;
}

/* JSON.stringify of a header member for a message, bounded; "undefined" when absent. */
static const char *header_quote(const json_t *v, char *buf, size_t buflen)
{
    char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(buf, buflen, "%.60s%s", s != NULL ? s : "undefined",
             s != NULL && strlen(s) > 60 ? "..." : "");
    free(s);
    return buf;
}

/* "RS256,ES256": the allowed algorithms that fit key k, as JS prints an array. */
static const char *supported_algs(unsigned algs, const clerk_key *k, char *buf, size_t buflen)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned bit = 1; bit <= CLERK_ALGS_ALL; bit <<= 1) {
        if (!(algs & bit) || !clerk_alg_fits_key(bit, k))
            continue;
        const char *name = clerk_alg_name(bit);
        int n = snprintf(buf + used, buflen - used, "%s%s", used ? "," : "", name ? name : "");
        if (n < 0 || (size_t)n >= buflen - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

int clerk_token_verify(clerk_token *t, const clerk_verify_opts *o, const clerk_key_source *keys,
                       clerk_error *err)
{
    const clerk_jwt *jwt = t->jwt;
    char q[80];

    /* A machine token signed by the same instance key must never pass as a session. */
    if (jwt->cat != NULL && strcmp(jwt->cat, CAT_M2M) == 0)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "Invalid session token category.");

    if (keys == NULL || keys->lookup == NULL)
        return clerk_error_set(err, CLERK_R_JWK_FAILED_TO_RESOLVE,
                               "Failed to resolve JWK during verification.");
    const clerk_key *key = keys->lookup(keys->ctx, jwt->kid, err);
    if (key == NULL)
        return -1;

    /* A string typ was kept at decode, and a non-string one cleared header_types_ok: the header
     * is looked up again only to describe a refusal (a cached token is checked on every hit). */
    if (!(jwt->typ != NULL ? strcmp(jwt->typ, "JWT") == 0 : jwt->header_types_ok)) {
        const json_t *typ = json_object_get(jwt->header, "typ");
        if (typ != NULL && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0))
            return clerk_error_set(err, CLERK_R_TOKEN_INVALID,
                                   "Invalid JWT type %s. Expected \"JWT\".",
                                   header_quote(typ, q, sizeof q));
    }

    /* differences.h: crit-header */
    /* Ours (stricter): no extension we would have to understand, and no header member of a
     * type a parser elsewhere might read differently. */
    if (jwt->has_crit)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID,
                               "Invalid JWT header: the crit parameter is not supported.");
    if (!jwt->header_types_ok)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID,
                               "Invalid JWT header: alg, kid, typ and cat must be strings.");

    /* Before any crypto: a known algorithm, allowed here, and of the key's type (no HS256 keyed
     * with an RSA public key, no ES256 header checked against an RSA key).
     * differences.h: rs384-rs512-not-allowed-by-default */
    unsigned allowed = o->algs != 0 ? o->algs : CLERK_ALGS_DEFAULT;
    if (jwt->alg == 0 || !(jwt->alg & allowed) || !clerk_alg_fits_key(jwt->alg, key)) {
        char list[128];
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID_ALGORITHM,
                               "Invalid JWT algorithm %s. Supported: %s.",
                               header_quote(json_object_get(jwt->header, "alg"), q, sizeof q),
                               supported_algs(allowed, key, list, sizeof list));
    }

    /* Signature before claims, so claim errors never answer for a forged token. */
    if (!t->verified || CRYPTO_memcmp(t->verified_id, key->id, CLERK_KEY_ID_LEN) != 0) {
        int ok = clerk_jws_verify(jwt->alg, key, (const unsigned char *)jwt->signing_input,
                                  jwt->signing_len, jwt->sig, jwt->sig_len);
        if (ok < 0)
            return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                                   "Error verifying JWT signature. Error: the signature could "
                                   "not be checked with this key.");
        if (ok == 0)
            return clerk_error_set(err, CLERK_R_TOKEN_INVALID_SIGNATURE,
                                   "JWT signature is invalid.");
        /* A shared token is immutable: only the sole owner records what it was verified with. */
        if (atomic_load(&t->refs) == 1) {
            memcpy(t->verified_id, key->id, CLERK_KEY_ID_LEN);
            t->verified = 1;
        }
    }

    return clerk_claims_check(&t->claims, o, err);
}

/* 1 when JSON text (already parsed strictly) has no whitespace between tokens and no DEL: then
 * it is exactly what compact serialisation would print, up to escapes. */
static int is_compact(const char *s, size_t n)
{
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (!in_string && c <= 0x20))
            return 0;
        if (escaped)
            escaped = 0;
        else if (c == '\\')
            escaped = in_string;
        else if (c == '"')
            in_string = !in_string;
    }
    return 1;
}

const char *clerk_token_claims_json(clerk_token *t)
{
    if (t == NULL || t->jwt == NULL || !json_is_object(t->jwt->payload))
        return NULL;
    /* The payload's own text, as signed, when it is compact: Clerk's tokens are JSON.stringify
     * output, so this is the usual answer and costs no serialisation. Anything else (whitespace
     * between tokens, DEL) takes the re-serialised form below. */
    const clerk_jwt *j = t->jwt;
    if (j->payload_json != NULL && is_compact(j->payload_json, j->payload_json_len))
        return j->payload_json;
    char *have = atomic_load_explicit(&t->claims_json, memory_order_acquire);
    if (have != NULL)
        return have;
    /* jansson escapes every control character but DEL; DEL can only sit inside a JSON string,
     * where \u007f means the same, so the JSON form is always header-safe. */
    char *all = json_dumps(t->jwt->payload, JSON_COMPACT);
    if (all == NULL)
        return NULL;
    size_t dels = 0, len = strlen(all);
    for (size_t i = 0; i < len; i++)
        dels += all[i] == 0x7f;
    char *out = all;
    if (dels > 0 && (out = malloc(len + dels * 5 + 1)) != NULL) {
        char *o = out;
        for (size_t i = 0; i < len; i++) {
            if (all[i] == 0x7f) {
                memcpy(o, "\\u007f", 6);
                o += 6;
            } else {
                *o++ = all[i];
            }
        }
        *o = '\0';
    }
    if (out != all)
        free(all);
    if (out == NULL)
        return NULL;
    /* Two requests may race to make it: the first stored wins, the other copy is dropped. */
    if (!atomic_compare_exchange_strong_explicit(&t->claims_json, &have, out, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(out);
        return have;
    }
    return out;
}

void *clerk_token_memo(clerk_token *t)
{
    return atomic_load_explicit(&t->memo, memory_order_acquire);
}

void *clerk_token_memo_set(clerk_token *t, void *block)
{
    void *have = NULL;
    if (block == NULL)
        return clerk_token_memo(t);
    /* Two requests may race to make it: the first stored wins. */
    if (!atomic_compare_exchange_strong_explicit(&t->memo, &have, block, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(block);
        return have;
    }
    return block;
}

clerk_token *clerk_token_ref(clerk_token *t)
{
    if (t != NULL)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void clerk_token_release(clerk_token *t)
{
    if (t == NULL)
        return;
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        clerk_jwt_free(t->jwt);
        free(atomic_load_explicit(&t->claims_json, memory_order_relaxed));
        free(atomic_load_explicit(&t->memo, memory_order_relaxed));
        free(t);
    }
}
