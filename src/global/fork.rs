//! The pthread_atfork handlers, registered at initialisation. Why they take what they take,
//! in which order, and when they take nothing: docs/ARCHITECTURE.md, "Threads, fork,
//! initialisation".

use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::ARENAS;
use crate::chunkmap;
use crate::large;
use crate::tcache;
use crate::trace;
use crate::valgrind;

// glibc's stdio list lock, which its fork takes between the atfork prepare handlers and its
// own malloc's locks (posix/fork.c). The lock is recursive, so taking it here first and
// again in fork is allowed.
unsafe extern "C" {
    fn _IO_list_lock();
    fn _IO_list_unlock();
    fn _IO_list_resetlock();
    /// Non-zero until the process creates its first thread (glibc >= 2.32). A char that
    /// glibc writes while this library runs: declared atomic (same layout) and read as one.
    static __libc_single_threaded: AtomicU8;
}

/// The arenas the prepare handler locked (a bit each), or `FORK_SKIPPED` when it locked
/// nothing; read by the parent and child handlers of the same fork.
static FORK_LOCKED: AtomicU32 = AtomicU32::new(FORK_SKIPPED);
const FORK_SKIPPED: u32 = u32::MAX;

/// fork, before: the lock order is glibc's own, stdio's list lock before the allocator's
/// (a thread in getline holds a FILE's lock and reallocs; one in fflush(NULL) holds the
/// list lock and waits for that FILE; so whoever holds an arena lock must never wait for
/// the list lock). Then the trace's registry of buffers (no path takes it with an arena
/// lock held), the opened arenas, the kept large mappings, the chunk map.
///
/// A process with one thread skips all of it, as glibc's fork does for its own malloc: no
/// other thread can hold a lock, and when fork runs in a signal handler that interrupted
/// this thread's malloc, the lock it holds would never be released (POSIX lets a handler
/// fork; its child may then only call async-signal-safe functions, malloc not among them).
pub(super) extern "C" fn prepare() {
    // Under valgrind, each handler runs quietly: they read the allocator's own memory (a
    // thread's cache lies in a heap region), which is no-access to the program.
    valgrind::quietly(prepare_quietly);
}

fn prepare_quietly() {
    // SAFETY: a byte glibc exports for every program to read.
    if unsafe { __libc_single_threaded.load(Ordering::Relaxed) } != 0 {
        FORK_LOCKED.store(FORK_SKIPPED, Ordering::Relaxed);
        return;
    }
    // SAFETY: glibc's own lock, taken as its fork takes it; released by the other handlers.
    unsafe { _IO_list_lock() };
    trace::fork_prepare();
    let locked = ARENAS.lock_all();
    large::fork_prepare();
    chunkmap::LEAF_LOCK.lock();
    tcache::REGISTRY.lock();
    FORK_LOCKED.store(locked, Ordering::Relaxed);
}

pub(super) extern "C" fn parent() {
    valgrind::quietly(parent_quietly);
}

fn parent_quietly() {
    let locked = FORK_LOCKED.load(Ordering::Relaxed);
    if locked == FORK_SKIPPED {
        return;
    }
    tcache::REGISTRY.unlock();
    chunkmap::LEAF_LOCK.unlock();
    large::fork_parent();
    ARENAS.unlock_all(locked);
    trace::fork_parent();
    // SAFETY: taken by this thread in `prepare`; glibc released its own hold already.
    unsafe { _IO_list_unlock() };
}

/// fork, child: releases what `prepare` took, and tells the trace (whether or not
/// `prepare` took anything) that its first call must set the child's trace up.
pub(super) extern "C" fn child() {
    valgrind::quietly(child_quietly);
}

fn child_quietly() {
    let locked = FORK_LOCKED.load(Ordering::Relaxed);
    trace::fork_child(locked != FORK_SKIPPED);
    if trace::on() {
        // The child's first call must reach a slow path, which sets its trace up.
        tcache::park_this_thread();
    }
    if locked == FORK_SKIPPED {
        return;
    }
    tcache::REGISTRY.reset_in_child();
    chunkmap::LEAF_LOCK.reset_in_child();
    large::fork_child();
    ARENAS.reset_all_in_child(locked);
    ARENAS.reset_homes_in_child(tcache::home());
    // SAFETY: the child's only thread held it; glibc resets it too, before this handler.
    unsafe { _IO_list_resetlock() };
}
