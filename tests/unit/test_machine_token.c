/* Machine tokens: classification as @clerk/backend tokens/machine.ts, acceptsToken routing as
 * tokens/request.ts, Backend API answers as tokens/verify.ts and tokens/authObjects.ts, and the
 * MAC'd shared records. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "b64url.h"
#include "machine_guard.h"
#include "machine_jwt.h"
#include "machine_token.h"
#include "mint.h"
#include "unit.h"

static apr_pool_t *pool;

static void pool_setup(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
}

static void pool_teardown(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

/* An unsigned JWT of header and payload JSON (classification never checks signatures). */
static char *jwt_of(const char *header, const char *payload)
{
    char *h = clerk_b64url_encode((const unsigned char *)header, strlen(header));
    char *p = clerk_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *t = apr_psprintf(pool, "%s.%s.c2ln", h, p);
    free(h);
    free(p);
    return t;
}

static unsigned classify(const char *t)
{
    return clerk_machine_classify(t, strlen(t));
}

START_TEST(prefixes_classify)
{
    ck_assert_uint_eq(classify("ak_abc"), CLERK_TT_API_KEY);
    ck_assert_uint_eq(classify("mt_abc"), CLERK_TT_M2M);
    ck_assert_uint_eq(classify("oat_abc"), CLERK_TT_OAUTH);
    ck_assert_uint_eq(classify("ak_"), CLERK_TT_API_KEY); /* the prefix alone is enough */
    ck_assert_uint_eq(classify("AK_abc"), CLERK_TT_SESSION);
    ck_assert_uint_eq(classify("xak_abc"), CLERK_TT_SESSION);
    ck_assert_uint_eq(classify(""), CLERK_TT_SESSION);
    ck_assert_uint_eq(clerk_machine_classify(NULL, 0), CLERK_TT_SESSION);
    /* Only the first len bytes count. */
    ck_assert_uint_eq(clerk_machine_classify("ak_abc", 2), CLERK_TT_SESSION);
}
END_TEST

START_TEST(jwts_classify)
{
    ck_assert_uint_eq(classify(jwt_of("{\"alg\":\"RS256\"}", "{\"sub\":\"mch_1\"}")), CLERK_TT_M2M);
    ck_assert_uint_eq(classify(jwt_of("{\"typ\":\"at+jwt\"}", "{\"sub\":\"user_1\"}")),
                      CLERK_TT_OAUTH);
    ck_assert_uint_eq(classify(jwt_of("{\"typ\":\"application/at+jwt\"}", "{\"sub\":\"user_1\"}")),
                      CLERK_TT_OAUTH);
    /* M2M wins over OAuth, as getMachineTokenType checks it first. */
    ck_assert_uint_eq(classify(jwt_of("{\"typ\":\"at+jwt\"}", "{\"sub\":\"mch_1\"}")),
                      CLERK_TT_M2M);
    ck_assert_uint_eq(classify(jwt_of("{\"typ\":\"JWT\"}", "{\"sub\":\"user_1\"}")),
                      CLERK_TT_SESSION);
    ck_assert_uint_eq(classify(jwt_of("{\"typ\":\"AT+JWT\"}", "{\"sub\":\"user_1\"}")),
                      CLERK_TT_SESSION);
    ck_assert_uint_eq(classify(jwt_of("{}", "{\"sub\":7}")), CLERK_TT_SESSION);
    /* Not the JWT form: an empty signature, a padding character. */
    ck_assert_uint_eq(classify("eyJ0eXAiOiJhdCtqd3QifQ.e30."), CLERK_TT_SESSION);
    ck_assert(!clerk_machine_is_jwt_format("a.b.c=", 6));
    ck_assert(!clerk_machine_is_jwt_format("a.b", 3));
    ck_assert(!clerk_machine_is_jwt_format("a.b.c.d", 7));
    ck_assert(!clerk_machine_is_jwt_format("a..c", 4));
    ck_assert(clerk_machine_is_jwt_format("a.b.c", 5));
}
END_TEST

START_TEST(sendable_tokens)
{
    ck_assert(clerk_machine_token_sendable("ak_abc", 6));
    ck_assert(!clerk_machine_token_sendable("ak_a c", 5));
    ck_assert(!clerk_machine_token_sendable("ak_a\x7f", 5));
    ck_assert(!clerk_machine_token_sendable("ak_\xc3\xa9", 5));
    ck_assert(!clerk_machine_token_sendable("", 0));
    char big[CLERK_MACHINE_TOKEN_MAX + 2];
    memset(big, 'a', sizeof big);
    ck_assert(clerk_machine_token_sendable(big, CLERK_MACHINE_TOKEN_MAX));
    ck_assert(!clerk_machine_token_sendable(big, CLERK_MACHINE_TOKEN_MAX + 1));
}
END_TEST

START_TEST(type_names)
{
    ck_assert_uint_eq(clerk_token_type_parse("session_token"), CLERK_TT_SESSION);
    ck_assert_uint_eq(clerk_token_type_parse("api_key"), CLERK_TT_API_KEY);
    ck_assert_uint_eq(clerk_token_type_parse("m2m_token"), CLERK_TT_M2M);
    ck_assert_uint_eq(clerk_token_type_parse("oauth_token"), CLERK_TT_OAUTH);
    ck_assert_uint_eq(clerk_token_type_parse("any"), CLERK_TT_ALL);
    ck_assert_uint_eq(clerk_token_type_parse("API_KEY"), 0);
    ck_assert_uint_eq(clerk_token_type_parse("machine_token"), 0);
    ck_assert_str_eq(clerk_token_type_name(CLERK_TT_M2M), "m2m_token");
    ck_assert_str_eq(clerk_token_type_name(CLERK_TT_ALL), "");
}
END_TEST

static clerk_machine_route route(unsigned types, int list, const char *tok, unsigned *type,
                                 clerk_reason *reason)
{
    clerk_accepts a = {types, list};
    return clerk_machine_route_request(&a, tok, tok ? strlen(tok) : 0, type, reason);
}

START_TEST(routes_as_the_sdk)
{
    unsigned type;
    clerk_reason why;
    const char *session = jwt_of("{\"typ\":\"JWT\"}", "{\"sub\":\"user_1\"}");

    /* The default: everything goes to the session decision (which refuses machine tokens). */
    ck_assert_int_eq(route(0, 0, "ak_1", &type, &why), CLERK_ROUTE_SESSION);
    ck_assert_int_eq(route(CLERK_TT_SESSION, 0, NULL, &type, &why), CLERK_ROUTE_SESSION);

    /* A single machine type. */
    ck_assert_int_eq(route(CLERK_TT_API_KEY, 0, "ak_1", &type, &why), CLERK_ROUTE_MACHINE);
    ck_assert_uint_eq(type, CLERK_TT_API_KEY);
    ck_assert_int_eq(route(CLERK_TT_API_KEY, 0, "mt_1", &type, &why), CLERK_ROUTE_SIGNED_OUT);
    ck_assert_int_eq(why, CLERK_R_TOKEN_TYPE_MISMATCH);
    ck_assert_int_eq(route(CLERK_TT_API_KEY, 0, session, &type, &why), CLERK_ROUTE_SIGNED_OUT);
    ck_assert_int_eq(why, CLERK_R_TOKEN_TYPE_MISMATCH);
    ck_assert_int_eq(route(CLERK_TT_M2M, 0, NULL, &type, &why), CLERK_ROUTE_SIGNED_OUT);
    ck_assert_int_eq(why, CLERK_R_NO_TOKEN_IN_HEADER);
    ck_assert_str_eq(clerk_reason_str(why), "No token in header");

    /* A list: no header token counts as a session token. */
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_M2M, 1, NULL, &type, &why),
                     CLERK_ROUTE_SIGNED_OUT);
    ck_assert_int_eq(why, CLERK_R_TOKEN_TYPE_MISMATCH);
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_SESSION, 1, NULL, &type, &why),
                     CLERK_ROUTE_SESSION);
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_M2M, 1, session, &type, &why),
                     CLERK_ROUTE_SIGNED_OUT);
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_SESSION, 1, session, &type, &why),
                     CLERK_ROUTE_SESSION);
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_M2M, 1, "mt_x", &type, &why),
                     CLERK_ROUTE_MACHINE);
    ck_assert_uint_eq(type, CLERK_TT_M2M);
    ck_assert_int_eq(route(CLERK_TT_API_KEY | CLERK_TT_M2M, 1, "oat_x", &type, &why),
                     CLERK_ROUTE_SIGNED_OUT);

    /* any */
    ck_assert_int_eq(route(CLERK_TT_ALL, 1, NULL, &type, &why), CLERK_ROUTE_SESSION);
    ck_assert_int_eq(route(CLERK_TT_ALL, 1, session, &type, &why), CLERK_ROUTE_SESSION);
    ck_assert_int_eq(route(CLERK_TT_ALL, 1, "oat_x", &type, &why), CLERK_ROUTE_MACHINE);
    ck_assert_uint_eq(type, CLERK_TT_OAUTH);
}
END_TEST

static int from_json(unsigned type, const char *json, int64_t now, clerk_machine *m,
                     clerk_error *err)
{
    return clerk_machine_from_json(pool, type, json, strlen(json), now, m, err);
}

START_TEST(api_key_answer_maps)
{
    clerk_machine m;
    clerk_error err = {0};
    const char *j = "{\"object\":\"api_key\",\"id\":\"ak_1\",\"type\":\"api_key\",\"name\":\"ci\","
                    "\"subject\":\"user_2\",\"scopes\":[\"read\",\"write:x\"],"
                    "\"claims\":{\"a\":1},\"revoked\":false,\"revocation_reason\":null,"
                    "\"expired\":false,\"expiration\":2000,\"created_by\":null,"
                    "\"description\":null,\"last_used_at\":null,\"created_at\":1,"
                    "\"updated_at\":1}";
    ck_assert_int_eq(from_json(CLERK_TT_API_KEY, j, 1000, &m, &err), 0);
    ck_assert_str_eq(m.id, "ak_1");
    ck_assert_str_eq(m.subject, "user_2");
    ck_assert_str_eq(m.user_id, "user_2");
    ck_assert_ptr_null(m.org_id);
    ck_assert_str_eq(m.name, "ci");
    ck_assert_str_eq(m.scopes, "read write:x");
    ck_assert_str_eq(m.claims, "{\"a\":1}");
    ck_assert_int_eq(m.expiration_ms, 2000);

    /* Expiration at or before now, expired, revoked: refused, token-invalid. */
    ck_assert_int_eq(from_json(CLERK_TT_API_KEY, j, 2000, &m, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "The api_key has expired.");
    ck_assert_int_eq(
        from_json(CLERK_TT_API_KEY,
                  "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"org_1\",\"scopes\":[],"
                  "\"revoked\":true,\"expired\":false,\"expiration\":null}",
                  0, &m, &err),
        -1);
    ck_assert_str_eq(err.message, "The api_key is revoked.");
    ck_assert_int_eq(
        from_json(CLERK_TT_API_KEY,
                  "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"org_1\",\"scopes\":[],"
                  "\"revoked\":false,\"expired\":false,\"expiration\":null}",
                  0, &m, &err),
        0);
    ck_assert_str_eq(m.org_id, "org_1");
    ck_assert_ptr_null(m.user_id);
    ck_assert_str_eq(m.scopes, "");
    ck_assert_int_eq(m.expiration_ms, -1);
}
END_TEST

START_TEST(other_answers_map)
{
    clerk_machine m;
    clerk_error err = {0};
    ck_assert_int_eq(from_json(CLERK_TT_M2M,
                               "{\"object\":\"machine_to_machine_token\",\"id\":\"mt_1\","
                               "\"subject\":\"mch_9\",\"scopes\":[\"mch_2\"],\"claims\":null,"
                               "\"revoked\":false,\"expired\":false,\"expiration\":null}",
                               0, &m, &err),
                     0);
    ck_assert_str_eq(m.machine_id, "mch_9");
    ck_assert_ptr_null(m.claims);
    ck_assert_ptr_null(m.user_id);
    ck_assert_int_eq(from_json(CLERK_TT_OAUTH,
                               "{\"object\":\"clerk_idp_oauth_access_token\",\"id\":\"oat_1\","
                               "\"client_id\":\"client_3\",\"type\":\"oauth:access_token\","
                               "\"subject\":\"user_4\",\"scopes\":[\"profile\",\"email\"],"
                               "\"revoked\":false,\"expired\":false,\"expiration\":null}",
                               0, &m, &err),
                     0);
    ck_assert_str_eq(m.client_id, "client_3");
    ck_assert_str_eq(m.user_id, "user_4");
    ck_assert_str_eq(m.scopes, "profile email");
    ck_assert_ptr_null(m.aud);
    const char *want[] = {"api"};
    ck_assert_int_eq(clerk_machine_oauth_audience(&m, want, 0, &err), 0);
    ck_assert_int_eq(clerk_machine_oauth_audience(&m, want, 1, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(from_json(CLERK_TT_OAUTH,
                               "{\"id\":\"oat_1\",\"client_id\":\"c\",\"subject\":\"user_4\","
                               "\"scopes\":[],\"aud\":[\"web\",\"api\"]}",
                               0, &m, &err),
                     0);
    ck_assert_str_eq(m.aud, "[\"web\",\"api\"]");
    ck_assert_int_eq(clerk_machine_oauth_audience(&m, want, 1, &err), 0);
    const char *other[] = {"mobile"};
    ck_assert_int_eq(clerk_machine_oauth_audience(&m, other, 1, &err), -1);
    ck_assert_str_eq(err.message, "OAuth audience mismatch.");
    /* OAuth lacking client_id; API key lacking name. */
    ck_assert_int_eq(from_json(CLERK_TT_OAUTH, "{\"id\":\"oat_1\",\"subject\":\"u\",\"scopes\":[]}",
                               0, &m, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);
    ck_assert_int_eq(from_json(CLERK_TT_API_KEY,
                               "{\"id\":\"ak_1\",\"subject\":\"u\",\"scopes\":[]}", 0, &m, &err),
                     -1);
}
END_TEST

START_TEST(bad_answers_refused)
{
    clerk_machine m;
    clerk_error err = {0};
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"id\":\"ak_1\",\"id\":\"ak_2\",\"name\":\"n\",\"subject\":\"u\",\"scopes\":[]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"\",\"scopes\":[]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"user 1\",\"scopes\":[]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"user\\n1\",\"scopes\":[]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"u\",\"scopes\":\"read\"}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"u\",\"scopes\":[\"a b\"]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"u\",\"scopes\":[7]}",
        "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"u\",\"scopes\":[],\"expiration\":\"1\"}",
        "{\"id\":7,\"name\":\"n\",\"subject\":\"u\",\"scopes\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(from_json(CLERK_TT_API_KEY, bad[i], 0, &m, &err) == -1, "accepted %s",
                      bad[i]);
        ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);
    }
    /* A huge answer is refused before parsing. */
    size_t n = 64 * 1024;
    char *huge = apr_palloc(pool, n + 1);
    memset(huge, ' ', n);
    huge[0] = '{';
    huge[n - 1] = '}';
    huge[n] = '\0';
    ck_assert_int_eq(from_json(CLERK_TT_API_KEY, huge, 0, &m, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);
}
END_TEST

START_TEST(statuses_map)
{
    clerk_error err = {0};
    clerk_machine_status_error(CLERK_TT_API_KEY, 401, &err);
    ck_assert_int_eq(err.reason, CLERK_R_SECRET_KEY_INVALID);
    clerk_machine_status_error(CLERK_TT_API_KEY, 404, &err);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "API key not found");
    clerk_machine_status_error(CLERK_TT_M2M, 404, &err);
    ck_assert_str_eq(err.message, "Machine token not found");
    clerk_machine_status_error(CLERK_TT_OAUTH, 404, &err);
    ck_assert_str_eq(err.message, "OAuth token not found");
    clerk_machine_status_error(CLERK_TT_OAUTH, 500, &err);
    ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);
    clerk_machine_status_error(CLERK_TT_OAUTH, 403, &err);
    ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);

    ck_assert_str_eq(clerk_machine_verify_path(CLERK_TT_API_KEY), "/api_keys/verify");
    ck_assert_str_eq(clerk_machine_verify_path(CLERK_TT_M2M), "/m2m_tokens/verify");
    ck_assert_str_eq(clerk_machine_verify_path(CLERK_TT_OAUTH),
                     "/oauth_applications/access_tokens/verify");
    ck_assert_ptr_null(clerk_machine_verify_path(CLERK_TT_SESSION));
    char *b = clerk_machine_verify_body(CLERK_TT_OAUTH, "oat_\"x", 6);
    ck_assert_str_eq(b, "{\"access_token\":\"oat_\\\"x\"}");
    free(b);
    b = clerk_machine_verify_body(CLERK_TT_API_KEY, "ak_1", 4);
    ck_assert_str_eq(b, "{\"secret\":\"ak_1\"}");
    free(b);
}
END_TEST

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef";

START_TEST(cache_keys_hide_the_token)
{
    char k1[CLERK_MACHINE_CACHE_KEY_LEN + 1], k2[CLERK_MACHINE_CACHE_KEY_LEN + 1];
    ck_assert_int_eq(clerk_machine_cache_key(KEY, 32, CLERK_TT_API_KEY, "ak_secret", 9, k1), 0);
    ck_assert_uint_eq(strlen(k1), CLERK_MACHINE_CACHE_KEY_LEN);
    ck_assert_str_eq(k1 + 65, ".clerk-mt");
    ck_assert_ptr_null(strstr(k1, "secret"));
    ck_assert_int_eq(clerk_machine_cache_key(KEY, 32, CLERK_TT_API_KEY, "ak_secret", 9, k2), 0);
    ck_assert_str_eq(k1, k2);
    ck_assert_int_eq(clerk_machine_cache_key(KEY, 31, CLERK_TT_API_KEY, "ak_secret", 9, k2), 0);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq(clerk_machine_cache_key(KEY, 32, CLERK_TT_M2M, "ak_secret", 9, k2), 0);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq(clerk_machine_cache_key(KEY, 32, CLERK_TT_API_KEY, "ak_secreT", 9, k2), 0);
    ck_assert_str_ne(k1, k2);
}
END_TEST

/* mod_socache_shmcb files a record under the subcache its id's first byte names: ids of distinct
 * tokens must not share their first byte, or they all crowd into one subcache. */
START_TEST(cache_keys_spread_over_shmcb_subcaches)
{
    int seen[256] = {0}, distinct = 0;
    for (int i = 0; i < 64; i++) {
        char tok[32], k[CLERK_MACHINE_CACHE_KEY_LEN + 1];
        int n = snprintf(tok, sizeof tok, "ak_key%d", i);
        ck_assert_int_eq(clerk_machine_cache_key(KEY, 32, CLERK_TT_API_KEY, tok, (size_t)n, k), 0);
        if (!seen[(unsigned char)k[0]]++)
            distinct++;
    }
    ck_assert_int_ge(distinct, 40); /* 64 draws of a byte: about 57 distinct */
}
END_TEST

/* Ages far beyond every record below: only until and the MAC decide. */
#define AGE INT64_MAX

START_TEST(records_round_trip_and_refuse_forgery)
{
    const char *res = "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"user_1\",\"scopes\":[\"r\"],"
                      "\"revoked\":false,\"expired\":false,\"expiration\":5000}";
    size_t len;
    unsigned char *rec = clerk_machine_record_encode(KEY, 32, "clerk-mt:aa", CLERK_TT_API_KEY, res,
                                                     NULL, 500, 9000, &len);
    ck_assert_ptr_nonnull(rec);
    clerk_machine m;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:aa", CLERK_TT_API_KEY,
                                                 rec, len, 1000, AGE, AGE, &m, &err),
                     1);
    ck_assert_str_eq(m.subject, "user_1");
    ck_assert_str_eq(m.scopes, "r");
    /* The token expired since it was stored: refused from the record. */
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:aa", CLERK_TT_API_KEY,
                                                 rec, len, 5000, AGE, AGE, &m, &err),
                     0);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    /* Another key, another cache key, another type, one flipped byte: not a record. */
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY + 1, 31, "clerk-mt:aa", CLERK_TT_API_KEY,
                                                 rec, len, 1000, AGE, AGE, &m, &err),
                     -1);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:ab", CLERK_TT_API_KEY,
                                                 rec, len, 1000, AGE, AGE, &m, &err),
                     -1);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:aa", CLERK_TT_M2M, rec,
                                                 len, 1000, AGE, AGE, &m, &err),
                     -1);
    rec[len - 3] ^= 1;
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:aa", CLERK_TT_API_KEY,
                                                 rec, len, 1000, AGE, AGE, &m, &err),
                     -1);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:aa", CLERK_TT_API_KEY,
                                                 rec, 10, 1000, AGE, AGE, &m, &err),
                     -1);
    free(rec);

    /* A refusal travels with its reason and message. */
    clerk_error refusal;
    clerk_error_set(&refusal, CLERK_R_TOKEN_INVALID, "API key not found");
    rec = clerk_machine_record_encode(KEY, 32, "clerk-mt:bb", CLERK_TT_API_KEY, NULL, &refusal, 500,
                                      2000, &len);
    ck_assert_ptr_nonnull(rec);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:bb", CLERK_TT_API_KEY,
                                                 rec, len, 1000, AGE, AGE, &m, &err),
                     0);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "API key not found");
    /* Its lifetime ends inside the record, whatever the store does with its expiry. */
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:bb", CLERK_TT_API_KEY,
                                                 rec, len, 2000, AGE, AGE, &m, &err),
                     -1);
    free(rec);
}
END_TEST

START_TEST(records_are_trusted_for_the_readers_ttl_only)
{
    /* Verified at 1000 by a section with a 60 s TTL (positive) or 10 s (negative). */
    const char *res = "{\"id\":\"ak_1\",\"name\":\"n\",\"subject\":\"user_1\",\"scopes\":[],"
                      "\"revoked\":false,\"expired\":false,\"expiration\":null}";
    size_t len;
    unsigned char *rec = clerk_machine_record_encode(KEY, 32, "clerk-mt:cc", CLERK_TT_API_KEY, res,
                                                     NULL, 1000, 61000, &len);
    ck_assert_ptr_nonnull(rec);
    clerk_machine m;
    clerk_error err = {0};
    /* A reader with TTL 5 s trusts it until 6000 (exclusive); the writer's 60 s do not count. */
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:cc", CLERK_TT_API_KEY,
                                                 rec, len, 5999, 5000, 5000, &m, &err),
                     1);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:cc", CLERK_TT_API_KEY,
                                                 rec, len, 6000, 5000, 5000, &m, &err),
                     -1);
    /* TTL 0: "ask the Backend API every request", so no record is ever trusted. */
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:cc", CLERK_TT_API_KEY,
                                                 rec, len, 1000, 0, 10000, &m, &err),
                     -1);
    free(rec);

    /* A refusal is bounded by the reader's negative TTL, not the positive one. */
    clerk_error refusal;
    clerk_error_set(&refusal, CLERK_R_TOKEN_INVALID, "API key not found");
    rec = clerk_machine_record_encode(KEY, 32, "clerk-mt:dd", CLERK_TT_API_KEY, NULL, &refusal,
                                      1000, 11000, &len);
    ck_assert_ptr_nonnull(rec);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:dd", CLERK_TT_API_KEY,
                                                 rec, len, 2000, 60000, 2000, &m, &err),
                     0);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:dd", CLERK_TT_API_KEY,
                                                 rec, len, 3000, 60000, 2000, &m, &err),
                     -1);
    ck_assert_int_eq(clerk_machine_record_decode(pool, KEY, 32, "clerk-mt:dd", CLERK_TT_API_KEY,
                                                 rec, len, 1000, 60000, 0, &m, &err),
                     -1);
    free(rec);
}
END_TEST

/* --- JWT-format machine tokens ------------------------------------------------------------ */

#define NOW_S 1700000000
static EVP_PKEY *rsa_key;
static clerk_keyset *keys;

static void jwt_setup(void)
{
    pool_setup();
    rsa_key = mint_keygen("rsa2048");
    char *pem = mint_public_pem(rsa_key);
    clerk_error err = {0};
    keys = clerk_keyset_new();
    ck_assert_int_eq(clerk_keyset_add_pem(keys, pem, strlen(pem), &err), 0);
    free(pem);
}

static void jwt_teardown(void)
{
    clerk_keyset_unref(keys);
    EVP_PKEY_free(rsa_key);
    pool_teardown();
}

static const clerk_key *any_key(void *ctx, const char *kid, clerk_error *err)
{
    (void)err;
    return clerk_keyset_find(ctx, kid);
}

static int verify_jwt(const char *hdr, const char *payload, const char *aud, clerk_machine *m,
                      unsigned *type, clerk_error *err)
{
    char *tok = mint_sign(rsa_key, "RS256", hdr, payload);
    clerk_verify_opts o = {0};
    o.now_ms = (int64_t)NOW_S * 1000;
    o.skew_ms = 5000;
    const char *auds[] = {aud};
    if (aud) {
        o.aud = auds;
        o.n_aud = 1;
    }
    clerk_key_source ks = {any_key, keys};
    int rc = clerk_machine_jwt_verify(pool, tok, strlen(tok), &o, &ks, m, type, err);
    free(tok);
    return rc;
}

#define CLAIMS(extra)                                                                              \
    "{\"sub\":\"mch_1\",\"iat\":1699999990,\"exp\":1700000600,\"jti\":\"mt_j1\"" extra "}"

START_TEST(m2m_jwt_verifies_locally)
{
    clerk_machine m;
    clerk_error err = {0};
    unsigned type = 0;
    ck_assert_int_eq(verify_jwt("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"cat\":\"cl_B7d4PD333AAA\"}",
                                CLAIMS(",\"scopes\":\"mch_2 mch_3\",\"team\":\"a\""), NULL, &m,
                                &type, &err),
                     0);
    ck_assert_uint_eq(type, CLERK_TT_M2M);
    ck_assert_str_eq(m.id, "mt_j1");
    ck_assert_str_eq(m.machine_id, "mch_1");
    ck_assert_str_eq(m.scopes, "mch_2 mch_3");
    ck_assert_str_eq(m.claims, "{\"scopes\":\"mch_2 mch_3\",\"team\":\"a\"}");
    ck_assert_int_eq(m.expiration_ms, 1700000600000LL);
    /* Another category (a session token's) is token-invalid. */
    ck_assert_int_eq(verify_jwt("{\"alg\":\"RS256\",\"cat\":\"cl_B7d4PD111AAA\"}", CLAIMS(""), NULL,
                                &m, &type, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "Invalid M2M JWT category.");
    /* Expired, wrong typ, wrong audience: token-verification-failed. */
    ck_assert_int_eq(verify_jwt("{\"alg\":\"RS256\"}",
                                "{\"sub\":\"mch_1\",\"iat\":1699990000,\"exp\":1699990100}", NULL,
                                &m, &type, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(
        verify_jwt("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", CLAIMS(""), NULL, &m, &type, &err),
        -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(
        verify_jwt("{\"alg\":\"RS256\"}", CLAIMS(",\"aud\":\"x\""), "y", &m, &type, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
}
END_TEST

START_TEST(oauth_jwt_verifies_locally)
{
    clerk_machine m;
    clerk_error err = {0};
    unsigned type = 0;
    const char *p = "{\"sub\":\"user_7\",\"iat\":1699999990,\"exp\":1700000600,"
                    "\"client_id\":\"client_1\",\"scope\":\"profile email\",\"aud\":\"api\"}";
    ck_assert_int_eq(
        verify_jwt("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", p, "api", &m, &type, &err), 0);
    ck_assert_uint_eq(type, CLERK_TT_OAUTH);
    ck_assert_str_eq(m.user_id, "user_7");
    ck_assert_str_eq(m.client_id, "client_1");
    ck_assert_str_eq(m.scopes, "profile email");
    ck_assert_ptr_null(m.claims);
    ck_assert_int_eq(
        verify_jwt("{\"alg\":\"RS256\",\"typ\":\"application/at+jwt\"}", p, "web", &m, &type, &err),
        -1);
    ck_assert_str_eq(err.message, "OAuth audience mismatch.");
    /* Neither M2M nor OAuth: the SDK's "Invalid JWT type" answer, typed oauth_token. */
    ck_assert_int_eq(verify_jwt("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", p, NULL, &m, &type, &err),
                     -1);
    ck_assert_uint_eq(type, CLERK_TT_OAUTH);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    /* Signed with another key: refused. */
    EVP_PKEY *other = mint_keygen("rsa2048");
    char *tok = mint_sign(other, "RS256", "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", p);
    clerk_verify_opts o = {0};
    o.now_ms = (int64_t)NOW_S * 1000;
    clerk_key_source ks = {any_key, keys};
    ck_assert_int_eq(clerk_machine_jwt_verify(pool, tok, strlen(tok), &o, &ks, &m, &type, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    free(tok);
    EVP_PKEY_free(other);
    /* Garbage in JWT form: token-invalid, typed m2m_token as the SDK's decode failure. */
    ck_assert_int_eq(clerk_machine_jwt_verify(pool, "abc.def.ghi", 11, &o, &ks, &m, &type, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_uint_eq(type, CLERK_TT_M2M);
}
END_TEST

/* The per-process bound on Backend API verifications: in flight, then per second of the request
 * clock (a second from just before does not reset the count). */
START_TEST(guard_bounds_calls_in_flight_and_per_second)
{
    int64_t t = INT64_C(1900000000000);
    for (int i = 0; i < CLERK_MACHINE_MAX_IN_FLIGHT; i++)
        ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_GO);
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_TOO_MANY_NOW);
    clerk_machine_guard_end();
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_GO);
    for (int i = 0; i < CLERK_MACHINE_MAX_IN_FLIGHT; i++)
        clerk_machine_guard_end();
    int started = CLERK_MACHINE_MAX_IN_FLIGHT + 1;
    for (; started < CLERK_MACHINE_MAX_PER_SECOND; started++) {
        ck_assert_int_eq(clerk_machine_guard_begin(t + 999, 0), CLERK_BOUND_GO);
        clerk_machine_guard_end();
    }
    ck_assert_int_eq(clerk_machine_guard_begin(t + 999, 0), CLERK_BOUND_TOO_MANY_SECOND);
    ck_assert_int_eq(clerk_machine_guard_begin(t - 1, 0), CLERK_BOUND_TOO_MANY_SECOND);
    ck_assert_str_eq(clerk_bound_verdict_str(CLERK_BOUND_TOO_MANY_SECOND), "too-many-per-second");
    /* The next second starts afresh. */
    ck_assert_int_eq(clerk_machine_guard_begin(t + 1000, 0), CLERK_BOUND_GO);
    clerk_machine_guard_end();
}
END_TEST

/* The configured limits replace the defaults, and the refusal log line reads them back. */
START_TEST(guard_limits_are_configurable)
{
    /* A second no other check of this process used: under CK_FORK=no (the valgrind run) the
     * process-wide guard keeps the previous check's second, and an older one counts against it. */
    int64_t t = INT64_C(1900000000000) + 3600000;
    int n, m;
    clerk_machine_guard_set(2, 3);
    clerk_machine_guard_limits(&n, &m);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(m, 3);
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_GO);
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_GO);
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_TOO_MANY_NOW);
    clerk_machine_guard_end();
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_GO);
    clerk_machine_guard_end();
    clerk_machine_guard_end();
    ck_assert_int_eq(clerk_machine_guard_begin(t, 0), CLERK_BOUND_TOO_MANY_SECOND);
    clerk_machine_guard_set(CLERK_MACHINE_MAX_IN_FLIGHT, CLERK_MACHINE_MAX_PER_SECOND);
    clerk_machine_guard_limits(&n, &m);
    ck_assert_int_eq(n, CLERK_MACHINE_MAX_IN_FLIGHT);
    ck_assert_int_eq(m, CLERK_MACHINE_MAX_PER_SECOND);
}
END_TEST

/* A request that waits on a bound, run in a thread. */
typedef struct waiter {
    clerk_call_bound *b;
    int64_t now_ms, wait_ms;
    clerk_bound_verdict v;
    pthread_t th;
} waiter;

static void *wait_for_slot(void *arg)
{
    waiter *w = arg;
    w->v = clerk_call_bound_begin_wait(w->b, w->now_ms, w->wait_ms);
    return NULL;
}

static int waiters_of(clerk_call_bound *b)
{
    pthread_mutex_lock(&b->lock);
    int n = b->waiters;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* Starts w and returns once the bound counts n waiters (polled, bounded: about 2 s). */
static void start_waiter(waiter *w, int n)
{
    ck_assert_int_eq(pthread_create(&w->th, NULL, wait_for_slot, w), 0);
    for (int i = 0; i < 2000 && waiters_of(w->b) < n; i++) {
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    ck_assert_int_eq(waiters_of(w->b), n);
}

/* A request finding every slot busy waits, and proceeds when one is freed (its wait is far
 * longer than the test: only the freed slot can end it). */
START_TEST(bound_waiter_proceeds_when_a_slot_frees)
{
    static clerk_call_bound b = CLERK_CALL_BOUND_INIT(1, 100, 4);
    int64_t t = INT64_C(1900000000000);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_GO);
    waiter w = {&b, t, 600000, CLERK_BOUND_TOO_MANY_NOW, 0};
    start_waiter(&w, 1);
    clerk_call_bound_end(&b);
    ck_assert_int_eq(pthread_join(w.th, NULL), 0);
    ck_assert_int_eq(w.v, CLERK_BOUND_GO);
    ck_assert_int_eq(waiters_of(&b), 0);
    ck_assert_int_eq(b.in_flight, 1);
    clerk_call_bound_end(&b);
}
END_TEST

/* Beyond the waiter cap a request is refused at once, as without waiting; the waiter within
 * the cap still gets the slot. */
START_TEST(bound_waiter_cap_refuses_at_once)
{
    static clerk_call_bound b = CLERK_CALL_BOUND_INIT(1, 100, 1);
    int64_t t = INT64_C(1900000000000);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_GO);
    waiter w = {&b, t, 600000, CLERK_BOUND_TOO_MANY_NOW, 0};
    start_waiter(&w, 1);
    /* A 600 s wait that returns while the slot is still held: it never waited. */
    ck_assert_int_eq(clerk_call_bound_begin_wait(&b, t, 600000), CLERK_BOUND_TOO_MANY_NOW);
    ck_assert_int_eq(waiters_of(&b), 1);
    clerk_call_bound_end(&b);
    ck_assert_int_eq(pthread_join(w.th, NULL), 0);
    ck_assert_int_eq(w.v, CLERK_BOUND_GO);
    clerk_call_bound_end(&b);
}
END_TEST

/* A wait that ends with no slot freed is refused with the bound's reason, and stops counting as
 * a waiter; with no wait at all the refusal is immediate, as before waiting existed. */
START_TEST(bound_wait_times_out_and_refuses)
{
    static clerk_call_bound b = CLERK_CALL_BOUND_INIT(1, 100, 4);
    int64_t t = INT64_C(1900000000000);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_GO);
    ck_assert_int_eq(clerk_call_bound_begin_wait(&b, t, 20), CLERK_BOUND_TOO_MANY_NOW);
    ck_assert_int_eq(clerk_call_bound_begin_wait(&b, t, 0), CLERK_BOUND_TOO_MANY_NOW);
    ck_assert_int_eq(waiters_of(&b), 0);
    ck_assert_int_eq(b.in_flight, 1);
    clerk_call_bound_end(&b);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_GO);
    clerk_call_bound_end(&b);
}
END_TEST

/* A full second is waited out: the request clock advances with the wait into the next second,
 * which has room (the request starts in the second's last millisecond). */
START_TEST(bound_per_second_waits_for_the_next_second)
{
    static clerk_call_bound b = CLERK_CALL_BOUND_INIT(4, 1, 4);
    int64_t t = INT64_C(1900000000999);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_GO);
    clerk_call_bound_end(&b);
    ck_assert_int_eq(clerk_call_bound_begin(&b, t), CLERK_BOUND_TOO_MANY_SECOND);
    ck_assert_int_eq(clerk_call_bound_begin_wait(&b, t, 600000), CLERK_BOUND_GO);
    ck_assert_int_eq(b.second, t / 1000 + 1);
    clerk_call_bound_end(&b);
}
END_TEST

Suite *machine_token_suite(void)
{
    Suite *s = suite_create("machine_token");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, prefixes_classify);
    tcase_add_test(tc, jwts_classify);
    tcase_add_test(tc, type_names);
    tcase_add_test(tc, sendable_tokens);
    tcase_add_test(tc, routes_as_the_sdk);
    tcase_add_test(tc, api_key_answer_maps);
    tcase_add_test(tc, other_answers_map);
    tcase_add_test(tc, bad_answers_refused);
    tcase_add_test(tc, statuses_map);
    tcase_add_test(tc, cache_keys_hide_the_token);
    tcase_add_test(tc, cache_keys_spread_over_shmcb_subcaches);
    tcase_add_test(tc, records_round_trip_and_refuse_forgery);
    tcase_add_test(tc, records_are_trusted_for_the_readers_ttl_only);
    tcase_add_test(tc, guard_bounds_calls_in_flight_and_per_second);
    tcase_add_test(tc, guard_limits_are_configurable);
    tcase_add_test(tc, bound_waiter_proceeds_when_a_slot_frees);
    tcase_add_test(tc, bound_waiter_cap_refuses_at_once);
    tcase_add_test(tc, bound_wait_times_out_and_refuses);
    tcase_add_test(tc, bound_per_second_waits_for_the_next_second);
    suite_add_tcase(s, tc);
    TCase *jt = tcase_create("jwt");
    tcase_add_checked_fixture(jt, jwt_setup, jwt_teardown);
    tcase_add_test(jt, m2m_jwt_verifies_locally);
    tcase_add_test(jt, oauth_jwt_verifies_locally);
    suite_add_tcase(s, jt);
    return s;
}
