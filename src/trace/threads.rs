//! Which buffer each thread records into: its TLS slot, the registry of live buffers (so
//! that the thread finishing the trace can write the others), the numbers threads get in
//! the file, and what happens to buffers at thread exit and in a fork child.
//!
//! ```text
//!  TLS slot bestbuddy_trace_slot (initial-exec, csrc/tls.c): 0 none yet, EXITING, or --+
//!                                                                                    v
//!  REGISTRY (RawLock) --> Buffer <--> Buffer <--> ...   (mappings, see buffer.rs)
//! ```
//! A buffer is installed in the slot before pthread_setspecific gets the thread's value
//! for the trace's key, so that an allocation pthread_setspecific makes is recorded into
//! it. The key's destructor writes the buffer out at thread exit, unregisters and unmaps
//! it and marks the slot `EXITING`; what the thread records after that (other destructors
//! that free) is written at once, a chunk per record, each under a fresh thread number.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::buffer::{self, BUFFER_BYTES, Buffer};
use crate::os;
use crate::sync::RawLock;

/// The slot holds 0 (no buffer yet), `EXITING` (never again one), or the thread's buffer.
const EXITING: usize = 1;

crate::os::tls_word!(
    /// This thread's `bestbuddy_trace_slot` (csrc/tls.c): 0 (no buffer yet), `EXITING`
    /// (never again one), or the thread's buffer.
    slot_get,
    slot_set,
    "bestbuddy_trace_slot"
);

crate::os::tls_word!(
    /// This thread's `bestbuddy_trace_stamp`: the time a moving realloc released its old
    /// block at (0: none since it was cleared).
    stamp_word_get,
    stamp_word_set,
    "bestbuddy_trace_stamp"
);

/// The time a moving realloc released its old block at (0: none since it was cleared).
pub fn stamp_get() -> u64 {
    stamp_word_get() as u64
}

/// Sets the time of this thread's moving realloc (0: clears it).
pub fn stamp_set(value: u64) {
    stamp_word_set(value as usize);
}

/// The live buffers, linked through their `next`/`prev`, under `lock`.
struct Registry {
    lock: RawLock,
    head: UnsafeCell<*mut Buffer>,
}

// SAFETY: `head` and the links are only touched with `lock` held (or in a fork child's
// set-up, when the child's only thread owns everything).
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    lock: RawLock::new(),
    head: UnsafeCell::new(ptr::null_mut()),
};

/// The next thread number to hand out (numbers start at 1; 0 is the end chunk's).
static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);
/// Bumped in each fork child's set-up: buffers of an older generation hold the parent's
/// records.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The trace's pthread key, valid once KEY_READY is set.
static KEY: AtomicUsize = AtomicUsize::new(0);
static KEY_READY: AtomicBool = AtomicBool::new(false);
/// The slot of the thread that called fork, read in the child's handler.
static FORKER: AtomicUsize = AtomicUsize::new(0);

/// A thread number never used before in this file.
pub fn fresh_number() -> u32 {
    NEXT_THREAD.fetch_add(1, Ordering::Relaxed)
}

/// The calling thread's kernel id.
pub fn gettid() -> u32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// Creates the key whose destructor returns a thread's buffer. False if none is left.
pub fn init_key() -> bool {
    if KEY_READY.load(Ordering::Acquire) {
        return true;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: pthread_key_create only writes the key; it does not allocate.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } != 0 {
        return false;
    }
    KEY.store(key as usize, Ordering::Relaxed);
    KEY_READY.store(true, Ordering::Release);
    true
}

/// This thread's buffer, if it has one now (none is made).
pub fn existing() -> *mut Buffer {
    match slot_get() {
        0 | EXITING => ptr::null_mut(),
        slot => slot as *mut Buffer,
    }
}

/// This thread's buffer when it is ready to record into as it is (made, and of this
/// process's trace), else null (then `current` does the rest).
#[inline]
pub fn ready() -> *mut Buffer {
    let slot = slot_get();
    if slot <= EXITING {
        return ptr::null_mut();
    }
    let buf = slot as *mut Buffer;
    // SAFETY: the slot holds this thread's own buffer.
    if unsafe { (*buf).generation } != GENERATION.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    buf
}

/// This thread's buffer, made (or, inherited from a fork's parent, set up afresh) if
/// needed; null when the thread is exiting or no buffer can be had (then each record is
/// written on its own).
pub fn current(now: fn() -> u64) -> *mut Buffer {
    let slot = slot_get();
    if slot == EXITING {
        return ptr::null_mut();
    }
    let generation = GENERATION.load(Ordering::Acquire);
    if slot != 0 {
        let buf = slot as *mut Buffer;
        // SAFETY: the slot holds this thread's own buffer.
        unsafe {
            if (*buf).generation != generation {
                buffer::init(buf, fresh_number(), gettid(), generation, now());
                register(buf);
            }
        }
        return buf;
    }
    create(generation, now)
}

#[cold]
fn create(generation: u64, now: fn() -> u64) -> *mut Buffer {
    if !KEY_READY.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    let Some(mapping) = os::map(BUFFER_BYTES) else {
        slot_set(EXITING);
        return ptr::null_mut();
    };
    let buf = mapping.as_ptr().cast::<Buffer>();
    // SAFETY: a fresh mapping of the buffer's size that only this thread knows.
    unsafe { buffer::init(buf, fresh_number(), gettid(), generation, now()) };
    register(buf);
    // Installed first: what pthread_setspecific allocates (keys past the first 32) is
    // recorded into this buffer rather than lost.
    slot_set(buf as usize);
    let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
    // SAFETY: the key is valid; the value is this thread's buffer.
    if unsafe { libc::pthread_setspecific(key, buf.cast()) } != 0 {
        // Without the destructor nobody would write it out at thread exit: write it now
        // and record without a buffer from here on.
        slot_set(EXITING);
        // SAFETY: the buffer is this thread's, unreachable from the slot now.
        unsafe { retire(buf, true) };
        return ptr::null_mut();
    }
    buf
}

/// Adds `buf` to the registry.
fn register(buf: *mut Buffer) {
    REGISTRY.lock.lock();
    // SAFETY: the registry's lock is held; buf is mapped and not on the list.
    unsafe {
        let head = *REGISTRY.head.get();
        (*buf).prev = ptr::null_mut();
        (*buf).next = head;
        if !head.is_null() {
            (*head).prev = buf;
        }
        *REGISTRY.head.get() = buf;
        (*buf).registered = true;
    }
    REGISTRY.lock.unlock();
}

/// Writes `buf` out (when `write` and it belongs to this process's trace), takes it off
/// the registry and unmaps it.
///
/// # Safety
/// `buf` is the calling thread's buffer, which it no longer reaches from its slot.
unsafe fn retire(buf: *mut Buffer, write: bool) {
    // SAFETY: forwarded from the caller; the registry's lock keeps the finisher off the
    // buffer while it is unlinked, and nobody reaches it after.
    unsafe {
        if write && (*buf).generation == GENERATION.load(Ordering::Acquire) && super::is_on() {
            buffer::flush(buf);
        }
        REGISTRY.lock.lock();
        if (*buf).registered {
            let (prev, next) = ((*buf).prev, (*buf).next);
            if prev.is_null() {
                *REGISTRY.head.get() = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*buf).registered = false;
        }
        REGISTRY.lock.unlock();
        os::unmap(buf.cast(), BUFFER_BYTES);
    }
}

/// The trace key's destructor: the thread is exiting.
unsafe extern "C" fn thread_exit(value: *mut libc::c_void) {
    os::keeping_errno(|| {
        slot_set(EXITING);
        // SAFETY: glibc passes the value this thread set: its own buffer.
        unsafe { retire(value.cast(), true) };
    });
}

/// Runs `f` on every registered buffer, under the registry's lock (so none is unmapped
/// meanwhile). Without `wait`, only if the lock is free at once (the trace's end on an
/// abort, which must not wait: the thread holding it may be waiting for one the aborting
/// thread holds, as fork's prepare takes this lock, then every arena's). Returns whether
/// `f` ran.
pub fn each_registered(wait: bool, mut f: impl FnMut(*mut Buffer)) -> bool {
    if wait {
        REGISTRY.lock.lock();
    } else if !REGISTRY.lock.try_lock() {
        return false;
    }
    // SAFETY: the lock is held; registered buffers stay mapped while it is.
    unsafe {
        let mut buf = *REGISTRY.head.get();
        while !buf.is_null() {
            f(buf);
            buf = (*buf).next;
        }
    }
    REGISTRY.lock.unlock();
    true
}

/// fork, prepare (when it locks at all): no buffer is registered or unregistered across
/// the fork.
pub fn fork_prepare() {
    REGISTRY.lock.lock();
}

pub fn fork_parent() {
    REGISTRY.lock.unlock();
}

/// fork, child handler: notes which buffer is the forking thread's; `locked` says whether
/// the prepare handler took the registry's lock.
pub fn fork_child(locked: bool) {
    if locked {
        REGISTRY.lock.reset_in_child();
    }
    FORKER.store(slot_get(), Ordering::Relaxed);
}

/// A fork child's set-up: the buffers of the parent's other threads are unmapped (those
/// threads do not exist here), the forking thread's is left to be set up afresh when it
/// next records (a new generation), and numbering starts again from 1.
///
/// # Safety
/// No other thread of the child records yet (the caller's set-up lock and state see to it).
pub unsafe fn reset_in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    NEXT_THREAD.store(1, Ordering::Relaxed);
    let forker = FORKER.load(Ordering::Relaxed);
    REGISTRY.lock.lock();
    // SAFETY: the registry's lock is held; the buffers other than the forker's belong to
    // threads that do not exist in this process.
    unsafe {
        let mut buf = *REGISTRY.head.get();
        while !buf.is_null() {
            let next = (*buf).next;
            if buf as usize == forker {
                (*buf).registered = false;
                buffer::discard(buf);
            } else {
                os::unmap(buf.cast(), BUFFER_BYTES);
            }
            buf = next;
        }
        *REGISTRY.head.get() = ptr::null_mut();
    }
    REGISTRY.lock.unlock();
}
