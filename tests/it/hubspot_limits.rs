//! Rate limits, faults and auth against the sandbox: a 429 storm and 5xx/423/timeouts/
//! malformed bodies with zero lost writes, budgets that stay under the limits, the daily stop.

use super::hubspot_support::*;
use std::time::Duration;
use tether::connectors::hubspot::{HubspotClient, HubspotConfig, HubspotError, WriteOutcome};
use tether::sandbox::hubspot::{Fault, FaultKind};
use tether::secret::Secret;

#[tokio::test]
async fn storm_of_429s_and_server_faults_loses_no_write() {
    let mut cfg = fast_sandbox();
    cfg.burst_limit = 10; // 10 per 500 ms
    let (sb, run, _) = start(cfg.clone()).await;
    // The client believes it may send 100 per window: the sandbox's 429s and headers teach it.
    let client = HubspotClient::new(HubspotConfig {
        burst_limit: 100,
        request_timeout: Duration::from_millis(400),
        ..client_config(&cfg, &run.base_url)
    })
    .unwrap();
    sb.inject_fault(Fault::of(FaultKind::RateLimit, 5).on_path("batch/create"));
    sb.inject_fault(Fault::status(503, 3).on_path("batch/create"));
    sb.inject_fault(Fault::status(502, 1));
    sb.inject_fault(Fault::status(423, 2).on_path("batch/update"));
    sb.inject_fault(
        Fault::of(FaultKind::Timeout, 1)
            .millis(20_000)
            .on_path("batch/create"),
    );
    sb.inject_fault(Fault::of(FaultKind::Malformed, 1).on_path("batch/create"));
    sb.inject_fault(Fault::of(FaultKind::Latency, 3).millis(1_000));
    let n = 1_500;
    let inputs: Vec<_> = (0..n).map(person).collect();
    // Two workers share the token.
    let (a, b) = inputs.split_at(n / 2);
    let other = client.clone();
    let (ra, rb) = tokio::join!(client.batch_create(a), other.batch_create(b));
    let outcomes: Vec<WriteOutcome> = ra.unwrap().into_iter().chain(rb.unwrap()).collect();
    let created: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            WriteOutcome::Created(c) => c.id.clone(),
            other => panic!("lost write: {other:?}"),
        })
        .collect();
    assert_eq!(created.len(), n);
    assert_eq!(sb.live_count(), n);
    let updates: Vec<_> = created
        .iter()
        .map(|id| (id.clone(), props(&[("lastname", "Updated")])))
        .collect();
    let out = client.batch_update(&updates).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Updated(_))));
    for id in created.iter().step_by(97) {
        assert_eq!(sb.contact(id).unwrap()["properties"]["lastname"], "Updated");
    }
    let c = sb.counters();
    assert!(c.rate_limited >= 5, "{c:?}");
    assert_eq!(client.counters().rate_limited, c.rate_limited);
    assert!(client.counters().retries >= 8, "{:?}", client.counters());
}

#[tokio::test]
async fn budgets_keep_a_busy_client_under_both_limits() {
    let mut cfg = fast_sandbox();
    cfg.burst_limit = 8;
    cfg.search_limit = 3;
    let (sb, _run, client) = start(cfg).await;
    let ids = sb.seed_contacts((0..30).map(person).collect());
    let reads = async {
        for id in &ids {
            client.get(id, &["email"]).await.unwrap().unwrap();
        }
    };
    let searches = async {
        for _ in 0..12 {
            client
                .changed_since(chrono::Utc::now() - chrono::Duration::hours(1), &["email"])
                .await
                .unwrap();
        }
    };
    tokio::join!(reads, searches);
    assert_eq!(sb.counters().rate_limited, 0, "{:?}", sb.counters());
    assert_eq!(client.counters().rate_limited, 0);
}

#[tokio::test]
async fn daily_limit_stops_the_client() {
    let mut cfg = fast_sandbox();
    cfg.daily_limit = 3;
    let (sb, _run, client) = start(cfg).await;
    let ids = sb.seed_contacts(vec![person(1)]);
    for _ in 0..2 {
        client.get(&ids[0], &[]).await.unwrap();
    }
    // The third call leaves 0 remaining: the client stops before a fourth.
    client.get(&ids[0], &[]).await.unwrap();
    assert!(client.daily_limit_reached());
    let e = client.batch_create(&[person(2)]).await.unwrap_err();
    assert!(matches!(e, HubspotError::DailyLimit));
    assert_eq!(e.category(), "RATE_LIMIT");
    assert_eq!(sb.counters().total, 3);
}

#[tokio::test]
async fn token_check_reports_bad_tokens_and_missing_scopes() {
    let mut cfg = fast_sandbox();
    cfg.scopes = vec!["crm.objects.contacts.write".into()];
    let (_sb, run, client) = start(cfg.clone()).await;
    let e = client.check_token().await.unwrap_err();
    assert_eq!(e.category(), "MISSING_SCOPES");
    let bad = HubspotClient::new(HubspotConfig {
        token: Secret::new("pat-na1-wrong"),
        ..client_config(&cfg, &run.base_url)
    })
    .unwrap();
    let e = bad.check_token().await.unwrap_err();
    assert_eq!(e.category(), "INVALID_AUTHENTICATION");
    assert!(e.is_auth());
    assert!(!format!("{e:?}").contains("pat-na1-test"));
    let (_sb2, _run2, ok) = start(fast_sandbox()).await;
    ok.check_token().await.unwrap();
}

#[tokio::test]
async fn search_429s_from_a_token_shared_by_two_clients_are_absorbed() {
    let mut cfg = fast_sandbox();
    cfg.search_limit = 2;
    cfg.search_index_lag = Duration::ZERO;
    cfg.retry_after_on_429 = true; // UNCONFIRMED header; the client must cope either way
    let (sb, run, a) = start(cfg.clone()).await;
    let b = tether::connectors::hubspot::HubspotClient::new(client_config(&cfg, &run.base_url))
        .unwrap();
    sb.seed_contacts((0..900).map(person).collect());
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut small = client_config(&cfg, &run.base_url);
    small.search_page_size = 100;
    let c = tether::connectors::hubspot::HubspotClient::new(small).unwrap();
    let (ra, rb, rc) = tokio::join!(
        a.changed_since(since, &["email"]),
        b.changed_since(since, &["email"]),
        c.changed_since(since, &["email"])
    );
    assert_eq!(ra.unwrap().len(), 900);
    assert_eq!(rb.unwrap().len(), 900);
    assert_eq!(rc.unwrap().len(), 900);
    let limited = a.counters().rate_limited + b.counters().rate_limited + c.counters().rate_limited;
    assert_eq!(limited, sb.counters().rate_limited);
    assert!(limited > 0, "three clients on one token must collide");
}
