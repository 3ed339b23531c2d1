//! The lock that guards each heap: a futex mutex that never allocates.
//!
//! std's Mutex cannot be used (no_std, and it may allocate on some platforms); a pure spin
//! lock burns the second core while a holder is descheduled. This is the classic three-state
//! futex mutex: 0 = unlocked, 1 = locked, 2 = locked with (possible) waiters.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

pub struct RawLock {
    /// 0 unlocked, 1 locked and uncontended, 2 locked and a waiter may sleep on the futex.
    state: AtomicU32,
}

impl RawLock {
    pub const fn new() -> Self {
        RawLock {
            state: AtomicU32::new(0),
        }
    }

    #[inline]
    pub fn lock(&self) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    /// Takes the lock if it is free; never waits.
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        // Spin briefly first: critical sections are short, and a futex wait costs a syscall.
        for _ in 0..100 {
            core::hint::spin_loop();
            if self.state.load(Ordering::Relaxed) == 0
                && self
                    .state
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        while self.state.swap(2, Ordering::Acquire) != 0 {
            futex(&self.state, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 2);
        }
    }

    #[inline]
    pub fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }

    /// In a fork child only the forking thread exists; whatever the parent's threads held is
    /// held by nobody now.
    pub fn reset_in_child(&self) {
        self.state.store(0, Ordering::Relaxed);
    }
}

/// Waits or wakes on `word`. The thread's errno is left as it was: a wait that finds the word
/// changed (EAGAIN) or is interrupted (EINTR) is normal here, and a malloc or free that
/// succeeds must not leave it behind.
fn futex(word: &AtomicU32, op: i32, val: u32) {
    // SAFETY: the futex word is a valid, aligned u32 for the duration of the call; a spurious
    // wake-up or EAGAIN is handled by the caller's loop.
    crate::os::keeping_errno(|| unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            core::ptr::null::<libc::timespec>(),
        );
    });
}

/// A value guarded by a [`RawLock`]; the only way to reach it is through [`Locked::lock`].
pub struct Locked<T> {
    lock: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: every access to `value` happens while `lock` is held.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    pub const fn new(value: T) -> Self {
        Locked {
            lock: RawLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub fn lock(&self) -> Guard<'_, T> {
        self.lock.lock();
        Guard { owner: self }
    }

    #[inline]
    pub fn try_lock(&self) -> Option<Guard<'_, T>> {
        if self.lock.try_lock() {
            Some(Guard { owner: self })
        } else {
            None
        }
    }

    pub fn raw(&self) -> &RawLock {
        &self.lock
    }
}

pub struct Guard<'a, T> {
    owner: &'a Locked<T>,
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held.
        unsafe { &*self.owner.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the lock is held, and it is not Clone.
        unsafe { &mut *self.owner.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.owner.lock.unlock();
    }
}
