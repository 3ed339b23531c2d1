// C++ workload for tests/real/check-real.sh: compiled by g++ under the preload and run
// under it (and on glibc, whose output must be the same).
//
// Four threads each build std::map / std::unordered_map / std::string / std::vector data
// from a deterministic generator, hand strings to each other through a mutex-protected
// queue (so that blocks are freed by a thread other than the one that allocated them), and
// fold everything into a checksum.  The same work is then done again on one thread; the two
// results must agree, else the program exits 1.  Output: "cxx <checksum> <entries>".
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 30000;

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

std::string make_word(Rng &r)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    std::string w;
    size_t n = 1 + r.next() % 40;
    if (r.next() % 50 == 0)
        n += r.next() % 5000; // an occasional long string
    for (size_t i = 0; i < n; i++)
        w += letters[r.next() % 26];
    return w;
}

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ull)
{
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

struct Handoff {
    std::mutex m;
    std::deque<std::unique_ptr<std::string>> q;
};

// The work of thread `t`; strings pushed to `out` are consumed by another thread, whose
// result includes them.  Deterministic whatever the interleaving: what a thread takes from
// its inbox only adds to a commutative sum.
struct Result {
    uint64_t sum = 0;
    uint64_t entries = 0;
};

void work(int t, Handoff *in, Handoff *out, Result *res)
{
    Rng r{0x9e3779b97f4a7c15ull * (uint64_t)(t + 1)};
    std::map<std::string, std::vector<int>> m;
    std::unordered_map<uint64_t, std::string> u;
    uint64_t taken = 0;
    for (int i = 0; i < kRounds; i++) {
        std::string w = make_word(r);
        m[w].push_back(i);
        if (i % 3 == 0)
            u[r.next() % 4096] = w + std::to_string(i);
        if (i % 7 == 0 && out != nullptr) {
            std::lock_guard<std::mutex> g(out->m);
            out->q.push_back(std::make_unique<std::string>(w + "#" + std::to_string(t)));
        }
        if (i % 5 == 0 && in != nullptr) {
            std::unique_ptr<std::string> s;
            {
                std::lock_guard<std::mutex> g(in->m);
                if (!in->q.empty()) {
                    s = std::move(in->q.front());
                    in->q.pop_front();
                }
            }
            if (s)
                taken += fnv(*s);
        }
        if (i % 1000 == 999) { // drop the map's oldest entries
            auto it = m.begin();
            for (int k = 0; k < 100 && it != m.end(); k++)
                it = m.erase(it);
        }
    }
    uint64_t sum = 0;
    for (auto &kv : m) {
        sum += fnv(kv.first) * (kv.second.size() + 1);
        for (int v : kv.second)
            sum += (uint64_t)v;
    }
    for (auto &kv : u)
        sum ^= fnv(kv.second, kv.first);
    res->sum = sum;
    res->entries = m.size() + u.size();
    res->sum += taken;
}

uint64_t drain(Handoff &h)
{
    uint64_t s = 0;
    for (auto &p : h.q)
        s += fnv(*p);
    h.q.clear();
    return s;
}

} // namespace

int main()
{
    // Threaded: thread t reads from box[t] and writes to box[(t+1) % kThreads].
    std::vector<Handoff> box(kThreads);
    std::vector<Result> res(kThreads);
    std::vector<std::thread> th;
    for (int t = 0; t < kThreads; t++)
        th.emplace_back(work, t, &box[t], &box[(t + 1) % kThreads], &res[t]);
    for (auto &x : th)
        x.join();
    uint64_t sum = 0, entries = 0;
    for (int t = 0; t < kThreads; t++) {
        sum += res[t].sum + drain(box[t]);
        entries += res[t].entries;
    }

    // Sequential: the same per-thread work with every handoff to one shared box, read
    // afterwards: the same multiset of strings is hashed, so the sum must match.
    uint64_t sum2 = 0, entries2 = 0, handed = 0;
    Handoff all;
    for (int t = 0; t < kThreads; t++) {
        Result r;
        work(t, nullptr, &all, &r);
        sum2 += r.sum;
        entries2 += r.entries;
    }
    handed = drain(all);
    sum2 += handed;
    if (sum != sum2 || entries != entries2) {
        std::printf("cxx MISMATCH threaded %llu/%llu sequential %llu/%llu\n",
                    (unsigned long long)sum, (unsigned long long)entries,
                    (unsigned long long)sum2, (unsigned long long)entries2);
        return 1;
    }
    std::printf("cxx %llu %llu\n", (unsigned long long)sum, (unsigned long long)entries);
    return 0;
}
