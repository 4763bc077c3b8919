//! `tether run` as a real process against both sandboxes: edits cross over within 3 s on a
//! one-second schedule, signed webhooks sync a contact within 2 s (bad or stale ones get
//! 401), SIGTERM during a cycle exits 0 within 10 s and the next start finishes the work, a
//! second `tether run` on the same store refuses, `/metrics` parses and moves.

use crate::harness::{eventually, eventually_async};
use crate::service_support::{parse_prometheus, sign, wait_for};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tether::sandbox::Running;
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasConfig};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotConfig, WebhookConfig};
use tether::secret::Secret;
use tether::service::ready_file;

const CLIENT_SECRET: &str = "hubspot-app-secret";
const TOKEN: &str = "pat-na1-service";

struct Env {
    hubspot: HubspotSandbox,
    gorgias: GorgiasSandbox,
    _h: Running,
    _g: Running,
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
    /// `tether run`s started so far (each gets its own log and ready file).
    starts: AtomicUsize,
}

/// Both sandboxes first (the HubSpot one with webhooks, when asked, to a target set once
/// `tether run` is bound), then a configuration for `tether run` on port 0.
async fn env(cron: &str, webhooks: bool) -> Env {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let hcfg = HubspotConfig {
        token: Secret::new(TOKEN),
        time_scale: 0.02,
        webhook: webhooks.then(|| WebhookConfig::unaddressed(Secret::new(CLIENT_SECRET))),
        ..HubspotConfig::default()
    };
    let (hubspot, h) = HubspotSandbox::start(hcfg, addr).await.unwrap();
    let gcfg = GorgiasConfig {
        time_scale: 50.0,
        ..GorgiasConfig::default()
    };
    let (gorgias, g) = GorgiasSandbox::start(gcfg.clone(), addr).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let vars = [
        ("TETHER__HUBSPOT__BASE_URL", h.base_url.clone()),
        ("TETHER__HUBSPOT__TOKEN", TOKEN.into()),
        ("TETHER__HUBSPOT__CLIENT_SECRET", CLIENT_SECRET.into()),
        ("TETHER__HUBSPOT__BURST_WINDOW_MS", "200".into()),
        ("TETHER__GORGIAS__BASE_URL", g.base_url.clone()),
        ("TETHER__GORGIAS__USERNAME", gcfg.username.clone()),
        ("TETHER__GORGIAS__API_KEY", gcfg.api_key.expose().into()),
        ("TETHER__GORGIAS__BUCKET_WINDOW_MS", "400".into()),
        (
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        ),
        ("TETHER__MAPPINGS__DIR", mappings.display().to_string()),
        ("TETHER__SCHEDULE__CRON", cron.into()),
        ("TETHER__SERVER__LISTEN", "127.0.0.1:0".into()),
        ("TETHER__SYNC__OVERLAP_SECONDS", "5".into()),
        ("TETHER__SYNC__MAX_CREATES", "100000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Env {
        hubspot,
        gorgias,
        _h: h,
        _g: g,
        dir,
        vars,
        starts: AtomicUsize::new(0),
    }
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = super::harness::tether_command();
        c.current_dir(self.dir.path())
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    async fn setup(&self) {
        let mut c = self.command(&["setup"]);
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `tether run` on port 0 and waits for the address its ready file announces;
    /// the server answers from then on.
    async fn start(&self, extra: &[&str]) -> Proc {
        let n = self.starts.fetch_add(1, Ordering::SeqCst);
        let log = self.dir.path().join(format!("run-{n}.log"));
        let ready = self.dir.path().join(format!("run-{n}.addr"));
        let ready_arg = ready.display().to_string();
        let mut args = vec!["run", "--ready-file", &ready_arg];
        args.extend_from_slice(extra);
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .command(&args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut p = Proc {
            child: Some(child),
            log,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        p.addr = eventually(Duration::from_secs(10), "tether run's ready file", || {
            if let Some(s) = p.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tether run exited with {s}: {}", p.log());
            }
            ready_file::read(&ready)
        })
        .await;
        assert!(
            p.log().contains(&format!("listening on {}", p.addr)),
            "{}",
            p.log()
        );
        let health = reqwest::get(p.url("/healthz")).await.unwrap();
        assert_eq!(health.status(), 200, "{}", p.log());
        p
    }

    /// Points the HubSpot sandbox's webhooks at the running `p`.
    fn webhooks_to(&self, p: &Proc) {
        assert!(
            self.hubspot.set_webhook_target(p.url("/webhooks/hubspot")),
            "the sandbox has no webhooks"
        );
    }

    /// A linked pair: seeded on both sides with one e-mail. Returns (HubSpot id, Gorgias id).
    fn seed_pair(&self, i: usize) -> (String, i64) {
        let email = format!("svc{i}@shop.test");
        let h = self.hubspot.seed_contacts(vec![BTreeMap::from([
            ("email".to_string(), email.clone()),
            ("firstname".to_string(), "Sam".to_string()),
            ("lastname".to_string(), format!("Person{i}")),
        ])]);
        let g = self.gorgias.seed_customers(vec![json!({
            "email": email,
            "name": format!("Sam Person{i}"),
            "channels": [{"type": "email", "address": email, "preferred": true}],
        })]);
        (h[0].clone(), g[0])
    }

    fn gorgias_name(&self, id: i64) -> String {
        self.gorgias
            .customer(id)
            .and_then(|c| c["name"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn hubspot_prop(&self, id: &str, prop: &str) -> String {
        self.hubspot
            .contact(id)
            .and_then(|c| c["properties"][prop].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A running `tether run`, bound to `addr`.
struct Proc {
    child: Option<Child>,
    log: PathBuf,
    addr: SocketAddr,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn metrics(&self) -> Option<BTreeMap<String, f64>> {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
    }

    async fn cycles(&self) -> f64 {
        self.metrics()
            .await
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("tether_cycles_total{"))
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// Waits until `n` cycles have finished.
    async fn wait_cycles(&self, n: f64, limit: Duration) {
        let what = format!("{n} finished cycles");
        eventually_async(limit, &what, || async {
            (self.cycles().await >= n).then_some(())
        })
        .await;
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for the exit, up to `limit`.
    async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().unwrap();
        eventually(limit, "tether run to exit", || child.try_wait().unwrap()).await
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_edits_cross_over_within_3s_on_a_one_second_schedule() {
    let e = env("* * * * * *", false).await;
    e.setup().await;
    let (h, g) = e.seed_pair(1);
    let mut p = e.start(&[]).await;
    p.wait_cycles(2.0, Duration::from_secs(15)).await;

    e.hubspot
        .edit_as_person(
            &h,
            BTreeMap::from([("firstname".into(), "Samantha".into())]),
        )
        .unwrap();
    let took = wait_for(Duration::from_secs(3), || {
        e.gorgias_name(g) == "Samantha Person1"
    })
    .await;
    eprintln!(
        "HubSpot edit reached Gorgias in {:?}",
        took.unwrap_or_default()
    );
    assert!(
        took.is_some(),
        "HubSpot edit not in Gorgias within 3 s: {:?}\n{}",
        e.gorgias.customer(g),
        p.log()
    );

    assert!(
        e.gorgias
            .edit_as_agent(g, json!({"name": "Samantha Renamed"}))
    );
    let took = wait_for(Duration::from_secs(3), || {
        e.hubspot_prop(&h, "lastname") == "Renamed"
    })
    .await;
    eprintln!(
        "Gorgias edit reached HubSpot in {:?}",
        took.unwrap_or_default()
    );
    assert!(
        took.is_some(),
        "Gorgias edit not in HubSpot within 3 s: {:?}\n{}",
        e.hubspot.contact(&h),
        p.log()
    );
    let m = p.metrics().await.unwrap();
    assert!(m["tether_links"] >= 1.0);
    // One write each way at least, counted by outcome.
    assert!(
        m["tether_writes_total{system=\"hubspot\",outcome=\"done\"}"] >= 1.0,
        "{m:?}"
    );
    assert!(
        m["tether_writes_total{system=\"gorgias\",outcome=\"done\"}"] >= 1.0,
        "{m:?}"
    );
    assert!(m["tether_writes_total{system=\"gorgias\",outcome=\"planned\"}"] >= 1.0);
    assert!(m["tether_writes_total{system=\"hubspot\",outcome=\"planned\"}"] >= 1.0);
    p.sigterm();
    let status = p.wait(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}: {}", p.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_webhooks_401_when_unsigned_and_sync_the_contact_within_2s() {
    // The schedule never fires during the test: only the start-up cycle and webhooks run.
    let e = env("0 0 0 1 1 * 2099", true).await;
    e.setup().await;
    let (h, g) = e.seed_pair(2);
    let mut p = e.start(&[]).await;
    e.webhooks_to(&p);
    p.wait_cycles(1.0, Duration::from_secs(15)).await;
    // The start-up cycle's own HubSpot write comes back as a webhook and causes a targeted
    // cycle: await it, so that the edit below is not queued behind it.
    eventually_async(
        Duration::from_secs(5),
        "the targeted cycle of the echo",
        || async {
            let m = p.metrics().await?;
            let targeted: f64 = m
                .iter()
                .filter(|(k, _)| k.starts_with("tether_cycles_total{kind=\"targeted\""))
                .map(|(_, v)| v)
                .sum();
            (targeted >= 1.0).then_some(())
        },
    )
    .await;

    let http = reqwest::Client::new();
    let url = p.url("/webhooks/hubspot");
    let body = format!(
        r#"[{{"objectId":{h},"eventId":77,"occurredAt":1,"subscriptionType":"contact.propertyChange","propertyName":"firstname","propertyValue":"X"}}]"#
    );
    let now = chrono::Utc::now().timestamp_millis();
    for (secret, ts) in [
        ("not-the-secret", now.to_string()),
        (CLIENT_SECRET, (now - 6 * 60_000).to_string()),
    ] {
        let r = http
            .post(&url)
            .header(
                "X-HubSpot-Signature-v3",
                sign(secret, &url, body.as_bytes(), &ts),
            )
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }

    let t0 = Instant::now();
    e.hubspot
        .edit_as_person(
            &h,
            BTreeMap::from([("firstname".into(), "Webhooked".into())]),
        )
        .unwrap();
    let took = wait_for(Duration::from_secs(2), || {
        e.gorgias_name(g) == "Webhooked Person2"
    })
    .await;
    eprintln!(
        "webhooked HubSpot edit reached Gorgias in {:?}",
        took.unwrap_or_default()
    );
    assert!(
        took.is_some(),
        "contact not synced within 2 s of the edit: {:?}, webhooks {:?}\n{}",
        e.gorgias.customer(g),
        e.hubspot.counters(),
        p.log()
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let m = p.metrics().await.unwrap();
    assert_eq!(
        m["tether_webhook_requests_total{result=\"unauthorized\"}"],
        2.0
    );
    assert!(m["tether_webhook_requests_total{result=\"accepted\"}"] >= 1.0);
    p.sigterm();
    assert!(p.wait(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_sigterm_mid_cycle_exits_0_and_the_next_start_finishes() {
    let e = env("0 0 0 1 1 * 2099", false).await;
    e.setup().await;
    // Many one-sided contacts: the start-up cycle has a lot of Gorgias creates to send.
    let n = 300;
    let rows: Vec<BTreeMap<String, String>> = (0..n)
        .map(|i| {
            BTreeMap::from([
                ("email".to_string(), format!("bulk{i}@shop.test")),
                ("firstname".to_string(), "Bulk".to_string()),
                ("lastname".to_string(), format!("N{i}")),
            ])
        })
        .collect();
    e.hubspot.seed_contacts(rows);
    let mut p = e.start(&["--shutdown-grace", "2"]).await;
    // SIGTERM once the start-up cycle is visibly under way: its first creates have landed.
    eventually(Duration::from_secs(10), "the first Gorgias creates", || {
        (!e.gorgias.customer_ids().is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        p.cycles().await,
        0.0,
        "the cycle ended before SIGTERM: make it longer"
    );
    let t0 = Instant::now();
    p.sigterm();
    let status = p.wait(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}: {}", p.log());
    assert!(t0.elapsed() < Duration::from_secs(10));
    let made_before = e.gorgias.customer_ids().len();
    assert!(made_before < n, "nothing was left for the next start");

    let mut p = e.start(&[]).await;
    p.wait_cycles(1.0, Duration::from_secs(60)).await;
    assert_eq!(e.gorgias.customer_ids().len(), n, "{}", p.log());
    let m = p.metrics().await.unwrap();
    assert_eq!(m["tether_links"], n as f64);
    assert_eq!(m["tether_outbox_pending"], 0.0);
    p.sigterm();
    assert!(p.wait(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_a_second_run_on_the_same_store_refuses() {
    let e = env("0 0 0 1 1 * 2099", false).await;
    e.setup().await;
    let mut first = e.start(&["--no-initial-cycle"]).await;
    let mut c = e.command(&["run"]);
    let out = tokio::task::spawn_blocking(move || {
        c.env("TETHER__SERVER__LISTEN", "127.0.0.1:0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    assert!(err.contains("host") && err.contains("since"), "{err}");
    // The first one is unaffected.
    assert_eq!(
        reqwest::get(first.url("/healthz")).await.unwrap().status(),
        200
    );
    first.sigterm();
    assert!(first.wait(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_metrics_parse_and_move() {
    let e = env("* * * * * *", false).await;
    e.setup().await;
    e.seed_pair(3);
    let mut p = e.start(&[]).await;
    p.wait_cycles(1.0, Duration::from_secs(15)).await;
    let a = p.metrics().await.unwrap();
    p.wait_cycles(
        a.iter()
            .filter(|(k, _)| k.starts_with("tether_cycles_total{"))
            .map(|(_, v)| v)
            .sum::<f64>()
            + 2.0,
        Duration::from_secs(10),
    )
    .await;
    let b = p.metrics().await.unwrap();
    let sum = |m: &BTreeMap<String, f64>, prefix: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert!(sum(&b, "tether_cycles_total{") >= sum(&a, "tether_cycles_total{") + 2.0);
    assert!(
        sum(&b, "tether_api_calls_total{system=\"hubspot\"")
            > sum(&a, "tether_api_calls_total{system=\"hubspot\"")
    );
    assert!(
        sum(&b, "tether_api_calls_total{system=\"gorgias\"")
            > sum(&a, "tether_api_calls_total{system=\"gorgias\"")
    );
    assert!(b["tether_cycle_duration_seconds_count"] > a["tether_cycle_duration_seconds_count"]);
    // Records read, per system: the first cycle read the seeded pairs on both sides.
    for system in ["hubspot", "gorgias"] {
        let key = format!("tether_records_read_total{{system=\"{system}\"}}");
        assert!(b.get(&key).copied().unwrap_or(0.0) >= 3.0, "{key}: {b:?}");
        assert!(b[&key] >= a[&key], "{key}");
    }
    // Write outcomes are labelled by system, never `all`.
    assert!(!b.keys().any(|k| k.contains("system=\"all\"")), "{b:?}");
    assert!(
        b["tether_last_success_timestamp_seconds"] >= a["tether_last_success_timestamp_seconds"]
    );
    assert_eq!(reqwest::get(p.url("/readyz")).await.unwrap().status(), 200);
    p.sigterm();
    assert!(p.wait(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_mounts_the_review_page_behind_its_token() {
    let mut e = env("0 0 * * * *", false).await;
    e.vars.push((
        "TETHER__SERVER__REVIEW_TOKEN".into(),
        "review-secret".into(),
    ));
    let mut p = e.start(&["--no-initial-cycle"]).await;
    let http = reqwest::Client::new();
    let anonymous = http
        .get(p.url("/review/api/proposals"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .get(p.url("/review/api/proposals"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let api = http
        .get(p.url("/review/api/proposals"))
        .bearer_auth("review-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(body.is_object() || body.is_array(), "{body}");
    let page = http
        .get(p.url("/review"))
        .bearer_auth("review-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    p.sigterm();
    assert!(p.wait(Duration::from_secs(10)).await.success());
}

/// `tether setup` with `sidebar.install = card` installs the widgets, and `tether run` serves
/// the Gorgias card behind its secret: the linked customer's card after a cycle, counted in
/// `/metrics`, the secret nowhere in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_serves_the_gorgias_card_behind_its_secret() {
    let mut e = env("0 0 * * * *", false).await;
    let secret = "card-secret-in-run";
    for (k, v) in [
        ("TETHER__SIDEBAR__INSTALL", "card".to_owned()),
        ("TETHER__SIDEBAR__CARD_SECRET", secret.to_owned()),
        // Where Gorgias would call the card (behind a proxy), not the port-0 listener:
        // the test asks the card itself.
        (
            "TETHER__SIDEBAR__PUBLIC_URL",
            "https://tether.shop.test".to_owned(),
        ),
    ] {
        e.vars.push((k.into(), v));
    }
    e.setup().await;
    let (ints, widgets) = e.gorgias.integrations_and_widgets();
    assert_eq!(
        (ints.len(), widgets.len()),
        (1, 2),
        "setup installs the card"
    );
    let (h, g) = e.seed_pair(7);
    let mut p = e.start(&[]).await;
    p.wait_cycles(1.0, Duration::from_secs(15)).await;
    let http = reqwest::Client::new();
    let card_url = p.url(&format!(
        "/gorgias/card?customer_id={g}&email=svc7%40shop.test"
    ));
    let refused = http.get(&card_url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let card: serde_json::Value = http
        .get(&card_url)
        .header("X-Tether-Card-Secret", secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(card["status"], "linked", "{card}\n{}", p.log());
    assert_eq!(card["hubspot_id"], h.as_str());
    assert_eq!(card["name"], "Sam Person7");
    assert!(card["last_sync"].is_string(), "{card}");
    let m = p.metrics().await.unwrap();
    assert_eq!(
        m.get("tether_card_requests_total{outcome=\"linked\"}"),
        Some(&1.0),
        "{m:?}"
    );
    assert_eq!(
        m.get("tether_card_requests_total{outcome=\"unauthorized\"}"),
        Some(&1.0)
    );
    p.sigterm();
    assert!(p.wait(Duration::from_secs(10)).await.success());
    assert!(!p.log().contains(secret), "the secret is in the log");
    assert!(
        !p.log().contains("svc7@shop.test"),
        "an e-mail in clear in the log"
    );
}

/// A ready file that cannot be written stops `tether run` (exit 1, naming the file): a script
/// waiting for it would otherwise wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_stops_when_its_ready_file_cannot_be_written() {
    let e = env("0 0 * * * *", false).await;
    let path = e.dir.path().join("no-such-dir").join("run.addr");
    let mut c = e.command(&["run", "--no-initial-cycle", "--ready-file"]);
    c.arg(&path);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("listening on 127.0.0.1:"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("cannot write it"), "{err}");
}
