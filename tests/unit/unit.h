/* Shared declarations for the core's Check suites: one suite per core unit. */
#ifndef CLERK_UNIT_H
#define CLERK_UNIT_H

#include <check.h>
#include <openssl/evp.h>
#include "jwk.h"
#include "reason.h"

Suite *b64url_suite(void);
Suite *jwt_suite(void);
Suite *jwk_suite(void);
Suite *jws_suite(void);
Suite *claims_suite(void);
Suite *token_suite(void);
Suite *auth_suite(void);
Suite *publishable_key_suite(void);
Suite *request_parse_suite(void);
Suite *request_state_suite(void);
Suite *export_suite(void);
Suite *has_suite(void);
Suite *jwks_remote_suite(void);
Suite *handshake_suite(void);
Suite *transport_suite(void);
Suite *url_suite(void);
Suite *header_text_suite(void);
Suite *outgoing_proxy_suite(void);
Suite *http_pool_suite(void);
Suite *nested_claims_suite(void);
Suite *handoff_suite(void);
Suite *multidomain_suite(void);

/* Adds k's public JWK (kid, optional alg) to ks, failing the test if the set refuses it. */
void unit_add_jwk(clerk_keyset *ks, EVP_PKEY *k, const char *kid, const char *alg);

/* A clerk_key_source lookup over the clerk_keyset in ctx: the key of kid, or NULL with
 * jwk-kid-mismatch. */
const clerk_key *unit_keyset_lookup(void *ctx, const char *kid, clerk_error *err);

/* Listens on a fresh 127.0.0.1 port (stored in *port) with the given backlog; fails the test
 * if it cannot. */
int unit_listen_loopback(int backlog, int *port);

/* Reads from c into req (NUL-terminated, at most cap - 1 bytes) until the end of a request head
 * or of the stream; returns the bytes read. */
size_t unit_read_request_head(int c, char *req, size_t cap);

#endif
