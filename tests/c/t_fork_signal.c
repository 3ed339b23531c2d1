/* fork from a signal handler that interrupted malloc, in a single-threaded
 * program.
 *
 * glibc's fork takes none of its own malloc's locks when the process has
 * only one thread: no other thread can hold them, and a handler that
 * interrupted this thread's malloc would wait forever for a lock its own
 * thread holds (POSIX lets a handler fork; the child may then only call
 * async-signal-safe functions, which malloc is not).  An allocator whose
 * pthread_atfork prepare handler takes its locks regardless deadlocks here
 * the first time the signal lands inside its locked region.
 *
 * Shape: one thread only.  setitimer(ITIMER_REAL) raises SIGALRM every
 * TICK_US; the handler forks, the child _exits 0 at once and the handler
 * waits for it (errno preserved).  Meanwhile the main loop replaces random
 * blocks of 1,009 slots: free(slot[i]); slot[i] = malloc(0..70,000 bytes).
 * A signal that finds no allocator call done since the last fork returns at
 * once: a fork and wait can take longer than a tick, and without this the
 * handler would run back to back and the main loop, whose malloc calls are
 * the point, would never run.  The test ends after FORKS forks.
 *
 * A hang cannot be caught by a thread (the program must stay
 * single-threaded: glibc's single-thread fork path is what is tested), nor
 * by the main loop (a hang inside malloc never returns to it).  A second
 * POSIX timer (timer_create, SIGEV_SIGNAL: no thread) raises SIGUSR1
 * HANG_S seconds after the last completed fork; its handler, which can
 * interrupt the SIGALRM handler, writes "hang: ..." with write(2), kills a
 * child left running and _exits 1.  The main loop re-arms it whenever forks
 * were done.  Bounded besides: at most MAX_S seconds in all. */
#include "common.h"
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

enum { SLOTS = 1009, MAX_SIZE = 70000, FORKS = 2000, TICK_US = 200, HANG_S = 10, MAX_S = 30 };

static void *slot[SLOTS];
static volatile unsigned long ops;          /* allocator calls done by the main loop */
static volatile unsigned long ops_at_fork;  /* `ops` when the handler last forked */
static volatile unsigned long forks;        /* forks done and waited for */
static volatile unsigned long skipped;      /* signals that found no new allocator call */
static volatile unsigned long fork_failed;  /* fork returned -1 (errno in fork_errno) */
static volatile int fork_errno;
static volatile unsigned long bad_children; /* children that did not exit 0 */
static volatile int bad_status;
static volatile pid_t child; /* running child, 0 if none */

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    if (ops == ops_at_fork) {
        skipped++;
        errno = saved;
        return;
    }
    ops_at_fork = ops;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        fork_failed++;
        fork_errno = errno;
        errno = saved;
        return;
    }
    child = pid;
    int status;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    child = 0;
    if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        bad_children++;
        bad_status = w != pid ? -1 : status;
    }
    forks++;
    errno = saved;
}

static void on_hang(int sig)
{
    (void)sig;
    char msg[200];
    int len = snprintf(msg, sizeof msg,
                       "hang: no fork completed for %d s (%lu forks done, %lu allocator calls)\n",
                       HANG_S, forks, ops);
    if (len > 0)
        (void)!write(2, msg, (size_t)len < sizeof msg ? (size_t)len : sizeof msg - 1);
    if (child > 0)
        kill(child, SIGKILL);
    _exit(1);
}

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void arm(timer_t t, long seconds)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = seconds;
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
}

int main(void)
{
    on_bestbuddy();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGALRM); /* no fork in the middle of the report */
    sa.sa_handler = on_hang;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART; /* SIGUSR1 stays unblocked in it: the watchdog can interrupt */
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);

    timer_t watchdog;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &watchdog) == 0);
    arm(watchdog, HANG_S);

    uint64_t rng = 0x2545f4914f6cdd1dull;
    long t0 = now_ns();
    struct itimerval tick = {{0, TICK_US}, {0, TICK_US}};
    CHECK(setitimer(ITIMER_REAL, &tick, NULL) == 0);

    unsigned long seen = 0;
    while (forks < FORKS) {
        uint64_t r = bb_rand(&rng);
        size_t i = (size_t)(r % SLOTS);
        free(slot[i]);
        slot[i] = NULL;
        ops++;
        size_t n = (size_t)((r >> 16) % (MAX_SIZE + 1));
        unsigned char *p = malloc(n);
        CHECKF(p != NULL || n == 0, "malloc(%zu) failed", n);
        if (p != NULL && n > 0)
            p[0] = p[n - 1] = (unsigned char)i;
        slot[i] = p;
        ops++;
        if ((ops & 1023) == 0) {
            unsigned long f = forks;
            if (f != seen) {
                seen = f;
                arm(watchdog, HANG_S);
            }
            CHECKF(now_ns() - t0 < MAX_S * 1000000000L,
                   "only %lu of %d forks in %d s (%lu allocator calls)", f, FORKS, MAX_S, ops);
        }
    }

    struct itimerval off;
    memset(&off, 0, sizeof off);
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
    arm(watchdog, 0);
    CHECK(timer_delete(watchdog) == 0);
    double secs = (double)(now_ns() - t0) / 1e9;

    CHECKF(fork_failed == 0, "fork failed %lu times: %s", fork_failed, strerror(fork_errno));
    CHECKF(bad_children == 0, "%lu children did not exit 0 (status %d)", bad_children,
           bad_status);
    for (size_t i = 0; i < SLOTS; i++) {
        unsigned char *p = slot[i];
        CHECK(p == NULL || p[0] == (unsigned char)i);
        free(p);
    }
    /* the allocator still works after all that */
    for (int k = 0; k < 1000; k++) {
        void *p = malloc((size_t)k * 67 + 1);
        CHECK(p != NULL);
        free(p);
    }
    printf("t_fork_signal: %lu forks, %lu allocator calls, %lu ticks skipped, %.2f s\n", forks,
           ops, skipped, secs);
    return 0;
}
