/* placeholder: being written */
#ifndef CLERK_HTTP_FETCH_H
#define CLERK_HTTP_FETCH_H
#endif
