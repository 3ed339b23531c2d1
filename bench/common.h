/* Shared helpers for the bestbuddy benchmark programs.
 *
 * Every program is deterministic: all choices come from a seeded splitmix64
 * generator (one stream per thread), so every allocator sees exactly the same
 * sequence of malloc/free/realloc calls and sizes, and every run prints the
 * same "checksum" line.  run.py compares that line against the glibc run.
 *
 * Common command-line options (parsed by bench_args):
 *   --scale F     multiply the default amount of work by F (default 1.0)
 *   --threads N   number of worker threads, for programs that have them
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench_opts {
    double scale;
    int threads;
};

static inline void bench_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--scale F] [--threads N]\n", prog);
    exit(2);
}

static inline struct bench_opts bench_args(int argc, char **argv, int default_threads)
{
    struct bench_opts o = { 1.0, default_threads };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            o.scale = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            o.threads = atoi(argv[++i]);
        } else {
            bench_usage(argv[0]);
        }
    }
    if (!(o.scale > 0.0) || o.threads < 1 || o.threads > 256)
        bench_usage(argv[0]);
    return o;
}

/* Scaled count, never below 1. */
static inline long scaled(long base, double scale)
{
    double v = (double)base * scale;
    return v < 1.0 ? 1 : (long)v;
}

/* splitmix64: tiny, fast, good enough for choosing sizes and slots. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without division (Lemire's multiply-shift). */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)rng_below(s, (uint64_t)(hi - lo + 1));
}

/* Roughly log-uniform in [lo, hi]: pick a power-of-two band uniformly, then a
 * uniform size inside the band.  Small sizes are as likely as large bands. */
static inline size_t rng_logsize(uint64_t *s, size_t lo, size_t hi)
{
    int blo = 63 - __builtin_clzll((unsigned long long)lo);
    int bhi = 63 - __builtin_clzll((unsigned long long)hi);
    int b = blo + (int)rng_below(s, (uint64_t)(bhi - blo + 1));
    size_t a = (size_t)1 << b, z = ((size_t)2 << b) - 1;
    if (a < lo) a = lo;
    if (z > hi) z = hi;
    return rng_range(s, a, z);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        abort();
    }
    return p;
}

static inline void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (!p) {
        fprintf(stderr, "realloc(%zu) failed\n", n);
        abort();
    }
    return p;
}

/* Write one byte in every 64-byte line of a fresh block, plus its last byte,
 * the way a program initialising a struct or buffer would. */
static inline void touch_lines(unsigned char *p, size_t n, unsigned char tag)
{
    for (size_t i = 0; i < n; i += 64)
        p[i] = tag;
    p[n - 1] = tag;
}

/* Read back what touch_lines wrote (first and last byte); abort on damage. */
static inline unsigned check_lines(const unsigned char *p, size_t n, unsigned char tag)
{
    if (p[0] != tag || p[n - 1] != tag) {
        fprintf(stderr, "block %p (%zu bytes) corrupted\n", (const void *)p, n);
        abort();
    }
    return (unsigned)p[0] + p[n - 1];
}

/* Current resident set size in bytes, from /proc/self/statm (0 if unknown). */
static inline size_t current_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* A stamped block: the word at p holds (tag << 32 | n), and the last byte
 * (past the word) a byte derived from the tag.  Two stores and, on the free
 * side, two loads: a block is checked without the program touching every line,
 * so that the allocator's own cache misses are not drowned in the program's
 * (touch_lines does that, for churn).  A program that links blocks into lists
 * stamps p + 8, leaving the first word for the link.  n >= 8. */
static inline unsigned char tag_byte(uint64_t tag)
{
    return (unsigned char)(tag ^ (tag >> 8) ^ 0x5a);
}

static inline uint64_t stamp_block(unsigned char *p, size_t n, uint32_t tag)
{
    uint64_t stamp = ((uint64_t)tag << 32) | (uint64_t)n;
    memcpy(p, &stamp, 8);
    if (n > 8)
        p[n - 1] = tag_byte(tag);
    return stamp;
}

/* Check what stamp_block wrote, with the size taken from the stamp and bounded
 * by [8, max]; abort with the program's name on damage.  Returns the stamp,
 * for the program's checksum. */
static inline uint64_t check_stamp(const unsigned char *p, size_t max, const char *who)
{
    uint64_t stamp;
    memcpy(&stamp, p, 8);
    size_t n = (size_t)(uint32_t)stamp;
    if (n < 8 || n > max || (n > 8 && p[n - 1] != tag_byte(stamp >> 32))) {
        fprintf(stderr, "%s: block %p corrupted (stamp %016llx)\n", who, (const void *)p,
                (unsigned long long)stamp);
        abort();
    }
    return stamp;
}

/* Start n threads running fn(arg + i * size) and join them all. */
static inline void run_threads(int n, void *(*fn)(void *), void *arg, size_t size)
{
    pthread_t *tid = xmalloc((size_t)n * sizeof *tid);
    for (int i = 0; i < n; i++)
        if (pthread_create(&tid[i], NULL, fn, (char *)arg + (size_t)i * size) != 0) {
            perror("pthread_create");
            exit(1);
        }
    for (int i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    free(tid);
}

/* Peak resident set size in KiB, VmHWM from /proc/self/status (0 if unknown). */
static inline long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

#endif
