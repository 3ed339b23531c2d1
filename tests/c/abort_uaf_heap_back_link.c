/* Two freed blocks too big for the thread caches (6000 bytes) share one of the heap's exact
 * bins; a write into the older one changes only its back link, the word that the list's
 * unlink trusts when it takes the newer one out (glibc's "safe unlinking" check).  The malloc
 * that takes the newer block must notice that the older one no longer points back at it and
 * abort with "bestbuddy: malloc(): corrupted block <older>".  Without the seal and the check,
 * the unlink writes through the damaged list and malloc carries on. */
#include "abort_common.h"

static char target[8192] __attribute__((aligned(4096)));

int main(void)
{
    on_bestbuddy();
    /* No stdout buffer: glibc would malloc one at the first printf, and could take a block. */
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Live blocks between and around them keep the two from merging with anything. */
    void *fence0 = malloc(6000);
    void **older = malloc(6000);
    void *fence1 = malloc(6000);
    void **newer = malloc(6000);
    void *fence2 = malloc(6000);
    CHECK(fence0 && older && fence1 && newer && fence2);
    free(older);
    free(newer); /* the bin's head now; its next is `older`, whose back link is `newer` */
    expect_line("bestbuddy: malloc(): corrupted block %p", older);
    void **volatile dangling = launder(older);
    dangling[1] = target + 8; /* the back link only; the forward link stays intact */
    void *a = malloc(6000);
    void *b = malloc(6000);
    printf("survived: malloc returned %p then %p (target %p)\n", a, b, (void *)target);
    free(fence0);
    free(fence1);
    free(fence2);
    return 0;
}
