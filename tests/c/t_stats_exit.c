/* BESTBUDDY_STATS=1 prints the statistics table on stderr when the process exits:
 *   - the table is there, with its rows, the calls and the heap walk's verdict "agrees";
 *   - the live blocks it shows are the blocks the program still holds, and the heap walk
 *     finds the same number held by the program;
 *   - unset or 0, nothing is printed; malloc_stats() prints the same table.
 * The program re-executes itself with each setting and reads what the child printed. */
#include "common.h"
#include <pthread.h>

#define KEPT 300

static void *churn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5000; i++)
        free(malloc(16 + i % 500));
    return NULL;
}

/* Holds KEPT blocks, a large one, and exits through exit(). */
static int child(void)
{
    static void *kept[KEPT];
    for (int i = 0; i < KEPT; i++)
        kept[i] = malloc(40 + i);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, churn, NULL) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    kept[0] = realloc(kept[0], 100000);
    void *big = malloc(6 * BB_MIB);
    CHECK(big != NULL);
    exit(0);
}

/* Runs this program as `mode` with BESTBUDDY_STATS=value (NULL: unset). */
static int run_child(const char *self, const char *mode, const char *value, char *err,
                     size_t cap)
{
    return bb_run_self(self, mode, "BESTBUDDY_STATS", value, err, cap);
}

/* The number after `label` in the table (digits and commas), or -1. */
static long number_after(const char *text, const char *label)
{
    const char *at = strstr(text, label);
    if (!at)
        return -1;
    at += strlen(label);
    while (*at == ' ')
        at++;
    long v = -1;
    for (; (*at >= '0' && *at <= '9') || *at == ','; at++)
        if (*at != ',')
            v = (v < 0 ? 0 : v * 10) + (*at - '0');
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    if (argc > 1 && strcmp(argv[1], "stats") == 0) {
        malloc_stats();
        return 0;
    }
    if (!on_bestbuddy()) {
        puts("glibc prints no statistics at exit: nothing to test");
        return 0;
    }
    static char err[16384];
    int status = run_child(argv[0], "child", "1", err, sizeof err);
    printf("child's stderr:\n%s\n", err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *rows[] = {"bestbuddy: statistics of process", "live blocks", "live bytes",
                          "heap mapped", "heap in use", "thread caches", "free in heap",
                          "largest free", "large blocks", "resident (RSS)",
                          "unmapped", "trimmed", "calls: malloc", "heap walk:"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        CHECKF(strstr(err, rows[i]) != NULL, "no \"%s\" in the table", rows[i]);
    CHECKF(strstr(err, "agrees with the counters") != NULL, "the heap walk disagrees");
    long live = number_after(err, "live blocks");
    long held = number_after(err, "the program holds");
    long large = number_after(err, "mapping");
    printf("live blocks %ld, held by the program per the walk %ld\n", live, held);
    /* KEPT blocks and the large one at least; stdio and the threads' leftovers a few more. */
    CHECKF(live >= KEPT + 1 && live < KEPT + 64, "live blocks %ld", live);
    /* The walk sees heap blocks only: the large block is the difference. */
    CHECKF(held == live - 2 || held == live - 1, "walk %ld, table %ld", held, live);
    (void)large;

    status = run_child(argv[0], "child", NULL, err, sizeof err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECKF(strstr(err, "statistics") == NULL, "printed without BESTBUDDY_STATS: %s", err);
    status = run_child(argv[0], "child", "0", err, sizeof err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECKF(strstr(err, "statistics") == NULL, "printed with BESTBUDDY_STATS=0: %s", err);

    status = run_child(argv[0], "stats", NULL, err, sizeof err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECKF(strstr(err, "heap walk:") != NULL && strstr(err, "agrees") != NULL,
           "malloc_stats printed: %s", err);
    return 0;
}
