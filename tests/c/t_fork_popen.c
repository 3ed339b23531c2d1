/* fork while other threads run popen/pclose and allocate.
 *
 * popen allocates (its FILE, the spawn's file actions) while glibc holds the
 * lock of its list of popen'ed streams, and pclose takes that lock too.
 * glibc 2.36's fork does not take that lock; later versions take it between
 * the atfork prepare handlers and the stdio list lock, where no handler of
 * ours can order itself against it (the lock is not exported). This test
 * pins the behaviour down so that a glibc upgrade that brings the cycle
 *     fork thread:  allocator locks -> popen list lock
 *     popen:        popen list lock -> allocator lock (malloc)
 * shows up here as a hang rather than in a user's program.
 *
 * Shape: three threads loop popen("true") + read to EOF + pclose, two loop
 * malloc/free of mixed sizes, two loop fork() (the child _exits at once, the
 * parent waits for it), for RUN_NS or MAX_FORKS forks. An alarm of HANG_S
 * seconds fails the test with a message written by write(2) ("hang:"); it is
 * re-armed as long as forks and popens make progress. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

enum { POPENERS = 3, ALLOCATORS = 2, FORKERS = 2, MAX_FORKS = 400, HANG_S = 15 };
#define RUN_NS 2500000000L

static volatile int stop;
static unsigned long forks, popens, allocs; /* atomics */

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void bump(unsigned long *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static unsigned long get(unsigned long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "hang: no fork or popen finished for HANG_S seconds\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static void *popener(void *arg)
{
    (void)arg;
    while (!stop) {
        FILE *p = popen("true", "r");
        CHECK(p != NULL);
        char buf[64];
        while (fread(buf, 1, sizeof buf, p) > 0) {
        }
        CHECK(pclose(p) == 0);
        bump(&popens);
    }
    return NULL;
}

static void *allocator(void *arg)
{
    uint64_t rng = 4242 + (uintptr_t)arg;
    void *slot[32] = {0};
    while (!stop) {
        uint64_t r = bb_rand(&rng);
        int i = (int)(r % 32);
        free(slot[i]);
        slot[i] = malloc(1 + (r >> 8) % 5000);
        CHECK(slot[i] != NULL);
        bump(&allocs);
    }
    for (int i = 0; i < 32; i++)
        free(slot[i]);
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    while (!stop && get(&forks) < MAX_FORKS) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(0);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            CHECK(errno == EINTR);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        bump(&forks);
    }
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    signal(SIGALRM, on_alarm);
    alarm(HANG_S);
    pthread_t t[POPENERS + ALLOCATORS + FORKERS];
    int n = 0;
    for (int i = 0; i < POPENERS; i++)
        CHECK(pthread_create(&t[n++], NULL, popener, NULL) == 0);
    for (int i = 0; i < ALLOCATORS; i++)
        CHECK(pthread_create(&t[n++], NULL, allocator, (void *)(uintptr_t)i) == 0);
    for (int i = 0; i < FORKERS; i++)
        CHECK(pthread_create(&t[n++], NULL, forker, NULL) == 0);
    long start = now_ns();
    unsigned long seen = 0;
    while (now_ns() - start < RUN_NS && get(&forks) < MAX_FORKS) {
        struct timespec tick = {0, 50000000L};
        nanosleep(&tick, NULL);
        unsigned long progress = get(&forks) + get(&popens);
        if (progress != seen) {
            seen = progress;
            alarm(HANG_S);
        }
    }
    stop = 1;
    for (int i = 0; i < n; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    alarm(0);
    printf("%lu forks, %lu popens, %lu allocations in %.1f s\n", get(&forks), get(&popens),
           get(&allocs), (now_ns() - start) / 1e9);
    CHECK(get(&forks) > 0 && get(&popens) > 0);
    return 0;
}
