//! `cargo bench --bench matcher`: the matcher's speed and quality against the targets of
//! issue 6. Speed: 100,000 and 1,000,000 generated profiles in memory, blocking + scoring +
//! evaluation, wall seconds and peak memory (VmHWM), and the 1M/100k time ratio (near-linear
//! is ≈10). Quality: `tether match evaluate`'s figures on the shared labelled files
//! (`../shared/data/dedup/` from the repo root, or `$TETHER_DATA_DIR`).

#[path = "support/figure.rs"]
mod figure;
use std::path::PathBuf;
use std::time::Instant;
use tether::commands::matching::{evaluate_labelled, peak_memory_bytes, read_labelled};
use tether::domain::{Region, System};
use tether::generate::{GenOptions, generate};
use tether::matcher::evaluate::{evaluate, intern};
use tether::matcher::{
    self, DEFAULT_REVIEW_THRESHOLD, MatchOptions, Mode, RECOMMENDED_AUTO_THRESHOLD,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Resets the peak-RSS counter so each run's VmHWM is its own (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

struct Run {
    seconds: f64,
    cpu: Option<f64>,
    peak: Option<u64>,
}

/// User + system CPU seconds of this process so far (from /proc/self/stat, 100 ticks/s),
/// to tell the work done from time lost waiting for cores other processes hold.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn speed(n: usize) -> Run {
    let t = Instant::now();
    let profiles = generate(&GenOptions {
        records: n,
        seed: 42,
        ..GenOptions::default()
    });
    let records: Vec<_> = profiles.iter().map(|p| p.to_match_record()).collect();
    let entities_raw: Vec<&str> = profiles.iter().map(|p| p.entity_id.as_str()).collect();
    let entities = intern(&entities_raw);
    drop(profiles);
    println!(
        "  generated {n} profiles in {:.2} s (not counted below)",
        t.elapsed().as_secs_f64()
    );
    let reset = reset_peak();
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let opts = MatchOptions {
        mode: Mode::Duplicates,
        region: Region::default(),
        min_score: 0.0,
        ..MatchOptions::default()
    };
    let out = matcher::find_candidates(&records, &opts);
    let sources: Vec<Option<System>> = vec![None; records.len()];
    let ev = evaluate(
        &entities,
        &sources,
        false,
        &out.candidates,
        DEFAULT_REVIEW_THRESHOLD,
        RECOMMENDED_AUTO_THRESHOLD,
    );
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    let peak = peak_memory_bytes();
    println!(
        "  {n} records: {} candidate pairs ({} capped blocks), completeness {:.4}, \
         F1@review {:.4}, precision@auto {:.4}, review load {:.1}/1000",
        ev.candidate_pairs,
        out.blocking.capped_blocks,
        ev.pair_completeness,
        ev.review.f1,
        ev.auto.precision,
        ev.review_load_per_1000
    );
    println!(
        "  {n} records: wall {seconds:.2} s, CPU {} s, peak memory {}{}",
        cpu.map_or("unknown".into(), |c| format!("{c:.2}")),
        peak.map_or("unknown".into(), |b| format!("{:.2} GiB", b as f64 / GIB)),
        if reset {
            ""
        } else {
            " (process peak, not reset)"
        }
    );
    Run { seconds, cpu, peak }
}

fn data_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TETHER_DATA_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dedup")
}

fn quality() {
    let dir = data_dir();
    println!(
        "quality (review {DEFAULT_REVIEW_THRESHOLD}, auto {RECOMMENDED_AUTO_THRESHOLD}; data {})",
        dir.display()
    );
    for (file, f1_target, auto_precision_target) in [
        ("febrl1_profiles.csv", None, None),
        ("febrl3_profiles.csv", Some(0.99), Some(0.999)),
        ("households_w2_profiles.csv", None, Some(0.99)),
    ] {
        let path = dir.join(file);
        let data = match read_labelled(&path) {
            Ok(d) => d,
            Err(e) => {
                println!("  {file}: skipped ({e:#}); set TETHER_DATA_DIR to the dedup data folder");
                figure::record(
                    "matcher",
                    &format!("{file}: quality"),
                    "not measured: file not found",
                    "the labelled file",
                    Some(false),
                );
                continue;
            }
        };
        let t = Instant::now();
        let (ev, blocking, _) = evaluate_labelled(
            &data,
            Region::default(),
            DEFAULT_REVIEW_THRESHOLD,
            RECOMMENDED_AUTO_THRESHOLD,
        );
        println!(
            "  {file}: {} records, {} candidate pairs ({} capped blocks), {:.2} s",
            ev.records,
            ev.candidate_pairs,
            blocking.capped_blocks,
            t.elapsed().as_secs_f64()
        );
        println!("    pair completeness {:.4}", ev.pair_completeness);
        let f1_note = f1_target.map_or(String::new(), |t| {
            format!("   target ≥ {t} {}", mark(ev.review.f1 >= t))
        });
        println!(
            "    review ≥ {:.2}: precision {:.4} recall {:.4} F1 {:.4}{f1_note}",
            ev.review.threshold, ev.review.precision, ev.review.recall, ev.review.f1
        );
        if let Some(t) = f1_target {
            figure::record(
                "matcher",
                &format!("{file}: F1 at review {:.2}", ev.review.threshold),
                &format!("{:.4}", ev.review.f1),
                &format!("≥ {t}"),
                Some(ev.review.f1 >= t),
            );
        }
        if let Some(t) = auto_precision_target {
            figure::record(
                "matcher",
                &format!("{file}: precision at auto {:.2}", ev.auto.threshold),
                &format!("{:.4}", ev.auto.precision),
                &format!("≥ {t}"),
                Some(ev.auto.precision >= t),
            );
        }
        let p_note = auto_precision_target.map_or(String::new(), |t| {
            format!("   target precision ≥ {t} {}", mark(ev.auto.precision >= t))
        });
        println!(
            "    auto   ≥ {:.2}: precision {:.4} recall {:.4} F1 {:.4}{p_note}",
            ev.auto.threshold, ev.auto.precision, ev.auto.recall, ev.auto.f1
        );
        println!(
            "    review load {:.1} per 1,000 records; best F1 {:.4} at {:.4}",
            ev.review_load_per_1000, ev.best_f1, ev.best_threshold
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let threads = rayon::current_num_threads();
    println!("matcher benchmark ({threads} worker threads)");
    println!("speed (blocking + scoring + evaluation, generated profiles):");
    let small = speed(100_000);
    let large = speed(1_000_000);
    let ratio = large.seconds / small.seconds.max(1e-9);
    figure::record(
        "matcher",
        "1,000,000 generated profiles: wall time",
        &format!(
            "{:.2} s{}",
            large.seconds,
            large
                .cpu
                .map_or(String::new(), |c| format!(" (CPU {c:.2} s)"))
        ),
        "< 60 s",
        Some(large.seconds < 60.0),
    );
    figure::record(
        "matcher",
        "1,000,000 generated profiles: peak memory",
        &large
            .peak
            .map_or("unknown".into(), |b| format!("{:.2} GiB", b as f64 / GIB)),
        "< 4 GiB",
        large.peak.map(|b| (b as f64) < 4.0 * GIB),
    );
    figure::record(
        "matcher",
        "scaling: 1M / 100k wall-time ratio",
        &format!(
            "{ratio:.1} ({:.2} s / {:.2} s){}",
            large.seconds,
            small.seconds,
            small
                .cpu
                .zip(large.cpu)
                .map_or(String::new(), |(a, b)| format!(
                    "; CPU-time ratio {:.1}",
                    b / a.max(1e-9)
                ))
        ),
        "near-linear: ≈ 10, < 15",
        Some(ratio < 15.0),
    );
    println!(
        "  1M wall {:.2} s   target < 60 s {}",
        large.seconds,
        mark(large.seconds < 60.0)
    );
    if let Some(cpu) = large.cpu {
        println!(
            "  1M CPU {cpu:.2} s (user + system over {threads} threads; a wall time well above \
             CPU / {threads} means other processes held the cores)"
        );
    }
    if let Some(b) = large.peak {
        println!(
            "  1M peak memory {:.2} GiB   target < 4 GiB {}",
            b as f64 / GIB,
            mark((b as f64) < 4.0 * GIB)
        );
    }
    if let Some(b) = small.peak {
        println!("  100k peak memory {:.2} GiB", b as f64 / GIB);
    }
    println!(
        "  scaling 1M/100k time ratio {ratio:.1}   target near-linear (≈10, < 15) {}",
        mark(ratio < 15.0)
    );
    if let (Some(a), Some(b)) = (small.cpu, large.cpu) {
        println!(
            "  scaling 1M/100k CPU ratio {:.1} (steadier than wall on a shared machine)",
            b / a.max(1e-9)
        );
    }
    quality();
}
