/* BESTBUDDY_TRACE that cannot be written: a path in no directory, a file that cannot grow
 * (RLIMIT_FSIZE, as a full disk), something other than a regular file (a FIFO with no
 * reader, /dev/full: a pipe or FIFO would block the program or split its chunks), a
 * descriptor the program closed and reused for a file of its own. Each gives exactly one
 * warning naming the path and the reason, the program runs on and succeeds (never hangs),
 * and the program's own file never gets trace bytes. */
#include "trace_common.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void work(void)
{
    /* Enough records to fill a buffer, so that it is written out. */
    for (int i = 0; i < 40000; i++) {
        void *p = malloc((size_t)(i % 500) + 1);
        CHECK(p != NULL);
        free(p);
    }
}

static int traced(void)
{
    if (strcmp(bb_trace_case(), "reused") == 0) {
        void *p = malloc(10);
        free(p);
        for (int fd = 3; fd < 64; fd++)
            close(fd);
        const char *own = getenv("BB_OWN_FILE");
        int fd = open(own, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(fd >= 0);
        work();
        CHECK(write(fd, "mine\n", 5) == 5);
        close(fd);
        return 0;
    }
    work();
    return 0;
}

/* The "toolarge" case: the trace file may not grow past 4 KiB, as if the disk were full:
 * the chunk that reaches the limit is written in part (SIGXFSZ ignored). Set before the
 * program's first call, so before the trace starts. */
__attribute__((constructor)) static void limit_file_size(void)
{
    const char *c = getenv("BB_TRACE_CASE");
    if (c != NULL && strcmp(c, "toolarge") == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit r = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &r);
    }
}

/* Runs case `name` traced into `trace`; its stderr must be exactly `want`. */
static void expect_warning(const char *name, const char *trace, const char *want)
{
    char err[300];
    snprintf(err, sizeof err, "t_trace_errors.%d.%s.err", (int)getpid(), name);
    int status = bb_trace_rerun(name, trace, err);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d", name, status);
    char got[4096] = {0};
    FILE *f = fopen(err, "r");
    CHECK(f != NULL);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    CHECKF(strcmp(got, want) == 0, "%s: stderr is \"%s\", expected \"%s\"", name, got, want);
}

int main(void)
{
    if (bb_trace_case() != NULL)
        return traced();
    if (!on_bestbuddy())
        return 0;
    char want[1024], trace[256], own[256];
    expect_warning("nodir", "/nonexistent-bestbuddy-dir/x.trace",
                   "bestbuddy: BESTBUDDY_TRACE: /nonexistent-bestbuddy-dir/x.trace: No such "
                   "file or directory; tracing stopped\n");
    if (access("/dev/full", W_OK) == 0)
        expect_warning("full", "/dev/full",
                       "bestbuddy: BESTBUDDY_TRACE: /dev/full: not a regular file (a pipe, FIFO "
                       "or terminal would block the program or split its chunks); tracing "
                       "stopped\n");
    char fifo[256];
    snprintf(fifo, sizeof fifo, "t_trace_errors.%d.fifo", (int)getpid());
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    snprintf(want, sizeof want,
             "bestbuddy: BESTBUDDY_TRACE: %s: not a regular file (a pipe, FIFO or terminal "
             "would block the program or split its chunks); tracing stopped\n",
             fifo);
    expect_warning("fifo", fifo, want);
    unlink(fifo);
    bb_trace_path(trace, sizeof trace, "t_trace_errors");
    snprintf(want, sizeof want,
             "bestbuddy: BESTBUDDY_TRACE: %s: short write (disk full?); tracing stopped\n",
             trace);
    expect_warning("toolarge", trace, want);
    bb_trace_path(trace, sizeof trace, "t_trace_errors");
    snprintf(own, sizeof own, "%s.own", trace);
    setenv("BB_OWN_FILE", own, 1);
    snprintf(want, sizeof want,
             "bestbuddy: BESTBUDDY_TRACE: %s: the program closed or replaced the trace's "
             "file descriptor; tracing stopped\n",
             trace);
    expect_warning("reused", trace, want);
    FILE *f = fopen(own, "r");
    CHECK(f != NULL);
    char got[64] = {0};
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    CHECKF(n == 5 && memcmp(got, "mine\n", 5) == 0, "the program's file holds %zu bytes", n);
    return 0;
}
