//! The Gorgias connector under pressure: a 429 storm, 5xx faults (before and after the
//! write is applied) and timeouts lose no write; the client-side bucket keeps a burst of
//! calls free of 429s; exhausted retries end in a typed, transient error.

use crate::gorgias_common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tether::connectors::gorgias::{CustomerUpdate, GorgiasError};
use tether::sandbox::gorgias::{Fault, FaultKind, SandboxConfig};

#[tokio::test]
async fn storm_of_429_and_5xx_loses_no_write() {
    let env = start().await;
    let ids = env.sb.seed_customers((0..30).map(customer_seed).collect());
    env.sb.inject_fault(Fault::rate_limit(1, 8));
    env.sb.inject_fault(Fault::status(500, 3).on_method("PUT"));
    env.sb.inject_fault(Fault {
        kind: FaultKind::Status {
            status: 502,
            after_apply: true,
        },
        times: 3,
        method: Some("PUT".into()),
        path_prefix: None,
    });
    env.sb.inject_fault(Fault::status(503, 2).on_method("GET"));
    for (k, id) in ids.iter().enumerate() {
        let u = CustomerUpdate {
            name: Some(Some(format!("Renamed {k}"))),
            ..Default::default()
        };
        env.client.update(*id, &u).await.unwrap();
        if k % 3 == 0 {
            env.client
                .update_data_subtree(*id, "tether", json!({"k": k}))
                .await
                .unwrap();
        }
    }
    for (k, id) in ids.iter().enumerate() {
        let c = env.sb.customer(*id).unwrap();
        assert_eq!(c["name"], format!("Renamed {k}"));
        if k % 3 == 0 {
            assert_eq!(c["data"]["tether"]["k"], json!(k));
        }
    }
    let m = env.client.metrics();
    assert_eq!(m.rate_limited, 8);
    assert_eq!(m.server_errors, 8);
    assert_eq!(env.sb.counters().faults, 16);
}

#[tokio::test]
async fn client_bucket_keeps_bursts_free_of_429() {
    let env = start().await;
    let client = Arc::new(env.client);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..30 {
                c.check_account().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 120 calls, three times the burst: all paced, none refused.
    assert_eq!(env.sb.counters().calls_to("GET /api/account"), 120);
    assert_eq!(env.sb.counters().rate_limited, 0);
    assert_eq!(client.metrics().rate_limited, 0);
}

#[tokio::test]
async fn a_second_client_on_the_account_is_seen_through_the_header() {
    // Another integration eats the bucket; our client must read the header and slow down,
    // so only the first refusal (if any) reaches it.
    let env = start().await;
    let other = client_for(
        &SandboxConfig {
            time_scale: SCALE,
            ..SandboxConfig::default()
        },
        &env.running.base_url,
    );
    for _ in 0..39 {
        other.check_account().await.unwrap();
    }
    for _ in 0..20 {
        env.client.check_account().await.unwrap();
    }
    assert!(
        env.client.metrics().rate_limited <= 1,
        "{:?}",
        env.client.metrics()
    );
}

#[tokio::test]
async fn timeouts_are_retried_and_exhaustion_is_typed() {
    let env = start().await;
    let id = env.sb.seed_customers(vec![customer_seed(1)])[0];
    let cfg = SandboxConfig {
        time_scale: SCALE,
        ..SandboxConfig::default()
    };
    let mut client_cfg = tether::connectors::gorgias::GorgiasConfig::new(
        env.running.base_url.clone(),
        cfg.username.clone(),
        cfg.api_key.clone(),
    );
    client_cfg.time_scale = SCALE;
    client_cfg.timeout = Duration::from_millis(200);
    client_cfg.backoff = tether::connectors::retry::Backoff {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        max_attempts: 3,
    };
    let client = tether::connectors::gorgias::GorgiasClient::new(client_cfg).unwrap();
    env.sb.inject_fault(Fault {
        kind: FaultKind::Delay { ms: 600 },
        times: 1,
        method: Some("GET".into()),
        path_prefix: None,
    });
    let c = client.get(id).await.unwrap();
    assert_eq!(c.id, id);
    assert_eq!(client.metrics().calls_to("get_customer"), 2);
    env.sb.inject_fault(Fault::status(500, 10));
    match client.get(id).await {
        Err(
            e @ GorgiasError::Server {
                status: 500,
                attempts: 3,
                ..
            },
        ) => assert!(e.is_transient()),
        other => panic!("expected Server error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_duplicated() {
    use tether::connectors::gorgias::{CreateOutcome, NewChannel, NewCustomer};
    let env = start().await;
    // The first POST is applied but answered 502; the retry meets the e-mail already used.
    env.sb.inject_fault(Fault {
        kind: FaultKind::Status {
            status: 502,
            after_apply: true,
        },
        times: 1,
        method: Some("POST".into()),
        path_prefix: Some("/api/customers".into()),
    });
    let new = NewCustomer {
        email: Some("once@x.test".into()),
        name: Some("Only Once".into()),
        channels: vec![NewChannel::email("once@x.test", true)],
        ..Default::default()
    };
    let out = env.client.create(&new).await.unwrap();
    assert!(matches!(out, CreateOutcome::Existing(_)), "{out:?}");
    assert_eq!(env.sb.customer_ids(), vec![out.customer().id]);
    assert_eq!(env.client.metrics().calls_to("create_customer"), 2);
}

#[tokio::test]
async fn merge_and_delete_survive_a_lost_answer() {
    let env = start().await;
    let ids = env.sb.seed_customers((0..3).map(customer_seed).collect());
    let lost = |method: &str| Fault {
        kind: FaultKind::Status {
            status: 504,
            after_apply: true,
        },
        times: 1,
        method: Some(method.into()),
        path_prefix: None,
    };
    env.sb.inject_fault(lost("PUT"));
    let body = CustomerUpdate {
        name: Some(Some("Customer 1".into())),
        ..Default::default()
    };
    let target = env.client.merge(ids[0], ids[1], &body).await.unwrap();
    assert_eq!(target.id, ids[1]);
    assert!(env.sb.customer(ids[0]).is_none());
    env.sb.inject_fault(lost("DELETE"));
    env.client.delete(ids[2]).await.unwrap();
    assert!(env.sb.customer(ids[2]).is_none());
    assert_eq!(env.client.metrics().server_errors, 2);
}
