//! Store throughput on a real file (WAL), for the operations a cycle repeats per record.
//! Run: `cargo bench --bench store`. Each figure is printed next to its target: a cycle of
//! 10,000 changed records should spend well under 2 s in the store, so every per-record
//! operation should sustain at least 5,000 a second on the 2-core reference machine.

#[path = "support/figure.rs"]
mod figure;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use tether::config::StoreSettings;
use tether::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use tether::store::{Done, FollowUp, NewLink, NewWrite, OpKind, RecordSeen, Store};

const TARGET_PER_S: f64 = 5_000.0;

fn report(what: &str, n: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    let verdict = if rate >= TARGET_PER_S {
        "ok"
    } else {
        "BELOW TARGET"
    };
    println!(
        "{what:<42} {n:>7} in {secs:>7.3} s = {rate:>10.0}/s  (target >= {TARGET_PER_S:.0}/s: {verdict})"
    );
    figure::record(
        "store",
        what,
        &format!("{rate:.0}/s"),
        &format!("≥ {TARGET_PER_S:.0}/s"),
        Some(rate >= TARGET_PER_S),
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = StoreSettings {
        url: format!("sqlite://{}", dir.path().join("bench.db").display())
            .parse()
            .expect("url"),
        busy_timeout_ms: 5_000,
        lease_seconds: 15,
    };
    let store = Store::open(&settings).await.expect("open store");
    let now = Utc::now();
    const N: usize = 20_000;

    let started = Instant::now();
    for chunk in (1..=N).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<RecordSeen> = chunk
            .iter()
            .map(|i| RecordSeen {
                record: RecordRef::Hubspot(HubspotId::new(i.to_string()).expect("id")),
                email: Email::parse(&format!("user{i}@example.com")).ok(),
                keys: vec![
                    format!("email:user{i}@example.com"),
                    format!("phone:+1555{i:07}"),
                ],
                updated_at: now,
                content_hash: format!("{i:x}"),
                seen_at: now,
            })
            .collect();
        store.upsert_records_seen(&batch).await.expect("upsert");
    }
    report("upsert seen records (batches of 100)", N, started);

    let started = Instant::now();
    let writes: Vec<NewWrite> = (1..=N)
        .map(|i| NewWrite {
            idempotency_key: format!("cycle-1/update/hubspot/{i}"),
            system: System::Hubspot,
            op: OpKind::Update,
            target: Some(RecordRef::Hubspot(
                HubspotId::new(i.to_string()).expect("id"),
            )),
            payload: json!({ "properties": { "firstname": format!("Name {i}") } }),
        })
        .collect();
    let inserted = store.enqueue_writes(&writes, now).await.expect("enqueue");
    assert_eq!(inserted, N);
    report("enqueue writes (one batch)", N, started);

    let started = Instant::now();
    let again = store.enqueue_writes(&writes, now).await.expect("enqueue");
    assert_eq!(again, 0);
    report("re-enqueue the same writes (all skipped)", N, started);

    let started = Instant::now();
    let pending = store.pending_writes(N as u32).await.expect("pending");
    report("list pending writes", pending.len(), started);

    let (one_by_one, batched) = pending.split_at(N / 2);
    let started = Instant::now();
    for item in one_by_one {
        store
            .mark_done(item.id, Some(&json!({ "ok": true })), "bench", now)
            .await
            .expect("done");
    }
    report(
        "mark writes done (one transaction each)",
        one_by_one.len(),
        started,
    );

    let started = Instant::now();
    for chunk in batched.chunks(100) {
        let done: Vec<Done> = chunk
            .iter()
            .map(|item| Done {
                id: item.id,
                result: Some(json!({ "ok": true })),
                follow_ups: Vec::new(),
            })
            .collect();
        store
            .mark_done_batch(&done, "bench", now)
            .await
            .expect("done");
    }
    report("mark writes done (batches of 100)", batched.len(), started);

    let bases: BTreeMap<String, serde_json::Value> =
        ["email", "firstname", "lastname", "phone", "city"]
            .iter()
            .map(|f| ((*f).to_owned(), json!(format!("{f} value"))))
            .collect();
    let started = Instant::now();
    for i in 1..=N / 2 {
        store
            .create_link(
                &HubspotId::new(i.to_string()).expect("id"),
                GorgiasId::new(i as i64).expect("id"),
                &bases,
                "bench",
                now,
            )
            .await
            .expect("link");
    }
    report("create links with 5 bases (one tx each)", N / 2, started);

    let started = Instant::now();
    let rest: Vec<usize> = (N / 2 + 1..=N).collect();
    for chunk in rest.chunks(100) {
        let batch: Vec<NewLink> = chunk
            .iter()
            .map(|i| NewLink {
                hubspot: HubspotId::new(i.to_string()).expect("id"),
                gorgias: GorgiasId::new(*i as i64).expect("id"),
                bases: bases.clone(),
            })
            .collect();
        store
            .create_links(&batch, "bench", now)
            .await
            .expect("links");
    }
    report(
        "create links with 5 bases (batches of 100)",
        rest.len(),
        started,
    );

    let started = Instant::now();
    for i in 1..=N {
        let l = store
            .link_by_gorgias(GorgiasId::new(i as i64).expect("id"))
            .await
            .expect("lookup");
        assert!(l.is_some());
    }
    report("look up a link by Gorgias id", N, started);

    let started = Instant::now();
    for i in 1..=N {
        let l = store
            .link_by_hubspot(&HubspotId::new(i.to_string()).expect("id"))
            .await
            .expect("lookup");
        let b = store.bases(l.expect("link").id).await.expect("bases");
        assert_eq!(b.len(), 5);
    }
    report("look up a link by HubSpot id + its bases", N, started);

    // What the cycle does since issue 17: one HubSpot batch call's creates completed in ONE
    // transaction (`Store::complete_batch`), each write with its link (5 bases) and the
    // settling of its record, as `cycle/apply.rs` does.
    let creates: Vec<NewWrite> = (N + 1..=2 * N)
        .map(|i| NewWrite {
            idempotency_key: format!("cycle-2/create/hubspot/{i}"),
            system: System::Hubspot,
            op: OpKind::Create,
            target: None,
            payload: json!({ "properties": { "email": format!("new{i}@example.com") } }),
        })
        .collect();
    store.enqueue_writes(&creates, now).await.expect("enqueue");
    let pending = store.pending_writes(N as u32).await.expect("pending");
    assert_eq!(pending.len(), N);
    let started = Instant::now();
    for (k, chunk) in pending.chunks(100).enumerate() {
        let done: Vec<Done> = chunk
            .iter()
            .enumerate()
            .map(|(j, item)| {
                let i = N + 1 + k * 100 + j;
                Done {
                    id: item.id,
                    result: Some(json!({ "id": i.to_string() })),
                    follow_ups: vec![
                        FollowUp::CreateLink {
                            hubspot: HubspotId::new(i.to_string()).expect("id"),
                            gorgias: GorgiasId::new(i as i64).expect("id"),
                            bases: bases.clone(),
                        },
                        FollowUp::Settle {
                            record: RecordRef::Gorgias(GorgiasId::new(i as i64).expect("id")),
                            target: System::Hubspot,
                            why: "a write succeeded".into(),
                        },
                    ],
                }
            })
            .collect();
        let answers = store
            .complete_batch(&done, "bench", now)
            .await
            .expect("complete");
        assert!(answers.iter().all(Result::is_ok));
    }
    report(
        "complete creates + link + settle (per API batch)",
        N,
        started,
    );

    let started = Instant::now();
    let status = store.status().await.expect("status");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{:<42} {:>7.1} ms  (target <= 500 ms: {})",
        "status (counts) on this store",
        ms,
        if ms <= 500.0 { "ok" } else { "ABOVE TARGET" }
    );
    figure::record(
        "store",
        &format!("status (counts) on a store of {N} records"),
        &format!("{ms:.1} ms"),
        "≤ 500 ms",
        Some(ms <= 500.0),
    );
    // N links made one by one or in batches, and N by the completed creates.
    assert_eq!(status.counts.links, 2 * N as u64);
    store.close().await;
}
