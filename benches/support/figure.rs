//! One benchmark figure for the single benchmark report (`benches/report.sh`): which bench,
//! what was measured, the value, the target and whether it is met. Owns only the hand-off
//! format; must never decide a verdict (the bench says whether its target is met) nor print
//! to standard output (each bench prints its own figures beside their targets).
//!
//! When `TETHER_BENCH_FIGURES` names a file, each call appends one tab-separated line to it:
//! `bench  figure  measured  target  verdict` where verdict is `met`, `MISSED` or `info`
//! (a figure with no target). Without the variable, nothing happens, so `cargo bench --bench
//! X` alone behaves as before. Appending lets a bench's child processes add their own lines.

use std::io::Write;

/// Records one figure; `met` is `None` for a figure shown for context, with no target.
pub fn record(bench: &str, figure: &str, measured: &str, target: &str, met: Option<bool>) {
    let Ok(path) = std::env::var("TETHER_BENCH_FIGURES") else {
        return;
    };
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let verdict = match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "info",
    };
    let line = format!(
        "{}\t{}\t{}\t{}\t{verdict}\n",
        clean(bench),
        clean(figure),
        clean(measured),
        clean(target)
    );
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("TETHER_BENCH_FIGURES={path}: cannot open: {e}"));
    file.write_all(line.as_bytes())
        .unwrap_or_else(|e| panic!("TETHER_BENCH_FIGURES={path}: cannot write: {e}"));
}
