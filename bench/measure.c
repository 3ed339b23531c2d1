/* measure: run one command; report its wall time and peak RSS.
 *
 *   measure RESULT_FILE [NAME=VALUE ...] -- command [args...]
 *
 * Forks, sets the NAME=VALUE variables (e.g. LD_PRELOAD) in the child only,
 * execs the command and waits for it with wait4.  Writes one line
 * "wall_seconds maxrss_kib exit_code" to RESULT_FILE (exit_code is 128+N
 * for a death by signal N) and exits with the command's exit code.
 *
 * Why not measure from run.py directly: Linux carries a process's peak RSS
 * across exec, so a child forked from the Python harness would report at
 * least the harness's own RSS.  Forking from this small program keeps that
 * floor near a megabyte, and keeps LD_PRELOAD off everything
 * but the benchmarked command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int i = 2;
    if (argc < 4)
        goto usage;
    while (i < argc && strcmp(argv[i], "--") != 0) {
        if (!strchr(argv[i], '='))
            goto usage;
        i++;
    }
    if (i + 1 >= argc)
        goto usage;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 125;
    }
    if (pid == 0) {
        for (int j = 2; j < i; j++)
            putenv(argv[j]);
        execvp(argv[i + 1], argv + i + 1);
        fprintf(stderr, "measure: cannot run %s: %s\n", argv[i + 1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 125;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f || fprintf(f, "%.6f %ld %d\n", wall, ru.ru_maxrss, code) < 0 || fclose(f) != 0) {
        perror("measure: result file");
        return 125;
    }
    return code;

usage:
    fprintf(stderr, "usage: %s RESULT_FILE [NAME=VALUE ...] -- command [args...]\n", argv[0]);
    return 2;
}
