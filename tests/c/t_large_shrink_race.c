/* One thread shrinks large blocks in place (realloc unmaps their tails) while another maps
 * and frees large blocks that may land in those tails: the shrink must never forget the
 * other thread's block (its free would then abort with "invalid pointer"). */
#include "common.h"
#include <pthread.h>
#include <time.h>

static volatile int stop;

static void *shrinker(void *arg) {
    (void)arg;
    while (!stop) {
        char *p = malloc((size_t)12 << 20);
        CHECK(p);
        p[0] = 1;
        p = realloc(p, (size_t)5 << 20);
        CHECK(p && p[0] == 1);
        free(p);
    }
    return NULL;
}

static void *mapper(void *arg) {
    (void)arg;
    while (!stop) {
        char *q = malloc((size_t)2 << 20);
        CHECK(q);
        q[0] = 1;
        free(q);
    }
    return NULL;
}

int main(void) {
    on_bestbuddy();
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, shrinker, NULL) == 0);
    CHECK(pthread_create(&b, NULL, mapper, NULL) == 0);
    struct timespec t = {2, 0};
    nanosleep(&t, NULL);
    stop = 1;
    CHECK(pthread_join(a, NULL) == 0);
    CHECK(pthread_join(b, NULL) == 0);
    return 0;
}
