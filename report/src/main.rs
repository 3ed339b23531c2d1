//! `bestbuddy-report JSON OUTDIR`: draws a replay's charts and report.html by hand.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [json, out] = &args[..] else {
        eprintln!("usage: bestbuddy-report REPLAY.json OUTDIR");
        return ExitCode::from(2);
    };
    match bestbuddy_report::render(Path::new(json), Path::new(out)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bestbuddy-report: {e}");
            ExitCode::from(2)
        }
    }
}
