//! The contract between the C layer and the two heap policies, and what the two share.
//!
//! A heap owns regions: chunk-aligned mappings of [`CHUNK`] bytes (`region.rs`). It serves
//! requests up to its own `MAX_REQUEST` bytes and alignments up to `MAX_ALIGN`; larger ones
//! never reach it (they get a mapping of their own, see `large/`). A heap is not
//! thread-safe: the caller holds its lock for every call.
//!
//! The files: this one has the [`Heap`] trait (what a policy must say, and the calls written
//! once for both on top of it) and the small shared types; `shared.rs` the [`HeapCore`]
//! each policy embeds (its regions, counts, spare limit, arena and the call being served);
//! `region.rs` a region's header and the list of a heap's regions; `source.rs` where
//! regions come from ([`RegionSource`]; the process allocator's is [`OsRegions`]).

mod region;
mod shared;
mod source;

pub use region::{Region, Regions, decode_link, region_arena, region_of};
pub use shared::{HeapCore, PURGE_RANGE_MIN, Tally};
pub use source::{OsRegions, RegionSource, os_regions};

/// The part of a `Heap` impl that is the same for every policy: the heap embeds its
/// [`HeapCore`] as the field `core`, its regions come from `$source`. Written once here so
/// that the policies' impls hold only what differs.
macro_rules! embeds_core {
    ($source:ty) => {
        type Source = $source;

        fn core(&self) -> &$crate::heap::HeapCore<$source> {
            &self.core
        }

        fn core_mut(&mut self) -> &mut $crate::heap::HeapCore<$source> {
            &mut self.core
        }
    };
}
pub(crate) use embeds_core;

/// The size and alignment of every heap region: a region is one chunk of the chunk map, so
/// the map records its owner in one entry.
pub use crate::chunkmap::CHUNK;

/// The alignment of every pointer a heap returns: `alignof(max_align_t)` on x86_64.
pub const MIN_ALIGN: usize = 16;

/// Misuse found while validating a pointer handed back by the program.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Misuse {
    /// The pointer was a block this heap returned, and that block is already free.
    DoubleFree,
    /// The pointer is not the start of a block this heap returned.
    InvalidPointer,
    /// The block's metadata (a sealed header) was overwritten, e.g. by an overflow of the
    /// block before it.
    Corrupted,
}

impl Misuse {
    /// The words of the diagnostic line, before the pointer.
    pub fn describe(self) -> &'static str {
        match self {
            Misuse::DoubleFree => "double free of",
            Misuse::InvalidPointer => "invalid pointer",
            Misuse::Corrupted => "corrupted block",
        }
    }
}

/// The C call a heap is serving, named in the diagnostic when it finds damage. `Malloc` is
/// 0, so that an empty heap is all zero bytes (see `Heap::EMPTY`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Call {
    Malloc = 0,
    Free,
    Realloc,
    MallocTrim,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Malloc => "malloc",
            Call::Free => "free",
            Call::Realloc => "realloc",
            Call::MallocTrim => "malloc_trim",
        }
    }
}

/// How many wholly free regions a heap keeps mapped for reuse: one, until
/// mallopt(M_TRIM_THRESHOLD) sets a number. Its default is all zero bytes (see `Heap::EMPTY`).
#[derive(Clone, Copy, Debug)]
pub struct SpareLimit {
    /// Set by mallopt; `regions` means nothing until then.
    set: bool,
    regions: usize,
}

impl SpareLimit {
    pub const DEFAULT: SpareLimit = SpareLimit {
        set: false,
        regions: 0,
    };
    const DEFAULT_REGIONS: usize = 1;

    pub fn new(regions: usize) -> Self {
        SpareLimit { set: true, regions }
    }

    pub fn regions(self) -> usize {
        if self.set {
            self.regions
        } else {
            Self::DEFAULT_REGIONS
        }
    }
}

/// What a stretch of a region is, in a heap walk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpanKind {
    /// The region's own metadata: its header, bitmaps or order map, end markers.
    Metadata,
    /// A block handed out (to the program, or held in a thread cache).
    Live,
    /// A free block.
    Free,
}

/// One stretch of a region in a heap walk: `size` bytes from `start`. A block's stretch
/// covers its header and any slack, so the stretches of a region tile it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Span {
    pub start: usize,
    pub size: usize,
    pub kind: SpanKind,
}

/// Figures for mallinfo2, malloc_stats and malloc_info. All in bytes unless named a count.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct HeapStats {
    /// Regions currently mapped.
    pub regions: usize,
    /// The most regions mapped at once (summed over heaps: each heap's own peak).
    pub peak_regions: usize,
    /// Bytes of blocks handed out (block sizes, overhead included), thread caches' included.
    pub used: usize,
    /// Blocks handed out, thread caches' included.
    pub used_blocks: usize,
    /// The most `used` has been (summed over heaps: each heap's own peak).
    pub peak_used: usize,
    /// Bytes of free blocks.
    pub free: usize,
    /// Number of free blocks.
    pub free_blocks: usize,
    /// The largest free block (over heaps: the largest of any).
    pub largest_free: usize,
    /// Bytes of regions that are wholly free and kept for reuse.
    pub spare: usize,
    /// Bytes of regions given back to the OS (unmapped).
    pub returned: usize,
    /// Bytes of free pages trimmed (MADV_DONTNEED; malloc_trim, idle arenas), at every trim.
    pub decommitted: usize,
    /// Bytes of free pages given back by frees that formed a large free block, at every
    /// such free, by reallocs that shrank a block in place into one, and by best fit's
    /// passes over its large free blocks (`PURGE_BACKLOG`).
    /// The one figure in which a batch (`free_many`) may differ from freeing its blocks one
    /// at a time: a run purges as one range, with the pages its blocks share and without
    /// the floor (`PURGE_RANGE_MIN`) each block alone might fall under.
    pub purged: usize,
}

impl core::ops::AddAssign for HeapStats {
    /// Adds another heap's figures (the arenas' totals).
    fn add_assign(&mut self, other: HeapStats) {
        self.regions += other.regions;
        self.peak_regions += other.peak_regions;
        self.used += other.used;
        self.used_blocks += other.used_blocks;
        self.peak_used += other.peak_used;
        self.free += other.free;
        self.free_blocks += other.free_blocks;
        self.largest_free = self.largest_free.max(other.largest_free);
        self.spare += other.spare;
        self.returned += other.returned;
        self.decommitted += other.decommitted;
        self.purged += other.purged;
    }
}

/// How the thread cache numbers its bins, as the heaps' fast paths compute them
/// (`Heap::fast_bin`, `Heap::peek_bin`): class `c` is bin `c + FIRST_CLASS_BIN`. The bins below
/// are always empty, so that a size or block the cache never holds can be sent to one of them
/// instead of being tested for: malloc finds it empty, free finds it full.
pub const FIRST_CLASS_BIN: usize = 2;

/// How many bins the thread cache has, counted from the first of those below
/// `FIRST_CLASS_BIN`: every number `Heap::fast_bin` and `Heap::peek_bin` give is below it.
/// The bins past a heap's classes (from `CACHE_CLASSES + FIRST_CLASS_BIN`) are always empty
/// and full, as those below `FIRST_CLASS_BIN` are, so a heap may send a size or block it
/// leaves to the slow path to any of them instead of testing for it: buddy numbers the bin
/// of a freed block from its order map byte, whatever that byte holds (`buddy::peek_bin`).
pub const FAST_BINS: usize = FIRST_CLASS_BIN + 288;

/// Requests above this many bytes get a mapping of their own until mallopt(M_MMAP_THRESHOLD)
/// says otherwise (at most the heap's `MAX_REQUEST`, `default_mmap_threshold`). A block this
/// large is mostly whole pages: mapped, the pages its program never touches (a vector's
/// spare capacity) cost nothing, a freed one goes back to the OS or to the kept mappings,
/// and realloc moves it with `mremap` instead of copying; in a heap region its pages stay
/// resident, free or not, at the most the region ever held. glibc starts at 128 KiB.
pub const MMAP_THRESHOLD_DEFAULT: usize = 256 << 10;

/// [`MMAP_THRESHOLD_DEFAULT`] within what heap `H` can serve: what the library starts with,
/// and what the replay tool models.
pub const fn default_mmap_threshold<H: Heap>() -> usize {
    if H::MAX_REQUEST < MMAP_THRESHOLD_DEFAULT {
        H::MAX_REQUEST
    } else {
        MMAP_THRESHOLD_DEFAULT
    }
}

/// A heap policy. Every pointer argument must lie in a region of the heap's
/// [`Source`](Heap::Source) (for [`OsRegions`], a chunk whose chunk map entry is a region);
/// the heap validates that it is one of its own live blocks.
pub trait Heap {
    /// What `bestbuddy_backend()` reports.
    const NAME: &'static str;
    /// An empty heap, with no regions; the first allocation maps one. Invariant: all zero
    /// bytes (no pointer, no non-zero default), so that the static table of arenas lies in
    /// `.bss` (checked by `tests/c/layout.sh`).
    const EMPTY: Self;
    /// The largest request this heap serves; larger ones get their own mapping.
    const MAX_REQUEST: usize;
    /// The bytes of a block before its payload (its header): a block of `n` bytes has
    /// `n - BLOCK_HEADER` usable, and its payload (the pointer the program holds) starts
    /// `BLOCK_HEADER` bytes into its `Live` span in a heap walk.
    const BLOCK_HEADER: usize;
    /// The largest alignment this heap serves.
    const MAX_ALIGN: usize;

    /// How many size classes the thread cache keeps for this heap (at most the cache's
    /// `MAX_CLASSES`).
    const CACHE_CLASSES: usize;

    /// The cache class of a request of `size` bytes, or `None` if it is too large to cache.
    /// Every block of a class is interchangeable for every request of that class.
    fn cache_class(size: usize) -> Option<usize>;

    /// `cache_class`, as malloc's fast path asks it, in fewer instructions: the class's bin,
    /// `Some(class + FIRST_CLASS_BIN)`, or another bin below `FAST_BINS` (always empty) for
    /// a size the heap leaves to the slow path, so that the computation needs no clamp;
    /// `None` when `cache_class` says `None` (it may say an empty bin for such
    /// a size instead), and for cached sizes whose class takes more work than the fast path
    /// should do (best fit's coarse classes): malloc's miss path asks `cache_class` for those.
    fn fast_bin(size: usize) -> Option<usize>;

    /// How far past the bin's number `fast_bin`'s answer counts: malloc's fast path takes it
    /// off in the addressing, for free, where the heap would spend an instruction on it.
    const FAST_BIN_SKIP: usize = 0;

    /// The request size whose block belongs to `class` (what a refill asks for).
    fn class_size(class: usize) -> usize;

    /// Without the heap lock: the cache class of the live block `p`, or `None` when `p` is
    /// not a live block or too large to cache (the caller then takes the locked path, which
    /// reports misuse). Reads only metadata that stays put while its block is live.
    ///
    /// # Safety
    /// As for `free`, and `p` lies in a chunk owned by a region (`chunkmap::is_region`).
    unsafe fn peek_class(p: *mut u8) -> Option<usize>;

    /// `peek_class`, as free's fast path asks it: the class's bin, `Some(class +
    /// FIRST_CLASS_BIN)`, or another bin below `FAST_BINS` (always full, so the block is not
    /// cached) where that saves the heap a test; `None` where `peek_class` says `None`.
    ///
    /// # Safety
    /// As for `peek_class`.
    #[inline(always)]
    unsafe fn peek_bin(p: *mut u8) -> Option<usize> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::peek_class(p) }.map(|class| class + FIRST_CLASS_BIN)
    }

    /// Without the heap lock: the usable size of the live block `p`, or `None` when `p` is not
    /// a live block (the caller then takes the locked path, which reports misuse).
    ///
    /// # Safety
    /// As for `free`.
    unsafe fn peek_usable(p: *mut u8) -> Option<usize>;

    /// Without the heap lock: whether `p` is a live block of this heap (for handing it to
    /// its arena's remote list, which must not take anything else).
    ///
    /// # Safety
    /// As for `free`.
    unsafe fn peek_live(p: *mut u8) -> bool;

    /// Allocates `size` bytes (`size <= MAX_REQUEST`) aligned to `align` (a power of two,
    /// `MIN_ALIGN <= align <= MAX_ALIGN`). Null when the OS refuses more memory.
    ///
    /// # Safety
    /// The heap's regions must be intact (no out-of-bounds writes by the program).
    unsafe fn alloc(&mut self, size: usize, align: usize) -> *mut u8;

    /// Allocates up to `out.len()` blocks of `size` bytes aligned to `MIN_ALIGN` into `out`,
    /// each placed by the policy exactly as `alloc(size, MIN_ALIGN)` would place it, one after
    /// the other; returns how many (fewer only when the OS refuses more memory). What a
    /// thread cache's refill asks for; a heap may do it faster than one call per block.
    ///
    /// # Safety
    /// As for `alloc`.
    unsafe fn alloc_many(&mut self, size: usize, out: &mut [usize]) -> usize {
        for (got, slot) in out.iter_mut().enumerate() {
            // SAFETY: forwarded from the caller.
            let p = unsafe { self.alloc(size, MIN_ALIGN) } as usize;
            if p == 0 {
                return got;
            }
            *slot = p;
        }
        out.len()
    }

    /// Frees the blocks in `blocks` (payload pointers, each returned by `alloc` and live),
    /// leaving the heap as freeing them one by one in that order would. What a thread
    /// cache's flush does; a heap may do it faster than one call per block (best fit
    /// coalesces each run of neighbours once). Stops at the first block that is not a live
    /// block of this heap: Err(that block, the misuse).
    ///
    /// # Safety
    /// As for `free`, for every block.
    unsafe fn free_many(&mut self, blocks: &[usize]) -> Result<(), (usize, Misuse)> {
        for &p in blocks {
            // SAFETY: forwarded from the caller.
            unsafe { self.free(p as *mut u8) }.map_err(|misuse| (p, misuse))?;
        }
        Ok(())
    }

    /// Frees a block returned by `alloc`.
    ///
    /// # Safety
    /// `ptr` lies in a chunk owned by a region (see the trait docs).
    unsafe fn free(&mut self, ptr: *mut u8) -> Result<(), Misuse>;

    /// The bytes usable at `ptr`.
    ///
    /// # Safety
    /// As for `free`.
    unsafe fn usable_size(&self, ptr: *mut u8) -> Result<usize, Misuse>;

    /// Grows or shrinks the block at `ptr` in place to hold `size` bytes
    /// (`size <= MAX_REQUEST`); `Ok(false)` if it cannot without moving.
    ///
    /// # Safety
    /// As for `free`.
    unsafe fn resize_in_place(&mut self, ptr: *mut u8, size: usize) -> Result<bool, Misuse>;

    /// Walks every region, block and free structure and reports the first broken invariant.
    fn check(&self) -> Result<(), &'static str>;

    /// The bytes of blocks one region holds (a wholly free region is one free block of
    /// this size, or its free blocks add up to it).
    const AREA: usize;

    /// Where this heap's regions come from.
    type Source: RegionSource;

    /// The bookkeeping this heap shares with the other policy.
    fn core(&self) -> &HeapCore<Self::Source>;

    /// As [`core`](Self::core), to change it.
    fn core_mut(&mut self) -> &mut HeapCore<Self::Source>;

    /// Takes the blocks of the wholly free `region` off the free structures, before
    /// [`trim`](Self::trim) unmaps it.
    ///
    /// # Safety
    /// `region` is one of this heap's regions, with no block in use.
    unsafe fn forget_region(&mut self, region: *mut Region);

    /// Gives back to the OS the whole pages inside the free blocks of every region (trim's
    /// second half). True if anything was released.
    fn decommit_free(&mut self) -> bool;

    /// Lists the blocks of `base`'s region in address order, its metadata included, to `f`:
    /// they tile the region from `base` to `base + CHUNK`.
    ///
    /// # Safety
    /// `base` is one of this heap's regions, and the heap is intact (`check` passes).
    unsafe fn walk_region(&self, base: usize, f: &mut dyn FnMut(Span));

    /// Lists every block of every region in address order (regions by address, each tiled
    /// from its start to its end), without allocating: for heap maps and for checking the
    /// counts against what the memory holds.
    ///
    /// # Safety
    /// The heap is intact (`check` passes): the walk follows the blocks' own metadata.
    unsafe fn walk(&self, mut f: impl FnMut(Span)) {
        // The region list is in mapping order; each pass takes the lowest region above the
        // last one walked (a heap has few regions, and this needs no memory).
        let mut above = 0;
        loop {
            let mut next = usize::MAX;
            let mut region = self.core().regions().first();
            while !region.is_null() {
                let base = region as usize;
                if base >= above && base < next {
                    next = base;
                }
                // SAFETY: a region of this heap's list.
                region = unsafe { Region::next(region) };
            }
            if next == usize::MAX {
                return;
            }
            // SAFETY: next is one of this heap's regions; the caller vouches for the heap.
            unsafe { self.walk_region(next, &mut f) };
            above = next + CHUNK;
        }
    }

    /// The size of the largest free block (0 if none).
    fn largest_free(&self) -> usize;

    /// Current figures.
    fn stats(&self) -> HeapStats {
        self.core().stats(Self::AREA, self.largest_free())
    }

    /// Which arena this heap is: its regions carry this index in their headers (and, from
    /// [`OsRegions`], in the chunk map). Set before the heap maps its first region.
    fn set_arena(&mut self, arena: u8) {
        self.core_mut().arena = arena;
    }

    /// How many wholly free regions to keep mapped for reuse instead of unmapping them.
    fn set_spare_limit(&mut self, regions: usize) {
        self.core_mut().set_spare_limit(regions);
    }

    /// Returns every wholly free region and the free pages inside partly used regions to the
    /// OS. True if anything was released.
    fn trim(&mut self) -> bool {
        self.core_mut().call = Call::MallocTrim;
        let mut released = false;
        let mut region = self.core().regions().first();
        while !region.is_null() {
            // SAFETY: walking our own region list; `next` is read before a release, and a
            // region with no block in use is exactly what `forget_region` takes.
            unsafe {
                let next = Region::next(region);
                if (*region).used == 0 {
                    self.forget_region(region);
                    self.core_mut().release(region);
                    released = true;
                }
                region = next;
            }
        }
        self.decommit_free() | released
    }
}
