/* Two freed blocks that the thread caches do not take share one of the heap's exact bins; a
 * write into the older one changes only its back link, the word that the list's unlink
 * trusts when it takes the newer one out (glibc's "safe unlinking" check).  The allocation
 * that takes the newer block must notice that the older one no longer points back at it and
 * abort with "bestbuddy: malloc(): corrupted block <older>".  Without the seal and the check,
 * the unlink writes through the damaged list and malloc carries on.
 *
 * The caches take only blocks of their classes' exact sizes, and every malloc up to 32 KiB
 * goes through them: best fit's blocks here come from memalign (never cached), 6016 bytes,
 * between the classes' blocks of 5648 and 6160, so they stay in the heap's exact bin of
 * 6016; the allocations that take them again are memaligns whose search (the block, the
 * alignment and a minimum block) is that size. Buddy's are 64 KiB, above the cached
 * orders. */
#include "abort_common.h"

static char target[8192] __attribute__((aligned(4096)));

int main(void)
{
    on_bestbuddy();
    /* No stdout buffer: glibc would malloc one at the first printf, and could take a block. */
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Live blocks between and around them keep the two from merging with anything. */
    int buddy = strcmp(bestbuddy_backend ? bestbuddy_backend() : "", "buddy") == 0;
    size_t size = buddy ? 40000 : 6000, again = buddy ? 40000 : 5900;
    void *fence0 = memalign(64, size);
    void **older = memalign(64, size);
    void *fence1 = memalign(64, size);
    void **newer = memalign(64, size);
    void *fence2 = memalign(64, size);
    CHECK(fence0 && older && fence1 && newer && fence2);
    free(older);
    free(newer); /* the bin's head now; its next is `older`, whose back link is `newer` */
    expect_line("bestbuddy: malloc(): corrupted block %p", older);
    void **volatile dangling = launder(older);
    dangling[1] = target + 8; /* the back link only; the forward link stays intact */
    void *a = memalign(64, again);
    void *b = memalign(64, again);
    printf("survived: malloc returned %p then %p (target %p)\n", a, b, (void *)target);
    free(fence0);
    free(fence1);
    free(fence2);
    return 0;
}
