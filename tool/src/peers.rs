//! The same trace under other allocators: `bestbuddy-replayer` run with each one preloaded
//! (glibc's malloc with none), so that every allocator replays through the same program and
//! only the allocator differs. Our two libraries run the same way, beside them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::libs::{self, HeapName};

/// One allocator's replay.
pub struct PeerRun {
    pub name: String,
    pub peak_rss: u64,
    pub seconds: f64,
}

#[derive(Deserialize)]
struct ReplayerLine {
    peak_rss: u64,
    seconds: f64,
}

/// Replays `trace` under every allocator found; what could not run is a warning each.
pub fn run_all(trace: &Path, warnings: &mut Vec<String>) -> Vec<PeerRun> {
    let replayer = match libs::replayer() {
        Ok(r) => r,
        Err(e) => {
            warnings.push(format!("peers skipped: {e}"));
            return Vec::new();
        }
    };
    let mut allocators: Vec<(String, Option<PathBuf>)> =
        libs::peers().into_iter().map(|(name, lib)| (name.to_owned(), lib)).collect();
    for heap in [HeapName::BestFit, HeapName::Buddy] {
        match libs::library(heap) {
            Ok(lib) => allocators.push((format!("bestbuddy {}", heap.name()), Some(lib))),
            Err(e) => warnings.push(format!("peers: {e}")),
        }
    }
    // As many at once as there are cores: each replayer reports its own CPU time and peak
    // RSS, which running beside another does not change much, and a long trace takes a
    // while per allocator.
    let width = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results: Vec<Option<Result<ReplayerLine, String>>> = allocators.iter().map(|_| None).collect();
    for (batch, slots) in allocators.chunks(width).zip(results.chunks_mut(width)) {
        std::thread::scope(|scope| {
            for ((_, lib), slot) in batch.iter().zip(slots.iter_mut()) {
                let replayer = &replayer;
                scope.spawn(move || *slot = Some(run_one(replayer, trace, lib.as_deref())));
            }
        });
    }
    let mut out = Vec::new();
    for ((name, _), result) in allocators.into_iter().zip(results) {
        match result.unwrap_or_else(|| Err("did not run".to_owned())) {
            Ok(line) => out.push(PeerRun { name, peak_rss: line.peak_rss, seconds: line.seconds }),
            Err(e) => warnings.push(format!("peer {name}: {e}")),
        }
    }
    out
}

fn run_one(replayer: &Path, trace: &Path, lib: Option<&Path>) -> Result<ReplayerLine, String> {
    let mut cmd = Command::new(replayer);
    cmd.arg(trace).env_remove("LD_PRELOAD").env_remove("BESTBUDDY_TRACE").env_remove("BESTBUDDY_STATS");
    if let Some(lib) = lib {
        cmd.env("LD_PRELOAD", lib);
    }
    let out = cmd.output().map_err(|e| format!("{}: {e}", replayer.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("the replayer failed ({}): {}", out.status, err.trim()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("the replayer printed {line:?}: {e}"))
}
