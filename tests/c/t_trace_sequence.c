/* BESTBUDDY_TRACE records every entry point of the malloc family with its arguments and
 * result, in each thread's order: the traced run logs what it did (marker sizes), and
 * trace_check.py finds exactly that, per thread, in the trace (and `check` passes: the
 * merged order is a possible history, cross-thread frees included). */
#include "trace_common.h"

/* The log names pointers after the calls that freed them, and the failing calls ask for
 * too much on purpose. */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

#include <pthread.h>
#include <stdint.h>

#define THREADS 3

static struct bb_log logs[THREADS + 1];
static void *from_main[THREADS];   /* allocated by main, freed by thread t */
static void *from_thread[THREADS]; /* allocated by thread t, freed by main */

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct bb_log *log = &logs[t + 1];
    size_t base = 2000 + 100 * (size_t)t;
    free(from_main[t]);
    bb_log(log, "\"kind\":\"free\",\"ptr\":\"%p\"", from_main[t]);
    void *a = malloc(base + 1);
    bb_log(log, "\"kind\":\"malloc\",\"size\":%zu,\"result\":\"%p\"", base + 1, a);
    void *b = realloc(a, base + 2);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"%p\",\"size\":%zu,\"result\":\"%p\"", a, base + 2, b);
    void *c = calloc(2, base + 3);
    bb_log(log, "\"kind\":\"calloc\",\"count\":2,\"size\":%zu,\"result\":\"%p\"", base + 3, c);
    free(b);
    bb_log(log, "\"kind\":\"free\",\"ptr\":\"%p\"", b);
    free(c);
    bb_log(log, "\"kind\":\"free\",\"ptr\":\"%p\"", c);
    from_thread[t] = malloc(base + 4);
    bb_log(log, "\"kind\":\"malloc\",\"size\":%zu,\"result\":\"%p\"", base + 4, from_thread[t]);
    return NULL;
}

static int traced(void)
{
    struct bb_log *log = &logs[0];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        from_main[t] = malloc(1900 + (size_t)t);
        bb_log(log, "\"kind\":\"malloc\",\"size\":%zu,\"result\":\"%p\"", 1900 + (size_t)t,
               from_main[t]);
    }
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) == 0);

    void *p1 = malloc(1001);
    bb_log(log, "\"kind\":\"malloc\",\"size\":1001,\"result\":\"%p\"", p1);
    void *p2 = calloc(3, 1002);
    bb_log(log, "\"kind\":\"calloc\",\"count\":3,\"size\":1002,\"result\":\"%p\"", p2);
    /* grow in place: nothing after the block yet in a fresh area, or a move: either way
     * the record says what happened */
    void *p3 = malloc(1003);
    bb_log(log, "\"kind\":\"malloc\",\"size\":1003,\"result\":\"%p\"", p3);
    void *q3 = realloc(p3, 1010);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"%p\",\"size\":1010,\"result\":\"%p\"", p3, q3);
    /* a move: a block after it, and a size far beyond */
    void *blocker = malloc(1013);
    bb_log(log, "\"kind\":\"malloc\",\"size\":1013,\"result\":\"%p\"", blocker);
    void *m3 = realloc(q3, 300000);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"%p\",\"size\":300000,\"result\":\"%p\"", q3, m3);
    void *z = realloc(m3, 0);
    CHECK(z == NULL);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"%p\",\"size\":0,\"result\":\"0x0\"", m3);
    void *r = realloc(NULL, 1004);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"0x0\",\"size\":1004,\"result\":\"%p\"", r);
    void *ra = reallocarray(r, 5, 1005);
    bb_log(log, "\"kind\":\"reallocarray\",\"ptr\":\"%p\",\"count\":5,\"size\":1005,\"result\":\"%p\"", r, ra);
    void *ov = reallocarray(ra, SIZE_MAX / 2, 3);
    CHECK(ov == NULL);
    bb_log(log, "\"kind\":\"reallocarray\",\"ptr\":\"%p\",\"count\":%zu,\"size\":3,\"result\":\"0x0\"", ra, SIZE_MAX / 2);
    void *big = realloc(ra, SIZE_MAX - 4096);
    CHECK(big == NULL);
    bb_log(log, "\"kind\":\"realloc\",\"ptr\":\"%p\",\"size\":%zu,\"result\":\"0x0\"", ra, SIZE_MAX - 4096);
    void *pm = NULL;
    int rc = posix_memalign(&pm, 64, 1006);
    CHECK(rc == 0);
    bb_log(log, "\"kind\":\"posix_memalign\",\"align\":64,\"size\":1006,\"code\":0,\"result\":\"%p\"", pm);
    void *pm2 = (void *)1;
    rc = posix_memalign(&pm2, 3, 1007);
    CHECK(rc == EINVAL && pm2 == (void *)1);
    bb_log(log, "\"kind\":\"posix_memalign\",\"align\":3,\"size\":1007,\"code\":%d,\"result\":\"0x0\"", EINVAL);
    void *aa = aligned_alloc(128, 1008);
    bb_log(log, "\"kind\":\"aligned_alloc\",\"align\":128,\"size\":1008,\"result\":\"%p\"", aa);
    void *ma = memalign(256, 1009);
    bb_log(log, "\"kind\":\"memalign\",\"align\":256,\"size\":1009,\"result\":\"%p\"", ma);
    void *va = valloc(1011);
    bb_log(log, "\"kind\":\"valloc\",\"size\":1011,\"result\":\"%p\"", va);
    void *pv = pvalloc(1012);
    bb_log(log, "\"kind\":\"pvalloc\",\"size\":1012,\"result\":\"%p\"", pv);
    void *large = malloc(5 * BB_MIB + 1014);
    bb_log(log, "\"kind\":\"malloc\",\"size\":%zu,\"result\":\"%p\"", 5 * BB_MIB + 1014, large);
    free(NULL);
    bb_log(log, "\"kind\":\"free\",\"ptr\":\"0x0\"");
    void *frees[] = {p1, p2, blocker, ra, pm, aa, ma, va, pv, large};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++) {
        free(frees[i]);
        bb_log(log, "\"kind\":\"free\",\"ptr\":\"%p\"", frees[i]);
    }
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    for (int t = 0; t < THREADS; t++) {
        free(from_thread[t]);
        bb_log(log, "\"kind\":\"free\",\"ptr\":\"%p\"", from_thread[t]);
    }
    const char *expected = getenv("BB_EXPECTED");
    CHECK(expected != NULL);
    for (int t = 0; t <= THREADS; t++)
        bb_log_save(&logs[t], expected);
    return 0;
}

int main(void)
{
    if (bb_trace_case() != NULL)
        return traced();
    if (!on_bestbuddy())
        return 0;
    char trace[256], expected[300], args[1024];
    bb_trace_run_logged("t_trace_sequence", "sequence", trace, sizeof trace, expected, sizeof expected);
    snprintf(args, sizeof args, "sequence %s %s", trace, expected);
    bb_trace_check(args);
    return 0;
}
