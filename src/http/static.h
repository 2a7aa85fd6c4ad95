/* static.h — serves the diners' page and its assets from a folder (--web).
 * Files are read on each request (they are small and the page is fetched
 * once per diner); revalidation uses an ETag of size and mtime. */
#ifndef TC_HTTP_STATIC_H
#define TC_HTTP_STATIC_H

#include "http/session.h"

/* The largest file served, in bytes. A file goes out in one write with its
 * head, and what the kernel does not take at once waits in the connection's
 * write queue, which is capped at 1 MiB (serve.c's MAX_QUEUE_BYTES: past it
 * the client is closed as slow, the file cut off). 64 KiB below that cap
 * leaves room for the head and the queue's own heap. Larger assets belong to
 * nginx or a CDN (docs/web.md). */
#define TC_STATIC_MAX_FILE ((1u << 20) - (64u << 10))

/* The handler for GET/HEAD of any path no route knows: the file under the
 * site's web_dir (none when it is NULL). "/" and folders serve index.html;
 * ".." is refused, hidden files are not served, nor files larger than
 * TC_STATIC_MAX_FILE, nor anything reached through a symlink below the
 * folder, nor what is not a regular file (a FIFO is not waited on): 404, as
 * a missing one. */
void tc_static_handler(tc_http_exchange *x);

/* The Content-Type for a file name, by extension. */
const char *tc_static_content_type(const char *name);

#endif
