//! The trace's clock: `CLOCK_MONOTONIC` in ns, read from the time-stamp counter when the
//! kernel's own clock source is the TSC, else from `clock_gettime`.
//!
//! The vDSO's `clock_gettime` reads the TSC too, but through its sequence lock and
//! conversion it costs several times a bare `rdtsc`, and every traced call reads the clock.
//! So when the kernel trusts the TSC (clock source `tsc`: invariant, and in step on every
//! CPU), `calibrate` takes two (TSC, `clock_gettime`) pairs about a millisecond apart when
//! tracing starts, and `now` converts the counter with that line from then on. Every thread
//! (and a fork child, which inherits the statics) uses the same line, a non-decreasing
//! function of the TSC, so that the order of two readings on different CPUs is the order
//! of the counter's values: the merged order of docs/TRACE.md stays a possible history.
//! The line drifts from the kernel's clock by the calibration's error (a few parts in
//! 10^5); the trace compares times only with each other.
//!
//! Ordering: `now` (`lfence; rdtsc`) reads the counter after every earlier load has
//! completed (the kernel's `rdtsc_ordered`), so a time taken after getting a block follows
//! the store that released it elsewhere. The fence waits for the loads in flight, cache
//! misses included, which makes it the dearest part of a traced call; `now_unordered`
//! (`rdtsc` alone) skips it where no load needs ordering: a time taken before releasing a
//! block (a read is done before any later store becomes visible: stores leave in order
//! after retirement), and the time of a block taken from the thread's own cache (see
//! `trace::record_cached`).

use core::sync::atomic::{AtomicU64, Ordering};

/// The counter's value and the ns time at the calibration's second pair.
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
static NS_BASE: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per counter tick, fixed point with 32 fraction bits; 0: read
/// `clock_gettime` instead. Written only by `calibrate`, before tracing is marked on.
static SCALE: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds of `CLOCK_MONOTONIC` from the kernel (vDSO: no system call).
fn kernel_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The time-stamp counter, read after every earlier load has completed.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tsc() -> u64 {
    // SAFETY: lfence and rdtsc exist on every x86-64 CPU and touch no memory (the kernel
    // lets user space read the counter whenever its clock source is the TSC).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// The time-stamp counter, possibly read before earlier loads complete.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tsc_unordered() -> u64 {
    // SAFETY: as in `tsc`.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The trace's time now, in ns, after every earlier load.
#[inline]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    return from_tsc(tsc);
    #[cfg(not(target_arch = "x86_64"))]
    kernel_now()
}

/// As `now`, but the counter may be read before earlier loads complete (see the top of
/// this file for where that is enough).
#[inline]
pub fn now_unordered() -> u64 {
    #[cfg(target_arch = "x86_64")]
    return from_tsc(tsc_unordered);
    #[cfg(not(target_arch = "x86_64"))]
    kernel_now()
}

/// The calibrated line applied to the counter `read` reads, or the kernel's clock.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn from_tsc(read: fn() -> u64) -> u64 {
    let scale = SCALE.load(Ordering::Relaxed);
    if scale == 0 {
        return kernel_now();
    }
    let ticks = read().saturating_sub(TSC_BASE.load(Ordering::Relaxed));
    let ns = (ticks as u128 * scale as u128) >> 32;
    NS_BASE.load(Ordering::Relaxed) + ns as u64
}

/// Sets the clock up: the TSC when the kernel's clock source is the TSC, else the kernel's
/// clock. Called by the thread that starts tracing, before it marks tracing on (which
/// publishes these stores to the threads that record); a no-op once done.
pub fn calibrate() {
    #[cfg(target_arch = "x86_64")]
    {
        if SCALE.load(Ordering::Relaxed) != 0 || !kernel_uses_tsc() {
            return;
        }
        let (tsc0, ns0) = pair();
        let mut pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: nanosleep reads the first timespec and may write the second; a signal
        // that cuts it short only shortens the calibration.
        unsafe { libc::nanosleep(&pause, &mut pause) };
        let (tsc1, ns1) = pair();
        if tsc1 <= tsc0 || ns1 <= ns0 {
            return;
        }
        let scale = (((ns1 - ns0) as u128) << 32) / (tsc1 - tsc0) as u128;
        if scale == 0 || scale > u64::MAX as u128 {
            return;
        }
        TSC_BASE.store(tsc1, Ordering::Relaxed);
        NS_BASE.store(ns1, Ordering::Relaxed);
        SCALE.store(scale as u64, Ordering::Relaxed);
    }
}

/// A counter value and the kernel's time at about the same instant: the counter read on
/// each side of the kernel's clock, the midpoint of the closest of a few tries.
#[cfg(target_arch = "x86_64")]
fn pair() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let before = tsc();
        let ns = kernel_now();
        let after = tsc();
        let width = after.wrapping_sub(before);
        if width < best.0 {
            best = (width, before + width / 2, ns);
        }
    }
    (best.1, best.2)
}

/// Does the kernel keep time with the TSC (`current_clocksource` reads `tsc`)? Then it has
/// found the counter invariant and in step across CPUs.
#[cfg(target_arch = "x86_64")]
fn kernel_uses_tsc() -> bool {
    const PATH: &[u8] = b"/sys/devices/system/clocksource/clocksource0/current_clocksource\0";
    // SAFETY: a NUL-terminated path; open makes no allocation.
    let fd = unsafe { libc::open(PATH.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let mut name = [0u8; 16];
    // SAFETY: reads at most the array's length into it; fd is ours, closed right after.
    let n = unsafe {
        let n = libc::read(fd, name.as_mut_ptr().cast(), name.len());
        libc::close(fd);
        n
    };
    n >= 3 && name[..n as usize].trim_ascii_end() == b"tsc"
}
