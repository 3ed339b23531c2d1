//! The replay engine: one heap core ([`Heap`], over [`Mapped`] regions) driven by the
//! records of a trace in the merged order, the way the library would serve each call.
//!
//! What each call becomes (the library's `cabi.rs` and `global/mod.rs`):
//! - a request above the library's default mmap threshold (`default_mmap_threshold`: 256 KiB,
//!   within the heap's `MAX_REQUEST`), or aligned above the heap's `MAX_ALIGN`, is *large*: it
//!   gets no heap block; its mapping (the size plus a 64-byte header or the alignment, rounded
//!   up to pages) counts in the footprint, as the library maps one;
//! - `memalign`, `aligned_alloc`, `posix_memalign`: alignments up to 16 are plain malloc,
//!   others rounded up to a power of two; `valloc` aligns to a page, `pvalloc` also rounds the
//!   size up to pages; `calloc` and `reallocarray` ask for count times size;
//! - `realloc` follows the library: a block that still fits and would give back at most a
//!   quarter (plus 32 bytes) stays as it is; otherwise it is resized in place if the heap can,
//!   asking a quarter more than the block has when it grows by less than that (so that small
//!   steps fit in place); otherwise a new block is taken and the old one freed. `realloc(p, 0)`
//!   frees `p`;
//! - a call whose result was null failed and allocates nothing; `LIVE` records allocate their
//!   block (of its usable size) like malloc.
//!
//! Not modelled: the thread caches (every call goes straight to the heap, one arena: the
//! figures are the policy's own, not the caches'), `mallopt` settings (the defaults hold),
//! and the kept large mappings. The live set is checked as `bestbuddy_trace::Checker` does: a
//! free of a pointer that is not live, or a result that is already live, is an error.


use bestbuddy::global::{growth_target_below, moves_to_grow, stays_in_place};
use bestbuddy::heap::{Heap, MIN_ALIGN, Span, default_mmap_threshold};
use bestbuddy_trace::{Call, Kind};

const PAGE: u64 = 4096;
/// The bytes a large mapping keeps before the block (the library's `large::HEADER_SPACE`).
const LARGE_HEADER: u64 = 64;

/// A block live in the replay, under the address the traced program got.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// The replay heap's block; 0 for a large block.
    ptr: usize,
    /// The bytes the program asked for.
    requested: u64,
    /// For a large block, the bytes of its mapping; 0 for a heap block.
    mapped: u64,
    /// Its usable bytes, as the library's statistics count them: the heap's usable size, or
    /// a large block's whole mapping.
    usable: u64,
}

pub use crate::ptrmap::PtrMap;

/// The figures at one call: what the timeline samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Point {
    /// Records applied so far (0: none).
    pub call: u64,
    /// The record's time, ns since the trace started.
    pub time_ns: u64,
    /// Bytes the program asked for, over the live blocks.
    pub requested: u64,
    /// Bytes of the live blocks' heap blocks (headers and rounding included) and large
    /// mappings.
    pub reserved: u64,
    /// Regions mapped times their size, plus large mappings.
    pub footprint: u64,
}

/// A heap being replayed into.
pub struct Replay<H: Heap> {
    heap: Box<H>,
    live: PtrMap<Block>,
    requested: u64,
    large: u64,
    usable: u64,
}

/// Why a record could not be replayed: the message of `TRACE: byte N: what`.
pub type Refusal = String;

impl<H: Heap> Replay<H> {
    /// An empty heap. Its regions come from its source; dropping the replay gives them back.
    pub fn new() -> Replay<H> {
        Replay { heap: Box::new(H::EMPTY), live: PtrMap::default(), requested: 0, large: 0, usable: 0 }
    }
}

impl<H: Heap> Default for Replay<H> {
    fn default() -> Self {
        Replay::new()
    }
}

impl<H: Heap> Drop for Replay<H> {
    /// Frees every live block and trims: the heap itself hands its regions back to the source.
    fn drop(&mut self) {
        for block in self.live.values() {
            if block.ptr != 0 {
                // SAFETY: a live block of our heap; each is freed once.
                let _ = unsafe { self.heap.free(block.ptr as *mut u8) };
            }
        }
        self.live.clear();
        self.heap.set_spare_limit(0);
        self.heap.trim();
    }
}

impl<H: Heap> Replay<H> {
    /// The figures now, after `call` records, the last at `time_ns`.
    pub fn point(&self, call: u64, time_ns: u64) -> Point {
        let s = self.heap.core().stats(0, 0);
        Point {
            call,
            time_ns,
            requested: self.requested,
            reserved: s.used as u64 + self.large,
            footprint: (s.regions * bestbuddy::heap::CHUNK) as u64 + self.large,
        }
    }

    /// The usable bytes of the live blocks, large ones counting their whole mapping: what
    /// the library's `bestbuddy_stats_get` reports as `live_bytes` (tests.rs compares them).
    #[cfg(test)]
    pub fn live_usable(&self) -> u64 {
        self.usable
    }

    /// The heap's own figures (for the free bytes and the largest free block).
    pub fn stats(&self) -> bestbuddy::heap::HeapStats {
        self.heap.stats()
    }

    /// Applies one record.
    pub fn apply(&mut self, call: &Call) -> Result<(), Refusal> {
        let kind = call.kind();
        match *call {
            Call::Free { ptr } => self.release(ptr, kind),
            Call::Realloc { ptr, size, result } => self.realloc(kind, ptr, Some(size), result),
            Call::ReallocArray { ptr, count, size, result } => {
                self.realloc(kind, ptr, count.checked_mul(size), result)
            }
            Call::Calloc { count, size, result } => match count.checked_mul(size) {
                Some(bytes) => self.acquire(kind, result, bytes, MIN_ALIGN as u64),
                None if result == 0 => Ok(()),
                None => Err(format!("calloc of {count} × {size} bytes (past 2^64) returned {result:#x}")),
            },
            Call::Malloc { size, result } | Call::Live { size, result } => {
                self.acquire(kind, result, size, MIN_ALIGN as u64)
            }
            Call::PosixMemalign { align, size, result, .. }
            | Call::AlignedAlloc { align, size, result }
            | Call::Memalign { align, size, result } => self.acquire(kind, result, size, memalign_align(align)),
            Call::Valloc { size, result } => self.acquire(kind, result, size, PAGE),
            Call::Pvalloc { size, result } => self.acquire(kind, result, size.next_multiple_of(PAGE), PAGE),
        }
    }

    fn acquire(&mut self, kind: Kind, result: u64, size: u64, align: u64) -> Result<(), Refusal> {
        if result == 0 {
            return Ok(());
        }
        if self.live.contains_key(&result) {
            return Err(format!("{} returned {result:#x}, which is already live", kind.name()));
        }
        let block = self.place(size, align)?;
        self.insert(result, block);
        Ok(())
    }

    fn release(&mut self, ptr: u64, kind: Kind) -> Result<(), Refusal> {
        if ptr == 0 {
            return Ok(());
        }
        let block = self.remove(ptr).ok_or_else(|| format!("{} of {ptr:#x}, which is not live", kind.name()))?;
        self.drop_block(block)
    }

    /// `bytes`: the size asked for, `None` when count times size overflowed.
    fn realloc(&mut self, kind: Kind, ptr: u64, bytes: Option<u64>, result: u64) -> Result<(), Refusal> {
        let name = kind.name();
        let size = match bytes {
            Some(size) => size,
            None if result == 0 => return Ok(()),
            None => return Err(format!("{name} of a size past 2^64 returned {result:#x}")),
        };
        if ptr == 0 {
            return self.acquire(kind, result, size, MIN_ALIGN as u64);
        }
        if !self.live.contains_key(&ptr) {
            return Err(format!("{name} of {ptr:#x}, which is not live"));
        }
        if result == 0 {
            // realloc(p, 0) freed p; with a size above 0 the call failed and p stays live.
            return if size == 0 { self.release(ptr, kind) } else { Ok(()) };
        }
        if result != ptr && self.live.contains_key(&result) {
            return Err(format!("{name} returned {result:#x}, which is already live"));
        }
        let Some(old) = self.remove(ptr) else { return Err(format!("{name} of {ptr:#x}, which is not live")) };
        let new = self.resize(old, size)?;
        self.insert(result, new);
        Ok(())
    }

    /// What the library's realloc makes of `old` asked to hold `size` bytes.
    fn resize(&mut self, old: Block, size: u64) -> Result<Block, Refusal> {
        let max = default_mmap_threshold::<H>() as u64;
        let mut want = size;
        if old.ptr != 0 {
            let p = old.ptr as *mut u8;
            // SAFETY: a live block of our heap, over regions of our source.
            let usable = unsafe { self.heap.usable_size(p) }.map_err(misuse)? as u64;
            if stays_in_place(size as usize, usable as usize) {
                return Ok(Block { requested: size, ..old });
            }
            let in_place = |heap: &H| -> Result<Block, Refusal> {
                // SAFETY: as above.
                let usable = unsafe { heap.usable_size(p) }.map_err(misuse)? as u64;
                Ok(Block { requested: size, usable, ..old })
            };
            // `size` itself past the threshold.
            want = growth_target_below(size as usize, usable as usize, max as usize) as u64;
            if !moves_to_grow(size as usize, usable as usize) && size <= max {
                // SAFETY: as above; want and size are at most the threshold, within MAX_REQUEST.
                let grown = unsafe {
                    match self.heap.resize_in_place(p, want as usize).map_err(misuse)? {
                        false if want != size => self.heap.resize_in_place(p, size as usize).map_err(misuse)?,
                        done => done,
                    }
                };
                if grown {
                    return in_place(&self.heap);
                }
            }
        } else if size > max {
            // A large block stays a mapping of its own, resized (the library remaps it).
            let mapped = large_mapping(size, MIN_ALIGN as u64)?;
            return Ok(Block { requested: size, mapped, usable: mapped, ..old });
        }
        let new = match self.place(want, MIN_ALIGN as u64) {
            Ok(b) => b,
            Err(_) if want != size => self.place(size, MIN_ALIGN as u64)?,
            Err(e) => return Err(e),
        };
        self.drop_block(old)?;
        Ok(Block { requested: size, ..new })
    }

    /// A block for `size` bytes aligned to `align` (a power of two), from the heap or large.
    fn place(&mut self, size: u64, align: u64) -> Result<Block, Refusal> {
        let align = align.max(MIN_ALIGN as u64);
        if size > default_mmap_threshold::<H>() as u64 || align > H::MAX_ALIGN as u64 {
            let mapped = large_mapping(size, align)?;
            return Ok(Block { ptr: 0, requested: size, mapped, usable: mapped });
        }
        // SAFETY: our own heap over our own regions; size and align within its limits.
        let p = unsafe { self.heap.alloc(size as usize, align as usize) };
        if p.is_null() {
            return Err(format!("the replay ran out of address space for regions (at {size} bytes)"));
        }
        // SAFETY: the block just allocated.
        let usable = unsafe { self.heap.usable_size(p) }.map_err(misuse)? as u64;
        Ok(Block { ptr: p as usize, requested: size, mapped: 0, usable })
    }

    fn drop_block(&mut self, block: Block) -> Result<(), Refusal> {
        if block.ptr == 0 {
            return Ok(());
        }
        // SAFETY: a live block of our heap, dropped from the live map before this call.
        unsafe { self.heap.free(block.ptr as *mut u8) }.map_err(misuse)
    }

    fn insert(&mut self, traced: u64, block: Block) {
        self.requested += block.requested;
        self.large += block.mapped;
        self.usable += block.usable;
        self.live.insert(traced, block);
    }

    fn remove(&mut self, traced: u64) -> Option<Block> {
        let block = self.live.remove(&traced)?;
        self.requested -= block.requested;
        self.large -= block.mapped;
        self.usable -= block.usable;
        Some(block)
    }

    /// Every heap block live now, as (the replay's block, bytes asked for), by address.
    pub fn blocks_by_address(&self) -> Vec<(usize, u64)> {
        let mut v: Vec<(usize, u64)> =
            self.live.values().filter(|b| b.ptr != 0).map(|b| (b.ptr, b.requested)).collect();
        v.sort_unstable();
        v
    }

    /// The heap walk, in address order.
    pub fn walk(&self, f: impl FnMut(Span)) {
        // SAFETY: the heap is intact: only its own blocks were ever passed back to it.
        unsafe { self.heap.walk(f) }
    }

    /// The bytes before a block's payload.
    pub fn block_header(&self) -> usize {
        H::BLOCK_HEADER
    }
}

/// The alignment memalign and its kin give: up to 16 is plain malloc, others a power of two.
fn memalign_align(align: u64) -> u64 {
    if align <= MIN_ALIGN as u64 { MIN_ALIGN as u64 } else { align.checked_next_power_of_two().unwrap_or(1 << 63) }
}

/// The bytes the library maps for a large block.
fn large_mapping(size: u64, align: u64) -> Result<u64, Refusal> {
    size.max(1)
        .checked_add(align.max(LARGE_HEADER))
        .and_then(|n| n.checked_next_multiple_of(PAGE))
        .ok_or_else(|| format!("a block of {size} bytes cannot be mapped"))
}

fn misuse(m: bestbuddy::heap::Misuse) -> Refusal {
    format!("the replay heap rejected one of its own blocks ({}): a bug of the replay", m.describe())
}
