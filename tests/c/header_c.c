/* The public header compiles cleanly as C next to <stdlib.h> and <malloc.h>
 * (-Wall -Wextra -Werror), twice (include guard), and its declaration
 * links against the library. */
#include <stdlib.h>
#include <malloc.h>
#include "bestbuddy.h"
#include "bestbuddy.h"
#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *b = bestbuddy_backend();
    if (b == NULL) {
        fprintf(stderr, "bestbuddy_backend() returned NULL\n");
        return 1;
    }
    const char *expect = getenv("BESTBUDDY_EXPECT");
    if (expect != NULL && strcmp(expect, b) != 0) {
        fprintf(stderr, "backend \"%s\", expected \"%s\"\n", b, expect);
        return 1;
    }
    void *p = malloc(100);
    if (p == NULL || malloc_usable_size(p) < 100)
        return 1;
    free(p);
    printf("C: backend %s\n", b);
    return 0;
}
