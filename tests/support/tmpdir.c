/* tmpdir.c - the test programs' scratch directory (see tmpdir.h). */
#define _DEFAULT_SOURCE
#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>

static char dir[] = "/tmp/qdb-test-XXXXXX";

int tmpdir_setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

int tmpdir_teardown(void **state)
{
    (void)state;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *tmpdir_path(void)
{
    return dir;
}

char *tmpdir_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *t = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (t = malloc((size_t)n + 1)) && fread(t, 1, (size_t)n, f) == (size_t)n) {
        t[n] = 0;
        if (len)
            *len = (size_t)n;
    } else {
        free(t);
        t = NULL;
    }
    fclose(f);
    return t;
}
