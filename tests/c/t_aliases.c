/* The __libc_* aliases and cfree are the same allocator as malloc/free: blocks
 * from one family are accepted by the other, and malloc_usable_size knows them.
 * cfree is only a compat symbol in glibc 2.36 (no default version), so outside
 * the static build it is looked up with dlsym; on glibc it is skipped. */
#include "common.h"
#include <dlfcn.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
#ifdef BB_STATIC_LINK
extern void cfree(void *);
#endif

int main(void)
{
    int bb = on_bestbuddy();
    void (*cfree_fn)(void *);
#ifdef BB_STATIC_LINK
    cfree_fn = cfree;
#else
    cfree_fn = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
#endif
    if (bb)
        CHECKF(cfree_fn != NULL, "cfree not found");

    for (size_t n = 1; n < 3 * BB_MIB; n = n * 5 + 3) {
        unsigned char *a = __libc_malloc(n);
        CHECK(a != NULL && bb_aligned(a, 16));
        CHECK(malloc_usable_size(a) >= n);
        bb_fill(a, 0, n, 1);
        a = realloc(a, n * 2);                    /* __libc_malloc -> realloc */
        CHECK(a != NULL && bb_verify(a, n, 1) == (size_t)-1);
        free(a);                                  /* -> free */

        unsigned char *b = malloc(n);
        CHECK(b != NULL);
        bb_fill(b, 0, n, 2);
        b = __libc_realloc(b, n + 100);           /* malloc -> __libc_realloc */
        CHECK(b != NULL && bb_verify(b, n, 2) == (size_t)-1);
        __libc_free(b);                           /* -> __libc_free */

        unsigned char *c = __libc_calloc(n, 1);
        CHECK(c != NULL);
        CHECK(bb_all_bytes(c, n, 0));
        free(c);

        unsigned char *d = __libc_memalign(4096, n);
        CHECK(d != NULL && bb_aligned(d, 4096));
        CHECK(malloc_usable_size(d) >= n);
        memset(d, 7, n);
        __libc_free(d);

        if (cfree_fn != NULL) {
            unsigned char *e = malloc(n);
            CHECK(e != NULL);
            memset(e, 9, n);
            errno = 555;
            cfree_fn(e);
            CHECK(errno == 555);
            e = __libc_malloc(n);
            CHECK(e != NULL);
            cfree_fn(e);
        }
    }
    __libc_free(NULL);
    if (cfree_fn != NULL)
        cfree_fn(NULL);
    void *z = __libc_realloc(NULL, 10);
    CHECK(z != NULL);
    CHECK(__libc_realloc(z, 0) == NULL);
    errno = 0;
    CHECK(__libc_malloc((size_t)PTRDIFF_MAX + 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(__libc_calloc(SIZE_MAX, 2) == NULL && errno == ENOMEM);
    return 0;
}
