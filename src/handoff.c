/* Signed hand-off (see handoff.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64url.h"
#include "handoff.h"

typedef struct hdr {
    char *lname;
    const char *value;
} hdr;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const hdr *)a)->lname, ((const hdr *)b)->lname);
}

static hdr *sorted(apr_pool_t *p, const char *const *names, const char *const *values, size_t n)
{
    if (n > CLERK_HANDOFF_MAX_HEADERS)
        return NULL;
    hdr *h = apr_palloc(p, (n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i].lname = apr_pstrdup(p, names[i]);
        for (char *c = h[i].lname; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        h[i].value = values[i];
    }
    qsort(h, n, sizeof *h, by_name);
    return h;
}

static const char *canonical_of(apr_pool_t *p, int64_t t, const char *method, const hdr *h,
                                size_t n)
{
    size_t len = 64 + strlen(method);
    for (size_t i = 0; i < n; i++)
        len += strlen(h[i].lname) + strlen(h[i].value) + 2;
    char *out = apr_palloc(p, len), *at = out;
    at += snprintf(at, len, "clerk-handoff-v1\n%lld\n%s\n", (long long)t, method);
    for (size_t i = 0; i < n; i++) {
        /* HTTP drops white space around a value on the way: sign what the back end will read. */
        const char *v = h[i].value;
        size_t vl;
        v += strspn(v, " \t");
        vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        at += snprintf(at, len - (size_t)(at - out), "%s:%.*s\n", h[i].lname, (int)vl, v);
    }
    return out;
}

const char *clerk_handoff_canonical(apr_pool_t *p, int64_t t, const char *method,
                                    const char *const *names, const char *const *values, size_t n)
{
    hdr *h = sorted(p, names, values, n);
    return h ? canonical_of(p, t, method, h, n) : NULL;
}

const char *clerk_handoff_sign(apr_pool_t *p, const unsigned char *key, size_t keylen, int64_t t,
                               const char *method, const char *const *names,
                               const char *const *values, size_t n)
{
    hdr *h = sorted(p, names, values, n);
    if (h == NULL || key == NULL || keylen < CLERK_HANDOFF_KEY_MIN)
        return NULL;
    size_t list_len = 1;
    for (size_t i = 0; i < n; i++) {
        /* A repeated name would make the order of its values matter: refuse rather than guess. */
        if (strpbrk(h[i].lname, ",;") != NULL || (i > 0 && strcmp(h[i].lname, h[i - 1].lname) == 0))
            return NULL;
        list_len += strlen(h[i].lname) + 1;
    }
    char *list = apr_palloc(p, list_len), *at = list;
    *at = '\0';
    for (size_t i = 0; i < n; i++)
        at += snprintf(at, list_len - (size_t)(at - list), "%s%s", i ? "," : "", h[i].lname);
    const char *text = canonical_of(p, t, method, h, n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)text, strlen(text), mac,
             &maclen) == NULL)
        return NULL;
    char *sig = clerk_b64url_encode(mac, maclen);
    if (sig == NULL)
        return NULL;
    const char *out =
        apr_psprintf(p, "v1;t=%" APR_INT64_T_FMT ";h=%s;s=%s", (apr_int64_t)t, list, sig);
    free(sig);
    return out;
}
