/* placeholder: being written */
#ifndef CLERK_CLAIM_MATCH_H
#define CLERK_CLAIM_MATCH_H
#endif
