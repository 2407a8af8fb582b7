/* placeholder: being written */
#ifndef CLERK_HAS_H
#define CLERK_HAS_H
#endif
