/* Misuse tests: print the exact line the allocator must write to stderr as
 * "expect: <line>" on stdout, flush, then commit the misuse.  The runner
 * checks the process died of SIGABRT and stderr holds that line. */
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
#endif
