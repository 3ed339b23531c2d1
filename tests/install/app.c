/* A user's program, built and run against an installed bestbuddy (tests/install/run.sh).
 *
 *   app HEAP MODE [LIBRARY]
 *
 * HEAP is what bestbuddy_backend() must say ("best-fit", "buddy"). MODE says how the
 * program got bestbuddy, and so what /proc/self/maps must show:
 *   shared    linked with -lbestbuddy[-buddy]: LIBRARY (the installed file) is mapped;
 *   static    linked with the archive (cc -static): no bestbuddy library is mapped at all;
 *   preload   built with libc alone (-DBB_PRELOADED) and started by the installed
 *             `bestbuddy run`: LIBRARY is mapped, and the two functions of bestbuddy.h are
 *             found with dlsym, as a program that does not know about bestbuddy would.
 * In every mode, the malloc this program calls must be bestbuddy's: its call counter and
 * live bytes (bestbuddy_stats_get) move by one call and at least 1000 bytes.
 * Built with -fno-builtin, or gcc could drop the malloc/free pair. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bestbuddy.h>

#ifdef BB_PRELOADED
#define CALL(f) ((__typeof__(&f))dlsym(RTLD_DEFAULT, #f))
#else
#define CALL(f) (&f)
#endif

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "app: FAIL: %s\n", what);
        failures++;
    }
}

/* Is a file whose path ends with `suffix` (or contains "libbestbuddy", suffix NULL) mapped? */
static int mapped(const char *suffix) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    if (!f) {
        perror("app: /proc/self/maps");
        exit(2);
    }
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, "\n")] = 0;
        if (suffix ? strcmp(path, suffix) == 0 : strstr(path, "libbestbuddy") != NULL)
            found = 1;
    }
    fclose(f);
    return found;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "static") != 0 && argc < 4)) {
        fprintf(stderr, "usage: app HEAP shared|static|preload [LIBRARY]\n");
        return 2;
    }
    const char *heap = argv[1], *mode = argv[2], *library = argc > 3 ? argv[3] : NULL;

    const char *(*backend)(void) = CALL(bestbuddy_backend);
    int (*stats_get)(struct bestbuddy_stats *, size_t) = CALL(bestbuddy_stats_get);
    if (!backend || !stats_get) {
        fprintf(stderr, "app: FAIL: bestbuddy_backend or bestbuddy_stats_get not found\n");
        return 1;
    }
    check(strcmp(backend(), heap) == 0, "bestbuddy_backend() names the expected heap");

    struct bestbuddy_stats before, after;
    check(stats_get(&before, sizeof before) == 0, "bestbuddy_stats_get succeeds");
    char *p = malloc(1000);
    check(p != NULL, "malloc(1000)");
    memset(p, 0x5a, 1000);
    check(stats_get(&after, sizeof after) == 0, "bestbuddy_stats_get succeeds again");
    check(after.calls_malloc == before.calls_malloc + 1, "malloc is bestbuddy's: calls_malloc + 1");
    check(after.live_bytes >= before.live_bytes + 1000, "malloc is bestbuddy's: live_bytes + 1000");
    free(p);

    if (strcmp(mode, "static") == 0)
        check(!mapped(NULL), "no libbestbuddy mapped in a static program");
    else
        check(mapped(library), "the installed library is mapped");

    if (failures)
        return 1;
    printf("app: %s %s: on bestbuddy's %s heap\n", heap, mode, backend());
    return 0;
}
