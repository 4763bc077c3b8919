//! The service in-process with a fake cycle runner: cron pacing without overlap or stacking,
//! webhook-triggered targeted cycles fed by the HubSpot sandbox, signature refusals,
//! graceful shutdown, and the metrics endpoint.

use crate::harness::{eventually, eventually_async};
use crate::service_support::{FakeRunner, parse_prometheus, sign, wait_for};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig, WebhookConfig};
use tether::secret::Secret;
use tether::service::scheduler::{Stopped, parse_schedule};
use tether::service::shutdown::Shutdown;
use tether::service::{Service, ServiceOptions};
use tether::store::Store;

const SECRET: &str = "app-client-secret";

async fn start(
    runner: Arc<FakeRunner>,
    cron: &str,
    run_at_start: bool,
    grace: Duration,
) -> (Service, Shutdown) {
    let store = Store::open_in_memory().await.unwrap();
    let stop = Shutdown::new();
    let opts = ServiceOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        schedule: parse_schedule(cron).unwrap(),
        run_at_start,
        shutdown_grace: grace,
        client_secret: Secret::new(SECRET),
        extra: None,
        lease: None,
    };
    let svc = Service::start(opts, Arc::new(store), runner, vec![], stop.clone())
        .await
        .unwrap();
    (svc, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_overrunning_cycles_never_overlap_nor_stack() {
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(2_300)));
    let (svc, stop) = start(runner.clone(), "* * * * * *", false, Duration::from_secs(5)).await;
    // The observation window is the thing under test (how many cycles fit in 6.5 s of a
    // one-second schedule), so this sleep stays.
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    stop.trigger();
    assert_eq!(svc.wait().await.unwrap(), Stopped::Clean);
    let calls = runner.calls();
    assert_eq!(runner.max_concurrent.load(Ordering::SeqCst), 1);
    // 6.5 s of a one-second schedule with 2.3 s cycles: 2 or 3 cycles, not 6 stacked.
    assert!((2..=3).contains(&calls.len()), "{} cycles", calls.len());
    for w in calls.windows(2) {
        let gap = w[1].started - w[0].ended.unwrap();
        // The next one starts at the first tick after the end, not at once for each missed tick.
        assert!(gap <= Duration::from_millis(1_100), "gap {gap:?}");
        assert!(w[1].started >= w[0].ended.unwrap());
    }
    assert!(calls.iter().all(|c| c.targets.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sandbox_webhook_triggers_a_targeted_cycle_within_2s() {
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(50)));
    // A schedule that never fires during the test: only webhooks cause cycles.
    let (svc, stop) = start(
        runner.clone(),
        "0 0 0 1 1 * 2099",
        false,
        Duration::from_secs(5),
    )
    .await;
    let url = format!("http://{}/webhooks/hubspot", svc.addr);
    let cfg = SandboxConfig {
        token: Secret::new("pat-test"),
        webhook: Some(WebhookConfig::new(url, Secret::new(SECRET))),
        ..SandboxConfig::default()
    };
    let (sb, _running) = HubspotSandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let id = sb.seed_contacts(vec![BTreeMap::from([
        ("email".to_string(), "jo@example.com".to_string()),
        ("firstname".to_string(), "Jo".to_string()),
    ])])[0]
        .clone();
    assert!(runner.calls().is_empty());
    let t0 = Instant::now();
    sb.edit_as_person(
        &id,
        BTreeMap::from([("firstname".to_string(), "Joanna".to_string())]),
    )
    .unwrap();
    let took = wait_for(Duration::from_secs(2), || {
        runner
            .calls()
            .iter()
            .any(|c| c.targets.as_ref().is_some_and(|t| t.contains(&id)))
    })
    .await;
    assert!(
        took.is_some(),
        "no targeted cycle for {id} within 2 s of the edit"
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    let c = eventually(Duration::from_secs(2), "the delivery counted", || {
        let c = sb.counters();
        (c.webhook_events_delivered >= 1).then_some(c)
    })
    .await;
    // Seeded (pre-existing) contacts emit no events: what was delivered is the edit's one
    // event (a seed's creation event would have gone in the same round or an earlier one).
    assert_eq!(c.webhook_events_delivered, 1, "{c:?}");
    assert_eq!(c.webhook_events_dropped, 0, "{c:?}");
    assert!(
        runner
            .calls()
            .iter()
            .all(|c| c.targets.as_deref() == Some(&[id.clone()][..]))
    );
    stop.trigger();
    svc.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_bad_or_stale_signatures_get_401_good_ones_queue_and_dedup() {
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(10)));
    let (svc, stop) = start(
        runner.clone(),
        "0 0 0 1 1 * 2099",
        false,
        Duration::from_secs(5),
    )
    .await;
    let url = format!("http://{}/webhooks/hubspot", svc.addr);
    let http = reqwest::Client::new();
    let body = br#"[{"objectId":4242,"eventId":9,"occurredAt":1,"subscriptionType":"contact.propertyChange","propertyName":"firstname","propertyValue":"A"}]"#;
    let post = |sig: String, ts: String| {
        http.post(&url)
            .header("X-HubSpot-Signature-v3", sig)
            .header("X-HubSpot-Request-Timestamp", ts)
            .body(body.to_vec())
            .send()
    };
    let now = chrono::Utc::now().timestamp_millis();
    let fresh = now.to_string();
    let stale = (now - 301_000).to_string();
    let r = post(sign("wrong-secret", &url, body, &fresh), fresh.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = post(sign(SECRET, &url, body, &stale), stale.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http.post(&url).body(body.to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A webhook is queued (or refused) before its answer is sent: the refusals queued nothing.
    assert!(svc.targets.is_empty(), "a refused webhook queued a cycle");
    assert!(
        runner.calls().is_empty(),
        "a refused webhook caused a cycle"
    );

    let t0 = Instant::now();
    let r = post(sign(SECRET, &url, body, &fresh), fresh.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let took = wait_for(Duration::from_secs(2), || {
        runner
            .calls()
            .iter()
            .any(|c| c.targets.as_deref() == Some(&["4242".to_string()][..]))
    })
    .await;
    assert!(took.is_some());
    // One cycle: the refused requests' event was never taken for seen (it is fresh here).
    assert_eq!(runner.calls().len(), 1);
    // The same event again is a duplicate: accepted, but no new cycle.
    let r = post(sign(SECRET, &url, body, &fresh), fresh.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Decided before the answer: nothing queued, no second cycle.
    assert!(svc.targets.is_empty(), "a duplicate queued a cycle");
    assert_eq!(runner.calls().len(), 1);
    let text = http
        .get(format!("http://{}/metrics", svc.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse_prometheus(&text).unwrap();
    assert_eq!(
        m["tether_webhook_requests_total{result=\"unauthorized\"}"],
        3.0
    );
    assert_eq!(m["tether_webhook_events_total{result=\"duplicate\"}"], 1.0);
    stop.trigger();
    svc.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_shutdown_lets_the_cycle_finish_or_abandons_it_at_the_deadline() {
    // Finishes within the grace period.
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(1_000)));
    let (svc, stop) = start(
        runner.clone(),
        "0 0 0 1 1 * 2099",
        true,
        Duration::from_secs(5),
    )
    .await;
    let started = || (!runner.calls().is_empty()).then_some(());
    eventually(Duration::from_secs(3), "the start-up cycle", started).await;
    let t0 = Instant::now();
    stop.trigger();
    assert_eq!(svc.wait().await.unwrap(), Stopped::Clean);
    assert!(t0.elapsed() < Duration::from_secs(3));
    let calls = runner.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].ended.is_some(), "the in-flight cycle was cut");

    // Overruns the grace period: abandoned at the deadline.
    let runner = Arc::new(FakeRunner::new(Duration::from_secs(60)));
    let (svc, stop) = start(
        runner.clone(),
        "0 0 0 1 1 * 2099",
        true,
        Duration::from_millis(500),
    )
    .await;
    let started = || (!runner.calls().is_empty()).then_some(());
    eventually(Duration::from_secs(3), "the start-up cycle", started).await;
    let t0 = Instant::now();
    stop.trigger();
    assert_eq!(svc.wait().await.unwrap(), Stopped::AbandonedCycle);
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_probes_and_metrics_move() {
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(10)));
    let (svc, stop) = start(runner.clone(), "* * * * * *", true, Duration::from_secs(5)).await;
    let base = format!("http://{}", svc.addr);
    let http = reqwest::Client::new();
    let get = |p: &str| http.get(format!("{base}{p}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    wait_for(Duration::from_secs(3), || !runner.calls().is_empty()).await;
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let r = get("/metrics").await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let first = parse_prometheus(&r.text().await.unwrap()).unwrap();
    let at =
        |m: &std::collections::BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let key = "tether_cycles_total{kind=\"full\",outcome=\"ok\"}";
    // Two more cycles on the one-second schedule.
    let second = eventually_async(Duration::from_secs(5), "two more cycles", || async {
        let text = get("/metrics").await.ok()?.text().await.ok()?;
        let m = parse_prometheus(&text).unwrap();
        (at(&m, key) >= at(&first, key) + 2.0).then_some(m)
    })
    .await;
    assert!(
        at(&second, key) > at(&first, key),
        "{first:?} -> {second:?}"
    );
    let read = "tether_records_read_total{system=\"hubspot\"}";
    assert!(at(&second, read) > at(&first, read));
    assert!(second["tether_cycle_duration_seconds_count"] >= 2.0);
    assert!(second["tether_last_success_timestamp_seconds"] > 1.0e9);
    assert_eq!(second["tether_outbox_pending"], 0.0);
    stop.trigger();
    svc.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sandbox_merges_and_deletions_name_their_contacts() {
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(10)));
    let (svc, stop) = start(
        runner.clone(),
        "0 0 0 1 1 * 2099",
        false,
        Duration::from_secs(5),
    )
    .await;
    let url = format!("http://{}/webhooks/hubspot", svc.addr);
    let cfg = SandboxConfig {
        token: Secret::new("pat-test"),
        webhook: Some(WebhookConfig::new(url, Secret::new(SECRET))),
        ..SandboxConfig::default()
    };
    let (sb, running) = HubspotSandbox::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let person = |e: &str| {
        BTreeMap::from([
            ("email".to_string(), e.to_string()),
            ("firstname".to_string(), "M".to_string()),
        ])
    };
    let ids = sb.seed_contacts(vec![
        person("a@m.test"),
        person("b@m.test"),
        person("c@m.test"),
    ]);
    let survivor = sb.merge_as_person(&ids[0], &ids[1]).unwrap();
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/crm/v3/objects/contacts/{}",
            running.base_url, ids[2]
        ))
        .bearer_auth("pat-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let targeted = || -> std::collections::BTreeSet<String> {
        runner
            .calls()
            .iter()
            .filter_map(|c| c.targets.clone())
            .flatten()
            .collect()
    };
    let all: Vec<String> = vec![
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
        survivor.clone(),
    ];
    let took = wait_for(Duration::from_secs(3), || {
        let t = targeted();
        all.iter().all(|i| t.contains(i))
    })
    .await;
    assert!(took.is_some(), "targeted {:?}, wanted {all:?}", targeted());
    let c = sb.counters();
    // A merge and a deletion (seeded contacts emit no creation events).
    assert!(c.webhook_events_delivered >= 2, "{c:?}");
    stop.trigger();
    svc.wait().await.unwrap();
}

/// On the tokio test clock (paused: it advances only when every task waits), so "nothing ran
/// for two schedule ticks" takes no real time and cannot flake on a loaded machine.
#[tokio::test(start_paused = true)]
async fn service_a_standby_runs_no_cycle_and_a_new_leader_runs_one_at_once() {
    use tether::service::scheduler::{SchedulerConfig, TargetRequests, run};
    use tether::store::Role;
    let runner = Arc::new(FakeRunner::new(Duration::from_millis(10)));
    let (roles, rx) = tokio::sync::watch::channel(Role::Standby);
    let stop = Shutdown::new();
    let cfg = SchedulerConfig {
        // Every second: a standby would run a cycle on every tick.
        schedule: parse_schedule("* * * * * *").unwrap(),
        run_at_start: true,
        shutdown_grace: Duration::from_secs(1),
        leader: Some(rx),
    };
    let health = Arc::new(tether::service::Health::new(
        chrono::Utc::now(),
        Duration::from_secs(300),
    ));
    let task = tokio::spawn(run(
        cfg,
        runner.clone(),
        Arc::new(TargetRequests::new()),
        health,
        Arc::new(tether::service::metrics::Metrics::new()),
        stop.subscribe(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(runner.calls().is_empty(), "a standby ran a cycle");
    // Leader: a full cycle at once, before the next tick could explain it.
    let gained = tokio::time::Instant::now();
    roles.send_replace(Role::Leader);
    wait_for(Duration::from_secs(5), || !runner.calls().is_empty())
        .await
        .expect("a new leader runs a cycle");
    assert!(
        gained.elapsed() < Duration::from_millis(500),
        "{:?}",
        gained.elapsed()
    );
    assert_eq!(runner.calls()[0].targets, None, "a full cycle");
    // It follows the schedule while it leads; standby again, the cycles stop.
    wait_for(Duration::from_secs(5), || runner.calls().len() >= 2)
        .await
        .expect("the leader follows the schedule");
    roles.send_replace(Role::Standby);
    wait_for(Duration::from_secs(5), || {
        runner.calls().iter().all(|c| c.ended.is_some())
    })
    .await
    .unwrap();
    let n = runner.calls().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runner.calls().len(), n, "a standby ran a cycle");
    stop.trigger();
    assert_eq!(task.await.unwrap(), Stopped::Clean);
}
