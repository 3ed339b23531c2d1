//! `bestbuddy run`: runs a program with one of the heaps preloaded, like jemalloc's
//! `jemalloc.sh`. `LD_PRELOAD` (and `BESTBUDDY_STATS`, `BESTBUDDY_TRACE`) are set in the
//! child's environment only; the tool's own stays as it was.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

use crate::libs::{self, HeapName};

/// What the tool exits with when it could not run the program at all (as `env` does):
/// 125 the tool failed (no library), 126 the program cannot be executed, 127 not found.
pub const TOOL_FAILED: u8 = 125;
const CANNOT_EXECUTE: u8 = 126;
const NOT_FOUND: u8 = 127;

pub struct RunRequest {
    pub heap: HeapName,
    pub stats: bool,
    pub trace: Option<PathBuf>,
    pub command: Vec<OsString>,
}

/// Runs the program and returns the status to exit with: the program's own, or 128 plus the
/// signal that killed it.
pub fn run(req: RunRequest) -> Result<u8, (u8, String)> {
    let lib = libs::library(req.heap).map_err(|e| (TOOL_FAILED, e))?;
    let Some((program, args)) = req.command.split_first() else {
        return Err((TOOL_FAILED, "no command given".to_owned()));
    };
    let mut preload = OsString::from(lib.as_os_str());
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    let mut cmd = Command::new(program);
    cmd.args(args).env("LD_PRELOAD", preload);
    if req.stats {
        cmd.env("BESTBUDDY_STATS", "1");
    }
    if let Some(trace) = &req.trace {
        let abs = std::path::absolute(trace).map_err(|e| (TOOL_FAILED, format!("{}: {e}", trace.display())))?;
        cmd.env("BESTBUDDY_TRACE", abs);
    }
    let mut child = cmd.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { NOT_FOUND } else { CANNOT_EXECUTE };
        (code, format!("{}: {e}", program.to_string_lossy()))
    })?;
    // Ctrl-C and Ctrl-\ reach the program (same process group); the tool waits for it to
    // end and reports its status rather than dying first.
    // SAFETY: setting a signal disposition to SIG_IGN has no handler to be async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let status = child.wait().map_err(|e| (TOOL_FAILED, format!("waiting for the program: {e}")))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        (None, None) => 1,
    })
}
