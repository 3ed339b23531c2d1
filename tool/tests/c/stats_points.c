/* A known sequence of malloc-family calls, recorded under BESTBUDDY_TRACE by the tool's
 * test `replay_matches_the_librarys_own_live_bytes` (tool/src/tests.rs). Before each point
 * it calls free(NULL), the marker the replay stops at (recorded, and it changes nothing),
 * then prints one line: the library's own live_bytes (bestbuddy_stats_get), or -1 on a
 * library without it; and the usable bytes of the program's own blocks by
 * malloc_usable_size (a block above best fit's 1 MiB counted with the 64 bytes of its
 * mapping before it, as live_bytes counts a large block's whole mapping). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The first two fields of struct bestbuddy_stats (include/bestbuddy.h): the library fills as
 * many bytes as it is asked for. */
struct live { uint64_t live_blocks, live_bytes; };

static int (*stats_get)(struct live *, size_t);

#define MAX_BLOCKS 2100
static void *blocks[MAX_BLOCKS];

/* Each block the program holds, in one of the slots of `blocks`. */
static void **slot(int i) { return &blocks[i]; }

static void point(void) {
  struct live s = {0, 0};
  long long reported = -1;
  void *volatile none = NULL; /* or the compiler drops free(NULL) */
  free(none);
  if (stats_get) {
    if (stats_get(&s, sizeof s) != 0) { perror("bestbuddy_stats_get"); exit(1); }
    reported = (long long)s.live_bytes;
  }
  unsigned long long own = 0;
  for (int i = 0; i < MAX_BLOCKS; i++) {
    if (blocks[i]) {
      size_t n = malloc_usable_size(blocks[i]);
      own += n + (n > (1 << 20) ? 64 : 0);
    }
  }
  printf("%lld %llu\n", reported, own);
  fflush(stdout);
}

int main(void) {
  stats_get = (int (*)(struct live *, size_t))dlsym(RTLD_DEFAULT, "bestbuddy_stats_get");
  void **p = blocks;
  printf("points\n"); /* stdout's buffer: allocated now, before the first point */
  point();
  for (int i = 0; i < 2000; i++) p[i] = malloc(1 + (i * 7919) % 3000);
  point();
  for (int i = 0; i < 2000; i += 2) { free(p[i]); p[i] = NULL; }
  point();
  for (int i = 0; i < 2000; i += 2) p[i] = calloc(3, 1 + i % 100);
  point();
  void **s = slot(2000), **a = slot(2001), **b = slot(2002), **big = slot(2003);
  for (int n = 1; n < 5000; n += 37) *s = realloc(*s, n); /* small steps: grown in place */
  point();
  *s = realloc(*s, 100000); /* a big step */
  *s = realloc(*s, 200);    /* and back down */
  point();
  *a = memalign(256, 1000);
  if (posix_memalign(b, 4096, 5000) != 0) return 4;
  *big = malloc(3 << 20); /* a mapping of its own */
  point();
  *big = realloc(*big, 5 << 20);
  free(*a);
  *a = NULL;
  point();
  for (int i = 0; i < MAX_BLOCKS; i++) {
    if (blocks[i]) free(blocks[i]); /* free(NULL) is the marker: only at points */
    blocks[i] = NULL;
  }
  point();
  return 0;
}
