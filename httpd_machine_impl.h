/* What httpd_machine.c (the request decision) and httpd_machine_config.c (the directives and
 * merge) share: the per-section settings record. Nothing else includes this; the rest of the
 * module sees httpd_machine.h, where the type is opaque. */
#ifndef HTTPD_MACHINE_IMPL_H
#define HTTPD_MACHINE_IMPL_H

#include "apr.h"

#include "httpd_machine.h"

struct clerk_machine_dir {
    unsigned accepts; /* CLERK_TT_* bits; 0 unset */
    int accepts_list;
    const char *machine_secret_key;
    apr_int64_t ttl_s, neg_ttl_s; /* -1 unset */
};

#endif
