/* Real exhaustion: with RLIMIT_AS a few hundred MiB above the current size,
 * allocating until failure gives NULL + ENOMEM (no crash, no abort), and after
 * freeing everything the allocator works again. */
#include "common.h"
#include <sys/resource.h>

struct node {
    struct node *next;
};

/* Allocate blocks of `size` until failure or `cap` blocks; returns count. */
static long fill_until_fail(size_t size, long cap, struct node **list, int *failed)
{
    long n = 0;
    *failed = 0;
    while (n < cap) {
        errno = 0;
        struct node *b = malloc(size);
        if (b == NULL) {
            CHECKF(errno == ENOMEM, "malloc(%zu) failed with errno %d", size, errno);
            *failed = 1;
            break;
        }
        b->next = *list;
        *list = b;
        n++;
    }
    return n;
}

static void free_list(struct node *l)
{
    while (l != NULL) {
        struct node *nx = l->next;
        free(l);
        l = nx;
    }
}

int main(void)
{
    on_bestbuddy();
    /* warm up so the allocator has initialised itself */
    free(malloc(100));
    free(malloc(4 * BB_MIB));

    long vm_kb = bb_status_kb("VmSize");
    CHECK(vm_kb > 0);
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
    rl.rlim_cur = (rlim_t)vm_kb * 1024 + 384 * BB_MIB;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

    const size_t sizes[] = {BB_MIB, 48, 200 * BB_KIB};
    for (int round = 0; round < 3; round++) {
        size_t size = sizes[round];
        /* cap: 1 GiB worth of requests; a reservation-based allocator may
         * satisfy more than RLIMIT_AS suggests without mapping anything. */
        long cap = (long)((1024 * BB_MIB) / size);
        struct node *list = NULL;
        int failed;
        long n = fill_until_fail(size, cap, &list, &failed);
        if (!failed)
            printf("note: %ld blocks of %zu bytes fit without failure\n", n, size);
        /* the failure must not be sticky for a smaller request after a
         * release */
        free_list(list);
        void *p = malloc(size);
        CHECKF(p != NULL, "malloc(%zu) fails after freeing everything", size);
        memset(p, 0x11, size);
        free(p);
        p = malloc(1000);
        CHECK(p != NULL);
        free(p);
    }
    return 0;
}
