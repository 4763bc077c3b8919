//! `tether merges scan`: the real binary over a store holding record snapshots (as cycles
//! leave them): it proposes duplicates no cycle compared, honours `--since`, is idempotent
//! when run again, and resumes an interrupted scan.

use super::merges_cli::tether;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use tether::config::StoreSettings;
use tether::domain::{GorgiasId, HubspotId, RecordRef};
use tether::merges::MergeRecord;
use tether::store::Store;

fn person(record: RecordRef, first: &str, email: &str, phone: &str) -> MergeRecord {
    let fields: BTreeMap<String, String> = [
        ("first_name", first),
        ("last_name", "Hartley"),
        ("email", email),
        ("phone", phone),
        ("address", "12 High Street"),
        ("city", "Leeds"),
        ("zip", "LS1 4AB"),
        ("country", "GB"),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    MergeRecord {
        record,
        created_at: None,
        updated_at: None,
        fields,
    }
}

async fn open(url: &str) -> Store {
    Store::open(&StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: 15,
    })
    .await
    .unwrap()
}

async fn remember(url: &str, records: &[MergeRecord], at: DateTime<Utc>) {
    let store = open(url).await;
    let snaps: Vec<_> = records
        .iter()
        .map(|r| (r.record.clone(), serde_json::to_value(r).unwrap()))
        .collect();
    store.upsert_snapshots(&snaps, at).await.unwrap();
    store.close().await;
}

fn scan(url: &str, args: &[&str]) -> serde_json::Value {
    let out = tether(url)
        .args(["merges", "scan", "--json"])
        .args(args)
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scan: comparing"), "progress: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn scan_proposes_what_cycles_never_compared() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let h = |id: &str| RecordRef::Hubspot(HubspotId::new(id).unwrap());
    let g = |id: i64| RecordRef::Gorgias(GorgiasId::new(id).unwrap());
    let old = Utc::now() - Duration::days(30);
    // Read by cycles a month ago, never compared together: a HubSpot duplicate pair and
    // the same person in Gorgias, plus a stranger.
    remember(
        &url,
        &[
            person(
                h("101"),
                "William",
                "will.hartley@gmail.com",
                "0113 496 0000",
            ),
            person(
                h("102"),
                "Bill",
                "willhartley+shop@gmail.com",
                "+44 113 496 0000",
            ),
            person(g(7), "William", "will.hartley@gmail.com", "+441134960000"),
            MergeRecord {
                record: h("103"),
                created_at: None,
                updated_at: None,
                fields: [("first_name", "Zoe"), ("last_name", "Quist")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
        ],
        old,
    )
    .await;

    // Nothing seen in the last week: a --since scan compares all but proposes nothing.
    let since = (Utc::now() - Duration::days(7)).to_rfc3339();
    let r = scan(&url, &["--since", &since]);
    assert_eq!(r["created"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["hubspot_records"], 3);
    assert_eq!(r["gorgias_records"], 1);

    // The full scan finds the HubSpot pair and the cross-system candidates.
    let r = scan(&url, &[]);
    let created = r["created"].as_array().unwrap().len();
    assert!(created >= 2, "{r}");
    let store = open(&url).await;
    let pending = store.pending_proposals(100).await.unwrap();
    let pairs: Vec<(String, String)> = pending
        .iter()
        .map(|p| (p.pair.first().to_string(), p.pair.second().to_string()))
        .collect();
    assert!(
        pairs.contains(&("hubspot:101".into(), "hubspot:102".into())),
        "{pairs:?}"
    );
    assert!(
        pairs
            .iter()
            .all(|(a, b)| !a.ends_with(":103") && !b.ends_with(":103"))
    );
    let scans = store.scans(5).await.unwrap();
    assert!(scans.iter().all(|s| s.finished_at.is_some()), "{scans:?}");
    store.close().await;

    // Again: the same pairs are refreshed, not duplicated.
    let r = scan(&url, &[]);
    assert_eq!(r["created"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["refreshed"].as_array().unwrap().len(), created, "{r}");

    // A new duplicate of an unchanged record, seen now: a --since scan proposes it.
    remember(
        &url,
        &[person(
            h("104"),
            "Will",
            "will.hartley@gmail.com",
            "0113 496 0000",
        )],
        Utc::now(),
    )
    .await;
    let r = scan(&url, &["--since", &since]);
    assert!(!r["created"].as_array().unwrap().is_empty(), "{r}");
    let store = open(&url).await;
    let new: Vec<String> = store
        .pending_proposals(100)
        .await
        .unwrap()
        .iter()
        .filter(|p| {
            p.pair.first().to_string().ends_with(":104")
                || p.pair.second().to_string().ends_with(":104")
        })
        .map(|p| p.pair.first().to_string())
        .collect();
    assert!(!new.is_empty());

    // An interrupted scan (started, never finished) is resumed with its own `since`.
    let cut = Utc::now() - Duration::days(1);
    store.begin_scan(Utc::now(), Some(cut)).await.unwrap();
    store.close().await;
    let r = scan(&url, &[]);
    assert_eq!(r["resumed"], true, "{r}");
    assert!(r["since"].as_str().is_some(), "{r}");

    // `tether match train` without a file learns from the same stored records (five are
    // too few: the hand-set weights, and it says so).
    let model = dir.path().join("model.json");
    let out = tether(&url)
        .args(["match", "train", "--out"])
        .arg(&model)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("5 records"));
    // The scan scores with `matching.model`; a damaged one is refused (exit 2).
    tether(&url)
        .env("TETHER__MATCHING__MODEL", &model)
        .args(["merges", "scan"])
        .assert()
        .code(0);
    std::fs::write(&model, "not json").unwrap();
    tether(&url)
        .env("TETHER__MATCHING__MODEL", &model)
        .args(["merges", "scan"])
        .assert()
        .code(2);
}

#[test]
fn scan_refuses_a_bad_since() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    tether(&url)
        .args(["merges", "scan", "--since", "last tuesday"])
        .assert()
        .code(2);
}
