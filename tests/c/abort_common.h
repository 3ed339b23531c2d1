/* Misuse tests: print what the allocator's line on stderr must start with as
 * "expect: <start>" on stdout, flush, then commit the misuse.  The runner
 * checks the process died of SIGABRT and stderr holds a line "<start>: <hint>"
 * (the message, then what it means and how to find its cause). */
#ifndef BB_ABORT_COMMON_H
#define BB_ABORT_COMMON_H
#include "common.h"

static void expect_line(const char *fmt, const void *ptr)
{
    printf("expect: ");
    printf(fmt, ptr);
    printf("\n");
    fflush(stdout);
}

/* Keep the compiler from reasoning about the pointer we misuse. */
static void *launder(void *p)
{
    void *volatile v = p;
    return v;
}
/* Allocates n blocks of `size` bytes into blocks[] and sets *lo and *hi to the closest pair
 * (lo below hi): neighbours, with nothing between them.  Requires them at most 128 bytes
 * apart, so that an overflow of lo reaches hi. */
static inline void neighbours(char **blocks, int n, size_t size, char **lo, char **hi)
{
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL);
    }
    char *x = NULL, *y = NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (blocks[j] > blocks[i] && (x == NULL || blocks[j] - blocks[i] < y - x)) {
                x = blocks[i];
                y = blocks[j];
            }
    CHECK(x != NULL && (size_t)(y - x) <= 128);
    *lo = x;
    *hi = y;
}

/* A freed block of `size` bytes, which free left in the thread cache, between two live
 * blocks that keep it from merging into a bigger one.  stdout is unbuffered first: glibc
 * would malloc a buffer at the first printf, and could take the block. */
static inline char *freed_between_live(size_t size)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    void *before = malloc(size);
    char *p = malloc(size);
    void *after = malloc(size);
    CHECK(before != NULL && p != NULL && after != NULL);
    free(p);
    return p;
}
#endif
