/* A fork child gives back what it frees of arenas whose threads did not follow it.
 *   - a second thread fills its arena with 32 MiB of blocks above the cached sizes and
 *     stays alive while the main thread forks;
 *   - the child (whose only thread is the main thread, living in another arena) frees them
 *     all: they go on the other arena's remote list, which no thread of the child would
 *     ever drain if the dead thread still counted as living there;
 *   - after the idle delay, the child's resident memory has fallen by most of the 32 MiB.
 * The child reads its RSS from /proc/self/statm, not bestbuddy_stats_get (which locks
 * every arena, and so would drain the list itself). */
#include "common.h"
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#define N 4000
#define SIZE 8000

static void *blocks[N];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready, done;

static long rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *worker(void *arg)
{
    /* A cached size first: the thread gets its cache, and with it an arena of its own. */
    free(malloc(16));
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], 0x33, SIZE);
    }
    pthread_mutex_lock(&lock);
    ready = 1;
    pthread_cond_broadcast(&cond);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

int main(void)
{
    int ours = on_bestbuddy();
    free(malloc(16));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    pthread_mutex_lock(&lock);
    while (!ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    long before = rss_kib();
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < N; i++) {
            CHECK(((unsigned char *)blocks[i])[SIZE - 1] == 0x33);
            free(blocks[i]);
        }
        struct timespec wait = { 0, 400 * 1000 * 1000 };
        nanosleep(&wait, NULL);
        /* Slow paths of the child's thread: first allocations of sizes it never used. */
        for (size_t size = 48; size <= 3000; size += 16)
            free(malloc(size));
        long after = rss_kib();
        printf("child: rss %ld KiB before the frees, %ld KiB after\n", before, after);
        if (ours)
            CHECKF(before - after >= (long)(N * (SIZE / 1024)) / 2, "rss %ld -> %ld KiB", before,
                   after);
        fflush(stdout);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    CHECK(pthread_join(t, NULL) == 0);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    puts("ok");
    return 0;
}
