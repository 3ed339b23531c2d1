"""fork and subprocess from a threaded Python program, for SECONDS seconds.

    python3 fork_threads.py SECONDS

Run by tests/stress/fork-python.sh under LD_PRELOAD of the allocator, with PYTHONMALLOC=malloc
so that every Python object comes from it. Threads, each in a loop until the time is up:

  - print:      print() to sys.stdout, which is a pipe that a drain thread empties;
  - log:        logging records through a StreamHandler on that pipe (its lock is one the
                logging module re-creates in a forked child);
  - alloc (2):  build and drop lists, dicts, strings and bytes of mixed sizes;
  - subprocess: subprocess.run(["true"]) (vfork/exec: no fork handlers run);
  - fork (2):   os.fork(); the child builds a few objects and os._exit(0)s, the parent
                waits for it and checks the status (fork handlers run in a process with
                threads, the allocator's among them);
  - C stdio:    through ctypes (which drops the GIL): one thread loops getline on a shared
                FILE holding one long line (getline reallocs while it holds the FILE's
                lock), another loops fflush(NULL) (stdio's list lock, then each FILE's):
                the lock order a fork must not invert.

The main thread is the watchdog: every second it checks that every loop made progress; one
that made none for 20 s (HANG_S) is a hang: it prints "hang: ..." with the counts and every
thread's traceback on stderr and exits 3. A thread stuck inside the allocator may keep the
GIL (os.fork calls fork() with it held), so that the main thread never runs again:
faulthandler.dump_traceback_later, re-armed while the main thread runs and loops make
progress, covers that from a C thread 25 s on (prints "Timeout (...)!" and the tracebacks,
exits 1). All threads must also finish within 20 s of the end of the run. A failed check in a thread prints "error: ..." and exits 2.

On success prints "backend: NAME" (what bestbuddy_backend() returns, "glibc" without it) first,
and "fork_threads: OK N forks, M subprocesses, ..." last.
"""

import ctypes
import faulthandler
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

HANG_S = 20
LINE = 50_000

# Python >= 3.12 warns when os.fork() runs in a process with threads: that is the point here.
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")

counts = {
    "forks": 0,
    "subprocesses": 0,
    "prints": 0,
    "log records": 0,
    "allocation rounds": 0,
    "getlines": 0,
    "fflushes": 0,
}
counts_lock = threading.Lock()
stop = threading.Event()


def bump(name):
    with counts_lock:
        counts[name] += 1


def fail(msg):
    sys.__stderr__.write(f"error: {msg}\n")
    sys.__stderr__.flush()
    os._exit(2)


def guarded(body):
    def run(*args):
        try:
            body(*args)
        except BaseException:
            fail(f"{threading.current_thread().name}: {traceback.format_exc()}")

    return run


def backend():
    try:
        fn = ctypes.CDLL(None).bestbuddy_backend
    except AttributeError:
        return "glibc"
    fn.restype = ctypes.c_char_p
    fn.argtypes = []
    return fn().decode()


@guarded
def drain(fd):
    while os.read(fd, 1 << 16):
        pass


@guarded
def printer():
    i = 0
    while not stop.is_set():
        i += 1
        print(f"line {i}:", "x" * (i % 300), {"i": i, "sq": i * i}, flush=(i % 7 == 0))
        bump("prints")


@guarded
def logger():
    log = logging.getLogger("fork_threads")
    i = 0
    while not stop.is_set():
        i += 1
        log.info("record %d %s", i, [i] * (i % 50))
        bump("log records")


@guarded
def allocator(seed):
    i = seed
    while not stop.is_set():
        i += 1
        n = 1 + (i * 7919) % 3000
        lst = [str(j) * (j % 17) for j in range(n)]
        d = {j: (lst[j], j) for j in range(0, n, 3)}
        s = "".join(lst[: n // 2])
        b = bytes(1 + (i * 104729) % 200_000)
        assert len(d) == (n + 2) // 3 and len(b) > 0 and len(s) >= 0
        del lst, d, s, b
        bump("allocation rounds")


@guarded
def spawner(true):
    while not stop.is_set():
        r = subprocess.run([true], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            fail(f"{true} exited {r.returncode}")
        bump("subprocesses")


@guarded
def forker():
    while not stop.is_set():
        pid = os.fork()
        if pid == 0:
            try:
                junk = [str(j) * 10 for j in range(200)]
                code = 0 if len({j: junk[j] for j in range(200)}) == 200 else 4
            except BaseException:
                code = 5
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            fail(f"forked child {pid}: wait status {status:#x}")
        bump("forks")


def libc():
    c = ctypes.CDLL(None, use_errno=True)
    c.fopen.restype = ctypes.c_void_p
    c.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    c.rewind.restype = None
    c.rewind.argtypes = [ctypes.c_void_p]
    c.getline.restype = ctypes.c_ssize_t
    c.getline.argtypes = [
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_void_p,
    ]
    c.free.restype = None
    c.free.argtypes = [ctypes.c_void_p]
    c.fflush.restype = ctypes.c_int
    c.fflush.argtypes = [ctypes.c_void_p]
    return c


@guarded
def getliner(c, f):
    while not stop.is_set():
        line = ctypes.c_void_p(None)
        n = ctypes.c_size_t(0)
        c.rewind(f)
        got = c.getline(ctypes.byref(line), ctypes.byref(n), f)
        c.free(line)
        if got not in (LINE + 1, -1):
            fail(f"getline returned {got}")
        bump("getlines")


@guarded
def flusher(c):
    while not stop.is_set():
        if c.fflush(None) != 0:
            fail(f"fflush(NULL): errno {ctypes.get_errno()}")
        bump("fflushes")


def snapshot():
    with counts_lock:
        return dict(counts)


def describe(c):
    return ", ".join(f"{v} {k}" for k, v in c.items())


def hang(what, c):
    sys.__stderr__.write(f"hang: {what} ({describe(c)})\n")
    sys.__stderr__.flush()
    faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
    os._exit(3)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fork_threads.py SECONDS")
    seconds = float(sys.argv[1])
    out = sys.stdout
    out.write(f"backend: {backend()}\n")
    out.flush()

    true = "/bin/true" if os.access("/bin/true", os.X_OK) else "true"
    r, w = os.pipe()
    threading.Thread(target=drain, args=(r,), name="drain", daemon=True).start()
    pipe = os.fdopen(w, "w", buffering=1 << 14)
    sys.stdout = pipe
    handler = logging.StreamHandler(pipe)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)

    c = libc()
    tmp = tempfile.NamedTemporaryFile(prefix="fork_threads.", delete=False)
    with tmp:
        tmp.write(b"a" * LINE + b"\n")
    f = c.fopen(tmp.name.encode(), b"r")
    os.unlink(tmp.name)
    if not f:
        sys.exit(f"fopen {tmp.name}: errno {ctypes.get_errno()}")

    workers = [
        threading.Thread(target=printer, name="print"),
        threading.Thread(target=logger, name="log"),
        threading.Thread(target=allocator, args=(0,), name="alloc-0"),
        threading.Thread(target=allocator, args=(1 << 20,), name="alloc-1"),
        threading.Thread(target=spawner, args=(true,), name="subprocess"),
        threading.Thread(target=forker, name="fork-0"),
        threading.Thread(target=forker, name="fork-1"),
        threading.Thread(target=getliner, args=(c, f), name="getline"),
        threading.Thread(target=flusher, args=(c,), name="fflush"),
    ]

    t0 = armed = time.monotonic()
    faulthandler.dump_traceback_later(HANG_S + 5, exit=True, file=sys.__stderr__)
    for t in workers:
        t.start()

    last = snapshot()
    since = {k: t0 for k in last}
    stopped_at = None
    while True:
        time.sleep(0.5 if stopped_at is None else 0.05)
        now = time.monotonic()
        if stopped_at is None:
            cur = snapshot()
            moved = False
            for k, v in cur.items():
                if v != last[k]:
                    since[k] = now
                    moved = True
                elif now - since[k] > HANG_S:
                    hang(f"{k}: none done for {HANG_S} s", cur)
            last = cur
            if moved and now - armed >= 1:
                # this thread runs and loops move: the C-level watchdog starts over
                faulthandler.cancel_dump_traceback_later()
                faulthandler.dump_traceback_later(HANG_S + 5, exit=True, file=sys.__stderr__)
                armed = now
            if now - t0 >= seconds:
                stop.set()
                stopped_at = now
                faulthandler.cancel_dump_traceback_later()
                faulthandler.dump_traceback_later(HANG_S + 5, exit=True, file=sys.__stderr__)
        else:
            if not any(t.is_alive() for t in workers):
                break
            if now - stopped_at > HANG_S:
                hang(f"threads still running {HANG_S} s after the end of the run", snapshot())
    faulthandler.cancel_dump_traceback_later()
    elapsed = time.monotonic() - t0

    c.fflush(None)
    pipe.flush()
    sys.stdout = out
    final = snapshot()
    for k, v in final.items():
        if v == 0:
            sys.exit(f"error: no {k} at all ({describe(final)})")
    out.write(f"fork_threads: OK {describe(final)}, {elapsed:.1f} s\n")
    out.flush()


if __name__ == "__main__":
    main()
