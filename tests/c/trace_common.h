/* Helpers of the trace tests (t_trace_*.c): each test runs itself again with
 * BESTBUDDY_TRACE set (so that the traced process starts with the variable, in static and
 * preload mode alike), then hands the trace to trace_check.py, which reads it with the
 * reader's CLI (out/bin/bestbuddy-trace, or $BB_TRACE_READER).
 *
 * The traced run logs what it expects to find, one JSON object a line, in the fields of
 * `bestbuddy-trace dump` ({"tid":N,"kind":"malloc","size":N,"result":"0x.."}), into a
 * static buffer per thread (no allocation between the calls it logs), written out at the
 * end with bb_log_save(). */
#ifndef BB_C_TESTS_TRACE_COMMON_H
#define BB_C_TESTS_TRACE_COMMON_H

#include "common.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define BB_LOG_BYTES (256 * 1024)

struct bb_log {
    char text[BB_LOG_BYTES];
    size_t len;
};

static inline int bb_gettid(void)
{
    return (int)syscall(SYS_gettid);
}

/* Appends one expected record of the calling thread: `fields` is the JSON after the tid,
 * e.g. "\"kind\":\"free\",\"ptr\":\"%p\"" (a %p of NULL is written as 0x0). */
static inline void bb_log(struct bb_log *log, const char *fields, ...)
{
    char tmp[512], line[600];
    va_list ap;
    va_start(ap, fields);
    vsnprintf(tmp, sizeof tmp, fields, ap);
    va_end(ap);
    /* glibc prints a null %p as "(nil)" */
    char *nil;
    while ((nil = strstr(tmp, "(nil)")) != NULL) {
        memcpy(nil, "0x0", 3);
        memmove(nil + 3, nil + 5, strlen(nil + 5) + 1);
    }
    int n = snprintf(line, sizeof line, "{\"tid\":%d,%s}\n", bb_gettid(), tmp);
    CHECK(n > 0 && log->len + (size_t)n < sizeof log->text);
    memcpy(log->text + log->len, line, (size_t)n);
    log->len += (size_t)n;
}

static inline void bb_log_save(const struct bb_log *log, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, log->text, log->len) == (ssize_t)log->len);
    close(fd);
}

/* The case this run is (BB_TRACE_CASE), or NULL in the first run, which starts the others. */
static inline const char *bb_trace_case(void)
{
    return getenv("BB_TRACE_CASE");
}

/* Runs this program again with BESTBUDDY_TRACE=trace and BB_TRACE_CASE=name, its stderr
 * in errpath (when not NULL). Returns its wait status. */
static inline int bb_trace_rerun(const char *name, const char *trace, const char *errpath)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("BESTBUDDY_TRACE", trace, 1);
        setenv("BB_TRACE_CASE", name, 1);
        if (errpath != NULL) {
            int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 2) < 0)
                _exit(126);
        }
        char *argv[] = {(char *)"traced", NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return status;
}

/* Runs tests/c/trace_check.py with `args`; fails the test unless it exits 0. */
static inline void bb_trace_check(const char *args)
{
    char dir[4096], cmd[8192];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/trace_check.py %s", dir, args);
    fflush(stdout);
    int rc = system(cmd);
    CHECKF(rc == 0, "%s: status %d", cmd, rc);
}

/* A fresh trace path in the working directory, for this test and mode. */
static inline void bb_trace_path(char *out, size_t size, const char *test)
{
    snprintf(out, size, "%s.%d.trace", test, (int)getpid());
    unlink(out);
}

/* The traced run of a test that logs what it expects: fresh paths for the trace and the
 * log (`trace`, `expected`), BB_EXPECTED set to the log's, then `name` run traced; fails the
 * test unless that run exits 0. */
static inline void bb_trace_run_logged(const char *test, const char *name, char *trace,
                                       size_t trace_size, char *expected, size_t expected_size)
{
    bb_trace_path(trace, trace_size, test);
    snprintf(expected, expected_size, "%s.expected", trace);
    unlink(expected);
    setenv("BB_EXPECTED", expected, 1);
    int status = bb_trace_rerun(name, trace, NULL);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "traced run: status %d", status);
}

#endif
