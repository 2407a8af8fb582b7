/* The cleartext rule for every URL the module sends a secret key to, fetches keys from or sends
 * a browser's session through (SECURITY.md, "No secret or key over cleartext"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "transport.h"

int clerk_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (!host || !*host)
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    /* inet_pton takes the strict dotted-quad form only (no "127.1", no octal), so what is
     * accepted is exactly what a resolver cannot send elsewhere. */
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
    return 0;
}

int clerk_transport_ok(const char *scheme, const char *host)
{
    if (!scheme)
        return 0;
    if (strcasecmp(scheme, "https") == 0)
        return 1;
    return strcasecmp(scheme, "http") == 0 && clerk_host_is_loopback(host);
}
