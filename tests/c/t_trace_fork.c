/* BESTBUDDY_TRACE in a fork child: the child writes TRACE.PID, which begins with a LIVE
 * record (usable size, block) for each block it inherited (small and large), then holds
 * its own calls; the parent's trace goes on as before. Both must be possible histories. */
#include "trace_common.h"

static struct bb_log parent_log, child_log;

static int traced(void)
{
    const char *trace = getenv("BESTBUDDY_TRACE");
    const char *expected = getenv("BB_EXPECTED");
    CHECK(trace != NULL && expected != NULL);
    void *a = malloc(3001);
    bb_log(&parent_log, "\"kind\":\"malloc\",\"size\":3001,\"result\":\"%p\"", a);
    void *b = malloc(3002);
    bb_log(&parent_log, "\"kind\":\"malloc\",\"size\":3002,\"result\":\"%p\"", b);
    void *c = malloc(6 * BB_MIB);
    bb_log(&parent_log, "\"kind\":\"malloc\",\"size\":%zu,\"result\":\"%p\"", 6 * BB_MIB, c);
    size_t ua = malloc_usable_size(a), ub = malloc_usable_size(b), uc = malloc_usable_size(c);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        bb_log(&child_log, "\"kind\":\"live\",\"size\":%zu,\"result\":\"%p\"", ua, a);
        bb_log(&child_log, "\"kind\":\"live\",\"size\":%zu,\"result\":\"%p\"", ub, b);
        bb_log(&child_log, "\"kind\":\"live\",\"size\":%zu,\"result\":\"%p\"", uc, c);
        free(a);
        bb_log(&child_log, "\"kind\":\"free\",\"ptr\":\"%p\"", a);
        void *d = malloc(3003);
        bb_log(&child_log, "\"kind\":\"malloc\",\"size\":3003,\"result\":\"%p\"", d);
        free(c);
        bb_log(&child_log, "\"kind\":\"free\",\"ptr\":\"%p\"", c);
        char path[512];
        snprintf(path, sizeof path, "%s.child", expected);
        bb_log_save(&child_log, path);
        exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s.pid", expected);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "%d\n", (int)pid);
    fclose(f);
    free(a);
    bb_log(&parent_log, "\"kind\":\"free\",\"ptr\":\"%p\"", a);
    free(b);
    bb_log(&parent_log, "\"kind\":\"free\",\"ptr\":\"%p\"", b);
    free(c);
    bb_log(&parent_log, "\"kind\":\"free\",\"ptr\":\"%p\"", c);
    bb_log_save(&parent_log, expected);
    return 0;
}

int main(void)
{
    if (bb_trace_case() != NULL)
        return traced();
    if (!on_bestbuddy())
        return 0;
    char trace[256], expected[300], path[400], args[1200];
    bb_trace_run_logged("t_trace_fork", "fork", trace, sizeof trace, expected, sizeof expected);
    snprintf(path, sizeof path, "%s.pid", expected);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int child = 0;
    CHECK(fscanf(f, "%d", &child) == 1);
    fclose(f);
    snprintf(args, sizeof args, "sequence %s %s", trace, expected);
    bb_trace_check(args);
    snprintf(args, sizeof args, "sequence %s.%d %s.child", trace, child, expected);
    bb_trace_check(args);
    return 0;
}
