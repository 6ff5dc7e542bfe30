/* tmpdir.h - a scratch directory per test program, as a cmocka group
 * fixture: tmpdir_setup creates /tmp/qdb-test-XXXXXX, tmpdir_teardown
 * removes it with everything in it. tmpdir_path() names it; tmpdir_slurp
 * reads a file back. */
#ifndef QDB_TEST_TMPDIR_H
#define QDB_TEST_TMPDIR_H

int tmpdir_setup(void **state);
int tmpdir_teardown(void **state);
const char *tmpdir_path(void);

#include <stddef.h>

/* A whole file, NUL-terminated (malloc'd); *len its size when len is not
 * NULL. NULL when it cannot be opened or read. */
char *tmpdir_slurp(const char *path, size_t *len);

#endif
