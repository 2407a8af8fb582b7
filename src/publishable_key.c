/* Publishable and secret key forms (@clerk/shared keys.ts parsePublishableKey) and the cookie
 * suffix (getCookieSuffix, same file). */
#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include "publishable_key.h"

#define PK_LIVE "pk_live_"
#define PK_TEST "pk_test_"
/* Real keys are ~60 characters; anything much longer is a configuration mistake, and the bound
 * keeps the decode buffer small. */
#define PK_MAX_LEN 1024

static void set_err(clerk_error *err, const char *msg)
{
    clerk_error_set(err, CLERK_R_NONE, "%s", msg);
}

static int is_b64_std_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes standard base64 the way a browser's atob() does (WHATWG forgiving-base64, without
 * whitespace): with a length that is a multiple of 4, up to two trailing '=' are dropped; then
 * only the standard alphabet is allowed and a length of 1 mod 4 is refused. Returns the decoded
 * length or -1. out must hold (len / 4 + 1) * 3 bytes. */
static long forgiving_b64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 0 && len > 0 && in[len - 1] == '=') {
        len--;
        if (in[len - 1] == '=')
            len--;
    }
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!is_b64_std_char((unsigned char)in[i]))
            return -1;
    size_t padded = (len + 3) / 4 * 4;
    char buf[PK_MAX_LEN + 4];
    if (padded > sizeof(buf) - 1)
        return -1;
    memcpy(buf, in, len);
    memset(buf + len, '=', padded - len);
    buf[padded] = '\0';
    if (padded == 0)
        return 0;
    int n = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)padded);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes; drop them. */
    return (long)n - (long)(padded - len);
}

int clerk_publishable_key_parse(apr_pool_t *p, const char *s, clerk_publishable_key **out,
                                clerk_error *err)
{
    if (out)
        *out = NULL;
    if (!s || !*s) {
        set_err(err, "publishable key is empty");
        return -1;
    }
    size_t len = strlen(s);
    if (len > PK_MAX_LEN) {
        set_err(err, "publishable key is too long");
        return -1;
    }
    int production;
    if (strncmp(s, PK_LIVE, sizeof(PK_LIVE) - 1) == 0)
        production = 1;
    else if (strncmp(s, PK_TEST, sizeof(PK_TEST) - 1) == 0)
        production = 0;
    else {
        set_err(err, "publishable key must start with pk_live_ or pk_test_");
        return -1;
    }
    /* Clerk splits on '_' and takes the third piece; a fourth piece means a malformed key. */
    const char *enc = s + sizeof(PK_LIVE) - 1;
    if (strchr(enc, '_')) {
        set_err(err, "publishable key must have exactly three '_'-separated parts");
        return -1;
    }
    size_t enclen = strlen(enc);
    unsigned char dec[PK_MAX_LEN];
    long n = forgiving_b64_decode(enc, enclen, dec);
    if (n < 0) {
        set_err(err, "publishable key's third part is not valid base64");
        return -1;
    }
    if (n < 1 || dec[n - 1] != '$') {
        set_err(err, "publishable key does not decode to a Frontend API host ending in '$'");
        return -1;
    }
    size_t hostlen = (size_t)n - 1;
    for (size_t i = 0; i < hostlen; i++) {
        if (dec[i] == '$') {
            set_err(err, "publishable key's decoded host contains '$'");
            return -1;
        }
        /* Not in Clerk's rule, but the host goes into URLs and headers: only printable ASCII. */
        if (dec[i] <= 0x20 || dec[i] >= 0x7f) {
            set_err(err, "publishable key's decoded host has a non-printable character");
            return -1;
        }
    }
    if (!memchr(dec, '.', hostlen)) {
        set_err(err, "publishable key's decoded host has no '.'");
        return -1;
    }
    clerk_publishable_key *pk = apr_pcalloc(p, sizeof(*pk));
    pk->key = apr_pstrmemdup(p, s, len);
    pk->fapi_host = apr_pstrmemdup(p, (const char *)dec, hostlen);
    pk->production = production;
    clerk_cookie_suffix(s, pk->suffix);
    if (out)
        *out = pk;
    return 0;
}

void clerk_cookie_suffix(const char *pk, char out[9])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char b64[64];
    memset(out, 0, 9);
    if (!pk)
        pk = "";
    if (!EVP_Digest(pk, strlen(pk), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return;
    /* 20 bytes -> 28 base64 characters; only the first 8 are used. */
    if (EVP_EncodeBlock(b64, md, (int)mdlen) < 8)
        return;
    for (int i = 0; i < 8; i++) {
        char c = (char)b64[i];
        out[i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[8] = '\0';
}

int clerk_secret_key_check(const char *s, clerk_error *err)
{
    static const char *const prefixes[] = {"sk_live_", "sk_test_", "live_", "test_"};
    if (!s || !*s) {
        set_err(err, "secret key is empty");
        return -1;
    }
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(s, prefixes[i], pl) == 0) {
            rest = s + pl;
            break;
        }
    }
    if (!rest) {
        set_err(err, "secret key must start with sk_live_ or sk_test_");
        return -1;
    }
    if (!*rest) {
        set_err(err, "secret key has nothing after its prefix");
        return -1;
    }
    for (const unsigned char *c = (const unsigned char *)rest; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f) {
            set_err(err, "secret key contains whitespace or a non-printable character");
            return -1;
        }
    }
    return 0;
}
