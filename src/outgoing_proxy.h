/* The outgoing proxy every fetch to Clerk goes through (ClerkOutgoingProxy and
 * ClerkOutgoingProxyAuthFile): what the directives accept, checked at startup. No I/O here: the
 * glue reads the credentials file and hands its bytes over. */
#ifndef CLERK_OUTGOING_PROXY_H
#define CLERK_OUTGOING_PROXY_H

#include <stddef.h>
#include "reason.h"

/* Longest proxy URL and credentials file accepted (bytes). */
#define CLERK_PROXY_URL_MAX   512
#define CLERK_PROXY_CREDS_MAX 1024

/* Reads a ClerkOutgoingProxy value: "host:port" or "http://host:port" with an optional trailing
 * '/', host a name, an IPv4 address or a bracketed IPv6 address, port 1-65535 (always written:
 * libcurl's default proxy port, 1080, surprises). Writes the URL libcurl gets,
 * "http://host:port", to out. Refuses any other scheme, a path, query or fragment, white space
 * or control bytes, and user:password in the URL (they belong in the credentials file, which is
 * never shown). Returns 0, or -1 with err. */
int clerk_proxy_url_parse(const char *value, char *out, size_t outlen, clerk_error *err);

/* Reads the bytes of a ClerkOutgoingProxyAuthFile: one line "user:password" (the first ':'
 * splits; the password may hold more), one trailing "\n" or "\r\n" allowed, user non-empty, no
 * other control byte, at most CLERK_PROXY_CREDS_MAX bytes. Writes the NUL-terminated parts to
 * user and password (each at least CLERK_PROXY_CREDS_MAX + 1 bytes). Returns 0, or -1 with err,
 * which never quotes the file's content. */
int clerk_proxy_credentials_parse(const char *buf, size_t len, char *user, char *password,
                                  clerk_error *err);

#endif
