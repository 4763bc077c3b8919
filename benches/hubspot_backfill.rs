//! `cargo bench --bench hubspot_backfill`: backfills 20,000 contacts from the HubSpot sandbox
//! under the real limits scaled in time (×0.1: burst 100 per 1 s, search 5 per 100 ms), once
//! through the search change feed and once through the list endpoint, and prints calls used
//! against the lower bound, 429s received and the achieved request rate as a share of the
//! allowed rate, each beside its target. `TETHER_BENCH_TIME_SCALE=1` runs at real-time limits.

#[path = "support/figure.rs"]
mod figure;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tether::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig};
use tether::secret::Secret;

const N: usize = 20_000;
/// Time scale of every limit window; `TETHER_BENCH_TIME_SCALE` overrides (1.0 = real time).
const DEFAULT_SCALE: f64 = 0.1;

fn scale() -> f64 {
    std::env::var("TETHER_BENCH_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(DEFAULT_SCALE)
}

fn row(i: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("email".into(), format!("backfill{i}@example.com"));
    m.insert("firstname".into(), format!("First{i}"));
    m.insert("lastname".into(), "Backfill".into());
    m
}

struct Figures {
    name: &'static str,
    contacts: usize,
    calls: u64,
    lower_bound: u64,
    rate_limited: u64,
    elapsed: Duration,
    limit: u32,
    window: Duration,
}

fn report(f: &Figures) {
    let secs = f.elapsed.as_secs_f64();
    let achieved = f.calls as f64 / secs;
    let allowed_per_sec = f64::from(f.limit) / f.window.as_secs_f64();
    // A rolling window lets at most limit × (1 + T/W) calls through in T seconds (the first
    // window's burst included): the share of that capacity actually used.
    let capacity = f64::from(f.limit) * (1.0 + secs / f.window.as_secs_f64());
    println!("--- {} ---", f.name);
    let short = if f.name.starts_with("search") {
        "search feed"
    } else {
        "list"
    };
    let share = f.calls as f64 / capacity * 100.0;
    figure::record(
        "hubspot_backfill",
        &format!("{short}: calls used vs lower bound"),
        &format!("{} vs {}", f.calls, f.lower_bound),
        "equal",
        Some(f.calls == f.lower_bound && f.contacts == N),
    );
    figure::record(
        "hubspot_backfill",
        &format!("{short}: 429s received"),
        &f.rate_limited.to_string(),
        "0",
        Some(f.rate_limited == 0),
    );
    figure::record(
        "hubspot_backfill",
        &format!("{short}: share of the allowed request rate"),
        &format!("{share:.1} %"),
        "≥ 85 %",
        Some(share >= 85.0),
    );
    println!("contacts returned      : {} (target {N})", f.contacts);
    println!(
        "calls used             : {} (target: lower bound {}, overhead {:+})",
        f.calls,
        f.lower_bound,
        f.calls as i64 - f.lower_bound as i64
    );
    println!("429s received          : {} (target 0)", f.rate_limited);
    println!(
        "share of allowed rate  : {:.1}% (target >= 85%): {} calls of the {:.0} a rolling window of {} per {:?} admits in {:.2} s",
        f.calls as f64 / capacity * 100.0,
        f.calls,
        capacity,
        f.limit,
        f.window,
        secs
    );
    println!(
        "  (plain rate {:.1}/s vs {:.1}/s sustained = {:.1}%; above 100% on short runs, as the first window's burst is free)",
        achieved,
        allowed_per_sec,
        achieved / allowed_per_sec * 100.0
    );
    println!(
        "elapsed                : {:.2} s scaled (= {:.1} s at real-time limits)",
        f.elapsed.as_secs_f64(),
        f.elapsed.as_secs_f64() / scale()
    );
}

#[tokio::main]
async fn main() {
    let cfg = SandboxConfig {
        token: Secret::new("pat-na1-bench"),
        time_scale: scale(),
        search_index_lag: Duration::ZERO,
        ..SandboxConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
    let (sb, running) = HubspotSandbox::start(cfg.clone(), addr)
        .await
        .expect("sandbox starts");
    let seeded = sb.seed_contacts((0..N).map(row).collect());
    assert_eq!(seeded.len(), N);
    let client_cfg = || HubspotConfig {
        base_url: running.base_url.clone(),
        token: cfg.token.clone(),
        api_version: ApiVersion::default(),
        burst_limit: cfg.burst_limit,
        burst_window: cfg.scaled(cfg.burst_window),
        search_per_second: cfg.search_limit,
        search_window: cfg.scaled(cfg.search_window),
        ..HubspotConfig::default()
    };
    println!(
        "HubSpot backfill of {N} contacts; limits scaled x{}: burst {} per {:?}, search {} per {:?}",
        scale(),
        cfg.burst_limit,
        cfg.scaled(cfg.burst_window),
        cfg.search_limit,
        cfg.scaled(cfg.search_window)
    );

    // Single-call latency, for reading the rates below (the client dates budget slots by the
    // answer, so each window costs one latency on top of its length).
    {
        let probe = HubspotClient::new(client_cfg()).expect("client");
        let from = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(0).expect("epoch");
        let mut search = vec![];
        let mut list = vec![];
        for _ in 0..3 {
            let t = Instant::now();
            probe
                .changed_between(from, from, &["email"])
                .await
                .expect("probe search");
            search.push(t.elapsed());
            let t = Instant::now();
            probe.check_token().await.expect("probe list");
            list.push(t.elapsed());
            tokio::time::sleep(cfg.scaled(cfg.search_window)).await;
        }
        search.sort();
        list.sort();
        println!(
            "median latency: search over {N} contacts {:?}, GET limit=1 {:?}",
            search[1], list[1]
        );
    }

    // 1. The search change feed (windowed past the 10,000 cap).
    let client = HubspotClient::new(client_cfg()).expect("client");
    sb.reset_counters();
    let from = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(0).expect("epoch");
    let t0 = Instant::now();
    let got = client
        .changed_between(
            from,
            chrono::Utc::now(),
            &["email", "firstname", "lastname"],
        )
        .await
        .expect("search backfill");
    let elapsed = t0.elapsed();
    report(&Figures {
        name: "search feed (POST /crm/v3/objects/contacts/search, limit 200)",
        contacts: got.len(),
        calls: client.counters().search_calls,
        lower_bound: N.div_ceil(200) as u64,
        rate_limited: sb.counters().rate_limited,
        elapsed,
        limit: cfg.search_limit,
        window: cfg.scaled(cfg.search_window),
    });

    // 2. The list endpoint.
    let client = HubspotClient::new(client_cfg()).expect("client");
    sb.reset_counters();
    let t0 = Instant::now();
    let got = client
        .list_all(&["email", "firstname", "lastname"])
        .await
        .expect("list backfill");
    let elapsed = t0.elapsed();
    report(&Figures {
        name: "list (GET /crm/v3/objects/contacts, limit 100)",
        contacts: got.len(),
        calls: client.counters().calls,
        lower_bound: N.div_ceil(100) as u64,
        rate_limited: sb.counters().rate_limited,
        elapsed,
        limit: cfg.burst_limit,
        window: cfg.scaled(cfg.burst_window),
    });
    running.stop().await;
}
