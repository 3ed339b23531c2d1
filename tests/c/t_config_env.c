/* Configuration from the environment, read once at start-up (src/options.rs): each key of
 * BESTBUDDY_OPTIONS and each glibc-named variable changes what it says, BESTBUDDY_OPTIONS wins
 * over the glibc variable, BESTBUDDY_VERBOSE prints the settings in force, and a bad option
 * or value is named once and ignored while the program runs on.
 *
 *   arena_max, MALLOC_ARENA_MAX          four threads allocating at once share that many heaps
 *                                        (malloc_info's <heap> lines); without, more than one
 *   mmap_threshold, MALLOC_MMAP_THRESHOLD_   64 KiB: a 100 KiB malloc is a mapping of its own
 *   mmap_max, MALLOC_MMAP_MAX_           0: it is not, whatever the threshold
 *   perturb, MALLOC_PERTURB_             new blocks read ~N, freed ones N
 *   top_pad, MALLOC_TOP_PAD_             12 MiB of heap stay mapped once 40 MiB are freed
 *   trim_threshold, MALLOC_TRIM_THRESHOLD_   0: no wholly free region stays (keepcost 0);
 *                                        16m: 16 MiB stay
 *   tcache=0, tcache_bytes=N             no cache hits (even after mallopt(M_PERTURB, 0));
 *                                        a bin of 64-byte blocks holds at most 4 * N / 64
 *                                        of them (its grown bound), fewer than by default
 *
 * The program re-executes itself with each environment; a child prints what it measured on
 * stderr as "value N" lines, which the parent checks. On glibc's malloc (validation mode)
 * there is nothing to check: glibc reads its variables differently. */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>
#include <sys/wait.h>

#pragma weak bestbuddy_stats_get

/* ------------------------------------------------------------------ children */

enum { THREADS = 4, SMALL = 64, SMALLS = 300 };

/* How many heaps malloc_info lists while THREADS threads hold blocks. */
static long child_arenas(void)
{
    return bb_heaps_in_use(THREADS);
}

/* 1 if a 100 KiB malloc got a mapping of its own. */
static long child_mapped(void)
{
    size_t before = mallinfo2().hblks;
    char *p = malloc(100 * 1024);
    CHECK(p != NULL);
    memset(p, 1, 100 * 1024);
    long mapped = (long)(mallinfo2().hblks - before);
    free(p);
    return mapped;
}

/* New blocks of every size read ~byte; the middle of a freed small block reads byte. */
static long child_perturb(unsigned char byte)
{
    for (size_t size = 16; size <= ((size_t)4 << 20); size *= 4) {
        unsigned char *p = malloc(size);
        CHECK(p);
        CHECKF(bb_all_bytes(p, size, (unsigned char)~byte), "malloc(%zu) not filled", size);
        free(p);
        if (size >= 64 && size <= 4096)
            CHECKF(bb_all_bytes(p + 32, size - 48, byte), "free of %zu bytes not filled", size);
    }
    return 0;
}

/* Heap bytes mapped once a burst of blocks was allocated and all freed (bb_arena_after_churn);
 * the free memory kept (keepcost) as a second value. */
static long child_churn(void)
{
    long arena = (long)bb_arena_after_churn();
    fprintf(stderr, "keep %zu\n", mallinfo2().keepcost);
    return arena;
}

static struct bestbuddy_stats stats(void)
{
    struct bestbuddy_stats s;
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s;
}

/* Blocks this thread's cache holds once it was emptied (malloc_trim drains it) and then
 * took SMALLS frees of SMALL-byte blocks; its cache hits as a second value. */
static long child_cache(void)
{
    static void *p[SMALLS];
    /* Perturbing off, as it is: caches that tcache=0 turned off stay off. */
    CHECK(mallopt(M_PERTURB, 0) == 1);
    for (int r = 0; r < 10; r++) {
        for (int i = 0; i < SMALLS; i++) {
            p[i] = malloc(SMALL);
            CHECK(p[i] != NULL);
        }
        if (r == 9)
            malloc_trim(0);
        for (int i = 0; i < SMALLS; i++)
            free(p[i]);
    }
    struct bestbuddy_stats s = stats();
    fprintf(stderr, "hits %llu\n", (unsigned long long)s.cache_hits);
    return (long)s.cached_blocks;
}

/* ------------------------------------------------------------------ parent */

static const char *const config_vars[] = {
    "BESTBUDDY_OPTIONS", "BESTBUDDY_VERBOSE", "BESTBUDDY_STATS", "BESTBUDDY_TRACE",
    "MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_",
    "MALLOC_PERTURB_", "MALLOC_TRIM_THRESHOLD_", NULL,
};

static char self[4096];
static char err[1 << 16];

/* The child's environment: every one of config_vars unset, then the NULL-terminated
 * "NAME=value" strings `ctx` set. */
static void only_these_vars(const void *ctx)
{
    const char *const *env = ctx;
    for (int i = 0; config_vars[i]; i++)
        unsetenv(config_vars[i]);
    for (int i = 0; env[i]; i++)
        putenv((char *)env[i]);
}

/* Runs `self mode arg` with only the configuration variables of `env` (NULL-terminated
 * "NAME=value" strings; every other one of config_vars unset); returns its wait status,
 * and its stderr in err. */
static int run_env(const char *mode, const char *arg, const char *const *env)
{
    return bb_run_self_with(self, mode, arg, only_these_vars, env, err, sizeof err);
}

/* The figure after `label ` at the start of a line of the child's stderr. */
static long figure(const char *label)
{
    char key[32];
    snprintf(key, sizeof key, "%s ", label);
    const char *at = err;
    while ((at = strstr(at, key)) != NULL && at != err && at[-1] != '\n')
        at++;
    CHECKF(at != NULL, "no \"%s\" line from the child; its stderr: %s", label, err);
    return strtol(at + strlen(key), NULL, 10);
}

/* Runs a child, which must exit 0; returns its "value". */
#define MEASURE(mode, arg, ...)                                                            \
    ({                                                                                     \
        const char *const env_[] = {__VA_ARGS__, NULL};                                    \
        int status_ = run_env(mode, arg, env_);                                            \
        CHECKF(WIFEXITED(status_) && WEXITSTATUS(status_) == 0,                            \
               "%s child with %s: status %d, stderr: %s", mode, env_[0] ? env_[0] : "-", \
               status_, err);                                                              \
        figure("value");                                                                   \
    })

static int count(const char *needle)
{
    int n = 0;
    for (const char *s = err; (s = strstr(s, needle)) != NULL; s++)
        n++;
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        long value = 0;
        if (strcmp(argv[1], "arenas") == 0)
            value = child_arenas();
        else if (strcmp(argv[1], "mapped") == 0)
            value = child_mapped();
        else if (strcmp(argv[1], "perturb") == 0)
            value = child_perturb((unsigned char)atoi(argv[2]));
        else if (strcmp(argv[1], "churn") == 0)
            value = child_churn();
        else if (strcmp(argv[1], "cache") == 0)
            value = child_cache();
        fprintf(stderr, "value %ld\n", value);
        return 0;
    }
    if (!on_bestbuddy())
        return 0;
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = '\0';
    const long MiB = 1 << 20;
    long v;

    /* Arenas. */
    v = MEASURE("arenas", "", NULL);
    CHECKF(v > 1, "no limit: %d threads allocating at once shared %ld heap", THREADS, v);
    v = MEASURE("arenas", "", "MALLOC_ARENA_MAX=1");
    CHECKF(v == 1, "MALLOC_ARENA_MAX=1: %ld heaps", v);
    v = MEASURE("arenas", "", "BESTBUDDY_OPTIONS=arena_max=1");
    CHECKF(v == 1, "arena_max=1: %ld heaps", v);
    v = MEASURE("arenas", "", "BESTBUDDY_OPTIONS=arena_max=2");
    CHECKF(v >= 1 && v <= 2, "arena_max=2: %ld heaps", v);
    v = MEASURE("arenas", "", "MALLOC_ARENA_MAX=1", "BESTBUDDY_OPTIONS=arena_max=16");
    CHECKF(v > 1, "arena_max=16 must win over MALLOC_ARENA_MAX=1: %ld heap", v);

    /* mmap threshold and mmap max. */
    v = MEASURE("mapped", "", NULL);
    CHECKF(v == 0, "by default a 100 KiB block is mapped");
    v = MEASURE("mapped", "", "MALLOC_MMAP_THRESHOLD_=65536");
    CHECKF(v == 1, "MALLOC_MMAP_THRESHOLD_=65536: a 100 KiB block is not mapped");
    v = MEASURE("mapped", "", "BESTBUDDY_OPTIONS=mmap_threshold=64k");
    CHECKF(v == 1, "mmap_threshold=64k: a 100 KiB block is not mapped");
    v = MEASURE("mapped", "", "MALLOC_MMAP_THRESHOLD_=65536", "BESTBUDDY_OPTIONS=mmap_threshold=1m");
    CHECKF(v == 0, "mmap_threshold=1m must win over MALLOC_MMAP_THRESHOLD_=65536");
    v = MEASURE("mapped", "", "MALLOC_MMAP_THRESHOLD_=65536", "MALLOC_MMAP_MAX_=0");
    CHECKF(v == 0, "MALLOC_MMAP_MAX_=0: a 100 KiB block is mapped");
    v = MEASURE("mapped", "", "BESTBUDDY_OPTIONS=mmap_threshold=64K,mmap_max=0");
    CHECKF(v == 0, "mmap_max=0: a 100 KiB block is mapped");

    /* Perturb (the child checks the bytes). */
    MEASURE("perturb", "33", "MALLOC_PERTURB_=33");
    MEASURE("perturb", "33", "MALLOC_PERTURB_=289"); /* the low byte, as glibc */
    MEASURE("perturb", "200", "BESTBUDDY_OPTIONS=perturb=200");
    MEASURE("perturb", "200", "MALLOC_PERTURB_=33", "BESTBUDDY_OPTIONS=perturb=200");
    MEASURE("perturb", "85", "BESTBUDDY_OPTIONS=junk=1");

    /* Top pad and trim threshold. */
    long plain = MEASURE("churn", "", NULL);
    long keep = figure("keep");
    CHECKF(plain < 12 * MiB, "by default %ld KiB stayed mapped", plain >> 10);
    CHECKF(keep > 0, "by default no free region stays mapped");
    v = MEASURE("churn", "", "MALLOC_TOP_PAD_=12582912");
    CHECKF(v >= 12 * MiB, "MALLOC_TOP_PAD_=12M: only %ld KiB stayed mapped", v >> 10);
    v = MEASURE("churn", "", "BESTBUDDY_OPTIONS=top_pad=12m");
    CHECKF(v >= 12 * MiB, "top_pad=12m: only %ld KiB stayed mapped", v >> 10);
    v = MEASURE("churn", "", "MALLOC_TRIM_THRESHOLD_=0");
    CHECKF(figure("keep") == 0, "MALLOC_TRIM_THRESHOLD_=0: %ld bytes kept", figure("keep"));
    v = MEASURE("churn", "", "BESTBUDDY_OPTIONS=trim_threshold=16m");
    CHECKF(v >= 16 * MiB, "trim_threshold=16m: only %ld KiB stayed mapped", v >> 10);

    /* Thread caches. */
    long cached = MEASURE("cache", "", NULL);
    CHECKF(cached > 0 && figure("hits") > 0, "by default the cache holds %ld blocks, hit %ld",
           cached, figure("hits"));
    v = MEASURE("cache", "", "BESTBUDDY_OPTIONS=tcache=0");
    CHECKF(v == 0 && figure("hits") == 0, "tcache=0: %ld cached, %ld hits", v, figure("hits"));
    v = MEASURE("cache", "", "BESTBUDDY_OPTIONS=tcache_bytes=0");
    CHECKF(v == 0 && figure("hits") == 0, "tcache_bytes=0: %ld cached, %ld hits", v,
           figure("hits"));
    v = MEASURE("cache", "", "BESTBUDDY_OPTIONS=tcache_bytes=512");
    CHECKF(v > 0 && v <= 4 * 512 / SMALL && v < cached,
           "tcache_bytes=512: the cache holds %ld blocks, by default %ld", v, cached);

    /* Verbose: every setting, one line each, saying where it came from. */
    MEASURE("mapped", "", NULL);
    CHECKF(strstr(err, "settings") == NULL, "settings printed unasked: %s", err);
    MEASURE("mapped", "", "BESTBUDDY_VERBOSE=1", "MALLOC_MMAP_THRESHOLD_=65536",
            "BESTBUDDY_OPTIONS=arena_max=1,tcache_bytes=16k,trim_delay_ms=5");
    CHECKF(count("bestbuddy: settings in force, ") == 1, "no heading: %s", err);
    const char *lines[] = {
        "bestbuddy:   arena_max=1 (BESTBUDDY_OPTIONS)\n",
        "bestbuddy:   tcache_bytes=16384 (BESTBUDDY_OPTIONS)\n",
        "bestbuddy:   trim_delay_ms=5 (BESTBUDDY_OPTIONS)\n",
        "bestbuddy:   mmap_threshold=65536 (MALLOC_MMAP_THRESHOLD_)\n",
        "bestbuddy:   mmap_max=65536 (default)\n",
        "bestbuddy:   top_pad=0 (default)\n",
        "bestbuddy:   trim_threshold=",
        "bestbuddy:   perturb=0 (default)\n",
        "bestbuddy:   check=0 (default: never)\n",
        "bestbuddy:   stats=0 (default)\n",
        "bestbuddy:   trace=off",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        CHECKF(count(lines[i]) == 1, "verbose: not once: %s in: %s", lines[i], err);
    MEASURE("mapped", "", "BESTBUDDY_OPTIONS=verbose=1,perturb=7");
    CHECKF(count("bestbuddy:   perturb=7 (BESTBUDDY_OPTIONS)\n") == 1, "verbose=1: %s", err);

    /* A bad option or value: named once, ignored, the rest applies, the program runs on. */
    v = MEASURE("mapped", "", "BESTBUDDY_OPTIONS=foo,mmap_threshold=x,mmap_threshold=64k,perturb=256");
    CHECKF(v == 1, "the good mmap_threshold after a bad one was not applied");
    CHECKF(count("bestbuddy: BESTBUDDY_OPTIONS: unknown option 'foo' ignored\n") == 1 &&
               count("bestbuddy: BESTBUDDY_OPTIONS: bad value 'x' for mmap_threshold ignored\n") == 1 &&
               count("bestbuddy: BESTBUDDY_OPTIONS: bad value '256' for perturb ignored\n") == 1 &&
               count("bestbuddy: ") == 3,
           "bad options: stderr was: %s", err);
    v = MEASURE("arenas", "", "MALLOC_ARENA_MAX=0", "MALLOC_MMAP_THRESHOLD_=lots");
    CHECKF(v > 1, "MALLOC_ARENA_MAX=0 is ignored, as glibc does: %ld heap", v);
    CHECKF(count("bestbuddy: MALLOC_ARENA_MAX: bad value '0' ignored\n") == 1 &&
               count("bestbuddy: MALLOC_MMAP_THRESHOLD_: bad value 'lots' ignored\n") == 1 &&
               count("bestbuddy: ") == 2,
           "bad glibc variables: stderr was: %s", err);
    return 0;
}
