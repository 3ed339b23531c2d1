/* fork while other threads allocate: 4 threads malloc/free in loops (small,
 * medium, 1 MiB, memalign) while the main thread forks 200 times.  Each child
 * allocates, verifies and frees a few thousand blocks (including from a new
 * thread) and _exits 0.  A child that hangs (allocator lock held across fork)
 * is caught by an alarm in the parent, killed, and fails the test. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

enum { NTHREADS = 4, NFORKS = 200, CHILD_BLOCKS = 3000, CHILD_TIMEOUT = 10 };

static volatile int stop;
static volatile sig_atomic_t alarmed;

static void *churn(void *arg)
{
    uint64_t rng = 1000 + (uintptr_t)arg;
    void *slot[64] = {0};
    while (!stop) {
        uint64_t r = bb_rand(&rng);
        int i = (int)(r % 64);
        free(slot[i]);
        size_t n;
        switch ((r >> 8) % 16) {
        case 0:
            n = BB_MIB;
            break;
        case 1:
        case 2:
            n = 1 + (r >> 16) % 65536;
            break;
        default:
            n = 1 + (r >> 16) % 512;
        }
        slot[i] = ((r >> 40) % 8 == 0) ? memalign(4096, n) : malloc(n);
        CHECK(slot[i] != NULL);
        memset(slot[i], (int)i, n < 256 ? n : 256);
    }
    for (int i = 0; i < 64; i++)
        free(slot[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) {
        void *p = malloc((size_t)i * 8 + 1);
        if (p == NULL)
            return (void *)1;
        free(p);
    }
    return NULL;
}

static int child_work(int k)
{
    static unsigned char *b[CHILD_BLOCKS];
    for (int i = 0; i < CHILD_BLOCKS; i++) {
        size_t n = 1 + (size_t)((i * 7919 + k) % (i % 100 == 0 ? 300000 : 2000));
        b[i] = malloc(n);
        if (b[i] == NULL)
            return 2;
        memset(b[i], i & 0xff, n);
        b[i][0] = (unsigned char)(i & 0xff);
    }
    for (int i = 0; i < CHILD_BLOCKS; i++) {
        if (b[i][0] != (unsigned char)(i & 0xff))
            return 3;
        free(b[i]);
    }
    void *p = calloc(1000, 1000);
    if (p == NULL)
        return 4;
    free(p);
    pthread_t t;
    void *ret = (void *)2;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &ret) != 0 ||
        ret != NULL)
        return 5;
    return 0;
}

static void on_alarm(int sig)
{
    (void)sig;
    alarmed = 1;
}

int main(void)
{
    on_bestbuddy();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);

    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)i) == 0);

    for (int k = 0; k < NFORKS; k++) {
        /* allocate in the main thread right around the fork as well */
        void *p = malloc(100 + (size_t)k);
        CHECK(p != NULL);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            free(p);
            _exit(child_work(k));
        }
        free(p);
        alarmed = 0;
        alarm(CHILD_TIMEOUT);
        int status;
        pid_t w;
        do {
            w = waitpid(pid, &status, 0);
        } while (w < 0 && errno == EINTR && !alarmed);
        alarm(0);
        if (w != pid) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            CHECKF(0, "child %d (fork #%d) hung for %d s: allocator not fork-safe", (int)pid, k,
                   CHILD_TIMEOUT);
        }
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "child of fork #%d: %s %d", k, WIFEXITED(status) ? "exit status" : "killed by signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    stop = 1;
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    return 0;
}
