/* JWT-format machine tokens (M2M JWTs, OAuth access-token JWTs) verified locally with the
 * instance's keys, as @clerk/backend jwt/verifyMachineJwt.ts. */
#ifndef CLERK_MACHINE_JWT_H
#define CLERK_MACHINE_JWT_H

#include <stddef.h>
#include <apr_pools.h>
#include "claims.h"
#include "machine_token.h"
#include "reason.h"
#include "token.h"

/* Verifies tok[0..len) with keys and o (o->now_ms is now; authorized parties and issuer are not
 * checked, as the SDK's machine verification passes neither; o's audiences apply to M2M tokens
 * as verifyJwt's and to OAuth tokens as assertOAuthAudienceClaim). *type is the SDK's answer
 * type: CLERK_TT_M2M for a sub starting mch_ (and for a token that does not decode),
 * CLERK_TT_OAUTH otherwise. Returns 0 with *m filled (pool p), or -1 with err: token-invalid
 * (undecodable, or an M2M JWT of another category), else token-verification-failed with the
 * failing rule's message. */
int clerk_machine_jwt_verify(apr_pool_t *p, const char *tok, size_t len, const clerk_verify_opts *o,
                             const clerk_key_source *keys, clerk_machine *m, unsigned *type,
                             clerk_error *err);

/* assertOAuthAudienceClaim for an opaque OAuth token's answer (IdPOAuthAccessTokenApi.verify):
 * with no audiences configured (n_aud 0) it passes; else m->aud must be a non-empty string or
 * array of non-empty strings sharing one with aud. Returns 0, or -1 with
 * token-verification-failed. */
int clerk_machine_oauth_audience(const clerk_machine *m, const char *const *aud, size_t n_aud,
                                 clerk_error *err);

#endif
