/* BESTBUDDY_OPTIONS, read from the environment at start-up:
 *   junk=1   new blocks read 0xAA, freed blocks 0x55 (small and large);
 *   check=1  a heap walk after every call finds a corrupted free block and aborts with
 *            "bestbuddy: check: <what broke>";
 *   bogus    is named on stderr once and ignored.
 * The program re-executes itself with each setting and checks what the child did. */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

static int child_junk(void) {
    for (size_t size = 16; size <= ((size_t)4 << 20); size *= 4) {
        unsigned char *p = malloc(size);
        CHECK(p);
        CHECK(bb_all_bytes(p, size, 0xAA));
        if (size >= 64 && size <= 4096) {
            free(p);
            /* The middle of a freed small block (its ends may hold heap links). */
            CHECK(bb_all_bytes(p + 32, size - 48, 0x55));
        } else {
            free(p);
        }
    }
    return 0;
}

static int child_check(void) {
    void *fence = malloc(64);
    void **a = malloc(64);
    void *b = malloc(64);
    CHECK(fence && a && b);
    free(a);
    /* Use after free: point the freed block's first link at a block in use. */
    a[0] = b;
    a[1] = b;
    for (int i = 0; i < 100; i++)
        free(malloc(64));
    return 0; /* not reached on bestbuddy: the check aborts */
}

/* Runs this program in `mode` with BESTBUDDY_OPTIONS=options. */
static int run_child(const char *self, const char *mode, const char *options, char *err,
                     size_t cap) {
    return bb_run_self(self, mode, "BESTBUDDY_OPTIONS", options, err, cap);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "junk") == 0)
        return child_junk();
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return child_check();
    if (argc > 1 && strcmp(argv[1], "plain") == 0)
        return 0;
    if (!on_bestbuddy())
        return 0;
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = '\0';
    static char err[1 << 16];

    int status = run_child(self, "junk", "junk=1", err, sizeof err);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "junk child: status %d, stderr: %s",
           status, err);

    status = run_child(self, "check", "check=1", err, sizeof err);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "check child: status %d", status);
    CHECKF(strncmp(err, "bestbuddy: check: ", 18) == 0, "check child said: %s", err);

    status = run_child(self, "plain", "bogus,junk=1", err, sizeof err);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *line = "bestbuddy: BESTBUDDY_OPTIONS: unknown option 'bogus' ignored\n";
    CHECKF(strcmp(err, line) == 0, "unknown option: stderr was: %s", err);
    return 0;
}
