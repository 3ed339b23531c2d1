"""A short allocation-heavy python3 script for counting instructions under callgrind
(docs/PERFORMANCE.md):
    PYTHONMALLOC=malloc LD_PRELOAD=$PWD/out/bestfit/libbestbuddy.so \
        valgrind --tool=callgrind --soname-synonyms=somalloc=NONE /usr/bin/python3 bench/pyheap.py
Strings of 1..300 characters, lists of up to 200 items, a dict that keeps 5000 of them."""
import random
random.seed(7)
d = {}
acc = 0
for r in range(6):
    lst = []
    for i in range(60000):
        s = "k%d-%s" % (i, "x" * random.randint(0, 300))
        lst.append(s)
        if random.random() < 0.3:
            d[s] = [i] * random.randint(0, 200)
        if len(d) > 5000:
            d.pop(next(iter(d)))
    acc += sum(len(x) for x in lst)
    lst = [x.upper() for x in lst if len(x) % 3]
    acc += len("".join(lst[:1000]))
print(acc)
