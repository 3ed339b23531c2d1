/* Shared helpers for the bestbuddy C test suite.
 *
 * Every test program includes this header, calls on_bestbuddy() first and
 * exits 0 on success.  A failed CHECK prints file:line and the expression
 * on stderr and exits with status 1.
 *
 * BESTBUDDY_EXPECT=<backend>  the test must run on bestbuddy with that backend
 * BESTBUDDY_EXPECT=glibc      validation mode: run on glibc's allocator and
 *                             skip the bestbuddy-only assertions
 */
#ifndef BB_C_TESTS_COMMON_H
#define BB_C_TESTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Weak, so that the program still links (and reports the problem through
 * on_bestbuddy) when the allocator is not bestbuddy.  The static build links
 * with -Wl,-u,bestbuddy_backend so the archive member is always pulled in. */
extern const char *bestbuddy_backend(void) __attribute__((weak));

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fflush(stdout);                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            _exit(1);                                                        \
        }                                                                    \
    } while (0)

/* CHECK with an extra printf-style explanation. */
#define CHECKF(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fflush(stdout);                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            _exit(1);                                                        \
        }                                                                    \
    } while (0)

#define BB_KIB ((size_t)1 << 10)
#define BB_MIB ((size_t)1 << 20)

/* Returns 1 when running on bestbuddy (checked against BESTBUDDY_EXPECT when
 * set), 0 in glibc validation mode (BESTBUDDY_EXPECT=glibc). */
static inline int on_bestbuddy(void)
{
    const char *expect = getenv("BESTBUDDY_EXPECT");
    if (expect != NULL && strcmp(expect, "glibc") == 0) {
        CHECKF(bestbuddy_backend == NULL,
               "BESTBUDDY_EXPECT=glibc but bestbuddy is loaded");
        return 0;
    }
    CHECKF(bestbuddy_backend != NULL,
           "bestbuddy_backend() not found: test is not running on bestbuddy");
    const char *backend = bestbuddy_backend();
    CHECK(backend != NULL);
    if (expect != NULL && *expect != '\0')
        CHECKF(strcmp(backend, expect) == 0, "backend is \"%s\", expected \"%s\"",
               backend, expect);
    return 1;
}

static inline int bb_aligned(const void *p, size_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* Position-dependent byte pattern; `seed` distinguishes blocks. */
static inline unsigned char bb_pat(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u) ^ (i >> 8) ^ (i >> 16) ^ (seed * 29u + 7u));
}

static inline void bb_fill(void *p, size_t from, size_t to, unsigned seed)
{
    unsigned char *b = (unsigned char *)p;
    for (size_t i = from; i < to; i++)
        b[i] = bb_pat(i, seed);
}

/* Returns the index of the first wrong byte, or (size_t)-1 if all match. */
static inline size_t bb_verify(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != bb_pat(i, seed))
            return i;
    return (size_t)-1;
}

static inline int bb_all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return 0;
    return 1;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmSize"), -1 if unknown. */
static inline long bb_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Small xorshift PRNG, one state per thread/test. */
static inline uint64_t bb_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Runs the program `self` again as `self mode [arg]` (arg may be NULL), with `setup(ctx)`
 * called in the child first (to shape its environment); returns its wait status, and its
 * stderr in err (NUL-terminated, at most cap - 1 bytes). For tests of what the allocator
 * does at start-up or exit. */
#include <sys/wait.h>
static inline int bb_run_self_with(const char *self, const char *mode, const char *arg,
                                   void (*setup)(const void *ctx), const void *ctx, char *err,
                                   size_t cap)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        setup(ctx);
        execl(self, self, mode, arg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = '\0';
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

struct bb_one_var {
    const char *name, *value;
};

static inline void bb_set_one_var(const void *ctx)
{
    const struct bb_one_var *v = ctx;
    if (v->value)
        setenv(v->name, v->value, 1);
    else
        unsetenv(v->name);
}

/* bb_run_self_with, the child's environment variable `name` set to `value` (unset when
 * value is NULL). */
static inline int bb_run_self(const char *self, const char *mode, const char *name,
                              const char *value, char *err, size_t cap)
{
    const struct bb_one_var v = {name, value};
    return bb_run_self_with(self, mode, NULL, bb_set_one_var, &v, err, cap);
}

/* How many heaps malloc_info lists while `threads` threads (at most 64) each hold 64
 * blocks at once: how many arenas the allocator spreads threads that allocate together
 * over. */
#include <pthread.h>
struct bb_hold {
    pthread_barrier_t allocated, counted;
};

static inline void *bb_hold_blocks(void *arg)
{
    struct bb_hold *hold = arg;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc(64 + i * 16);
        CHECK(p[i] != NULL);
    }
    pthread_barrier_wait(&hold->allocated);
    pthread_barrier_wait(&hold->counted);
    for (int i = 0; i < 64; i++)
        free(p[i]);
    return NULL;
}

static inline int bb_heaps_in_use(int threads)
{
    pthread_t t[64];
    struct bb_hold hold;
    CHECK(threads > 0 && threads <= 64);
    CHECK(pthread_barrier_init(&hold.allocated, NULL, (unsigned)threads + 1) == 0);
    CHECK(pthread_barrier_init(&hold.counted, NULL, (unsigned)threads + 1) == 0);
    for (int i = 0; i < threads; i++)
        CHECK(pthread_create(&t[i], NULL, bb_hold_blocks, &hold) == 0);
    pthread_barrier_wait(&hold.allocated);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    CHECK(malloc_info(0, f) == 0);
    CHECK(fclose(f) == 0);
    int heaps = 0;
    for (const char *s = text; (s = strstr(s, "<heap nr=")) != NULL; s++)
        heaps++;
    free(text);
    pthread_barrier_wait(&hold.counted);
    for (int i = 0; i < threads; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(pthread_barrier_destroy(&hold.allocated) == 0);
    CHECK(pthread_barrier_destroy(&hold.counted) == 0);
    return heaps;
}

/* Heap bytes mapped (mallinfo2's arena) once 400 blocks of 100 KiB were allocated and all
 * freed: what the heap keeps of a burst, for the trim and top-pad settings. */
static inline size_t bb_arena_after_churn(void)
{
    static void *p[400];
    for (int i = 0; i < 400; i++) {
        p[i] = malloc(100 * 1024);
        CHECK(p[i] != NULL);
        memset(p[i], 1, 64);
    }
    for (int i = 0; i < 400; i++)
        free(p[i]);
    return mallinfo2().arena;
}

#endif
