/* Fuzz target: the whole request decision, clerk_request_state, with fuzzed method, URL,
 * forwarded headers, Authorization, Cookie, fetch metadata and a nonce-exchange answer, against
 * the fixed JWKS. Input: one flags byte, then '\n'-separated fields (see FIELD_*; empty or
 * missing = absent header, "\x01" = empty value). FIELD_MULTIDOMAIN's letters turn on the
 * multi-domain options: s satellite, a auto sync, d domain, p absolute proxy URL, r relative
 * proxy URL, i sign-in URL, o organization patterns. */
#include <string.h>
#include "fuzz_common.h"
#include "request_state.h"
#include "token_cache.h"

enum {
    FIELD_METHOD,
    FIELD_HOST,
    FIELD_XF_HOST,
    FIELD_XF_PROTO,
    FIELD_CF_PROTO,
    FIELD_PATH,
    FIELD_QUERY,
    FIELD_AUTHORIZATION,
    FIELD_COOKIE,
    FIELD_SEC_FETCH_DEST,
    FIELD_ACCEPT,
    FIELD_REFERER,
    FIELD_NONCE_BODY,
    FIELD_MULTIDOMAIN,
    FIELD_COUNT
};

enum {
    F_HTTPS = 1,
    F_TRUST_FORWARDED = 2,
    F_DEV = 4,
    F_NO_PK = 8,
    F_HANDSHAKE_OFF = 16,
    F_NONCE = 32,
    F_ACCEPT_PENDING = 64,
    F_CACHE = 128,
};

#define LIVE_PK "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k" /* clerk.example.com */
#define TEST_PK                                                                                    \
    "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk" /* foo-bar-13.clerk.accounts.dev */

static const char *const azp[] = {"https://app.example.com"};

static int scripted_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                        long *status, const char **out, clerk_error *err)
{
    if (ctx == NULL) {
        clerk_error_set(err, CLERK_R_NONE, "scripted transport: no answer");
        return -1;
    }
    *status = 200;
    *out = ctx;
    return 0;
}

static void check(const clerk_state *st)
{
    if (st->message == NULL)
        __builtin_trap();
    /* The public URL is built whenever a response may redirect: every decision but a plain
     * signed-in one. */
    if ((st->status != CLERK_SIGNED_IN || st->location != NULL) && st->public_url == NULL)
        __builtin_trap();
    if (st->status == CLERK_SIGNED_IN && (st->token == NULL || st->reason != CLERK_R_NONE))
        __builtin_trap(); /* signed in only with a verified token */
    if (st->status != CLERK_SIGNED_IN && st->reason == CLERK_R_NONE)
        __builtin_trap(); /* every denial names its reason */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const fuzz_keys *k = fuzz_setup();
    apr_pool_t *p = fuzz_pool();
    clerk_error err = {0};
    unsigned flags = data[0];
    const char *f[FIELD_COUNT];
    fuzz_fields(p, data + 1, size - 1, f, FIELD_COUNT);

    clerk_publishable_key *pk = NULL;
    if (!(flags & F_NO_PK) &&
        clerk_publishable_key_parse(p, (flags & F_DEV) ? TEST_PK : LIVE_PK, &pk, &err) != 0)
        __builtin_trap();

    clerk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.pk = pk;
    cfg.verify.skew_ms = 5000;
    cfg.verify.algs = CLERK_ALGS_ALL;
    cfg.verify.azp = azp;
    cfg.verify.n_azp = 1;
    cfg.accept_pending = (flags & F_ACCEPT_PENDING) != 0;
    cfg.keys = fuzz_source(k->jwks);
    cfg.handshake_off = (flags & F_HANDSHAKE_OFF) != 0;
    if (flags & F_NONCE) {
        cfg.secret_key = "sk_test_fuzz";
        cfg.api_url = "https://api.example.test";
        cfg.handshake_get = scripted_get;
        cfg.handshake_get_ctx = (void *)f[FIELD_NONCE_BODY];
    }
    if (flags & F_CACHE)
        cfg.cache = clerk_token_cache_create(8);
    const char *md = f[FIELD_MULTIDOMAIN] ? f[FIELD_MULTIDOMAIN] : "";
    cfg.is_satellite = strchr(md, 's') != NULL;
    cfg.satellite_auto_sync = strchr(md, 'a') != NULL;
    cfg.domain = strchr(md, 'd') ? "sat.example.org" : NULL;
    cfg.proxy_url = strchr(md, 'p')   ? "https://proxy.example.org/__clerk"
                    : strchr(md, 'r') ? "/__clerk"
                                      : NULL;
    cfg.sign_in_url = strchr(md, 'i') ? "https://primary.example.com/sign-in?a=b#f" : NULL;
    static const char *const orgs[] = {"/orgs/:slug", "/orgs/:slug/(.*)", "/id/:id?/(.*)"};
    static const char *const me[] = {"/me", "/me/(.*)"};
    clerk_org_sync os = {NULL, NULL};
    if (strchr(md, 'o')) {
        os.organization = clerk_path_patterns_compile(p, orgs, 3, &err);
        os.personal = clerk_path_patterns_compile(p, me, 2, &err);
        if (!os.organization || !os.personal)
            __builtin_trap();
        cfg.org_sync = &os;
    }

    clerk_request req;
    memset(&req, 0, sizeof(req));
    req.method = f[FIELD_METHOD] ? f[FIELD_METHOD] : "GET";
    req.url.conn_scheme = (flags & F_HTTPS) ? "https" : "http";
    req.url.host = f[FIELD_HOST];
    req.url.xf_host = f[FIELD_XF_HOST];
    req.url.xf_proto = f[FIELD_XF_PROTO];
    req.url.cf_proto = f[FIELD_CF_PROTO];
    req.url.trust_forwarded = (flags & F_TRUST_FORWARDED) != 0;
    req.url.path = f[FIELD_PATH] ? f[FIELD_PATH] : "/";
    req.url.query = f[FIELD_QUERY];
    req.authorization = f[FIELD_AUTHORIZATION];
    req.cookie = f[FIELD_COOKIE];
    req.sec_fetch_dest = f[FIELD_SEC_FETCH_DEST];
    req.accept = f[FIELD_ACCEPT];
    req.referer = f[FIELD_REFERER];
    req.now_ms = FUZZ_NOW_MS;

    (void)clerk_is_document_request(&req);
    clerk_state st;
    clerk_request_state(p, &req, &cfg, &st);
    check(&st);
    if (cfg.cache != NULL) {
        /* The same request again: a cache hit must decide the same way. */
        clerk_state again;
        clerk_request_state(p, &req, &cfg, &again);
        check(&again);
        if (again.status != st.status || again.reason != st.reason)
            __builtin_trap();
    }
    apr_pool_destroy(p); /* runs the cleanups that release st.token before the cache goes */
    clerk_token_cache_destroy(cfg.cache);
    return 0;
}
