//! `cargo bench --bench gorgias_backfill`: backfills 5,000 customers from the Gorgias sandbox
//! through the real connector, under the real limits (40 requests per 20 s, Basic auth)
//! scaled in time, and prints each figure beside its target:
//! - list calls used vs the lower bound ceil(N/100);
//! - 429s received (target 0);
//! - the achieved request rate as a share of the allowed rate (target >= 85%), where the
//!   allowed number of calls in the elapsed time is the bucket's burst plus its drain
//!   (`limit + elapsed * limit / window`), i.e. what a perfect client starting from an
//!   empty bucket could send.
//!
//! A second phase reads 500 full customers (channels are not in the list) to measure the
//! pacing over a long run, where the drain rate dominates.

#[path = "support/figure.rs"]
mod figure;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tether::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig};

const CUSTOMERS: usize = 5_000;
const ENRICH: usize = 500;
const SCALE: f64 = 20.0;

struct Phase {
    calls: u64,
    server_429: u64,
    client_429: u64,
    elapsed_real: Duration,
}

async fn setup() -> (
    GorgiasSandbox,
    tether::sandbox::Running,
    GorgiasClient,
    SandboxConfig,
) {
    let cfg = SandboxConfig {
        time_scale: SCALE,
        ..SandboxConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
    let (sb, running) = GorgiasSandbox::start(cfg.clone(), addr)
        .await
        .expect("start the sandbox");
    let seeds = (0..CUSTOMERS)
        .map(|i| {
            serde_json::json!({
                "name": format!("Customer {i}"),
                "channels": [
                    {"type": "email", "address": format!("c{i}@shop.test"), "preferred": true},
                    {"type": "phone", "address": format!("+1555{i:07}"), "preferred": true}
                ],
            })
        })
        .collect();
    sb.seed_customers(seeds);
    sb.reset_counters();
    let mut ccfg = GorgiasConfig::new(
        running.base_url.clone(),
        cfg.username.clone(),
        cfg.api_key.clone(),
    );
    ccfg.time_scale = SCALE;
    let client = GorgiasClient::new(ccfg).expect("client");
    (sb, running, client, cfg)
}

fn report(title: &str, p: &Phase, lower_bound: u64, cfg: &SandboxConfig) {
    let limit = f64::from(cfg.basic_limit);
    let window = cfg.bucket_window.as_secs_f64();
    let elapsed_sandbox = p.elapsed_real.as_secs_f64() * SCALE;
    let allowed_calls = limit + elapsed_sandbox * limit / window;
    let share = p.calls as f64 / allowed_calls * 100.0;
    let rate = p.calls as f64 / elapsed_sandbox.max(f64::EPSILON);
    let allowed_rate = allowed_calls / elapsed_sandbox.max(f64::EPSILON);
    println!("{title}");
    let short = if title.contains("full") {
        "full reads"
    } else {
        "backfill"
    };
    figure::record(
        "gorgias_backfill",
        &format!("{short}: calls used vs lower bound"),
        &format!("{} vs {lower_bound}", p.calls),
        "equal",
        Some(p.calls == lower_bound),
    );
    figure::record(
        "gorgias_backfill",
        &format!("{short}: 429s received"),
        &(p.client_429 + p.server_429).to_string(),
        "0",
        Some(p.client_429 == 0 && p.server_429 == 0),
    );
    figure::record(
        "gorgias_backfill",
        &format!("{short}: share of the allowed request rate"),
        &format!("{share:.1} %"),
        "≥ 85 %",
        Some(share >= 85.0),
    );
    println!(
        "  calls used                 {:>8}   lower bound {lower_bound:<6} (target: equal)  {}",
        p.calls,
        if p.calls == lower_bound {
            "OK"
        } else {
            "ABOVE"
        }
    );
    println!(
        "  429s received (client)     {:>8}   target 0                         {}",
        p.client_429,
        if p.client_429 == 0 { "OK" } else { "MISSED" }
    );
    println!(
        "  429s sent (sandbox)        {:>8}   target 0                         {}",
        p.server_429,
        if p.server_429 == 0 { "OK" } else { "MISSED" }
    );
    println!(
        "  achieved rate share        {:>7.1}%   target >= 85%                    {}",
        share,
        if share >= 85.0 { "OK" } else { "MISSED" }
    );
    println!(
        "    ({rate:.2} req/s achieved vs {allowed_rate:.2} req/s allowed over {elapsed_sandbox:.1} s of sandbox time = {:.2} s real at {SCALE}x; steady drain {:.2} req/s)",
        p.elapsed_real.as_secs_f64(),
        limit / window
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        println!(
            "gorgias_backfill: {CUSTOMERS} customers, Basic-auth bucket 40 per 20 s, time scaled {SCALE}x"
        );
        // Phase 1: the backfill (list by updated_datetime:desc, 100 a page).
        let (sb, running, client, cfg) = setup().await;
        let t0 = Instant::now();
        let all = client
            .changed_since(DateTime::<Utc>::MIN_UTC)
            .await
            .expect("backfill");
        let elapsed = t0.elapsed();
        assert_eq!(all.len(), CUSTOMERS, "every customer backfilled");
        let m = client.metrics();
        let phase = Phase {
            calls: m.total_calls(),
            server_429: sb.counters().rate_limited,
            client_429: m.rate_limited,
            elapsed_real: elapsed,
        };
        let lower = CUSTOMERS.div_ceil(100) as u64;
        report(
            &format!("phase 1: backfill of {} customers via the list", all.len()),
            &phase,
            lower,
            &cfg,
        );
        running.stop().await;

        // Phase 2: full reads (channels), a long paced run.
        let (sb, running, client, cfg) = setup().await;
        let ids: Vec<i64> = sb.customer_ids().into_iter().take(ENRICH).collect();
        let t0 = Instant::now();
        for id in &ids {
            let c = client.get(*id).await.expect("get");
            assert!(c.channels.is_some());
        }
        let elapsed = t0.elapsed();
        let m = client.metrics();
        let phase = Phase {
            calls: m.total_calls(),
            server_429: sb.counters().rate_limited,
            client_429: m.rate_limited,
            elapsed_real: elapsed,
        };
        report(
            &format!("phase 2: {ENRICH} full reads (phones live in channels)"),
            &phase,
            ENRICH as u64,
            &cfg,
        );
        running.stop().await;
    });
}
