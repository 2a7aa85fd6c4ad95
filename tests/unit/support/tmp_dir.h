/* tmp_dir.h — a fresh folder under /tmp for a unit test's database files,
 * and its removal with everything in it. */
#ifndef TC_TEST_TMP_DIR_H
#define TC_TEST_TMP_DIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/<prefix>-XXXXXX into dir (size bytes); 0 or -1. */
static inline int tt_dir_make(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and what it holds; 0 or -1. */
static inline int tt_dir_remove(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
