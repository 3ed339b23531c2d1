//! The trace of the program's malloc-family calls (`BESTBUDDY_TRACE=PATH`), written as
//! docs/TRACE.md says: the state (off, on, or a fork child's trace still to set up), the
//! start and the end, and the record API that the C layer (`cabi.rs`) calls.
//!
//! The files: `format.rs` the bytes of the format, `clock.rs` the time, `file.rs` which
//! file and every write to it, `buffer.rs` a thread's buffer, `threads.rs` which buffer
//! each thread uses (TLS slot, registry, thread exit, fork).
//!
//! With tracing off, a call pays for `on()`: one load of a static and a branch. Everything
//! else is in cold functions. Nothing here allocates: buffers are mappings of their own.
//! Every entry point keeps the program's errno.

mod buffer;
mod clock;
mod file;
mod format;
mod threads;

pub use format::Kind;

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use crate::os;
use crate::sync::RawLock;
use format::Record;

const OFF: u8 = 0;
const ON: u8 = 1;
/// In a fork child of a traced process: the child's trace is set up by its first call.
const CHILD: u8 = 2;

/// OFF, ON or CHILD. Anything but OFF sends the C layer's calls to the cold paths here.
static STATE: AtomicU8 = AtomicU8::new(OFF);
/// Set once the trace's end chunk is written (process exit): later records are written at
/// once.
static FINISHED: AtomicBool = AtomicBool::new(false);
/// What the file header says of the heap: 1 best fit, 2 buddy.
static HEAP: AtomicU8 = AtomicU8::new(0);
/// The `LiveBlocks` given to `start`, kept for a fork child's set-up (0: none).
static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// Serialises a fork child's set-up among the child's threads.
static SETUP: RawLock = RawLock::new();
static START_TIME: AtomicU64 = AtomicU64::new(0);

/// Lists every block the program holds, as (pointer, usable size), to the function given.
/// The process allocator's (`global`) knows the arenas and large blocks; the trace, a lower
/// layer, is handed it.
pub type LiveBlocks = fn(&mut dyn FnMut(usize, usize));

/// Is tracing on (or a fork child's trace waiting to be set up)? The one question the
/// untraced paths ask.
#[inline(always)]
pub fn on() -> bool {
    STATE.load(Ordering::Relaxed) != OFF
}

/// Is the trace being written (not off, not waiting for a fork child's set-up)?
fn is_on() -> bool {
    STATE.load(Ordering::Acquire) == ON
}

/// The trace's time now: nanoseconds of CLOCK_MONOTONIC (`clock.rs`).
#[inline]
pub fn now() -> u64 {
    clock::now()
}

/// Starts tracing into `path` (BESTBUDDY_TRACE), `heap` the header's heap code, then
/// records a `LIVE` record for each block `live_blocks` lists. Called once, at start-up,
/// with no allocator lock held; a failure is one warning and no trace.
pub fn start(path: &[u8], heap: u8, live_blocks: LiveBlocks) {
    os::keeping_errno(|| {
        if STATE.load(Ordering::Acquire) != OFF {
            return;
        }
        // SAFETY: start-up: tracing is off, so no other thread reads the path.
        if !unsafe { file::set_path(path) } || !threads::init_key() {
            return;
        }
        HEAP.store(heap, Ordering::Relaxed);
        // A misuse that aborts the program ends the trace first: the calls that led to it
        // are what its message sends the reader to the trace for.
        crate::diag::set_before_abort(finish_on_abort);
        LIVE_BLOCKS.store(live_blocks as usize, Ordering::Relaxed);
        // Before the state says ON, which publishes the clock to the recording threads.
        clock::calibrate();
        let start = now();
        START_TIME.store(start, Ordering::Relaxed);
        // SAFETY: as above.
        if unsafe { file::open(heap, false, start) } {
            STATE.store(ON, Ordering::Release);
            record_live_blocks(0);
        }
    });
}

/// Stops tracing for good (a failed write, a lost descriptor).
fn stop() {
    STATE.store(OFF, Ordering::Release);
}

/// Records a `LIVE` record for each block the program holds now, but `exclude` (the block
/// of the call being recorded). Into this thread's buffer, got first: making it takes the
/// registry's lock and may allocate, neither allowed under the arena locks held while the
/// blocks are listed.
fn record_live_blocks(exclude: usize) {
    let raw = LIVE_BLOCKS.load(Ordering::Relaxed);
    if raw == 0 {
        return;
    }
    // SAFETY: LIVE_BLOCKS holds nothing but a `LiveBlocks` stored by `start`.
    let live_blocks: LiveBlocks = unsafe { core::mem::transmute::<usize, LiveBlocks>(raw) };
    let buf = threads::current(now);
    let time = now();
    let tid = threads::gettid();
    live_blocks(&mut |p, usable| {
        if p == exclude {
            return;
        }
        let record = Record::new(Kind::Live, time, 0, &[usable], p);
        if buf.is_null() {
            buffer::write_single(&record, threads::fresh_number(), tid);
        } else {
            // SAFETY: the calling thread's own buffer.
            unsafe { buffer::append(buf, &record) };
        }
    });
}

/// The end of the trace, at process exit: every registered buffer is written (this
/// thread's emptied, the others' as they are: their threads may still run), then the end
/// chunk. Records made later are written at once.
pub fn finish() {
    end(true);
}

/// The end of the trace when a misuse aborts the process (`diag`'s hook): as `finish`, but
/// without waiting for a lock. The abort may come with an arena lock held, while a forking
/// thread holds the registry's lock and waits for that arena's: so the other threads'
/// buffers are written only if the registry's lock and each buffer's are free at once.
/// This thread's own buffer, which holds the calls that led to the misuse, is written
/// whatever happens to the others.
pub fn finish_on_abort() {
    end(false);
}

/// `finish` (`wait`) or `finish_on_abort` (not `wait`).
fn end(wait: bool) {
    os::keeping_errno(|| {
        if !is_on() || FINISHED.swap(true, Ordering::AcqRel) {
            return;
        }
        let own = threads::existing();
        if !own.is_null() {
            // SAFETY: this thread's own buffer; its lock is taken only by this thread and
            // by writers of other threads' buffers, who hold no arena lock meanwhile.
            unsafe { buffer::flush(own) };
        }
        threads::each_registered(wait, |buf| {
            if buf != own {
                // SAFETY: a registered buffer, kept mapped by the registry's lock.
                unsafe { buffer::write_as_is(buf, wait) };
            }
        });
        buffer::write_end(now());
    });
}

/// Before a traced realloc: a fork child's trace is set up now, so that the blocks it
/// lists are those before the call; and the thread's buffer is made now, so that the time
/// `stamp_release` takes during the call is not below the new buffer's base time.
#[cold]
#[inline(never)]
pub fn before_call() {
    os::keeping_errno(|| {
        if STATE.load(Ordering::Acquire) == CHILD {
            set_up_child(0);
        }
        if is_on() {
            threads::current(now);
        }
    });
}

/// Records a call made now. `pointer` is the pointer argument (0 when null or when the
/// kind takes none), `args` the numbers of the kind's row in docs/TRACE.md, `result` the
/// block returned or stored (0: null).
#[cold]
#[inline(never)]
pub fn record(kind: Kind, pointer: usize, args: &[usize], result: usize) {
    record_at(kind, pointer, args, result, 0);
}

/// As `record`, at `time` (0: now).
#[cold]
#[inline(never)]
pub fn record_at(kind: Kind, pointer: usize, args: &[usize], result: usize, time: u64) {
    os::keeping_errno(|| {
        if STATE.load(Ordering::Acquire) == CHILD {
            // The call's own block is not an inherited one.
            set_up_child(if kind == Kind::Free { 0 } else { result });
        }
        if !is_on() {
            return;
        }
        // The buffer first: making it may record an allocation of pthread_setspecific's,
        // whose time must not follow this record's.
        let buf = threads::current(now);
        let time = if time == 0 { now() } else { time };
        let record = Record::new(kind, time, pointer, args, result);
        if buf.is_null() {
            buffer::write_single(&record, threads::fresh_number(), threads::gettid());
            return;
        }
        // SAFETY: the calling thread's own buffer.
        unsafe {
            buffer::append(buf, &record);
            if FINISHED.load(Ordering::Acquire) {
                buffer::flush(buf);
            }
        }
    });
}

/// Records a `FREE` of `pointer` (null included), timed before the call releases anything,
/// and keeps errno: the short path of the traced calls, which codes the record straight
/// into the thread's buffer; anything unusual (tracing not on yet, a fork child's trace to
/// set up, no buffer yet, the end written, a null pointer) takes `record`.
#[inline]
pub fn record_free(pointer: usize) {
    let buf = short_path_buffer();
    if buf.is_null() || pointer == 0 {
        return record(Kind::Free, pointer, &[], 0);
    }
    // A read of the counter completes before the later stores that release the block.
    let time = clock::now_unordered();
    // SAFETY: the calling thread's own buffer.
    unsafe { buffer::append_short(buf, Kind::Free, time, None, pointer) };
}

/// Records a `MALLOC` of `size` that took `result` (not null) from the thread's own cache
/// with no lock taken: the short path of `record_free`. Its time may be read before the
/// loads that took the block complete: the block entered the cache from this thread's own
/// free, or from a refill made by a call recorded earlier with an ordered time (`record`),
/// and a thread's times never decrease (`format::encode`), so the time still follows every
/// other thread's release of the block.
#[inline]
pub fn record_cached(size: usize, result: usize) {
    let buf = short_path_buffer();
    if buf.is_null() || result == 0 {
        return record(Kind::Malloc, 0, &[size], result);
    }
    let time = clock::now_unordered();
    // SAFETY: the calling thread's own buffer.
    unsafe { buffer::append_short(buf, Kind::Malloc, time, Some(size), result) };
}

/// The buffer the short paths code into, or null when the record must take `record`.
#[inline(always)]
fn short_path_buffer() -> *mut buffer::Buffer {
    if !is_on() || FINISHED.load(Ordering::Relaxed) {
        return core::ptr::null_mut();
    }
    threads::ready()
}

/// A moving realloc has its new block and is about to free the old one: the time its
/// record takes (docs/TRACE.md, "Timestamps").
#[inline]
pub fn stamp_release() {
    if on() {
        threads::stamp_set(now());
    }
}

/// Forgets a stamp (before a traced realloc).
pub fn clear_stamp() {
    threads::stamp_set(0);
}

/// The time `stamp_release` noted since `clear_stamp`, or 0.
pub fn take_stamp() -> u64 {
    threads::stamp_get()
}

/// A fork child's first traced call: its own file `PATH.PID`, numbering from 1, and a
/// `LIVE` record for each inherited block but `exclude`.
#[cold]
fn set_up_child(exclude: usize) {
    SETUP.lock();
    if STATE.load(Ordering::Acquire) == CHILD {
        FINISHED.store(false, Ordering::Relaxed);
        // SAFETY: no thread records while the state is CHILD, and this one holds SETUP.
        unsafe { threads::reset_in_child() };
        file::close_inherited();
        let start = now();
        START_TIME.store(start, Ordering::Relaxed);
        // SAFETY: as above.
        if unsafe { file::open(HEAP.load(Ordering::Relaxed), true, start) } {
            STATE.store(ON, Ordering::Release);
            record_live_blocks(exclude);
        }
    }
    SETUP.unlock();
}

/// fork, prepare, when the handler locks: after stdio's list lock, before the arenas (no
/// path takes the registry's lock with an arena lock held).
pub fn fork_prepare() {
    threads::fork_prepare();
}

pub fn fork_parent() {
    threads::fork_parent();
}

/// fork, child handler (run even when the prepare handler took nothing; `locked` says if
/// it did): the child's trace is set up by its first call.
pub fn fork_child(locked: bool) {
    threads::fork_child(locked);
    // Only a child's set-up takes it, and it never forks; a thread the child lacks may
    // have held it.
    SETUP.reset_in_child();
    if STATE.load(Ordering::Relaxed) != OFF {
        STATE.store(CHILD, Ordering::Release);
    }
}
