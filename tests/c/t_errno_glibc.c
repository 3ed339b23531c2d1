/* errno, return value and out-parameter of every malloc-family entry point on
 * every kind of failure, as glibc 2.36 (Debian 12) gives them: the contract
 * bestbuddy copies, since code written for glibc tests exactly these.  The
 * test passes on glibc itself (tests/c/run.sh none), which is what makes it a
 * record of glibc's behaviour rather than of ours.
 *
 * errno is set to a sentinel before every call, so "untouched" is checked, not
 * assumed.  glibc 2.36, in short:
 *   - size > PTRDIFF_MAX, size near SIZE_MAX, count * size overflow, a block
 *     that cannot be mapped (RLIMIT_AS): NULL + ENOMEM, for malloc, calloc,
 *     realloc, reallocarray, memalign, aligned_alloc, valloc, pvalloc and the
 *     __libc_* aliases; a failed realloc/reallocarray leaves the block intact;
 *   - memalign/aligned_alloc: alignment <= 16 (0 included) is plain malloc, one
 *     that is not a power of two is rounded up to one (aligned_alloc(3, 16)
 *     succeeds: 2.36's aligned_alloc is memalign), one above SIZE_MAX / 2 + 1
 *     is NULL + EINVAL whatever the size; 2^62 and 2^63 are NULL + ENOMEM;
 *   - posix_memalign: alignment 0, not a power of two or not a multiple of
 *     sizeof(void *): returns EINVAL, errno untouched; cannot allocate: returns
 *     ENOMEM AND sets errno = ENOMEM (its memalign does); *memptr is written
 *     only on success;
 *   - malloc(0), calloc(0, n), calloc(n, 0), realloc(NULL, 0), valloc(0),
 *     pvalloc(0), memalign(a, 0): a unique non-NULL block, errno untouched;
 *   - realloc(p, 0), reallocarray(p, 0, n): free p, return NULL, errno untouched;
 *   - free, cfree, __libc_free (NULL or not), malloc_usable_size, mallinfo,
 *     mallinfo2, malloc_stats, malloc_trim, malloc_info, mallopt: never set
 *     errno; malloc_info(options != 0) returns EINVAL and writes nothing;
 *     mallopt(M_MXFAST, value outside 0..160) returns 0.
 * Successful calls leave errno untouched too.  The RLIMIT_AS part runs in a
 * forked child, so the limit does not reach the rest of the test. */
#include "common.h"
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
#ifdef BB_STATIC_LINK
extern void cfree(void *);
#endif

#define SENTINEL 12345
#define PMAX ((size_t)PTRDIFF_MAX)
#define MEMPTR_SENTINEL ((void *)0xdead0)

/* ------------------------------------------------------------ the calls, by kind */

typedef void *(*size_fn)(size_t);
typedef void *(*pair_fn)(size_t, size_t);

static void *w_realloc_null(size_t n) { return realloc(NULL, n); }
static void *w_libc_realloc_null(size_t n) { return __libc_realloc(NULL, n); }
static void *w_reallocarray_null(size_t n) { return reallocarray(NULL, 1, n); }
static void *w_calloc_1n(size_t n) { return calloc(1, n); }
static void *w_calloc_n1(size_t n) { return calloc(n, 1); }
static void *w_libc_calloc_1n(size_t n) { return __libc_calloc(1, n); }
static void *w_memalign_64(size_t n) { return memalign(64, n); }
static void *w_memalign_4096(size_t n) { return memalign(4096, n); }
static void *w_libc_memalign_64(size_t n) { return __libc_memalign(64, n); }
static void *w_aligned_alloc_64(size_t n) { return aligned_alloc(64, n); }
static void *w_reallocarray_null_pair(size_t a, size_t b) { return reallocarray(NULL, a, b); }

static const struct {
    const char *name;
    size_fn fn;
} size_fns[] = {
    {"malloc", malloc},
    {"__libc_malloc", __libc_malloc},
    {"realloc(NULL, n)", w_realloc_null},
    {"__libc_realloc(NULL, n)", w_libc_realloc_null},
    {"reallocarray(NULL, 1, n)", w_reallocarray_null},
    {"calloc(1, n)", w_calloc_1n},
    {"calloc(n, 1)", w_calloc_n1},
    {"__libc_calloc(1, n)", w_libc_calloc_1n},
    {"memalign(64, n)", w_memalign_64},
    {"memalign(4096, n)", w_memalign_4096},
    {"__libc_memalign(64, n)", w_libc_memalign_64},
    {"aligned_alloc(64, n)", w_aligned_alloc_64},
    {"valloc", valloc},
    {"pvalloc", pvalloc},
};
enum { N_SIZE_FNS = sizeof size_fns / sizeof size_fns[0] };

static const struct {
    const char *name;
    pair_fn fn;
} align_fns[] = {
    {"memalign", memalign},
    {"__libc_memalign", __libc_memalign},
    {"aligned_alloc", aligned_alloc},
};
enum { N_ALIGN_FNS = sizeof align_fns / sizeof align_fns[0] };

static const struct {
    const char *name;
    pair_fn fn;
} count_fns[] = {
    {"calloc", calloc},
    {"__libc_calloc", __libc_calloc},
    {"reallocarray(NULL, ...)", w_reallocarray_null_pair},
};
enum { N_COUNT_FNS = sizeof count_fns / sizeof count_fns[0] };

/* ------------------------------------------------------------ checks */

static void expect_fail(void *r, int err, int want, const char *name, size_t a, size_t b)
{
    CHECKF(r == NULL, "%s (%#zx, %#zx) = %p, expected NULL", name, a, b, r);
    CHECKF(err == want, "%s (%#zx, %#zx): errno %d, expected %d", name, a, b, err, want);
}

static void expect_ok(void *r, int err, size_t align, const char *name, size_t a, size_t b)
{
    CHECKF(r != NULL, "%s (%#zx, %#zx) = NULL, errno %d", name, a, b, err);
    CHECKF(err == SENTINEL, "%s (%#zx, %#zx) succeeded but changed errno to %d", name, a, b,
           err);
    CHECKF(bb_aligned(r, align), "%s (%#zx, %#zx) = %p, not %zu-aligned", name, a, b, r, align);
}

/* posix_memalign(&m, align, size): its return value, errno afterwards and
 * whether *memptr kept its sentinel. */
static int pm_call(size_t align, size_t size, int *err, void **m)
{
    *m = MEMPTR_SENTINEL;
    errno = SENTINEL;
    int rc = posix_memalign(m, align, size);
    *err = errno;
    return rc;
}

static void expect_pm_fail(size_t align, size_t size, int want_rc, int want_errno)
{
    void *m;
    int err;
    int rc = pm_call(align, size, &err, &m);
    CHECKF(rc == want_rc, "posix_memalign(%#zx, %#zx) = %d, expected %d", align, size, rc,
           want_rc);
    CHECKF(m == MEMPTR_SENTINEL, "posix_memalign(%#zx, %#zx) failed but wrote *memptr = %p",
           align, size, m);
    CHECKF(err == want_errno, "posix_memalign(%#zx, %#zx) = %d: errno %d, expected %d%s", align,
           size, rc, err, want_errno, want_errno == SENTINEL ? " (untouched)" : "");
}

/* The "alignment" glibc's memalign actually gives: at least 16, and an
 * alignment that is not a power of two rounded up to one. */
static size_t effective_align(size_t a)
{
    size_t e = 16;
    while (e < a)
        e <<= 1;
    return e;
}

/* ------------------------------------------------------------ the sections */

/* Sizes no allocator can serve: above PTRDIFF_MAX, near SIZE_MAX, and
 * PTRDIFF_MAX itself (passes the size check, cannot be mapped). */
static const size_t huge_sizes[] = {
    PMAX,           PMAX + 1,        SIZE_MAX,        SIZE_MAX - 15,
    SIZE_MAX - 100, SIZE_MAX - 4095, SIZE_MAX - 4096, PMAX - 8192,
};
enum { N_HUGE = sizeof huge_sizes / sizeof huge_sizes[0] };

static void huge_sizes_fail(void)
{
    for (int f = 0; f < N_SIZE_FNS; f++)
        for (int i = 0; i < N_HUGE; i++) {
            errno = SENTINEL;
            void *r = size_fns[f].fn(huge_sizes[i]);
            int err = errno;
            expect_fail(r, err, ENOMEM, size_fns[f].name, huge_sizes[i], 0);
        }
    /* pvalloc's rounding up to a page overflows */
    errno = SENTINEL;
    void *r = pvalloc(SIZE_MAX - 4094);
    expect_fail(r, errno, ENOMEM, "pvalloc", SIZE_MAX - 4094, 0);
}

static void zero_sizes_succeed(void)
{
    for (int f = 0; f < N_SIZE_FNS; f++) {
        errno = SENTINEL;
        void *r = size_fns[f].fn(0);
        int err = errno;
        expect_ok(r, err, 16, size_fns[f].name, 0, 0);
        errno = SENTINEL;
        free(r);
        CHECK(errno == SENTINEL);
    }
    /* a zero product is no overflow, whatever the other factor */
    const size_t zero_pairs[][2] = {{0, 0}, {0, 1}, {1, 0}, {0, SIZE_MAX}, {SIZE_MAX, 0}};
    for (int f = 0; f < N_COUNT_FNS; f++)
        for (size_t i = 0; i < sizeof zero_pairs / sizeof zero_pairs[0]; i++) {
            errno = SENTINEL;
            void *r = count_fns[f].fn(zero_pairs[i][0], zero_pairs[i][1]);
            int err = errno;
            expect_ok(r, err, 16, count_fns[f].name, zero_pairs[i][0], zero_pairs[i][1]);
            free(r);
        }
}

static void count_overflow_fails(void)
{
    const size_t pairs[][2] = {
        {SIZE_MAX, 2},                        /* product overflows */
        {2, SIZE_MAX},
        {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX / 3 + 1, 3},
        {1, PMAX + 1},                        /* product > PTRDIFF_MAX */
        {PMAX + 1, 1},
        {(size_t)1 << 33, (size_t)1 << 30},
        {1, SIZE_MAX},
        {1, PMAX},                            /* cannot be mapped */
    };
    for (int f = 0; f < N_COUNT_FNS; f++)
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            errno = SENTINEL;
            void *r = count_fns[f].fn(pairs[i][0], pairs[i][1]);
            int err = errno;
            expect_fail(r, err, ENOMEM, count_fns[f].name, pairs[i][0], pairs[i][1]);
        }
}

/* A failed realloc / reallocarray of a live block: NULL + ENOMEM and the
 * block as it was (still usable and freeable). */
static void realloc_failures_keep_block(void)
{
    const size_t block_sizes[] = {100, 5000, BB_MIB};
    const size_t pairs[][2] = {{SIZE_MAX, 2}, {(size_t)1 << 32, (size_t)1 << 32}, {1, PMAX + 1}};
    for (size_t b = 0; b < sizeof block_sizes / sizeof block_sizes[0]; b++) {
        size_t n = block_sizes[b];
        unsigned seed = (unsigned)b + 40;
        /* volatile: gcc's -Wuse-after-free cannot know that these reallocs fail */
        void *volatile p = malloc(n);
        CHECK(p != NULL);
        bb_fill(p, 0, n, seed);
        for (int i = 0; i < N_HUGE; i++) {
            errno = SENTINEL;
            void *r = realloc(p, huge_sizes[i]);
            int err = errno;
            expect_fail(r, err, ENOMEM, "realloc(p, n)", n, huge_sizes[i]);
            errno = SENTINEL;
            r = __libc_realloc(p, huge_sizes[i]);
            err = errno;
            expect_fail(r, err, ENOMEM, "__libc_realloc(p, n)", n, huge_sizes[i]);
            errno = SENTINEL;
            r = reallocarray(p, 1, huge_sizes[i]);
            err = errno;
            expect_fail(r, err, ENOMEM, "reallocarray(p, 1, n)", n, huge_sizes[i]);
        }
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            errno = SENTINEL;
            void *r = reallocarray(p, pairs[i][0], pairs[i][1]);
            int err = errno;
            expect_fail(r, err, ENOMEM, "reallocarray(p, ...)", pairs[i][0], pairs[i][1]);
        }
        size_t bad = bb_verify(p, n, seed);
        CHECKF(bad == (size_t)-1, "failed reallocs of a %zu-byte block changed its byte %zu", n,
               bad);
        /* the block still works */
        errno = SENTINEL;
        void *q = realloc(p, 2 * n);
        CHECK(q != NULL && errno == SENTINEL);
        CHECK(bb_verify(q, n, seed) == (size_t)-1);
        free(q);
    }
}

/* realloc(p, 0) and reallocarray(p, 0, n) free p and return NULL, errno
 * untouched; realloc(NULL, 0) is malloc(0). */
static void realloc_zero(void)
{
    const size_t block_sizes[] = {1, 100, 5000, BB_MIB};
    for (size_t b = 0; b < sizeof block_sizes / sizeof block_sizes[0]; b++) {
        size_t n = block_sizes[b];
        void *p = malloc(n);
        CHECK(p != NULL);
        errno = SENTINEL;
        void *r = realloc(p, 0);
        CHECKF(r == NULL, "realloc(p of %zu, 0) = %p, expected NULL", n, r);
        CHECKF(errno == SENTINEL, "realloc(p of %zu, 0) changed errno to %d", n, errno);

        p = malloc(n);
        CHECK(p != NULL);
        errno = SENTINEL;
        r = __libc_realloc(p, 0);
        CHECK(r == NULL && errno == SENTINEL);

        const size_t zero_pairs[][2] = {{0, 10}, {10, 0}, {0, SIZE_MAX}, {SIZE_MAX, 0}};
        for (size_t i = 0; i < sizeof zero_pairs / sizeof zero_pairs[0]; i++) {
            p = malloc(n);
            CHECK(p != NULL);
            errno = SENTINEL;
            r = reallocarray(p, zero_pairs[i][0], zero_pairs[i][1]);
            CHECKF(r == NULL, "reallocarray(p, %#zx, %#zx) = %p, expected NULL (p freed)",
                   zero_pairs[i][0], zero_pairs[i][1], r);
            CHECKF(errno == SENTINEL, "reallocarray(p, %#zx, %#zx) changed errno to %d",
                   zero_pairs[i][0], zero_pairs[i][1], errno);
        }
    }
    errno = SENTINEL;
    void *r = realloc(NULL, 0);
    CHECK(r != NULL && errno == SENTINEL);
    free(r);
}

/* memalign, __libc_memalign and aligned_alloc: the alignment rules. */
static void memalign_family(void)
{
    /* accepted: <= 16 is malloc, others rounded up to a power of two */
    const size_t ok_align[] = {0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 32, 48, 100, 4096, 4097, 3 << 20};
    /* EINVAL: above SIZE_MAX / 2 + 1, whatever the size */
    const size_t einval_align[] = {((size_t)1 << 63) + 1, ((size_t)1 << 63) + 4096, SIZE_MAX - 7,
                                   SIZE_MAX};
    const size_t any_size[] = {0, 10, PMAX + 1, SIZE_MAX};
    /* ENOMEM: a valid alignment the address space cannot give */
    const size_t enomem_align[] = {(size_t)1 << 62, (size_t)1 << 63};
    for (int f = 0; f < N_ALIGN_FNS; f++) {
        const char *name = align_fns[f].name;
        for (size_t i = 0; i < sizeof ok_align / sizeof ok_align[0]; i++) {
            size_t a = ok_align[i];
            for (size_t n = 0; n <= 100; n += 50) {
                errno = SENTINEL;
                void *r = align_fns[f].fn(a, n);
                int err = errno;
                expect_ok(r, err, effective_align(a), name, a, n);
                memset(r, 0x5c, n);
                free(r);
            }
            for (int s = 0; s < N_HUGE; s++) {
                errno = SENTINEL;
                void *r = align_fns[f].fn(a, huge_sizes[s]);
                int err = errno;
                expect_fail(r, err, ENOMEM, name, a, huge_sizes[s]);
            }
        }
        for (size_t i = 0; i < sizeof einval_align / sizeof einval_align[0]; i++)
            for (size_t s = 0; s < sizeof any_size / sizeof any_size[0]; s++) {
                errno = SENTINEL;
                void *r = align_fns[f].fn(einval_align[i], any_size[s]);
                int err = errno;
                expect_fail(r, err, EINVAL, name, einval_align[i], any_size[s]);
            }
        for (size_t i = 0; i < sizeof enomem_align / sizeof enomem_align[0]; i++)
            for (size_t s = 0; s < sizeof any_size / sizeof any_size[0]; s++) {
                errno = SENTINEL;
                void *r = align_fns[f].fn(enomem_align[i], any_size[s]);
                int err = errno;
                expect_fail(r, err, ENOMEM, name, enomem_align[i], any_size[s]);
            }
    }
}

static void posix_memalign_rules(void)
{
    /* EINVAL, errno untouched, *memptr untouched: 0, not a power of two, not
     * a multiple of sizeof(void *); checked before the size */
    const size_t einval_align[] = {0,  1,  2,   3,    4,    5,       6,
                                   7,  12, 24,  48,   100,  4095,    4097,
                                   3 << 20, ((size_t)1 << 63) + 1, SIZE_MAX - 7, SIZE_MAX};
    const size_t any_size[] = {0, 10, PMAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof einval_align / sizeof einval_align[0]; i++)
        for (size_t s = 0; s < sizeof any_size / sizeof any_size[0]; s++)
            expect_pm_fail(einval_align[i], any_size[s], EINVAL, SENTINEL);

    /* ENOMEM returned AND errno = ENOMEM, *memptr untouched */
    const size_t ok_align[] = {8, 16, 32, 64, 4096, BB_MIB};
    for (size_t i = 0; i < sizeof ok_align / sizeof ok_align[0]; i++)
        for (int s = 0; s < N_HUGE; s++)
            expect_pm_fail(ok_align[i], huge_sizes[s], ENOMEM, ENOMEM);
    expect_pm_fail((size_t)1 << 62, 10, ENOMEM, ENOMEM);
    expect_pm_fail((size_t)1 << 63, 10, ENOMEM, ENOMEM);
    expect_pm_fail((size_t)1 << 63, 0, ENOMEM, ENOMEM);

    /* success: 0, *memptr written and aligned, errno untouched */
    for (size_t a = sizeof(void *); a <= 4 * BB_MIB; a *= 2)
        for (size_t n = 0; n <= 100; n += 100) {
            void *m;
            int err;
            int rc = pm_call(a, n, &err, &m);
            CHECKF(rc == 0, "posix_memalign(%#zx, %zu) = %d", a, n, rc);
            CHECKF(m != MEMPTR_SENTINEL && m != NULL && bb_aligned(m, a),
                   "posix_memalign(%#zx, %zu): *memptr = %p", a, n, m);
            CHECKF(err == SENTINEL, "posix_memalign(%#zx, %zu) succeeded but set errno %d", a, n,
                   err);
            memset(m, 0x6d, n);
            free(m);
        }
}

/* Successful calls leave errno alone, realloc included: growing a large
 * block whose in-place attempt fails (an mremap without MREMAP_MAYMOVE gives
 * ENOMEM) must not leak that errno out of a realloc that then succeeds. */
static void successes_keep_errno(void)
{
    const size_t sizes[] = {1, 24, 100, 1000, 5000, 100000, BB_MIB, 4 * BB_MIB, 16 * BB_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int f = 0; f < N_SIZE_FNS; f++) {
            errno = SENTINEL;
            void *r = size_fns[f].fn(n);
            int err = errno;
            expect_ok(r, err, 16, size_fns[f].name, n, 0);
            memset(r, 0x11, n);
            errno = SENTINEL;
            r = realloc(r, 2 * n);
            CHECKF(r != NULL && errno == SENTINEL,
                   "realloc(%s(%zu), %zu) = %p but errno %d (a successful realloc must leave "
                   "errno untouched)",
                   size_fns[f].name, n, 2 * n, r, errno);
            errno = SENTINEL;
            r = realloc(r, n / 2 + 1);
            CHECKF(r != NULL && errno == SENTINEL, "realloc shrinking to %zu: %p errno %d",
                   n / 2 + 1, r, errno);
            free(r);
        }
    }
}

static void (*find_cfree(int bb))(void *)
{
#ifdef BB_STATIC_LINK
    (void)bb;
    return cfree;
#else
    void (*fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    /* glibc 2.36 has cfree only as a compat symbol; on glibc's own heap its
     * cfree@GLIBC_2.2.5 is the one to call (never on bestbuddy's blocks) */
    if (fn == NULL && !bb)
        fn = (void (*)(void *))dlvsym(RTLD_DEFAULT, "cfree", "GLIBC_2.2.5");
    return fn;
#endif
}

/* The calls that never set errno. */
static void never_set_errno(int bb)
{
    void (*cfree_fn)(void *) = find_cfree(bb);
    CHECKF(cfree_fn != NULL, "cfree not found");
    const size_t sizes[] = {0, 1, 100, 5000, 200000, 4 * BB_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(sizes[i]);
        CHECK(p != NULL);
        errno = SENTINEL;
        size_t us = malloc_usable_size(p);
        CHECK(us >= sizes[i] && errno == SENTINEL);
        errno = SENTINEL;
        free(p);
        CHECKF(errno == SENTINEL, "free(%zu-byte block) changed errno to %d", sizes[i], errno);
        p = __libc_malloc(sizes[i]);
        errno = SENTINEL;
        __libc_free(p);
        CHECKF(errno == SENTINEL, "__libc_free changed errno to %d", errno);
        p = malloc(sizes[i]);
        errno = SENTINEL;
        cfree_fn(p);
        CHECKF(errno == SENTINEL, "cfree changed errno to %d", errno);
    }
    errno = SENTINEL;
    free(NULL);
    __libc_free(NULL);
    cfree_fn(NULL);
    CHECKF(errno == SENTINEL, "free/__libc_free/cfree(NULL) changed errno to %d", errno);
    errno = SENTINEL;
    CHECK(malloc_usable_size(NULL) == 0);
    CHECK(errno == SENTINEL);

    /* mallopt: a value glibc refuses returns 0, errno untouched */
    errno = SENTINEL;
    CHECKF(mallopt(M_MXFAST, 161) == 0, "mallopt(M_MXFAST, 161) != 0");
    CHECKF(mallopt(M_MXFAST, 1000) == 0, "mallopt(M_MXFAST, 1000) != 0");
    CHECKF(mallopt(M_MXFAST, -1) == 0, "mallopt(M_MXFAST, -1) != 0");
    CHECKF(errno == SENTINEL, "mallopt changed errno to %d", errno);
    errno = SENTINEL;
    mallopt(12345, 1);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    CHECKF(errno == SENTINEL, "mallopt changed errno to %d", errno);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    errno = SENTINEL;
    struct mallinfo mi = mallinfo();
    (void)mi;
    CHECKF(errno == SENTINEL, "mallinfo changed errno to %d", errno);
#pragma GCC diagnostic pop
    errno = SENTINEL;
    struct mallinfo2 mi2 = mallinfo2();
    (void)mi2;
    CHECKF(errno == SENTINEL, "mallinfo2 changed errno to %d", errno);

    /* malloc_stats writes to stderr: send it to /dev/null meanwhile, so a
     * failure message below stays at the top of the log */
    fflush(stderr);
    int saved_fd = dup(2);
    CHECK(saved_fd >= 0);
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(devnull != NULL);
    CHECK(dup2(fileno(devnull), 2) == 2);
    errno = SENTINEL;
    malloc_stats();
    fflush(stderr);
    int err = errno;
    CHECK(dup2(saved_fd, 2) == 2);
    close(saved_fd);
    fclose(devnull);
    CHECKF(err == SENTINEL, "malloc_stats changed errno to %d", err);

    errno = SENTINEL;
    int t = malloc_trim(0);
    CHECKF(t == 0 || t == 1, "malloc_trim(0) = %d", t);
    CHECKF(errno == SENTINEL, "malloc_trim changed errno to %d", errno);

    FILE *f = tmpfile();
    CHECK(f != NULL);
    const int bad_options[] = {1, -1, 2, 0x100};
    for (size_t i = 0; i < sizeof bad_options / sizeof bad_options[0]; i++) {
        errno = SENTINEL;
        int r = malloc_info(bad_options[i], f);
        err = errno;
        CHECKF(r == EINVAL, "malloc_info(%d, f) = %d, expected EINVAL", bad_options[i], r);
        CHECKF(err == SENTINEL, "malloc_info(%d, f) changed errno to %d", bad_options[i], err);
        CHECK(fflush(f) == 0);
        CHECKF(ftell(f) == 0, "malloc_info(%d, f) wrote %ld bytes", bad_options[i], ftell(f));
    }
    errno = SENTINEL;
    int r = malloc_info(0, f);
    err = errno;
    CHECKF(r == 0, "malloc_info(0, f) = %d", r);
    CHECKF(err == SENTINEL, "malloc_info(0, f) changed errno to %d", err);
    CHECK(fflush(f) == 0 && ftell(f) > 0);
    fclose(f);
}

/* ------------------------------------------------------------ RLIMIT_AS */

#define RL_BIG ((size_t)1 << 30) /* far above the headroom left under the limit */

static void rl_expect_null(void *r, const char *what)
{
    int err = errno;
    CHECKF(r == NULL, "%s succeeded past RLIMIT_AS", what);
    CHECKF(err == ENOMEM, "%s past RLIMIT_AS: errno %d, expected ENOMEM", what, err);
}

static void rl_child(void)
{
    free(malloc(100));
    free(malloc(4 * BB_MIB));
    const size_t small_n = 3000, large_n = 8 * BB_MIB;
    void *small = malloc(small_n), *large = malloc(large_n);
    CHECK(small != NULL && large != NULL);
    bb_fill(small, 0, small_n, 7);
    bb_fill(large, 0, large_n, 8);

    long vm_kb = bb_status_kb("VmSize");
    CHECK(vm_kb > 0);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
    rl.rlim_cur = (rlim_t)vm_kb * 1024 + 64 * BB_MIB;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

    for (int f = 0; f < N_SIZE_FNS; f++) {
        errno = SENTINEL;
        void *r = size_fns[f].fn(RL_BIG);
        rl_expect_null(r, size_fns[f].name);
    }
    errno = SENTINEL;
    rl_expect_null(calloc((size_t)1 << 15, (size_t)1 << 15), "calloc(2^15, 2^15)");
    errno = SENTINEL;
    rl_expect_null(__libc_calloc((size_t)1 << 15, (size_t)1 << 15), "__libc_calloc(2^15, 2^15)");
    for (size_t a = 16; a <= 4 * BB_MIB; a *= 16) {
        errno = SENTINEL;
        rl_expect_null(memalign(a, RL_BIG), "memalign(a, 1 GiB)");
        errno = SENTINEL;
        rl_expect_null(aligned_alloc(a, RL_BIG), "aligned_alloc(a, 1 GiB)");
        errno = SENTINEL;
        rl_expect_null(__libc_memalign(a, RL_BIG), "__libc_memalign(a, 1 GiB)");
    }
    const size_t pm_align[] = {8, 16, 64, 4096, BB_MIB};
    for (size_t i = 0; i < sizeof pm_align / sizeof pm_align[0]; i++)
        expect_pm_fail(pm_align[i], RL_BIG, ENOMEM, ENOMEM);

    void *volatile blocks[2] = {small, large}; /* volatile: see realloc_failures_keep_block */
    const size_t lens[2] = {small_n, large_n};
    for (int b = 0; b < 2; b++) {
        errno = SENTINEL;
        rl_expect_null(realloc(blocks[b], RL_BIG), "realloc(p, 1 GiB)");
        errno = SENTINEL;
        rl_expect_null(__libc_realloc(blocks[b], RL_BIG), "__libc_realloc(p, 1 GiB)");
        errno = SENTINEL;
        rl_expect_null(reallocarray(blocks[b], (size_t)1 << 15, (size_t)1 << 15),
                       "reallocarray(p, 2^15, 2^15)");
        size_t bad = bb_verify(blocks[b], lens[b], (unsigned)(7 + b));
        CHECKF(bad == (size_t)-1, "failed realloc of a %zu-byte block changed byte %zu",
               lens[b], bad);
    }

    /* the failures are not sticky */
    errno = SENTINEL;
    void *p = malloc(100);
    CHECK(p != NULL && errno == SENTINEL);
    free(p);
    free(small);
    free(large);
    _exit(0);
}

static void rlimit_exhaustion(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        rl_child();
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "RLIMIT_AS child: status %#x", st);
}

int main(void)
{
    int bb = on_bestbuddy();
    free(malloc(1)); /* initialised before the first sentinel */
    huge_sizes_fail();
    zero_sizes_succeed();
    count_overflow_fails();
    realloc_failures_keep_block();
    realloc_zero();
    memalign_family();
    posix_memalign_rules();
    successes_keep_errno();
    never_set_errno(bb);
    rlimit_exhaustion();
    return 0;
}
