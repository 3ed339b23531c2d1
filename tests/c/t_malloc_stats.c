/* malloc_stats() writes a non-empty report to stderr (fd 2). */
#include "common.h"
#include <fcntl.h>

int main(void)
{
    on_bestbuddy();
    void *keep = malloc(12345);
    CHECK(keep != NULL);
    char path[] = "/tmp/bb_malloc_stats_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fd, 2) == 2);
    malloc_stats();
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    CHECKF(len > 0, "malloc_stats wrote nothing to stderr");
    char buf[4096];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(got > 0);
    buf[got] = '\0';
    /* show the first lines in the test log */
    printf("malloc_stats (%ld bytes):\n%.300s\n", (long)len, buf);
    close(fd);
    free(keep);
    return 0;
}
