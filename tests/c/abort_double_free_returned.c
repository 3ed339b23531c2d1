/* Blocks of another thread's arena, freed by a third thread while their owner lives: the
 * third thread's exit empties its cache, which hands them back to their owner by size
 * class, where they wait for the owner's next refill of that size; freeing one of them
 * again must abort with "bestbuddy: free(): double free of <ptr>". */
#include "abort_common.h"
#include <pthread.h>

enum { N = 200 };
static char *blocks[N];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int made;

static void *make_blocks(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(40);
        CHECK(blocks[i]);
        memset(blocks[i], i, 40);
    }
    pthread_mutex_lock(&lock);
    made = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    /* Lives on (the process aborts first): with a thread living in its arena, the blocks
     * wait for it instead of going back to the heap. */
    for (;;)
        pause();
    return NULL;
}

static void *free_blocks(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    return NULL; /* the exit hands them on */
}

int main(void)
{
    on_bestbuddy();
    char *mine = malloc(40); /* this thread's cache and home arena come first */
    CHECK(mine);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, make_blocks, NULL) == 0);
    pthread_mutex_lock(&lock);
    while (!made)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_t freer;
    CHECK(pthread_create(&freer, NULL, free_blocks, NULL) == 0);
    CHECK(pthread_join(freer, NULL) == 0);
    char *again = blocks[N / 2];
    expect_line("bestbuddy: free(): double free of %p", again);
    free(launder(again));
    printf("survived double free\n");
    fflush(stdout);
    abort(); /* glibc may not see this one; the runner only needs a SIGABRT there */
}
