/* BESTBUDDY_TRACE and misuse: a program that the allocator stops with a double free still
 * leaves a whole trace (the trace ends before the abort), holding the calls that led to it,
 * the first free included: the misuse message sends the reader to the trace for that one.
 * The trace must hold the logged calls, in order, and `bestbuddy-trace check` must stop
 * at the second free, as a free of a block that is not live. */
#include "trace_common.h"

#include <signal.h>

static struct bb_log log_;

static int traced(void)
{
    const char *expected = getenv("BB_EXPECTED");
    CHECK(expected != NULL);
    void *keep = malloc(100);
    bb_log(&log_, "\"kind\":\"malloc\",\"size\":100,\"result\":\"%p\"", keep);
    void *p = malloc(40);
    bb_log(&log_, "\"kind\":\"malloc\",\"size\":40,\"result\":\"%p\"", p);
    free(p);
    bb_log(&log_, "\"kind\":\"free\",\"ptr\":\"%p\"", p);
    /* The log goes out before the misuse; the second free is traced as it is made. */
    bb_log(&log_, "\"kind\":\"free\",\"ptr\":\"%p\"", p);
    bb_log_save(&log_, expected);
    void *volatile again = p;
    free(again);
    return 0; /* not reached: the double free aborts */
}

int main(void)
{
    if (bb_trace_case() != NULL)
        return traced();
    if (!on_bestbuddy())
        return 0;
    char trace[256], expected[300], err[320], args[1200];
    bb_trace_path(trace, sizeof trace, "t_trace_abort");
    snprintf(expected, sizeof expected, "%s.expected", trace);
    snprintf(err, sizeof err, "%s.stderr", trace);
    unlink(expected);
    setenv("BB_EXPECTED", expected, 1);
    int status = bb_trace_rerun("abort", trace, err);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "traced run: status %d", status);
    FILE *f = fopen(err, "r");
    CHECK(f != NULL);
    char line[1024] = "";
    CHECK(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    CHECKF(strstr(line, "double free of") != NULL && strstr(line, "BESTBUDDY_TRACE") != NULL,
           "stderr: %s", line);
    /* The checker itself points at the second free: not a possible history. */
    snprintf(args, sizeof args, "misuse %s %s 'which is not live'", trace, expected);
    bb_trace_check(args);
    return 0;
}
