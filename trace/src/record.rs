//! What one traced call was: [`Record`], its [`Call`] with the arguments and result, and
//! the [`Kind`] of entry point.

/// The entry points of docs/TRACE.md's record table; the value is the tag's kind bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Malloc = 1,
    Free = 2,
    Calloc = 3,
    Realloc = 4,
    ReallocArray = 5,
    PosixMemalign = 6,
    AlignedAlloc = 7,
    Memalign = 8,
    Valloc = 9,
    Pvalloc = 10,
    Live = 11,
}

impl Kind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [Kind; 11] = [
        Kind::Malloc,
        Kind::Free,
        Kind::Calloc,
        Kind::Realloc,
        Kind::ReallocArray,
        Kind::PosixMemalign,
        Kind::AlignedAlloc,
        Kind::Memalign,
        Kind::Valloc,
        Kind::Pvalloc,
        Kind::Live,
    ];

    pub fn from_bits(bits: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == bits)
    }

    /// The name `dump` prints: the C entry point's, or `live`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Malloc => "malloc",
            Kind::Free => "free",
            Kind::Calloc => "calloc",
            Kind::Realloc => "realloc",
            Kind::ReallocArray => "reallocarray",
            Kind::PosixMemalign => "posix_memalign",
            Kind::AlignedAlloc => "aligned_alloc",
            Kind::Memalign => "memalign",
            Kind::Valloc => "valloc",
            Kind::Pvalloc => "pvalloc",
            Kind::Live => "live",
        }
    }

    /// The tie-break of the merged order at equal times (TRACE.md): `LIVE`, then `FREE`,
    /// then the reallocs, then the others; so that a block released at time t is released
    /// before a call of another thread at time t receives it.
    pub fn merge_rank(self) -> u8 {
        match self {
            Kind::Live => 0,
            Kind::Free => 1,
            Kind::Realloc | Kind::ReallocArray => 2,
            _ => 3,
        }
    }

    /// Whether the pointer argument may be null (tag bit `IN_NULL`).
    pub(crate) fn allows_in_null(self) -> bool {
        matches!(self, Kind::Free | Kind::Realloc | Kind::ReallocArray)
    }

    /// Whether the result may be null (tag bit `OUT_NULL`).
    pub(crate) fn allows_out_null(self) -> bool {
        !matches!(self, Kind::Free | Kind::Live)
    }
}

/// One call with its arguments and result. Pointers are addresses in the traced process,
/// 0 for null; sizes, counts and alignments are the values the program passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Malloc { size: u64, result: u64 },
    Free { ptr: u64 },
    Calloc { count: u64, size: u64, result: u64 },
    Realloc { ptr: u64, size: u64, result: u64 },
    ReallocArray { ptr: u64, count: u64, size: u64, result: u64 },
    /// `code` is what posix_memalign returned; `result` is what it stored (0: nothing).
    PosixMemalign { align: u64, size: u64, code: u64, result: u64 },
    AlignedAlloc { align: u64, size: u64, result: u64 },
    Memalign { align: u64, size: u64, result: u64 },
    Valloc { size: u64, result: u64 },
    Pvalloc { size: u64, result: u64 },
    /// A block the program held when tracing began; `size` is its usable size.
    Live { size: u64, result: u64 },
}

impl Call {
    pub fn kind(&self) -> Kind {
        match self {
            Call::Malloc { .. } => Kind::Malloc,
            Call::Free { .. } => Kind::Free,
            Call::Calloc { .. } => Kind::Calloc,
            Call::Realloc { .. } => Kind::Realloc,
            Call::ReallocArray { .. } => Kind::ReallocArray,
            Call::PosixMemalign { .. } => Kind::PosixMemalign,
            Call::AlignedAlloc { .. } => Kind::AlignedAlloc,
            Call::Memalign { .. } => Kind::Memalign,
            Call::Valloc { .. } => Kind::Valloc,
            Call::Pvalloc { .. } => Kind::Pvalloc,
            Call::Live { .. } => Kind::Live,
        }
    }

    /// The pointer argument, for the kinds that take one (`FREE`, the reallocs).
    pub fn ptr(&self) -> Option<u64> {
        match *self {
            Call::Free { ptr } | Call::Realloc { ptr, .. } | Call::ReallocArray { ptr, .. } => {
                Some(ptr)
            }
            _ => None,
        }
    }

    /// The block the call handed out (0: none), for every kind but `FREE`.
    pub fn result(&self) -> Option<u64> {
        self.size_and_result().map(|(_, result)| result)
    }

    /// The size argument (for `LIVE`, the usable size), for every kind but `FREE`.
    pub fn size(&self) -> Option<u64> {
        self.size_and_result().map(|(size, _)| size)
    }

    /// Every kind but `FREE` has a size and a result.
    fn size_and_result(&self) -> Option<(u64, u64)> {
        match *self {
            Call::Free { .. } => None,
            Call::Malloc { size, result }
            | Call::Calloc { size, result, .. }
            | Call::Realloc { size, result, .. }
            | Call::ReallocArray { size, result, .. }
            | Call::PosixMemalign { size, result, .. }
            | Call::AlignedAlloc { size, result, .. }
            | Call::Memalign { size, result, .. }
            | Call::Valloc { size, result }
            | Call::Pvalloc { size, result }
            | Call::Live { size, result } => Some((size, result)),
        }
    }

    /// The element count of `CALLOC` and `REALLOCARRAY`.
    pub fn count(&self) -> Option<u64> {
        match *self {
            Call::Calloc { count, .. } | Call::ReallocArray { count, .. } => Some(count),
            _ => None,
        }
    }

    /// The alignment of `POSIX_MEMALIGN`, `ALIGNED_ALLOC` and `MEMALIGN`.
    pub fn align(&self) -> Option<u64> {
        match *self {
            Call::PosixMemalign { align, .. }
            | Call::AlignedAlloc { align, .. }
            | Call::Memalign { align, .. } => Some(align),
            _ => None,
        }
    }

    /// The return code of `POSIX_MEMALIGN`.
    pub fn code(&self) -> Option<u64> {
        match *self {
            Call::PosixMemalign { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One record of the merged order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The trace's thread number (from 1).
    pub thread: u32,
    /// The thread's kernel id, for display only (the kernel reuses them).
    pub tid: u32,
    /// The record's sequence number within its thread (from 0).
    pub seq: u64,
    /// Nanoseconds since the header's start time.
    pub time: u64,
    /// The byte offset of the record (its tag) in the file.
    pub offset: u64,
    pub call: Call,
}

impl Record {
    pub fn kind(&self) -> Kind {
        self.call.kind()
    }
}
