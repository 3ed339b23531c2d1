/* malloc(0) returns a unique, 16-byte aligned, freeable pointer, every time. */
#include "common.h"

#define N 2000

int main(void)
{
    on_bestbuddy();
    static void *p[N];
    for (int i = 0; i < N; i++) {
        errno = 0;
        p[i] = malloc(0);
        CHECKF(p[i] != NULL, "malloc(0) #%d returned NULL (errno %d)", i, errno);
        CHECK(bb_aligned(p[i], 16));
        /* interleave other sizes so zero-size blocks are not only adjacent */
        if (i % 7 == 0) {
            void *q = malloc((size_t)i + 1);
            CHECK(q != NULL);
            free(q);
        }
        size_t us = malloc_usable_size(p[i]);
        memset(p[i], 0xA5, us); /* whatever is usable must be writable */
    }
    /* all distinct: sort copies and look for duplicates */
    static uintptr_t s[N];
    for (int i = 0; i < N; i++)
        s[i] = (uintptr_t)p[i];
    for (int i = 1; i < N; i++) { /* insertion sort, N is small */
        uintptr_t v = s[i];
        int j = i - 1;
        while (j >= 0 && s[j] > v) {
            s[j + 1] = s[j];
            j--;
        }
        s[j + 1] = v;
    }
    for (int i = 1; i < N; i++)
        CHECKF(s[i] != s[i - 1], "malloc(0) returned %p twice", (void *)s[i]);
    for (int i = 0; i < N; i++)
        free(p[i]);
    /* and again after the frees */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    free(a);
    free(b);
    return 0;
}
