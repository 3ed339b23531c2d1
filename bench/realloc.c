/* realloc: growth by realloc.
 *
 * Two kinds of growing objects, interleaved at random:
 *   - VEC vectors of 8-byte elements that grow by doubling their capacity
 *     (4, 8, 16, ...) while elements are pushed, up to a random final length
 *     of 16..128k elements (log-uniform);
 *   - STR strings that grow by small appends (1..24 bytes), calling realloc
 *     for the exact new length every time, as naive string building does, up
 *     to a random final length of 32..16 KiB.
 * When an object reaches its final length it is checked, freed and a new one
 * starts in its slot.  Many objects grow at once, so in-place growth competes
 * with neighbours.
 *
 *   realloc [--scale F]
 */
#include "common.h"

#define VEC 256
#define STR 2048
#define BASE_OPS 5000000L

struct vec {
    uint64_t *a;
    size_t len, cap, target;
};

struct str {
    char *p;
    size_t len, target;
};

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 1);
    long ops = scaled(BASE_OPS, o.scale);
    uint64_t s = 0xbe5466cf34e90c6cULL, sum = 0, reallocs = 0, done = 0;
    struct vec *v = xmalloc(VEC * sizeof *v);
    struct str *t = xmalloc(STR * sizeof *t);

    for (int i = 0; i < VEC; i++)
        v[i] = (struct vec){ NULL, 0, 0, rng_logsize(&s, 16, 131072) };
    for (int i = 0; i < STR; i++)
        t[i] = (struct str){ NULL, 0, rng_logsize(&s, 32, 16384) };

    for (long k = 0; k < ops; k++) {
        if (rng_below(&s, 8) == 0) {
            /* push 1..64 elements onto a random vector */
            struct vec *x = &v[rng_below(&s, VEC)];
            size_t m = rng_range(&s, 1, 64);
            for (size_t j = 0; j < m; j++) {
                if (x->len == x->cap) {
                    x->cap = x->cap ? x->cap * 2 : 4;
                    x->a = xrealloc(x->a, x->cap * sizeof *x->a);
                    reallocs++;
                }
                x->a[x->len] = x->len * 0x9e3779b97f4a7c15ULL ^ (uint64_t)k;
                x->len++;
            }
            if (x->len >= x->target) {
                for (size_t j = 0; j < x->len; j += 509)
                    sum += x->a[j];
                sum += x->a[x->len - 1] + x->len;
                free(x->a);
                done++;
                *x = (struct vec){ NULL, 0, 0, rng_logsize(&s, 16, 131072) };
            }
        } else {
            /* append 1..24 bytes to a random string */
            struct str *x = &t[rng_below(&s, STR)];
            size_t m = rng_range(&s, 1, 24);
            x->p = xrealloc(x->p, x->len + m + 1);
            reallocs++;
            char c = (char)('a' + (x->len + m) % 26);
            for (size_t j = 0; j < m; j++)
                x->p[x->len + j] = c;
            x->len += m;
            x->p[x->len] = '\0';
            if (x->len >= x->target) {
                for (size_t j = 0; j < x->len; j += 97)
                    sum = sum * 131 + (unsigned char)x->p[j];
                sum += x->len;
                free(x->p);
                done++;
                *x = (struct str){ NULL, 0, rng_logsize(&s, 32, 16384) };
            }
        }
    }
    for (int i = 0; i < VEC; i++) {
        if (v[i].len)
            sum += v[i].a[v[i].len - 1] + v[i].len;
        free(v[i].a);
    }
    for (int i = 0; i < STR; i++) {
        if (t[i].len)
            sum += (unsigned char)t[i].p[t[i].len - 1] + t[i].len;
        free(t[i].p);
    }
    free(v);
    free(t);
    printf("realloc ops=%ld reallocs=%llu completed=%llu\n", ops, (unsigned long long)reallocs,
           (unsigned long long)done);
    printf("checksum %016llx\n", (unsigned long long)sum);
    return 0;
}
