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

/* Runs the program `self` again as `self mode`, with the environment variable `name` set
 * to `value` (unset when value is NULL); returns its wait status, and its stderr in err
 * (NUL-terminated, at most cap - 1 bytes). For tests of what the allocator does at start-up
 * or exit. */
#include <sys/wait.h>
static inline int bb_run_self(const char *self, const char *mode, const char *name,
                              const char *value, char *err, size_t cap)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        if (value)
            setenv(name, value, 1);
        else
            unsetenv(name);
        execl(self, self, mode, (char *)NULL);
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

#endif
