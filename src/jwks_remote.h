/* placeholder: being written */
#ifndef CLERK_JWKS_REMOTE_H
#define CLERK_JWKS_REMOTE_H
#endif
