/* BESTBUDDY_TRACE that cannot be written: a path in no directory, a full disk
 * (/dev/full), a descriptor the program closed and reused for a file of its own. Each
 * gives exactly one warning naming the path and the reason, the program runs on and
 * succeeds, and the program's own file never gets trace bytes. */
#include "trace_common.h"

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
                       "bestbuddy: BESTBUDDY_TRACE: /dev/full: No space left on device; "
                       "tracing stopped\n");
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
