/* fuzz_alloc.c - linked into every fuzz target with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc: an allocation by qdb's own
 * code above FUZZ_ALLOC_MAX fails, as it would on a machine with little
 * memory. A model may legitimately ask for a tensor of gigabytes at run time
 * (ConstantOfShape, Expand, Tile... fed by an input), which is no bug; what
 * must hold is that the refusal comes back as a clean QDB_ERR_NOMEM, and
 * this exercises exactly those paths without tripping libFuzzer's RSS
 * limit. The wrap applies only to the objects linked statically (libqdb.a,
 * the harness); shared libraries allocate normally. */
#include <stddef.h>

#define FUZZ_ALLOC_MAX ((size_t)256 << 20)

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    return n > FUZZ_ALLOC_MAX ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return (size && n > FUZZ_ALLOC_MAX / size) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return n > FUZZ_ALLOC_MAX ? NULL : __real_realloc(p, n);
}
