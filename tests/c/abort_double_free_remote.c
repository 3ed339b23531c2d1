/* Blocks of another thread's arena, freed by this thread until its cache hands them on to
 * their owner's remote list; freeing one of them again must abort with
 * "bestbuddy: free(): double free of <ptr>". */
#include "abort_common.h"
#include <pthread.h>

enum { N = 200 };
static char *blocks[N];

static void *make_blocks(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(40);
        CHECK(blocks[i]);
        memset(blocks[i], i, 40);
    }
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    char *mine = malloc(40); /* this thread's cache and home arena come first */
    CHECK(mine);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, make_blocks, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    char *again = blocks[N / 2];
    expect_line("bestbuddy: free(): double free of %p", again);
    free(launder(again));
    printf("survived double free\n");
    fflush(stdout);
    abort(); /* glibc may not see this one; the runner only needs a SIGABRT there */
}
