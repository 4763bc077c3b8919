//! Steady-state memory and cycle time of `tether run` with 100,000 links in the store, on
//! SQLite and, when `TETHER_TEST_PG_URL` names a PostgreSQL server, on PostgreSQL.
//! Run: `cargo bench --bench service_memory` (set `TETHER_BENCH_LINKS` for another size and
//! `TETHER_BENCH_SECS` for a longer watch; `eval "$(scripts/pg-test-server start --durable)"`
//! first for the PostgreSQL figures).
//!
//! Starts both sandboxes in this process (100,000 HubSpot contacts, 100,000 Gorgias
//! customers). For each backend in turn, writes a store with one link per pair (with bases)
//! and watermarks at "now" (on PostgreSQL, in a fresh connection's schema), then starts the
//! real binary `tether run` on a 2-second schedule against the sandboxes and samples the
//! child's resident memory (VmRSS, VmHWM from /proc) while its cycles run, with 20 people
//! edited on each side every half second so the cycles have work; the mean cycle time comes
//! from the service's own `tether_cycle_duration_seconds`. Prints each figure next to its
//! target: < 200 MiB resident; on PostgreSQL, memory and cycle time within 1.5x of SQLite's.

#[path = "support/figure.rs"]
mod figure;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tether::config::{Sources, load};
use tether::domain::{GorgiasId, HubspotId, System};
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasConfig};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotConfig};
use tether::secret::Secret;
use tether::store::{NewLink, Store, Watermark};

const TARGET_MIB: f64 = 200.0;
/// PostgreSQL's figures against SQLite's: at most this many times as large.
const TARGET_RATIO: f64 = 1.5;
/// People edited on each side every half second while watching.
const CHURN: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) of a process in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn cycles_done(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("tether_cycles_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// The mean cycle duration in seconds (`tether_cycle_duration_seconds` sum over count).
fn mean_cycle_secs(metrics: &str) -> Option<f64> {
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    };
    let count = value("tether_cycle_duration_seconds_count")?;
    (count > 0.0).then(|| value("tether_cycle_duration_seconds_sum").map(|s| s / count))?
}

struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sandboxes and their people, shared by every backend's run.
struct World {
    hubspot: HubspotSandbox,
    gorgias: GorgiasSandbox,
    hubspot_url: String,
    gorgias_url: String,
    gorgias_username: String,
    gorgias_key: String,
    h_ids: Vec<String>,
    g_ids: Vec<i64>,
    watch: Duration,
    /// Churn rounds so far, across backends: each run edits other people with new values.
    round: AtomicUsize,
}

/// What one backend's `tether run` did while watched (memory in KiB).
struct Watched {
    secs: f64,
    rss_last: u64,
    rss_max: u64,
    hwm: u64,
    samples: u32,
    cycles: f64,
    mean_cycle_secs: Option<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("TETHER_BENCH_LINKS", 100_000);
    let watch = Duration::from_secs(env_usize("TETHER_BENCH_SECS", 30) as u64);
    let addr = "127.0.0.1:0".parse().unwrap();
    let hcfg = HubspotConfig {
        token: Secret::new("pat-na1-bench"),
        time_scale: 0.02,
        ..HubspotConfig::default()
    };
    let (hubspot, h_running) = HubspotSandbox::start(hcfg, addr)
        .await
        .expect("hubspot sandbox");
    let gcfg = GorgiasConfig {
        time_scale: 50.0,
        ..GorgiasConfig::default()
    };
    let (gorgias, g_running) = GorgiasSandbox::start(gcfg.clone(), addr)
        .await
        .expect("gorgias sandbox");

    let t0 = Instant::now();
    let rows: Vec<BTreeMap<String, String>> = (0..n)
        .map(|i| {
            BTreeMap::from([
                ("email".to_string(), format!("person{i}@bench.test")),
                ("firstname".to_string(), format!("First{i}")),
                ("lastname".to_string(), "Bench".to_string()),
            ])
        })
        .collect();
    let h_ids = hubspot.seed_contacts(rows);
    let customers: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let email = format!("person{i}@bench.test");
            json!({"email": email, "name": format!("First{i} Bench"),
                   "channels": [{"type": "email", "address": email, "preferred": true}]})
        })
        .collect();
    let g_ids = gorgias.seed_customers(customers);
    println!(
        "seeded {} HubSpot contacts and {} Gorgias customers in {:.1} s",
        h_ids.len(),
        g_ids.len(),
        t0.elapsed().as_secs_f64()
    );
    let world = World {
        hubspot,
        gorgias,
        hubspot_url: h_running.base_url.clone(),
        gorgias_url: g_running.base_url.clone(),
        gorgias_username: gcfg.username.clone(),
        gorgias_key: gcfg.api_key.expose().to_owned(),
        h_ids,
        g_ids,
        watch,
        round: AtomicUsize::new(0),
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite_env = vec![("TETHER__STORE__URL".to_owned(), sqlite_url)];
    let sqlite = run_backend("SQLite", &world, &sqlite_env, dir.path()).await;
    report_memory("SQLite", "", &sqlite);

    let pg_url = std::env::var("TETHER_TEST_PG_URL").unwrap_or_default();
    if pg_url.is_empty() {
        println!(
            "(PostgreSQL skipped: set TETHER_TEST_PG_URL, e.g. eval \"$(scripts/pg-test-server start --durable)\")"
        );
        return;
    }
    let pg_env = vec![
        ("TETHER__STORE__URL".to_owned(), pg_url),
        (
            "TETHER__CONNECTION__NAME".to_owned(),
            format!("bench_memory_{}", std::process::id()),
        ),
    ];
    let pg = run_backend("PostgreSQL", &world, &pg_env, dir.path()).await;
    report_memory("PostgreSQL", " (PostgreSQL)", &pg);
    compare(&sqlite, &pg);
    drop((h_running, g_running));
}

/// Writes the store (links with bases, watermarks at now) through the store's own API, then
/// starts `tether run` on it and watches it.
async fn run_backend(
    name: &str,
    world: &World,
    store_env: &[(String, String)],
    dir: &std::path::Path,
) -> Watched {
    let settings = load(Sources {
        file: None,
        env: store_env.to_vec(),
    })
    .expect("store settings")
    .settings;
    let store = Store::open(&settings.store).await.expect("open store");
    let now = Utc::now();
    let links: Vec<NewLink> = world
        .h_ids
        .iter()
        .zip(&world.g_ids)
        .enumerate()
        .map(|(i, (h, g))| NewLink {
            hubspot: HubspotId::new(h.clone()).unwrap(),
            gorgias: GorgiasId::new(*g).unwrap(),
            bases: BTreeMap::from([
                ("email".to_string(), json!(format!("person{i}@bench.test"))),
                ("name".to_string(), json!(format!("First{i} Bench"))),
            ]),
        })
        .collect();
    let t0 = Instant::now();
    for chunk in links.chunks(5_000) {
        store
            .create_links(chunk, "bench", now)
            .await
            .expect("links");
    }
    let wrote = t0.elapsed().as_secs_f64();
    // Start the feeds after everything seeded (plus the overlap): steady state, not a backfill.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = Utc::now();
    for system in [System::Hubspot, System::Gorgias] {
        store
            .set_watermark(
                system,
                &Watermark {
                    at: now,
                    tie_break: None,
                },
                now,
            )
            .await
            .expect("watermark");
    }
    let counts = store.counts().await.expect("counts");
    store.close().await;
    println!(
        "{name}: store with {} links written in {wrote:.1} s ({})",
        counts.links,
        settings
            .store
            .url
            .as_str()
            .split('@')
            .next_back()
            .unwrap_or("")
    );
    watch_run(name, world, store_env, dir).await
}

/// Starts the real `tether run` on the store and samples its memory while the sandboxes churn.
async fn watch_run(
    name: &str,
    world: &World,
    store_env: &[(String, String)],
    dir: &std::path::Path,
) -> Watched {
    let ready = dir.join(format!("run-{}.addr", name.to_lowercase()));
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let log = dir.join(format!("run-{}.log", name.to_lowercase()));
    let child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .current_dir(dir)
        .args(["-q", "run", "--ready-file"])
        .arg(&ready)
        .env("TETHER__HUBSPOT__BASE_URL", &world.hubspot_url)
        .env("TETHER__HUBSPOT__TOKEN", "pat-na1-bench")
        .env("TETHER__HUBSPOT__BURST_WINDOW_MS", "200")
        .env("TETHER__HUBSPOT__SEARCH_PER_SECOND", "5")
        .env("TETHER__GORGIAS__BASE_URL", &world.gorgias_url)
        .env("TETHER__GORGIAS__USERNAME", &world.gorgias_username)
        .env("TETHER__GORGIAS__API_KEY", &world.gorgias_key)
        .envs(store_env.iter().map(|(k, v)| (k, v)))
        .env("TETHER__MAPPINGS__DIR", &mappings)
        .env("TETHER__SCHEDULE__CRON", "*/2 * * * * *")
        .env("TETHER__SERVER__LISTEN", "127.0.0.1:0")
        .env("TETHER__GORGIAS__BUCKET_WINDOW_MS", "400")
        .env("TETHER__SYNC__OVERLAP_SECONDS", "2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start tether run");
    let pid = child.id();
    let mut child = Killer(child);
    // The address `tether run` bound (port 0), from its ready file.
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Some(addr) = tether::service::ready_file::read(&ready) {
            break addr;
        }
        if Instant::now() > deadline || matches!(child.0.try_wait(), Ok(Some(_))) {
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("tether run did not announce its address:\n{err}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let http = reqwest::Client::new();
    let metrics_url = format!("http://{addr}/metrics");
    let started = Instant::now();
    let mut w = Watched {
        secs: 0.0,
        rss_last: 0,
        rss_max: 0,
        hwm: 0,
        samples: 0,
        cycles: 0.0,
        mean_cycle_secs: None,
    };
    while started.elapsed() < world.watch {
        if let Ok(Some(status)) = child.0.try_wait() {
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            println!("{name}: tether run exited early with {status}:\n{err}");
            println!("steady-state resident memory: NOT MEASURED (target < {TARGET_MIB:.0} MiB)");
            figure::record(
                "service_memory",
                &format!("tether run peak resident memory (VmHWM) ({name})"),
                "not measured: tether run exited early",
                &format!("< {TARGET_MIB:.0} MiB"),
                Some(false),
            );
            std::process::exit(1);
        }
        // Churn: a few people edited on each side between samples, so cycles have work.
        let (h_ids, g_ids) = (&world.h_ids, &world.g_ids);
        let round = world.round.fetch_add(1, Ordering::Relaxed);
        for k in 0..CHURN {
            let i = (round * CHURN + k) % h_ids.len().max(1);
            // Different people on each side, so that no edit conflicts with another.
            let j = (i + g_ids.len() / 2) % g_ids.len().max(1);
            if let (Some(h), Some(g)) = (h_ids.get(i), g_ids.get(j)) {
                let _ = world.hubspot.edit_as_person(
                    h,
                    BTreeMap::from([("firstname".to_string(), format!("Edited{round}"))]),
                );
                world
                    .gorgias
                    .edit_as_agent(*g, json!({"name": format!("First{j} Churn{round}")}));
            }
        }
        if let Some((rss, h)) = memory_kib(pid) {
            w.rss_last = rss;
            w.rss_max = w.rss_max.max(rss);
            w.hwm = w.hwm.max(h);
            w.samples += 1;
        }
        if let Ok(r) = http.get(&metrics_url).send().await
            && let Ok(text) = r.text().await
        {
            w.cycles = cycles_done(&text);
            w.mean_cycle_secs = mean_cycle_secs(&text).or(w.mean_cycle_secs);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    w.secs = started.elapsed().as_secs_f64();
    // SIGTERM, as an orchestrator would.
    unsafe_free_sigterm(pid);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(status)) = child.0.try_wait() {
            println!(
                "{name}: tether run stopped on SIGTERM with {status} in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    w
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Prints one backend's figures beside the target and hands them to the report (`suffix`
/// after each figure's name: empty for SQLite, whose names the report's history keeps).
fn report_memory(name: &str, suffix: &str, w: &Watched) {
    let verdict = |v: f64| if v < TARGET_MIB { "ok" } else { "ABOVE TARGET" };
    println!(
        "{name}: watched {:.0} s, {} samples, {:.0} cycles finished, mean cycle {}",
        w.secs,
        w.samples,
        w.cycles,
        w.mean_cycle_secs
            .map_or("unknown".to_owned(), |s| format!("{s:.2} s"))
    );
    for (what, kib) in [
        ("VmRSS last  ", w.rss_last),
        ("VmRSS max   ", w.rss_max),
        ("VmHWM (peak)", w.hwm),
    ] {
        println!(
            "{name}: {what} {:>8.1} MiB  (target < {TARGET_MIB:.0} MiB: {})",
            mib(kib),
            verdict(mib(kib))
        );
    }
    if w.cycles < 1.0 {
        println!("WARNING: no cycle finished while watching: the figure is not steady state");
    }
    figure::record(
        "service_memory",
        &format!("tether run peak resident memory (VmHWM), 100k records each side + links{suffix}"),
        &format!(
            "{:.1} MiB over {:.0} s, {:.0} cycles",
            mib(w.hwm),
            w.secs,
            w.cycles
        ),
        &format!("< {TARGET_MIB:.0} MiB"),
        Some(mib(w.hwm) < TARGET_MIB && w.cycles >= 1.0),
    );
}

/// PostgreSQL's peak memory and mean cycle time against SQLite's (target: within 1.5x).
fn compare(sqlite: &Watched, pg: &Watched) {
    let memory = mib(pg.hwm) / mib(sqlite.hwm).max(f64::MIN_POSITIVE);
    let met = |r: f64| r <= TARGET_RATIO;
    println!(
        "PostgreSQL / SQLite peak memory  {memory:>5.2}x  (target <= {TARGET_RATIO}x: {})",
        if met(memory) { "ok" } else { "ABOVE TARGET" }
    );
    figure::record(
        "service_memory",
        "tether run peak memory, PostgreSQL / SQLite",
        &format!(
            "{memory:.2}x ({:.1} / {:.1} MiB)",
            mib(pg.hwm),
            mib(sqlite.hwm)
        ),
        &format!("≤ {TARGET_RATIO}x"),
        Some(met(memory)),
    );
    match (sqlite.mean_cycle_secs, pg.mean_cycle_secs) {
        (Some(s), Some(p)) => {
            let ratio = p / s.max(f64::MIN_POSITIVE);
            println!(
                "PostgreSQL / SQLite mean cycle   {ratio:>5.2}x  ({p:.2} s / {s:.2} s; target <= {TARGET_RATIO}x: {})",
                if met(ratio) { "ok" } else { "ABOVE TARGET" }
            );
            figure::record(
                "service_memory",
                "tether run mean cycle time, PostgreSQL / SQLite",
                &format!("{ratio:.2}x ({p:.2} s / {s:.2} s)"),
                &format!("≤ {TARGET_RATIO}x"),
                Some(met(ratio)),
            );
        }
        _ => {
            println!(
                "PostgreSQL / SQLite mean cycle: NOT MEASURED (no finished cycle on one side)"
            );
            figure::record(
                "service_memory",
                "tether run mean cycle time, PostgreSQL / SQLite",
                "not measured: no finished cycle on one side",
                &format!("≤ {TARGET_RATIO}x"),
                Some(false),
            );
        }
    }
}

/// Sends SIGTERM with the `kill` command (no libc binding needed).
fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
