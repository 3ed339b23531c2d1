/* fork while stdio and the allocator are both busy in other threads.
 *
 * Three locks meet here: the allocator's own (its pthread_atfork prepare
 * handler takes them all), glibc's stdio list lock (fork takes it after the
 * prepare handlers have run; fflush(NULL) takes it and then each FILE's lock)
 * and the lock of one FILE (getline holds it while it reallocs its buffer).
 * An allocator whose prepare handler takes its locks before fork takes the
 * list lock closes a cycle:
 *     fork thread:   allocator locks -> stdio list lock
 *     fflush(NULL):  stdio list lock -> FILE lock
 *     getline:       FILE lock       -> allocator lock (realloc)
 * glibc's own malloc takes its locks after the list lock and never hangs.
 *
 * Shape: a temporary file holds one 50,000-byte line, opened once as one
 * shared FILE.  Six threads loop rewind + getline + free on it (a getline
 * that runs right after another thread's read sees EOF: both count); one of
 * them takes the FILE's lock with flockfile and sleeps PAUSE_NS before its
 * getline, as a reader preempted at that point would, so that the fflush and
 * fork threads line up behind it every time round rather than by chance.
 * One thread loops fflush(NULL), three threads loop fork(): the child _exits
 * at once, the parent waits for it.  It runs for RUN_NS or until MAX_FORKS
 * forks, whichever comes first.  A watchdog thread fails the test ("hang:")
 * when any of the three loops makes no progress for HANG_S seconds, or when
 * the threads do not finish within HANG_S seconds of being told to stop; it
 * reports with write(2) only (stdio may be what is stuck), kills any child
 * still running and _exits 1.  Prints the work done on success. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

enum { GETLINERS = 6, FORKERS = 3, LINE = 50000, MAX_FORKS = 600, HANG_S = 10 };
#define RUN_NS 2500000000L
#define PAUSE_NS 500000L

static FILE *shared;
static volatile int stop;
static unsigned long forks, getlines, full_lines, flushes; /* atomics */
static volatile pid_t child[FORKERS];                      /* running child, 0 if none */

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static unsigned long get(unsigned long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void bump(unsigned long *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void *getliner(void *arg)
{
    int me = (int)(uintptr_t)arg;
    while (!stop) {
        char *line = NULL;
        size_t n = 0;
        if (me == 0) {
            /* a reader preempted while it holds the FILE's lock: the window
             * in which the fflush and fork threads line up behind it */
            flockfile(shared);
            struct timespec pause = {0, PAUSE_NS};
            nanosleep(&pause, NULL);
        }
        rewind(shared);
        ssize_t got = getline(&line, &n, shared);
        if (me == 0)
            funlockfile(shared);
        /* getline holds the FILE's lock from start to end: it reads the
         * whole line or (after another thread's read) nothing */
        CHECKF(got == LINE + 1 || got == -1, "getline returned %zd", got);
        if (got > 0) {
            CHECKF(line[0] == 'a' && line[LINE - 1] == 'a' + (LINE - 1) % 26 &&
                       line[LINE] == '\n',
                   "getline read a wrong line");
            bump(&full_lines);
        }
        free(line);
        bump(&getlines);
    }
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!stop) {
        CHECK(fflush(NULL) == 0);
        bump(&flushes);
    }
    return NULL;
}

static void *forker(void *arg)
{
    int me = (int)(uintptr_t)arg;
    while (!stop && get(&forks) < MAX_FORKS) {
        pid_t pid = fork();
        CHECKF(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            _exit(0);
        child[me] = pid;
        int status;
        pid_t w;
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
        CHECKF(w == pid, "waitpid: %s", strerror(errno));
        child[me] = 0;
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %s %d",
               WIFEXITED(status) ? "exit status" : "killed by signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        bump(&forks);
    }
    return NULL;
}

static volatile int finished; /* set by main once every worker has been joined */
static volatile long stop_ns; /* when stop was set, 0 before */

static void hang(const char *what, const char *after)
{
    char msg[256];
    int len = snprintf(msg, sizeof msg,
                       "hang: %s %d s%s (%lu forks done, %lu getlines, %lu fflushes)\n", what,
                       HANG_S, after, get(&forks), get(&getlines), get(&flushes));
    if (len > 0)
        (void)!write(2, msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1);
    for (int i = 0; i < FORKERS; i++)
        if (child[i] > 0)
            kill(child[i], SIGKILL);
    _exit(1);
}

static void *watchdog(void *arg)
{
    (void)arg;
    unsigned long *counter[3] = {&forks, &getlines, &flushes};
    const char *name[3] = {"no fork completed in", "no getline completed in",
                            "no fflush completed in"};
    unsigned long last[3];
    long since[3];
    for (int i = 0; i < 3; i++) {
        last[i] = get(counter[i]);
        since[i] = now_ns();
    }
    while (!finished) {
        struct timespec pause = {0, 50000000L};
        nanosleep(&pause, NULL);
        long t = now_ns();
        if (stop) {
            if (t - stop_ns > HANG_S * 1000000000L)
                hang("threads still running", " after the end of the run");
            continue;
        }
        for (int i = 0; i < 3; i++) {
            unsigned long c = get(counter[i]);
            if (c != last[i]) {
                last[i] = c;
                since[i] = t;
            } else if (t - since[i] > HANG_S * 1000000000L) {
                hang(name[i], "");
            }
        }
    }
    return NULL;
}

int main(void)
{
    on_bestbuddy();

    char path[] = "t_fork_stdio.XXXXXX";
    int fd = mkstemp(path);
    CHECKF(fd >= 0, "mkstemp: %s", strerror(errno));
    CHECK(unlink(path) == 0); /* the open FILE keeps it */
    shared = fdopen(fd, "w+");
    CHECK(shared != NULL);
    for (int i = 0; i < LINE; i++)
        CHECK(fputc('a' + i % 26, shared) != EOF);
    CHECK(fputc('\n', shared) != EOF);
    CHECK(fflush(shared) == 0);

    long t0 = now_ns();
    pthread_t dog, th[GETLINERS + 1 + FORKERS];
    CHECK(pthread_create(&dog, NULL, watchdog, NULL) == 0);
    int k = 0;
    for (int i = 0; i < GETLINERS; i++)
        CHECK(pthread_create(&th[k++], NULL, getliner, (void *)(uintptr_t)i) == 0);
    CHECK(pthread_create(&th[k++], NULL, flusher, NULL) == 0);
    for (int i = 0; i < FORKERS; i++)
        CHECK(pthread_create(&th[k++], NULL, forker, (void *)(uintptr_t)i) == 0);

    while (now_ns() - t0 < RUN_NS && get(&forks) < MAX_FORKS) {
        struct timespec pause = {0, 10000000L};
        nanosleep(&pause, NULL);
    }
    stop_ns = now_ns();
    stop = 1;
    for (int i = 0; i < k; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    finished = 1;
    CHECK(pthread_join(dog, NULL) == 0);
    double secs = (double)(now_ns() - t0) / 1e9;

    CHECK(fclose(shared) == 0);
    printf("t_fork_stdio: %lu forks, %lu getlines (%lu full lines), %lu fflushes, %.2f s\n",
           forks, getlines, full_lines, flushes, secs);
    CHECK(forks > 0 && full_lines > 0 && flushes > 0);
    return 0;
}
