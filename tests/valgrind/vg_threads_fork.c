/* The allocator's own work outside malloc and free: threads that free each other's blocks
 * (remote lists) and exit (their caches go back to the heap), a fork from a process with
 * threads (the fork handlers), the introspection calls, M_PERTURB's fills. None of it may
 * show as an error of the program, in the parent or in the child.
 *
 * expect-status: 0
 * expect: ERROR SUMMARY: 0 errors from 0 contexts
 * expect: All heap blocks were freed -- no leaks are possible
 * expect-not: ERROR SUMMARY: [1-9]
 * expect-not: definitely lost: [1-9]
 * expect-stdout: ^child: ok$
 * expect-stdout: ^parent: ok$
 */
#include "../c/common.h"
#include <pthread.h>
#include <sys/wait.h>

#define THREADS 3
#define BLOCKS 2000

static char *handed[THREADS][BLOCKS];

static void *make(void *arg)
{
    char **blocks = arg;
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(16 + i % 600);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], i, 16 + i % 600);
    }
    return NULL;
}

/* Frees another thread's blocks: they go back through their arena's remote list. */
static void *take(void *arg)
{
    char **blocks = arg;
    for (int i = 0; i < BLOCKS; i++) {
        CHECK(blocks[i][0] == (char)i);
        free(blocks[i]);
    }
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, make, handed[i]) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    /* A thread still running while the process forks. */
    CHECK(pthread_create(&t[0], NULL, take, handed[0]) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char *p = malloc(50);
        CHECK(p != NULL);
        memset(p, 2, 50);
        free(p);
        printf("child: ok\n");
        fflush(stdout);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(pthread_join(t[0], NULL) == 0);
    for (int i = 1; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, take, handed[i]) == 0);
    for (int i = 1; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);

    struct mallinfo2 m = mallinfo2();
    CHECK(m.arena > 0);
    malloc_trim(0);
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL);
    CHECK(malloc_info(0, null) == 0);
    fclose(null);
    CHECK(mallopt(M_PERTURB, 0x5a) == 1);
    char *x = malloc(100);
    CHECK(x != NULL);
    memset(x, 0, 100);
    free(x);
    CHECK(mallopt(M_PERTURB, 0) == 1);
    printf("parent: ok\n");
    return 0;
}
