/* ClerkOutgoingProxy / ClerkOutgoingProxyAuthFile values (see outgoing_proxy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "outgoing_proxy.h"

static int fail(clerk_error *err, const char *msg)
{
    return clerk_error_set(err, CLERK_R_NONE, "%s", msg);
}

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

int clerk_proxy_url_parse(const char *value, char *out, size_t outlen, clerk_error *err)
{
    if (value == NULL || *value == '\0')
        return fail(err, "is empty");
    size_t vlen = strlen(value);
    if (vlen > CLERK_PROXY_URL_MAX)
        return fail(err, "is longer than 512 bytes");
    for (const char *c = value; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
            return fail(err, "holds white space or a control byte");

    const char *auth = value;
    const char *sep = strstr(value, "://");
    if (sep != NULL) {
        if ((size_t)(sep - value) != 4 || strncasecmp(value, "http", 4) != 0)
            return fail(err, "is not an http:// proxy (only http:// proxies are supported; the "
                             "connection to Clerk is still TLS, tunnelled with CONNECT)");
        auth = sep + 3;
    }
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (*rest == '?' || *rest == '#' || (*rest == '/' && rest[1] != '\0'))
        return fail(err, "must not have a path, query or fragment");
    if (memchr(auth, '@', alen) != NULL)
        return fail(err, "must not hold user:password: put them in ClerkOutgoingProxyAuthFile");

    /* host, then ":port" */
    const char *h = auth, *hend;
    if (*h == '[') {
        hend = memchr(h, ']', alen);
        if (hend == NULL || hend == h + 1)
            return fail(err, "has an unterminated IPv6 address");
        for (const char *c = h + 1; c < hend; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F') || *c == ':' || *c == '.'))
                return fail(err, "has an invalid IPv6 address");
        hend++;
    } else {
        hend = h;
        while (hend < auth + alen && host_char(*hend))
            hend++;
        if (hend == h)
            return fail(err, "has no host");
    }
    if (hend >= auth + alen || *hend != ':')
        return fail(err, "needs a port (host:port)");
    const char *p = hend + 1, *pend = auth + alen;
    if (p == pend || pend - p > 5)
        return fail(err, "has an invalid port");
    long port = 0;
    for (const char *c = p; c < pend; c++) {
        if (*c < '0' || *c > '9')
            return fail(err, "has an invalid port");
        port = port * 10 + (*c - '0');
    }
    if (port < 1 || port > 65535)
        return fail(err, "has a port outside 1-65535");
    int n = snprintf(out, outlen, "http://%.*s:%ld", (int)(hend - h), h, port);
    if (n < 0 || (size_t)n >= outlen)
        return fail(err, "is too long");
    return 0;
}

int clerk_proxy_credentials_parse(const char *buf, size_t len, char *user, char *password,
                                  clerk_error *err)
{
    user[0] = password[0] = '\0';
    if (buf == NULL || len == 0)
        return fail(err, "is empty (one line user:password expected)");
    if (len > CLERK_PROXY_CREDS_MAX)
        return fail(err, "is larger than 1024 bytes (one line user:password expected)");
    if (buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
            return fail(err, "holds more than one line or a control byte (one line user:password "
                             "expected)");
    const char *colon = memchr(buf, ':', len);
    if (colon == NULL)
        return fail(err, "has no ':' (one line user:password expected)");
    if (colon == buf)
        return fail(err, "has an empty user name (one line user:password expected)");
    size_t ulen = (size_t)(colon - buf), plen = len - ulen - 1;
    memcpy(user, buf, ulen);
    user[ulen] = '\0';
    memcpy(password, colon + 1, plen);
    password[plen] = '\0';
    return 0;
}
