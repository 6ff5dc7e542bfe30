/* fuzz_npy.c - libFuzzer harness for the .npy reader. The bytes become the
 * contents of an anonymous in-memory file (memfd) read through its
 * /proc/self/fd path, so the reader is exercised exactly as on disk without
 * touching the file system. Both element-type requests are tried.
 *
 * Build and run with `make fuzz` (see the Makefile). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npy.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz.npy", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    for (int want = QDB_F32; want <= QDB_I64; want++) {
        qdb_err e = {0};
        qdb_tensor *t = qdb_npy_read(path, (qdb_dtype)want, &e);
        if (t && t->numel && !t->data.p)
            abort(); /* a tensor that claims elements must hold them */
        qdb_tensor_free(t);
    }
    return 0;
}
