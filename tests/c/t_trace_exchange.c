/* BESTBUDDY_TRACE with four threads trading blocks at full speed through lock-free slots
 * (one allocates and publishes, three take, resize and free; all also allocate for
 * themselves): about 200,000 calls, after which `bestbuddy-trace check` must find the
 * merged order of all threads a possible history (no block handed out while live, no free
 * of a block not live), which holds only if each timestamp is taken where docs/TRACE.md
 * says. It runs twice: with the thread caches, and without them (mallopt M_PERTURB turns
 * them off), where a block one thread frees is at once another's to take, so a free
 * stamped after its release shows (checked: such a writer fails this test). */
#include "trace_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SLOTS 64
#define PUBLISH 10000
#define TAKERS 3

static _Atomic(void *) slots[SLOTS];
static atomic_int done;

static void *producer(void *arg)
{
    (void)arg;
    unsigned seed = 1;
    for (int i = 0; i < PUBLISH;) {
        seed = seed * 1103515245u + 12345u;
        void *p = malloc(16 + seed % 600);
        CHECK(p != NULL);
        void *expected = NULL;
        size_t s = seed % SLOTS;
        if (atomic_compare_exchange_strong(&slots[s], &expected, p)) {
            i++;
        } else {
            free(p);
        }
        void *own = malloc(seed % 200);
        free(own);
    }
    atomic_store(&done, 1);
    return NULL;
}

static void *taker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (;;) {
        seed = seed * 1103515245u + 12345u;
        void *p = atomic_exchange(&slots[seed % SLOTS], NULL);
        if (p != NULL) {
            if (seed & 0x100)
                p = realloc(p, 32 + seed % 2000);
            free(p);
        } else if (atomic_load(&done)) {
            break;
        }
        void *own = calloc(1, seed % 300);
        free(own);
    }
    return NULL;
}

static int traced(void)
{
    if (strcmp(bb_trace_case(), "uncached") == 0)
        CHECK(mallopt(M_PERTURB, 0xa5) == 1);
    pthread_t prod, take[TAKERS];
    CHECK(pthread_create(&prod, NULL, producer, NULL) == 0);
    for (int t = 0; t < TAKERS; t++)
        CHECK(pthread_create(&take[t], NULL, taker, (void *)(uintptr_t)(t + 7)) == 0);
    CHECK(pthread_join(prod, NULL) == 0);
    for (int t = 0; t < TAKERS; t++)
        CHECK(pthread_join(take[t], NULL) == 0);
    for (int s = 0; s < SLOTS; s++)
        free(atomic_exchange(&slots[s], NULL));
    return 0;
}

int main(void)
{
    if (bb_trace_case() != NULL)
        return traced();
    if (!on_bestbuddy())
        return 0;
    const char *cases[] = {"cached", "uncached"};
    for (int i = 0; i < 2; i++) {
        char trace[256], args[512];
        bb_trace_path(trace, sizeof trace, cases[i]);
        int status = bb_trace_rerun(cases[i], trace, NULL);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s run: status %d", cases[i],
               status);
        snprintf(args, sizeof args, "check %s", trace);
        bb_trace_check(args);
    }
    return 0;
}
