/* A block freed by one thread (so it waits in that thread's cache) and freed again by
 * another must abort with "bestbuddy: free(): double free of <ptr>". */
#include "abort_common.h"
#include <pthread.h>

static char *shared;
static pthread_barrier_t freed, done;

static void *first_free(void *arg)
{
    (void)arg;
    free(shared);
    pthread_barrier_wait(&freed);
    pthread_barrier_wait(&done); /* keep this thread, and its cache, alive */
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    char *keep = malloc(48);
    shared = malloc(48);
    CHECK(keep && shared);
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, first_free, NULL) == 0);
    pthread_barrier_wait(&freed);
    expect_line("bestbuddy: free(): double free of %p", shared);
    free(launder(shared));
    printf("survived double free\n");
    fflush(stdout);
    abort(); /* glibc does not see this one; the runner only needs a SIGABRT there */
}
