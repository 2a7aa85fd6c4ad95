/* static.h — serves the diners' page and its assets from a folder (--web).
 * Files are read on each request (they are small and the page is fetched
 * once per diner); revalidation uses an ETag of size and mtime. */
#ifndef TC_HTTP_STATIC_H
#define TC_HTTP_STATIC_H

#include "http/session.h"

/* The handler for GET/HEAD of any path no route knows: the file under the
 * site's web_dir (none when it is NULL). "/" and folders serve index.html;
 * ".." is refused, hidden files are not served. */
void tc_static_handler(tc_http_exchange *x);

/* The Content-Type for a file name, by extension. */
const char *tc_static_content_type(const char *name);

#endif
