/* Known-answer C program for the bestbuddy "gcc" real-program test.
 * run.sh appends generated functions (defining gen_total) and compiles the
 * result with gcc -O2 under LD_PRELOAD; the binary's output is then compared
 * with the expected answers below (most are well-known constants). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long long gen_total(void);

static int failures;

static void report(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("%s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- primes ---------------------------------------------------------- */
static void primes(void)
{
    const int n = 2000000;
    unsigned char *comp = calloc(n, 1);
    long long sum = 0;
    int count = 0, nth = 0, k = 0;
    if (!comp) { failures++; return; }
    for (int i = 2; i < n; i++) {
        if (comp[i]) continue;
        count++;
        sum += i;
        if (++k == 10001) nth = i;
        for (long long j = (long long)i * i; j < n; j += i) comp[j] = 1;
    }
    free(comp);
    report("primes_below_2e6", "%d", count);
    report("prime_sum_below_2e6", "%lld", sum);
    report("prime_10001st", "%d", nth);
}

/* ---- crc32 ----------------------------------------------------------- */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_buf(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *s++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- fibonacci, collatz --------------------------------------------- */
static uint64_t fib(int n)
{
    uint64_t a = 0, b = 1;
    while (n--) { uint64_t t = a + b; a = b; b = t; }
    return a;
}

static void collatz(void)
{
    int best = 0, best_len = 0;
    for (int s = 1; s < 1000000; s++) {
        uint64_t x = s;
        int len = 1;
        while (x != 1) { x = (x & 1) ? 3 * x + 1 : x / 2; len++; }
        if (len > best_len) { best_len = len; best = s; }
    }
    report("collatz_longest", "%d %d", best, best_len);
}

/* ---- n-queens -------------------------------------------------------- */
static int queens(int n, int row, unsigned cols, unsigned d1, unsigned d2)
{
    if (row == n) return 1;
    int total = 0;
    unsigned avail = ~(cols | d1 | d2) & ((1u << n) - 1);
    while (avail) {
        unsigned bit = avail & -avail;
        avail -= bit;
        total += queens(n, row + 1, cols | bit, (d1 | bit) << 1, (d2 | bit) >> 1);
    }
    return total;
}

/* ---- sorting --------------------------------------------------------- */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sorting(void)
{
    const size_t n = 200000;
    uint32_t *v = malloc(n * sizeof *v), seed = 12345, xor_before = 0, xor_after = 0;
    if (!v) { failures++; return; }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = seed >> 1;
        xor_before ^= v[i];
    }
    qsort(v, n, sizeof *v, cmp_u32);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        xor_after ^= v[i];
        if (i && v[i - 1] > v[i]) ok = 0;
    }
    free(v);
    report("qsort_200000", "%s", ok && xor_before == xor_after ? "ok" : "BAD");
}

/* ---- string hash table ---------------------------------------------- */
struct entry { char *key; int count; struct entry *next; };

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static void hashtable(void)
{
    enum { NB = 4096 };
    struct entry **b = calloc(NB, sizeof *b);
    int distinct = 0, maxc = 0;
    char buf[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(buf, sizeof buf, "w%d", i % 70000);
        unsigned h = hash_str(buf) % NB;
        struct entry *e;
        for (e = b[h]; e; e = e->next)
            if (!strcmp(e->key, buf)) break;
        if (!e) {
            e = malloc(sizeof *e);
            e->key = strdup(buf);
            e->count = 0;
            e->next = b[h];
            b[h] = e;
            distinct++;
        }
        if (++e->count > maxc) maxc = e->count;
    }
    for (int i = 0; i < NB; i++)
        while (b[i]) { struct entry *n = b[i]->next; free(b[i]->key); free(b[i]); b[i] = n; }
    free(b);
    report("hash_distinct", "%d %d", distinct, maxc);
}

/* ---- linked list ---------------------------------------------------- */
struct node { long v; struct node *next; };

static void linked_list(void)
{
    struct node *head = NULL, *rev = NULL;
    for (long i = 1; i <= 10000; i++) {
        struct node *n = malloc(sizeof *n);
        n->v = i; n->next = head; head = n;
    }
    while (head) { struct node *n = head->next; head->next = rev; rev = head; head = n; }
    long sum = 0, first = rev ? rev->v : -1;
    while (rev) { struct node *n = rev->next; sum += rev->v; free(rev); rev = n; }
    report("list_sum", "%ld %ld", first, sum);
}

/* ---- misc euler ----------------------------------------------------- */
static int is_pal(int x)
{
    int r = 0, o = x;
    while (x) { r = r * 10 + x % 10; x /= 10; }
    return r == o;
}

static void euler_misc(void)
{
    int s = 0, best = 0;
    for (int i = 0; i < 1000; i++) if (i % 3 == 0 || i % 5 == 0) s += i;
    report("euler1", "%d", s);
    for (int a = 100; a < 1000; a++)
        for (int b = a; b < 1000; b++)
            if (a * b > best && is_pal(a * b)) best = a * b;
    report("palindrome", "%d", best);

    /* digit sum of 2^1000 */
    int digits[400] = {1}, nd = 1;
    for (int k = 0; k < 1000; k++) {
        int carry = 0;
        for (int i = 0; i < nd; i++) {
            int d = digits[i] * 2 + carry;
            digits[i] = d % 10; carry = d / 10;
        }
        if (carry) digits[nd++] = carry;
    }
    int ds = 0;
    for (int i = 0; i < nd; i++) ds += digits[i];
    report("digitsum_2pow1000", "%d", ds);

    /* lattice paths 20x20 */
    uint64_t grid[21][21];
    for (int i = 0; i <= 20; i++)
        for (int j = 0; j <= 20; j++)
            grid[i][j] = (i == 0 || j == 0) ? 1 : grid[i - 1][j] + grid[i][j - 1];
    report("lattice_20", "%llu", (unsigned long long)grid[20][20]);

    /* first triangle number with over 500 divisors */
    for (long n = 1, t = 1;; n++, t += n) {
        int d = 0;
        for (long i = 1; i * i <= t; i++)
            if (t % i == 0) d += (i * i == t) ? 1 : 2;
        if (d > 500) { report("triangle_500", "%ld", t); break; }
    }
}

/* ---- LCS with a function-pointer dispatch table --------------------- */
static int lcs(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    int *dp = calloc((n + 1) * (m + 1), sizeof *dp);
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++)
            dp[i * (m + 1) + j] = a[i - 1] == b[j - 1]
                ? dp[(i - 1) * (m + 1) + j - 1] + 1
                : (dp[(i - 1) * (m + 1) + j] > dp[i * (m + 1) + j - 1]
                   ? dp[(i - 1) * (m + 1) + j] : dp[i * (m + 1) + j - 1]);
    int r = dp[n * (m + 1) + m];
    free(dp);
    return r;
}

static void run_primes(void) { primes(); }
static void run_collatz(void) { collatz(); }
static void run_queens(void)
{
    report("queens_8", "%d", queens(8, 0, 0, 0, 0));
    report("queens_10", "%d", queens(10, 0, 0, 0, 0));
}
static void run_crc(void) { crc_init(); report("crc32", "%08x", crc32_buf("123456789", 9)); }
static void run_fib(void) { report("fib90", "%llu", (unsigned long long)fib(90)); }
static void run_lcs(void) { report("lcs", "%d", lcs("AGGTAB", "GXTXAYB")); }
static void run_gen(void) { report("gen_total", "%llu", gen_total()); }

int main(void)
{
    void (*steps[])(void) = {
        run_primes, run_crc, run_fib, run_collatz, run_queens, sorting,
        hashtable, linked_list, euler_misc, run_lcs, run_gen,
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) steps[i]();
    return failures ? 1 : 0;
}
