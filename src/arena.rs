//! Arenas: several heaps, each behind its own lock, so that threads do not queue on one.
//!
//! A thread has a home arena (kept in its cache, `tcache.rs`) and allocates there; when the
//! home's lock is taken, it moves to the first arena it can lock at once and stays there. A
//! region belongs to one arena for life, recorded in the chunk map, so the owner of any block
//! is found from its address alone. A block freed by a thread that does not hold its owner's
//! lock goes on the owner's remote list, a lock-free stack; whoever next locks that arena
//! frees the blocks on it first. The freeing thread never waits for the owner.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::chunkmap::MAX_ARENAS;
use crate::diag;
use crate::freed;
use crate::heap::Heap;
use crate::options;
use crate::os;
use crate::sync::{Guard, Locked, RawLock};

pub struct Arena<H> {
    heap: Locked<H>,
    /// Blocks of this arena freed by other threads, linked and keyed as cached blocks are
    /// (`freed::link`; 0 = empty). Pushed by anyone without a lock, emptied by the lock holder.
    /// On a cache line of its own: the threads that push are others than the one working
    /// the heap under its lock, and sharing a line with the heap's counters made both wait.
    remote: OwnLine<Remote>,
    /// Per size class, the blocks of that class that other threads' flushes handed back,
    /// with their number (`offer_chain`), so that the owner's refill of the class takes
    /// them whole as its bin (`take_chain`) without walking them: a walk of blocks last
    /// written on another core waits for each block's line in turn, where the allocations
    /// that take them one by one bring each line over while the program works.
    returned: OwnLine<Returned>,
}

/// The blocks handed back by class (`Arena::returned`).
struct Returned {
    /// How many classes have blocks, near enough (raised and lowered after the fact): the
    /// drains that find it 0 read nothing else.
    used: AtomicU32,
    /// Per class: 0, or the blocks packed by `pack_chain` (the first one; the others linked
    /// behind it with `freed::link`, the last linked to 0). Pushed by anyone, chain by
    /// chain, without a lock; taken whole by the owner's refills, and freed into the heap
    /// by its sweeps (classes it stopped using) and by whoever locks the arena while no
    /// thread lives in it (`drain_returned`).
    class: [AtomicUsize; RETURNED_CLASSES],
}

/// The classes whose returned blocks are kept by class (the others go on the remote list):
/// those `pack_chain` can number.
const RETURNED_CLASSES: usize = 256;

/// Chains of fewer blocks go on the remote list instead: a refill that took them would be
/// back soon.
pub const CHAIN_MIN: u32 = 2;

/// The most blocks one class may hold back (`pack_chain` counts in 9 bits).
const RETURNED_MAX: u32 = 511;

/// A class's blocks as `Returned::class` holds them: the first one (a user address below
/// 2^47, 16-aligned) with their number in bits 47..55 and the class in bits 56..63. None
/// when they do not fit.
fn pack_chain(first: usize, count: u32, class: usize) -> Option<usize> {
    (count != 0 && count <= RETURNED_MAX && class < RETURNED_CLASSES && first >> 47 == 0)
        .then_some(first | (count as usize) << 47 | class << 56)
}

/// The first block and the number of blocks of the packed word `word` (`pack_chain`);
/// (0, 0) for 0.
fn unpack_chain(word: usize) -> (usize, u32) {
    (word & ((1 << 47) - 1), ((word >> 47) & 0x1FF) as u32)
}

/// An arena's remote list and who will drain it.
struct Remote {
    head: AtomicUsize,
    /// How many threads' caches have this arena as their home. Read by the threads that
    /// push here (on the same line as the list they push to): with no thread at home, no
    /// one would lock the arena and drain the list, so the pusher does it (`free_remote_chain`).
    homed: AtomicU32,
    /// When (`os::coarse_ms`) the last thread living here left; meaningful while the
    /// arena's bit is set in `Arenas::idle`.
    left_at: AtomicU64,
}

/// A value alone on its cache line(s).
#[repr(align(64))]
struct OwnLine<T>(T);

impl<T> core::ops::Deref for OwnLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<H: Heap> Arena<H> {
    const fn new() -> Self {
        Arena {
            heap: Locked::new(H::EMPTY),
            remote: OwnLine(Remote {
                head: AtomicUsize::new(0),
                homed: AtomicU32::new(0),
                left_at: AtomicU64::new(0),
            }),
            returned: OwnLine(Returned {
                used: AtomicU32::new(0),
                class: [const { AtomicUsize::new(0) }; RETURNED_CLASSES],
            }),
        }
    }

    /// Locks the heap, after which the blocks other threads left are freed.
    #[inline]
    pub fn lock(&self) -> Guard<'_, H> {
        let mut heap = self.heap.lock();
        self.drain_remote(&mut heap);
        heap
    }

    #[inline]
    pub fn try_lock(&self) -> Option<Guard<'_, H>> {
        let mut heap = self.heap.try_lock()?;
        self.drain_remote(&mut heap);
        Some(heap)
    }

    #[inline]
    fn drain_remote(&self, heap: &mut H) {
        if self.remote.head.load(Ordering::Relaxed) != 0 {
            self.drain_remote_list(heap);
        }
        // No thread lives here to take them with its refills.
        if self.unhomed() {
            self.drain_returned(heap);
        }
    }

    /// Whether no thread has this arena as its home: no one would lock it soon, so what is
    /// handed to it waits unless the one who hands it on drains it (`drain_if_unhomed`).
    #[inline]
    fn unhomed(&self) -> bool {
        self.remote.homed.load(Ordering::Relaxed) == 0
    }

    /// After a push: drains the arena (its remote list and its stacks, `drain_remote`) when
    /// no thread lives there, if the lock is free; otherwise the holder or the next idle
    /// trim does.
    #[inline]
    fn drain_if_unhomed(&self) {
        if self.unhomed() {
            drop(self.try_lock());
        }
    }

    /// Frees every class's returned blocks into the heap.
    pub fn drain_returned(&self, heap: &mut H) {
        if self.returned.used.load(Ordering::Relaxed) == 0 {
            return;
        }
        for class in 0..RETURNED_CLASSES {
            self.drain_class(heap, class);
        }
    }

    /// Frees the returned blocks of `class` (any class number) into the heap.
    pub fn drain_class(&self, heap: &mut H, class: usize) {
        if let Some((first, _)) = self.take_chain(class) {
            // SAFETY: live blocks of this arena, ours since the swap, linked with
            // `freed::link` and ending in 0.
            unsafe { Self::free_chain(heap, first) };
        }
    }

    /// Whether blocks of `class` were handed back.
    #[inline]
    pub fn has_returned(&self, class: usize) -> bool {
        class < RETURNED_CLASSES && self.returned.class[class].load(Ordering::Relaxed) != 0
    }

    /// Hands back the chain `first` .. `last` of `count` held blocks of this arena, all of
    /// size class `class`, linked with `freed::link` (`last`'s link is set here), for the
    /// owner's next refill of that class to take whole (`take_chain`), as long as the class
    /// holds no more than `cap` blocks then. False when it would, or the class is not kept
    /// (the caller puts the chain on the remote list instead).
    ///
    /// # Safety
    /// Every block of the chain is a live block of this arena that the caller gives up when
    /// this returns true.
    pub unsafe fn offer_chain(
        &self,
        first: usize,
        last: usize,
        count: u32,
        class: usize,
        cap: u32,
    ) -> bool {
        // No one would take them: the caller drains through the remote list.
        if class >= RETURNED_CLASSES || self.unhomed() {
            return false;
        }
        let cap = cap.min(RETURNED_MAX);
        let slot = &self.returned.class[class];
        let mut old = slot.load(Ordering::Relaxed);
        loop {
            let (old_first, old_count) = unpack_chain(old);
            if old_count + count > cap {
                return false;
            }
            let Some(word) = pack_chain(first, old_count + count, class) else {
                return false;
            };
            // SAFETY: the caller gives the blocks up; the chain goes in front of the class's.
            unsafe { freed::link(last, old_first) };
            match slot.compare_exchange_weak(old, word, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if old == 0 {
            self.returned.used.fetch_add(1, Ordering::Relaxed);
        }
        // The last thread living here may have left since the test above.
        self.drain_if_unhomed();
        true
    }

    /// Calls `f(class, count)` for each class with returned blocks (a snapshot: they may
    /// be taken or added to meanwhile).
    pub fn each_returned(&self, mut f: impl FnMut(usize, u32)) {
        if self.returned.used.load(Ordering::Relaxed) == 0 {
            return;
        }
        for (class, slot) in self.returned.class.iter().enumerate() {
            let (_, count) = unpack_chain(slot.load(Ordering::Relaxed));
            if count != 0 {
                f(class, count);
            }
        }
    }

    /// Sets `Returned::used` from the classes themselves (fork's child, where a pusher may
    /// have stopped between its exchange and its count).
    fn recount_returned(&self) {
        let used = self
            .returned
            .class
            .iter()
            .filter(|slot| slot.load(Ordering::Relaxed) != 0)
            .count();
        self.returned.used.store(used as u32, Ordering::Relaxed);
    }

    /// Takes the returned blocks of `class`: the first one (the others linked behind it with
    /// `freed::link`, the last to 0) and their number.
    #[inline]
    pub fn take_chain(&self, class: usize) -> Option<(usize, u32)> {
        if !self.has_returned(class) {
            return None;
        }
        let word = self.returned.class[class].swap(0, Ordering::Acquire);
        if word == 0 {
            return None;
        }
        self.returned.used.fetch_sub(1, Ordering::Relaxed);
        Some(unpack_chain(word))
    }

    /// Frees the blocks on the remote list (see `free_chain`).
    #[cold]
    fn drain_remote_list(&self, heap: &mut H) {
        let p = self.remote.head.swap(0, Ordering::Acquire);
        // SAFETY: the list's blocks are live blocks of this arena, ours alone since the swap.
        unsafe { Self::free_chain(heap, p) };
    }

    /// Takes the whole remote list without the lock (0: empty); the caller then owns its
    /// blocks, live blocks of this arena linked with `freed::link`.
    #[inline]
    pub fn take_remote(&self) -> usize {
        if self.remote.head.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.remote.head.swap(0, Ordering::Acquire)
    }

    /// Frees a chain of held blocks of this arena into its heap, `BATCH` at a time through
    /// `Heap::free_many` (a remote list is LIFO, so blocks freed in address order come back
    /// as runs of neighbours).
    ///
    /// # Safety
    /// `p` starts a chain (0: empty) of live blocks of `heap`'s arena, linked with
    /// `freed::link`, that the caller gives up.
    unsafe fn free_chain(heap: &mut H, mut p: usize) {
        const BATCH: usize = 64;
        while p != 0 {
            let mut batch = [0usize; BATCH];
            let mut n = 0;
            while p != 0 && n < BATCH {
                batch[n] = p;
                n += 1;
                // SAFETY: the caller's chain of live blocks, linked with `freed::link`.
                p = unsafe { freed::next(p, "free") };
            }
            // SAFETY: as above; the caller gives them up.
            unsafe { Self::free_batch(heap, &batch[..n]) };
        }
    }

    /// Frees held blocks of this arena into its heap through `Heap::free_many`.
    ///
    /// # Safety
    /// The blocks are live blocks of `heap`'s arena that the caller gives up.
    pub unsafe fn free_batch(heap: &mut H, batch: &[usize]) {
        // SAFETY: forwarded from the caller.
        if let Err((block, misuse)) = unsafe { heap.free_many(batch) } {
            diag::misuse("free", misuse.describe(), block);
        }
    }

    /// Hands a live block of this arena back without taking its lock.
    ///
    /// # Safety
    /// `p` is a live block of this arena (checked with `Heap::peek_live`) that the caller
    /// gives up.
    pub unsafe fn free_remote(&self, p: *mut u8) {
        // SAFETY: forwarded from the caller; a single block is a chain of one.
        unsafe { self.free_remote_chain(p as usize, p as usize) }
    }

    /// Hands back a chain of live blocks of this arena, `first` to `last`, linked and keyed
    /// with `freed::link` (`last`'s link is set here), with one compare-and-swap: a
    /// flush sends all its blocks of one arena at once.
    ///
    /// # Safety
    /// Every block of the chain is a live block of this arena that the caller gives up.
    pub unsafe fn free_remote_chain(&self, first: usize, last: usize) {
        let mut head = self.remote.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: the blocks are the caller's to give up; the last one's first words
            // become the link to the list's old head and the key that marks it freed.
            unsafe { freed::link(last, head) };
            match self.remote.head.compare_exchange_weak(
                head,
                first,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // No thread lives here (its threads exited or moved): the list would keep its
        // blocks, and their regions, from the heap.
        self.drain_if_unhomed();
    }

    /// Counts a thread in (`+1`) or out (`-1`) of this arena's homed threads.
    fn home_count(&self, delta: i32) {
        self.remote.homed.fetch_add(delta as u32, Ordering::Relaxed);
    }

    /// How many threads have this arena as their home.
    fn homed(&self) -> u32 {
        self.remote.homed.load(Ordering::Relaxed)
    }
}

/// The table of arenas. Only the first `count()` are handed to threads as homes; an arena
/// is opened (numbered, marked in `opened`) the first time anything locks it, so a process
/// pays, in memory and at every fork, only for the arenas its threads have used. All
/// `MAX_ARENAS` exist, so an index from the chunk map is always valid.
///
/// A new table is all zero bytes, so the static one lies in .bss and costs the process only
/// the pages its opened arenas touch (an initialiser with a pointer in every heap put the
/// table in .data, relocated and resident at load).
pub struct Arenas<H> {
    arenas: [Arena<H>; MAX_ARENAS],
    /// Arenas handed out as homes; 0 before `init`, when arena 0 serves alone. Invariant:
    /// at most `MAX_ARENAS` and at most `limit` (when set).
    count: AtomicUsize,
    /// What `init` chose from the CPU count, before any limit.
    natural: AtomicUsize,
    /// mallopt(M_ARENA_MAX); 0 when unset.
    limit: AtomicUsize,
    /// Bit `i` is set, under `opening`, before arena `i` is first locked. Invariant: no
    /// arena whose bit is clear is locked, holds a region or has a remote list, so the fork
    /// handlers lock only the arenas marked here (holding `opening`, so none opens meanwhile).
    opened: AtomicU32,
    /// Serialises opening an arena against the fork handlers and `each`.
    opening: RawLock,
    /// Bit `i`: arena `i`'s last thread left and its free pages are still to go back
    /// (`trim_idle`). Read on refills and flushes: one load while no bit is set.
    idle: AtomicU32,
    /// The spare-region limit every arena applies (mallopt M_TRIM_THRESHOLD, M_TOP_PAD),
    /// plus one; 0 while unset (the table stays all zero bytes). Kept here so that an arena
    /// opened later gets the same limit as the rest.
    spare_limit_plus_one: AtomicUsize,
}

// A bit per arena in a u32, with the all-ones mask left free (global/fork.rs's FORK_SKIPPED).
const _: () = assert!(MAX_ARENAS < u32::BITS as usize);

impl<H: Heap> Arenas<H> {
    pub const fn new() -> Self {
        Arenas {
            arenas: [const { Arena::new() }; MAX_ARENAS],
            count: AtomicUsize::new(0),
            natural: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            opened: AtomicU32::new(0),
            opening: RawLock::new(),
            idle: AtomicU32::new(0),
            spare_limit_plus_one: AtomicUsize::new(0),
        }
    }

    /// Chooses how many arenas threads spread over: one per CPU the process may run on, at
    /// least two, at most 16 and at most the M_ARENA_MAX limit. Touches no arena.
    ///
    /// One per CPU, not two: the thread caches serve nearly every call, so threads that share
    /// an arena seldom meet at its lock, while an arena's free memory serves its own threads
    /// alone; four threads over four arenas on two CPUs spread their blocks over more pages
    /// than over two (bench's `server`, `larson`, `crossfree`: docs/PERFORMANCE.md). At least
    /// two, so that a thread that a busy one would keep waiting has somewhere to move.
    pub fn init(&self) {
        let natural = cpus().clamp(2, MAX_ARENAS);
        self.opening.lock();
        self.natural.store(natural, Ordering::Relaxed);
        self.apply_count();
        self.opening.unlock();
    }

    /// Sets `count` from `natural` and `limit`; the caller holds `opening`, so that `init`
    /// and mallopt cannot interleave.
    fn apply_count(&self) {
        let natural = self.natural.load(Ordering::Relaxed);
        let count = match self.limit.load(Ordering::Relaxed) {
            0 => natural,
            limit => natural.min(limit),
        };
        self.count.store(count, Ordering::Relaxed);
    }

    /// mallopt(M_ARENA_MAX): new threads spread over at most `limit` arenas (threads whose
    /// home lies past it move in range when next they lock one). Blocks keep their arena.
    pub fn set_limit(&self, limit: usize) {
        self.opening.lock();
        self.limit
            .store(limit.clamp(1, MAX_ARENAS), Ordering::Relaxed);
        self.apply_count();
        self.opening.unlock();
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed).max(1)
    }

    /// The arena with this index (from the chunk map or a thread's home, so already opened).
    #[inline]
    pub fn get(&self, index: u8) -> &Arena<H> {
        &self.arenas[index as usize % MAX_ARENAS]
    }

    /// Arena `index`, opened first if nothing has locked it yet.
    #[inline]
    fn open(&self, index: usize) -> &Arena<H> {
        if self.opened.load(Ordering::Relaxed) & (1 << index) == 0 {
            self.open_slow(index);
        }
        &self.arenas[index]
    }

    #[cold]
    #[inline(never)]
    fn open_slow(&self, index: usize) {
        self.opening.lock();
        if self.opened.load(Ordering::Relaxed) & (1 << index) == 0 {
            let mut heap = self.arenas[index].heap.lock();
            heap.set_arena(index as u8);
            let spare = self.spare_limit_plus_one.load(Ordering::Relaxed);
            if spare != 0 {
                heap.set_spare_limit(spare - 1);
            }
            drop(heap);
            self.opened.fetch_or(1 << index, Ordering::Relaxed);
        }
        self.opening.unlock();
    }

    /// Locks the arena `*home`, or, when another thread holds it, the first arena that can be
    /// locked at once and where fewer threads live, which becomes `*home`. Waits when there
    /// is none. `counted`: the caller is counted in its home's threads (a thread with a
    /// cache, see `adopt`), and a move carries the count along.
    ///
    /// A thread moves only to where it leaves the threads better spread: a lock held a moment
    /// by a thread that lives elsewhere (one draining an arena its last thread left) made a
    /// thread that had the arena to itself move to a fresh one, whose regions it then filled
    /// while its old home's free memory lay idle.
    pub fn lock_home(&self, home: &mut usize, counted: bool) -> Guard<'_, H> {
        let count = self.count();
        let start = *home % count;
        if let Some(heap) = self.open(start).try_lock() {
            self.moved(home, start, counted);
            return heap;
        }
        // The threads living at home besides this one: a move must leave the arena it goes
        // to with no more than that.
        let here = self.arenas[start].homed().saturating_sub(counted as u32);
        for step in 1..count {
            let index = (start + step) % count;
            if self.arenas[index].homed() >= here {
                continue;
            }
            if let Some(heap) = self.open(index).try_lock() {
                self.moved(home, index, counted);
                return heap;
            }
        }
        self.moved(home, start, counted);
        self.arenas[start].lock()
    }

    /// `*home` becomes `index`, the count of homed threads following a counted thread.
    #[inline]
    fn moved(&self, home: &mut usize, index: usize, counted: bool) {
        if counted && *home != index {
            let left = *home % MAX_ARENAS;
            self.arenas[left].home_count(-1);
            self.arenas[index].home_count(1);
            // The last thread moved out: as after `leave`, someone's slow path trims it, and
            // frees what others handed back for it.
            if self.arenas[left].homed() == 0 {
                self.mark_idle(left);
            }
        }
        *home = index;
    }

    /// Marks arena `index` as one no thread lives in since now (`trim_idle`).
    fn mark_idle(&self, index: usize) {
        self.arenas[index]
            .remote
            .left_at
            .store(os::coarse_ms(), Ordering::Relaxed);
        self.idle.fetch_or(1 << index, Ordering::Relaxed);
    }

    /// The home of a new thread's cache, counted in: the arena fewest threads live in, the
    /// lowest on ties. Threads that start after others exited take the arenas those left,
    /// whose free memory they reuse (taking arenas in turn spread a process that starts
    /// threads in rounds over every arena, each keeping regions of its own).
    pub fn adopt(&self) -> usize {
        let count = self.count();
        let mut best = 0;
        for index in 1..count {
            if self.arenas[index].homed() < self.arenas[best].homed() {
                best = index;
            }
        }
        self.arenas[best].home_count(1);
        // Its free pages are in use again: no trim pending.
        self.idle.fetch_and(!(1 << best), Ordering::Relaxed);
        best
    }

    /// A thread counted in `home` exits: counted out. The arena is locked once, which drains
    /// its remote list: with no thread left there, nobody else might. If it was the last
    /// thread there, the arena's free pages go back to the OS after a delay (`trim_idle`),
    /// unless a new thread takes the arena first.
    pub fn leave(&self, home: usize) {
        let index = home % MAX_ARENAS;
        let arena = &self.arenas[index];
        arena.home_count(-1);
        drop(arena.lock());
        if arena.homed() == 0 {
            self.mark_idle(index);
        }
    }

    /// Gives back the free pages of the arenas no thread has lived in for a while (see
    /// `leave`); called on the slow paths of every thread, so that the memory of exited
    /// threads returns without a thread of the allocator's own. One load while none waits.
    #[inline]
    pub fn trim_idle(&self) {
        if self.idle.load(Ordering::Relaxed) != 0 {
            self.trim_idle_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn trim_idle_slow(&self) {
        let now = os::coarse_ms();
        let mut idle = self.idle.load(Ordering::Relaxed);
        while idle != 0 {
            let index = idle.trailing_zeros() as usize;
            idle &= idle - 1;
            let arena = &self.arenas[index];
            if arena.homed() != 0 {
                // Taken again meanwhile.
                self.idle.fetch_and(!(1 << index), Ordering::Relaxed);
                continue;
            }
            let left = arena.remote.left_at.load(Ordering::Relaxed);
            // No delay unless `trim_delay_ms` is set. A new thread that takes the arena before
            // this runs clears its bit (`adopt`) and reuses its pages. Threads started in
            // rounds (transfer) used to be given 100 ms to do so, but they faulted pages in
            // at other places of the arena each round, and the arena's resident memory grew
            // round after round: trimming when the other threads' slow paths come next
            // costs those pages' faults again and keeps the peak lower.
            if now.saturating_sub(left) < options::trim_delay_ms() {
                continue;
            }
            // Busy: a thread draining it; the next slow path tries again.
            if let Some(mut heap) = arena.try_lock() {
                self.idle.fetch_and(!(1 << index), Ordering::Relaxed);
                heap.trim();
            }
        }
    }

    /// Runs `f` on every opened arena's heap in turn, each under its lock (the others are
    /// empty). No arena opens meanwhile.
    pub fn each(&self, mut f: impl FnMut(&mut H)) {
        self.each_indexed(|_, heap| f(heap));
    }

    /// As `each`, with each arena's index.
    pub fn each_indexed(&self, f: impl FnMut(usize, &mut H)) {
        self.opening.lock();
        self.each_opened(f);
        self.opening.unlock();
    }

    /// As `each_indexed`; the caller holds `opening`.
    fn each_opened(&self, mut f: impl FnMut(usize, &mut H)) {
        let opened = self.opened.load(Ordering::Relaxed);
        for (index, arena) in self.arenas.iter().enumerate() {
            if opened & (1 << index) != 0 {
                f(index, &mut arena.lock());
            }
        }
    }

    /// Sets every arena's spare-region limit, those opened later included.
    pub fn set_spare_limit(&self, regions: usize) {
        // One `opening` section: an arena opened meanwhile would miss either the stored
        // limit or the visit.
        self.opening.lock();
        let regions = regions.min(usize::MAX - 1);
        self.spare_limit_plus_one
            .store(regions + 1, Ordering::Relaxed);
        self.each_opened(|_, heap| heap.set_spare_limit(regions));
        self.opening.unlock();
    }

    /// fork, prepare: takes `opening`, then every opened arena's lock in index order (the
    /// order nothing else contradicts: no thread holds two arena locks, and `opening` is
    /// never taken with an arena lock held). Returns the arenas locked, for `unlock_all`.
    pub fn lock_all(&self) -> u32 {
        self.opening.lock();
        let opened = self.opened.load(Ordering::Relaxed);
        for (index, arena) in self.arenas.iter().enumerate() {
            if opened & (1 << index) != 0 {
                arena.heap.raw().lock();
            }
        }
        opened
    }

    /// fork, parent: releases what `lock_all` took.
    pub fn unlock_all(&self, locked: u32) {
        for (index, arena) in self.arenas.iter().enumerate() {
            if locked & (1 << index) != 0 {
                arena.heap.raw().unlock();
            }
        }
        self.opening.unlock();
    }

    /// fork, child: only the forking thread is left, homed in `home` (None: it has no
    /// cache). The other threads' counts would keep their arenas from ever being drained
    /// by the pushers or trimmed: those arenas are now idle, trimmed after the delay.
    pub fn reset_homes_in_child(&self, home: Option<u8>) {
        let opened = self.opened.load(Ordering::Relaxed);
        for (index, arena) in self.arenas.iter().enumerate() {
            let here = home.is_some_and(|home| home as usize == index);
            arena.remote.homed.store(here as u32, Ordering::Relaxed);
            // A thread that was pushing when the process forked may have left a class
            // without counting it: count again, so that the drains see it.
            arena.recount_returned();
            if !here && opened & (1 << index) != 0 {
                self.mark_idle(index);
            }
        }
    }

    /// fork, child: the locks `lock_all` took belong to this thread, the only one left.
    pub fn reset_all_in_child(&self, locked: u32) {
        for (index, arena) in self.arenas.iter().enumerate() {
            if locked & (1 << index) != 0 {
                arena.heap.raw().reset_in_child();
            }
        }
        self.opening.reset_in_child();
    }
}

/// How many CPUs this process may run on (sched_getaffinity, no allocation), leaving errno
/// as it was. Made as a raw system call: glibc's wrapper lies in a part of libc's text that
/// nothing else touches at start-up, so calling it would fault that part in and add to every
/// program's resident memory.
fn cpus() -> usize {
    // SAFETY: cpu_set_t is plain data; the kernel fills at most its size of it and returns
    // how many bytes it wrote, or -1.
    os::keeping_errno(|| unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        let size = core::mem::size_of::<libc::cpu_set_t>();
        if libc::syscall(libc::SYS_sched_getaffinity, 0, size, &mut set as *mut _) < 0 {
            1
        } else {
            libc::CPU_COUNT(&set).max(1) as usize
        }
    })
}
