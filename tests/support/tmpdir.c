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
