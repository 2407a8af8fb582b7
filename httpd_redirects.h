/* Sub-request and redirect adoption of a decision (httpd_redirects.c). */
#ifndef HTTPD_REDIRECTS_H
#define HTTPD_REDIRECTS_H

#include "httpd.h"

#include "httpd_request.h"

/* Keeps sub-request r's record rq on its main request's pool, for a fast redirect to adopt; it
 * is taken out again when r is destroyed. */
void clerk_keep_for_main(request_rec *r, clerk_req *rq);

/* post_perdir_config: adopts the record of the request httpd takes r's user from, else makes
 * r's own (scrubbing its headers). */
int clerk_post_perdir_config(request_rec *r);

/* fixups: after an internal redirect to the same configuration, exports the decision's
 * variables again under their own names. */
int clerk_fixups(request_rec *r);

/* fixups, first and last: a request whose configuration switched to a Clerk one (MultiViews,
 * mod_dir, FallbackResource) adopts its sub-request's decision, or is decided here. */
int clerk_fixups_switched(request_rec *r);

#endif
