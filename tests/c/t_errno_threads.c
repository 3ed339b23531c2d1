/* A malloc or free that succeeds leaves errno as it was, also when threads contend for
 * the allocator's locks: a lock that sleeps on a futex sees EAGAIN or EINTR there, and
 * must not leave it behind. Sixteen threads share one arena (M_ARENA_MAX=1, so they
 * contend) and check errno after every call. */
#include <pthread.h>

#include "common.h"

enum { THREADS = 16, ROUNDS = 20000, SLOTS = 32 };
#define SENTINEL 12345

static void *churn(void *arg)
{
    uint64_t rng = 77 + (uintptr_t)arg;
    void *slot[SLOTS] = {0};
    long changed = 0;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t r = bb_rand(&rng);
        int k = (int)(r % SLOTS);
        errno = SENTINEL;
        free(slot[k]);
        if (errno != SENTINEL)
            changed++;
        errno = SENTINEL;
        /* sizes past the thread cache's, so that most calls take the arena's lock */
        slot[k] = malloc(4096 + (r >> 8) % 60000);
        CHECK(slot[k] != NULL);
        if (errno != SENTINEL)
            changed++;
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    return (void *)changed;
}

int main(void)
{
    on_bestbuddy();
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i) == 0);
    long changed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0);
        changed += (long)r;
    }
    printf("%d threads x %d malloc+free: errno changed by %ld successful calls\n", THREADS,
           ROUNDS, changed);
    CHECKF(changed == 0, "%ld successful calls changed errno", changed);
    return 0;
}
