//! Steady-state memory of `tether run` with 100,000 links in the store.
//! Run: `cargo bench --bench service_memory` (set `TETHER_BENCH_LINKS` for another size and
//! `TETHER_BENCH_SECS` for a longer watch).
//!
//! Starts both sandboxes in this process (100,000 HubSpot contacts, 100,000 Gorgias
//! customers), writes a store with one link per pair (with bases) and watermarks at "now",
//! then starts the real binary `tether run` on a 2-second schedule against them and samples
//! the child's resident memory (VmRSS, VmHWM from /proc) while its cycles run, with 20
//! people edited on each side every half second so the cycles have work. Prints each
//! figure next to the target (< 200 MiB resident).

#[path = "support/figure.rs"]
mod figure;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tether::config::StoreSettings;
use tether::domain::{GorgiasId, HubspotId, System};
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasConfig};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotConfig};
use tether::secret::Secret;
use tether::store::{NewLink, Store, Watermark};

const TARGET_MIB: f64 = 200.0;
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn cycles_done(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("tether_cycles_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let settings = StoreSettings {
        url: format!("sqlite://{}", db.display()).parse().expect("url"),
        busy_timeout_ms: 5_000,
        lease_seconds: 15,
    };
    let store = Store::open(&settings).await.expect("open store");
    let now = Utc::now();
    let links: Vec<NewLink> = h_ids
        .iter()
        .zip(&g_ids)
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
    for chunk in links.chunks(5_000) {
        store
            .create_links(chunk, "bench", now)
            .await
            .expect("links");
    }
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
    println!("store: {} links ({})", counts.links, db.display());

    let port = free_port();
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .current_dir(dir.path())
        .args(["-q", "run"])
        .env("TETHER__HUBSPOT__BASE_URL", &h_running.base_url)
        .env("TETHER__HUBSPOT__TOKEN", "pat-na1-bench")
        .env("TETHER__HUBSPOT__BURST_WINDOW_MS", "200")
        .env("TETHER__HUBSPOT__SEARCH_PER_SECOND", "5")
        .env("TETHER__GORGIAS__BASE_URL", &g_running.base_url)
        .env("TETHER__GORGIAS__USERNAME", &gcfg.username)
        .env("TETHER__GORGIAS__API_KEY", gcfg.api_key.expose())
        .env("TETHER__STORE__URL", settings.url.as_str())
        .env("TETHER__MAPPINGS__DIR", &mappings)
        .env("TETHER__SCHEDULE__CRON", "*/2 * * * * *")
        .env("TETHER__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("TETHER__GORGIAS__BUCKET_WINDOW_MS", "400")
        .env("TETHER__SYNC__OVERLAP_SECONDS", "2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("run.log")).expect("log file"))
        .spawn()
        .expect("start tether run");
    let pid = child.id();
    let mut child = Killer(child);
    let http = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let started = Instant::now();
    let (mut rss_max, mut hwm, mut samples, mut cycles) = (0u64, 0u64, 0u32, 0.0);
    let mut rss_last = 0u64;
    let mut round = 0usize;
    while started.elapsed() < watch {
        if let Ok(Some(status)) = child.0.try_wait() {
            let err = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
            println!("tether run exited early with {status}:\n{err}");
            println!("steady-state resident memory: NOT MEASURED (target < {TARGET_MIB:.0} MiB)");
            figure::record(
                "service_memory",
                "tether run peak resident memory (VmHWM)",
                "not measured: tether run exited early",
                &format!("< {TARGET_MIB:.0} MiB"),
                Some(false),
            );
            std::process::exit(1);
        }
        // Churn: a few people edited on each side between samples, so cycles have work.
        for k in 0..CHURN {
            let i = (round * CHURN + k) % h_ids.len().max(1);
            // Different people on each side, so that no edit conflicts with another.
            let j = (i + g_ids.len() / 2) % g_ids.len().max(1);
            if let (Some(h), Some(g)) = (h_ids.get(i), g_ids.get(j)) {
                let _ = hubspot.edit_as_person(
                    h,
                    BTreeMap::from([("firstname".to_string(), format!("Edited{round}"))]),
                );
                gorgias.edit_as_agent(*g, json!({"name": format!("First{j} Churn{round}")}));
            }
        }
        round += 1;
        if let Some((rss, h)) = memory_kib(pid) {
            rss_last = rss;
            rss_max = rss_max.max(rss);
            hwm = hwm.max(h);
            samples += 1;
        }
        if let Ok(r) = http.get(&metrics_url).send().await
            && let Ok(text) = r.text().await
        {
            cycles = cycles_done(&text);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let verdict = |v: f64| if v < TARGET_MIB { "ok" } else { "ABOVE TARGET" };
    println!(
        "watched {:.0} s, {samples} samples, {cycles:.0} cycles finished",
        watch.as_secs_f64()
    );
    println!(
        "VmRSS last      {:>8.1} MiB  (target < {TARGET_MIB:.0} MiB: {})",
        mib(rss_last),
        verdict(mib(rss_last))
    );
    println!(
        "VmRSS max       {:>8.1} MiB  (target < {TARGET_MIB:.0} MiB: {})",
        mib(rss_max),
        verdict(mib(rss_max))
    );
    println!(
        "VmHWM (peak)    {:>8.1} MiB  (target < {TARGET_MIB:.0} MiB: {})",
        mib(hwm),
        verdict(mib(hwm))
    );
    if cycles < 1.0 {
        println!("WARNING: no cycle finished while watching: the figure is not steady state");
    }
    figure::record(
        "service_memory",
        "tether run peak resident memory (VmHWM), 100k records each side + links",
        &format!(
            "{:.1} MiB over {:.0} s, {cycles:.0} cycles",
            mib(hwm),
            watch.as_secs_f64()
        ),
        &format!("< {TARGET_MIB:.0} MiB"),
        Some(mib(hwm) < TARGET_MIB && cycles >= 1.0),
    );
    // SIGTERM, as an orchestrator would.
    unsafe_free_sigterm(pid);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(status)) = child.0.try_wait() {
            println!(
                "tether run stopped on SIGTERM with {status} in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM with the `kill` command (no libc binding needed).
fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
