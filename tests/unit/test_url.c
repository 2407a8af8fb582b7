/* URL building cost and bounds: every URL made from a request (public URL, handshake URL,
 * cleaned URL, sign-in Location) stays within a small multiple of its input in allocated bytes,
 * measured by the heap the work's own pool takes, and a URL past the bounds is not built. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <apr_allocator.h>
#include <apr_strings.h>
#include "handshake.h"
#include "signin_url.h"
#include "url.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ASAN 1
#endif
#endif

#ifdef UNIT_ASAN
/* Exported by the ASan runtime (sanitizer/allocator_interface.h, not shipped with gcc). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
#endif

/* The process's mapped size: an APR built with its allocator on mmap (Debian's) takes its
 * blocks there rather than from malloc. */
static size_t mapped_size(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

typedef struct metered {
    apr_pool_t *p;
    size_t heap, mapped;
} metered;

static metered meter_start(void)
{
    apr_allocator_t *a = NULL;
    metered m;
    ck_assert_int_eq(apr_allocator_create(&a), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create_ex(&m.p, NULL, NULL, a), APR_SUCCESS);
    apr_allocator_owner_set(a, m.p);
    m.heap = heap_in_use();
    m.mapped = mapped_size();
    return m;
}

/* The larger growth of the two, whichever way APR took its blocks. */
static size_t meter_stop(metered *m)
{
    size_t heap = heap_in_use(), mapped = mapped_size();
    apr_pool_destroy(m->p);
    heap = heap > m->heap ? heap - m->heap : 0;
    mapped = mapped > m->mapped ? mapped - m->mapped : 0;
    return heap > mapped ? heap : mapped;
}

/* The allowance: a few copies of the input (percent-encoding triples a byte, and the handshake
 * URL encodes the already re-encoded public URL again) plus APR's 8 KiB blocks. */
#define ALLOWED(n) (24 * (n) + 64 * 1024)

static char *repeat(const char *prefix, const char *unit, size_t count)
{
    size_t pl = strlen(prefix), ul = strlen(unit);
    char *s = malloc(pl + ul * count + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < count; i++)
        memcpy(s + pl + i * ul, unit, ul);
    s[pl + ul * count] = '\0';
    return s;
}

static void assert_linear(const char *what, const char *url)
{
    static const char *const names[] = {"__clerk_db_jwt", "__clerk_handshake", NULL};
    size_t n = strlen(url);

    metered m = meter_start();
    const char *s = clerk_url_strip_params(m.p, url, names);
    ck_assert_ptr_nonnull(s);
    size_t used = meter_stop(&m);
    ck_assert_msg(used <= ALLOWED(n), "%s: stripping a %zu-byte URL took %zu bytes (allowed %zu)",
                  what, n, used, (size_t)ALLOWED(n));

    m = meter_start();
    const char *h = clerk_handshake_url(m.p, "clerk.example.com", url, 1, "session-token-expired",
                                        1, "tok", "dvb");
    ck_assert_ptr_nonnull(h);
    used = meter_stop(&m);
    ck_assert_msg(used <= ALLOWED(n),
                  "%s: the handshake URL of a %zu-byte URL took %zu bytes (allowed %zu)", what, n,
                  used, (size_t)ALLOWED(n));

    m = meter_start();
    ck_assert_ptr_nonnull(clerk_handshake_clean_url(m.p, url));
    used = meter_stop(&m);
    ck_assert_msg(used <= ALLOWED(n), "%s: cleaning a %zu-byte URL took %zu bytes", what, n, used);

    m = meter_start();
    ck_assert_ptr_nonnull(clerk_sign_in_location(m.p, "https://accounts.example.com/sign-in", url));
    used = meter_stop(&m);
    ck_assert_msg(used <= ALLOWED(n), "%s: the sign-in URL of %zu bytes took %zu bytes", what, n,
                  used);
}

START_TEST(many_tiny_parameters_cost_linear_memory)
{
    /* 4096 one-letter parameters: the worst case for a per-parameter copy of the URL. */
    char *url = repeat("https://app.example.com/p/?", "a&", 4096);
    assert_linear("4096 parameters", url);
    free(url);
}
END_TEST

START_TEST(one_huge_parameter_costs_linear_memory)
{
    /* 8 KiB of bytes that each become %XX, in one value and in one name. */
    char *url = repeat("https://app.example.com/p/?a=", "/", 8192);
    assert_linear("one 8 KiB value", url);
    free(url);
    url = repeat("https://app.example.com/p/?", "%C3", 2730);
    assert_linear("one 8 KiB name", url);
    free(url);
}
END_TEST

START_TEST(public_url_length_is_bounded)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    clerk_url_in in = {.conn_scheme = "https", .host = "a.example", .path = "/"};
    /* "https://a.example" is 17 bytes, "/?" 2: the query fills the rest exactly. */
    char *q = repeat("", "x", CLERK_URL_MAX_LEN - 19);
    in.query = q;
    const char *u = clerk_public_url(p, &in);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(strlen(u), CLERK_URL_MAX_LEN);
    free(q);
    q = repeat("", "x", CLERK_URL_MAX_LEN - 18);
    in.query = q;
    ck_assert_ptr_null(clerk_public_url(p, &in));
    free(q);
    /* a long path counts as well */
    char *path = repeat("/", "x", CLERK_URL_MAX_LEN);
    in.path = path;
    in.query = NULL;
    ck_assert_ptr_null(clerk_public_url(p, &in));
    free(path);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(public_url_parameter_count_is_bounded)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    clerk_url_in in = {.conn_scheme = "https", .host = "a.example", .path = "/"};
    char *q = repeat("a", "&a", CLERK_URL_MAX_PARAMS - 1);
    ck_assert_uint_eq(clerk_query_param_count(q), CLERK_URL_MAX_PARAMS);
    in.query = q;
    ck_assert_ptr_nonnull(clerk_public_url(p, &in));
    free(q);
    q = repeat("a", "&a", CLERK_URL_MAX_PARAMS);
    in.query = q;
    ck_assert_ptr_null(clerk_public_url(p, &in));
    free(q);
    /* empty pairs are no parameters (URLSearchParams drops them) */
    q = repeat("a", "&&", CLERK_URL_MAX_PARAMS);
    ck_assert_uint_eq(clerk_query_param_count(q), 1);
    in.query = q;
    ck_assert_ptr_nonnull(clerk_public_url(p, &in));
    free(q);
    ck_assert_uint_eq(clerk_query_param_count(NULL), 0);
    ck_assert_uint_eq(clerk_query_param_count("a=1&b=2&"), 2);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(strip_params_keeps_its_serialization)
{
    static const char *const names[] = {"__clerk_db_jwt", NULL};
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    /* names and values re-encoded as URLSearchParams does; an encoded NUL ends the C string */
    ck_assert_str_eq(
        clerk_url_strip_params(p, "https://a/p?x&y=1+2&%41%2f=%zz&&z=a%00b#h?x", names),
        "https://a/p?x=&y=1+2&A%2F=%25zz&z=a#h?x");
    ck_assert_str_eq(clerk_url_strip_params(p, "https://a/p?__clerk_db_jwt=1&&", names),
                     "https://a/p");
    ck_assert_str_eq(clerk_url_strip_params(p, "https://a/p?%00=1&__clerk_db_jwt%00x=2", names),
                     "https://a/p?=1");
    ck_assert_str_eq(clerk_url_strip_params(p, "https://a/p?#", names), "https://a/p#");
    apr_pool_destroy(p);
}
END_TEST

START_TEST(sign_in_location_adds_redirect_url)
{
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    const char *back = "https://app.example.com/p?a=1";
    ck_assert_str_eq(clerk_sign_in_location(p, "https://acc.example.com/sign-in", back),
                     "https://acc.example.com/sign-in?redirect_url="
                     "https%3A%2F%2Fapp.example.com%2Fp%3Fa%3D1");
    ck_assert_str_eq(clerk_sign_in_location(p, "/sign-in?x=1#frag", "b"),
                     "/sign-in?x=1&redirect_url=b#frag");
    ck_assert_str_eq(clerk_sign_in_location(p, "/sign-in?", "b"), "/sign-in?redirect_url=b");
    ck_assert_str_eq(clerk_sign_in_location(p, "/sign-in?x=1&", "b"),
                     "/sign-in?x=1&redirect_url=b");
    ck_assert_str_eq(clerk_sign_in_location(p, "#f?", "b"), "?redirect_url=b#f?");
    ck_assert_ptr_null(clerk_sign_in_location(p, "/sign-in", NULL));
    ck_assert_ptr_null(clerk_sign_in_location(p, NULL, "b"));
    apr_pool_destroy(p);
}
END_TEST

Suite *url_suite(void)
{
    Suite *s = suite_create("url");
    TCase *c = tcase_create("cost");
    tcase_add_test(c, many_tiny_parameters_cost_linear_memory);
    tcase_add_test(c, one_huge_parameter_costs_linear_memory);
    suite_add_tcase(s, c);
    TCase *b = tcase_create("bounds");
    tcase_add_test(b, public_url_length_is_bounded);
    tcase_add_test(b, public_url_parameter_count_is_bounded);
    tcase_add_test(b, strip_params_keeps_its_serialization);
    tcase_add_test(b, sign_in_location_adds_redirect_url);
    suite_add_tcase(s, b);
    return s;
}
