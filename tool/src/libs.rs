//! Where the tool finds what it runs beside it: the two libraries, the replayer, and the
//! other allocators a replay compares with.
//!
//! The libraries are looked for in the tool's own layouts, in this order:
//! - the build tree: `out/bin/bestbuddy` → `out/bestfit/libbestbuddy.so`, `out/buddy/libbestbuddy.so`;
//! - an install prefix: `PREFIX/bin/bestbuddy` → `PREFIX/lib/libbestbuddy.so.0` (best fit),
//!   `PREFIX/lib/libbestbuddy-buddy.so.0`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// One of the two heaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeapName {
    /// Best fit: the smallest free block that fits; neighbours coalesce on free.
    BestFit,
    /// Buddy: blocks of 2^k bytes, split and merged in halves.
    Buddy,
}

impl HeapName {
    pub fn name(self) -> &'static str {
        match self {
            HeapName::BestFit => "best-fit",
            HeapName::Buddy => "buddy",
        }
    }

    /// The places the library of this heap may be, relative to the tool's directory.
    fn candidates(self, bin_dir: &Path) -> [PathBuf; 2] {
        let up = bin_dir.join("..");
        match self {
            HeapName::BestFit => [up.join("bestfit/libbestbuddy.so"), up.join("lib/libbestbuddy.so.0")],
            HeapName::Buddy => [up.join("buddy/libbestbuddy.so"), up.join("lib/libbestbuddy-buddy.so.0")],
        }
    }
}

/// The directory the running tool lies in.
pub fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the tool's own path: {e}"))?;
    exe.parent().map(Path::to_path_buf).ok_or_else(|| format!("{} has no directory", exe.display()))
}

/// The library of `heap`, made absolute and without `..`; an error naming where it looked.
pub fn library(heap: HeapName) -> Result<PathBuf, String> {
    let dir = bin_dir()?;
    let candidates = heap.candidates(&dir);
    for c in &candidates {
        if c.is_file() {
            return Ok(c.canonicalize().unwrap_or_else(|_| c.clone()));
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| normalize(c).display().to_string()).collect();
    Err(format!(
        "no {} library beside the tool: looked for {} (build it with `make`, or install it)",
        heap.name(),
        looked.join(" and ")
    ))
}

/// The replayer binary, beside the tool.
pub fn replayer() -> Result<PathBuf, String> {
    let path = bin_dir()?.join("bestbuddy-replayer");
    if path.is_file() { Ok(path) } else { Err(format!("no {} beside the tool", path.display())) }
}

/// Other allocators, where Debian installs them: (name, library), glibc's being none.
pub fn peers() -> Vec<(&'static str, Option<PathBuf>)> {
    let mut out = vec![("glibc", None)];
    let dir = Path::new("/usr/lib/x86_64-linux-gnu");
    for (name, files) in
        [("jemalloc", &["libjemalloc.so.2"][..]), ("mimalloc", &["libmimalloc.so.2", "libmimalloc.so.2.0"][..])]
    {
        if let Some(p) = files.iter().map(|f| dir.join(f)).find(|p| p.is_file()) {
            out.push((name, Some(p)));
        }
    }
    out
}

/// `a/bin/../lib/x` → `a/lib/x`, for messages (the file need not exist).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
