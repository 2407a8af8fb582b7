/* Which URLs a secret, a key set or a session may travel to: TLS, or cleartext that never
 * leaves the machine (loopback). */
#ifndef CLERK_TRANSPORT_H
#define CLERK_TRANSPORT_H

/* 1 when host (as a URL parser gives it: no brackets, no port) names this machine's loopback
 * only: "localhost" (any case), an IPv4 address in 127.0.0.0/8 in dotted-quad form, or ::1.
 * Anything else, including other spellings of those addresses, is 0. */
int clerk_host_is_loopback(const char *host);

/* 1 when a URL of this scheme and host keeps what it carries off the network in cleartext:
 * https to anywhere, http only to loopback (clerk_host_is_loopback). 0 for any other scheme. */
int clerk_transport_ok(const char *scheme, const char *host);

#endif
