//! Store throughput for the operations a cycle repeats per record, on SQLite (a real file in
//! WAL mode) and, when `TETHER_TEST_PG_URL` names a PostgreSQL server, on PostgreSQL beside it
//! (a fresh connection, so a schema of its own). Run: `cargo bench --bench store` (with
//! `eval "$(scripts/pg-test-server start --durable)"` first for the PostgreSQL column). Each
//! figure is printed next to its target: a cycle of 10,000 changed records should spend well
//! under 2 s in the store, so every per-record operation a cycle repeats should sustain at
//! least 5,000 a second on the 2-core reference machine. The single-row transactions a
//! cycle no longer repeats are printed for context, without a target (`Figures::lap_info`).

#[path = "support/figure.rs"]
mod figure;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use tether::config::{Sources, StoreSettings, load};
use tether::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use tether::store::{Done, FollowUp, NewLink, NewWrite, OpKind, RecordSeen, Store};

const TARGET_PER_S: f64 = 5_000.0;

/// One measured figure: `n` operations in `secs`.
struct Figure {
    what: &'static str,
    n: usize,
    secs: f64,
    /// Whether the ≥ 5,000/s target applies: it does to every operation a cycle repeats per
    /// record; a form the cycle no longer uses is shown for context only (see `lap_info`).
    targeted: bool,
}

impl Figure {
    fn rate(&self) -> f64 {
        self.n as f64 / self.secs
    }
}

/// The figures of one backend, in the order measured.
#[derive(Default)]
struct Figures {
    per_second: Vec<Figure>,
    status_ms: f64,
}

impl Figures {
    fn lap(&mut self, what: &'static str, n: usize, started: Instant) {
        let secs = started.elapsed().as_secs_f64();
        self.per_second.push(Figure {
            what,
            n,
            secs,
            targeted: true,
        });
    }

    /// A figure shown for context, with no target: a single-row transaction that no cycle
    /// repeats per record any more (since issue 17 the cycle completes each API batch's
    /// writes, with their links, in one transaction: the "per API batch" figure). These
    /// serve crash recovery (one per write re-read from the API) and a person's merge
    /// decisions, each paired with an API call or a click; their cost is sqlx's SQLite
    /// worker round trips (BEGIN, each statement, COMMIT), not SQL.
    fn lap_info(&mut self, what: &'static str, n: usize, started: Instant) {
        self.lap(what, n, started);
        if let Some(f) = self.per_second.last_mut() {
            f.targeted = false;
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "ok" } else { "BELOW TARGET" }
}

/// Prints the backends side by side, each figure beside its target, and hands each over to
/// the benchmark report (the SQLite figures under their historical names; the PostgreSQL ones
/// with " (PostgreSQL)" appended).
fn print_table(columns: &[(&str, Figures)]) {
    let mut head = format!("{:<50}", "operation (per second)");
    for (name, _) in columns {
        head.push_str(&format!(" {name:>12}"));
    }
    println!("{head}  target");
    let rows = columns[0].1.per_second.len();
    for i in 0..rows {
        let mut line = format!("{:<50}", columns[0].1.per_second[i].what);
        let mut verdicts = Vec::new();
        for (name, figures) in columns {
            let f = &figures.per_second[i];
            let rate = f.rate();
            line.push_str(&format!(" {rate:>12.0}"));
            let label = if *name == "SQLite" {
                f.what.to_owned()
            } else {
                format!("{} ({name})", f.what)
            };
            if f.targeted {
                verdicts.push(format!("{name} {}", verdict(rate >= TARGET_PER_S)));
                figure::record(
                    "store",
                    &label,
                    &format!("{rate:.0}/s"),
                    &format!("≥ {TARGET_PER_S:.0}/s"),
                    Some(rate >= TARGET_PER_S),
                );
            } else {
                figure::record(
                    "store",
                    &label,
                    &format!("{rate:.0}/s"),
                    "none: not a per-record cycle path (see the per API batch figure)",
                    None,
                );
            }
        }
        if columns[0].1.per_second[i].targeted {
            println!("{line}  >= {TARGET_PER_S:.0}/s: {}", verdicts.join(", "));
        } else {
            println!("{line}  (context: not a per-record cycle path)");
        }
    }
    let mut line = format!("{:<50}", format!("status (counts), ms, on {N} records"));
    let mut verdicts = Vec::new();
    for (name, figures) in columns {
        let ms = figures.status_ms;
        line.push_str(&format!(" {ms:>12.1}"));
        let met = ms <= 500.0;
        verdicts.push(format!(
            "{name} {}",
            if met { "ok" } else { "ABOVE TARGET" }
        ));
        let label = format!("status (counts) on a store of {N} records");
        let label = if *name == "SQLite" {
            label
        } else {
            format!("{label} ({name})")
        };
        figure::record(
            "store",
            &label,
            &format!("{ms:.1} ms"),
            "≤ 500 ms",
            Some(met),
        );
    }
    println!("{line}  <= 500 ms: {}", verdicts.join(", "));
}

/// Operations measured per figure (records, writes, links).
const N: usize = 20_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = settings(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ));
    let mut columns = vec![("SQLite", measure(&sqlite).await)];
    match std::env::var("TETHER_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => {
            columns.push(("PostgreSQL", measure(&settings(&url)).await));
        }
        _ => println!(
            "(PostgreSQL skipped: set TETHER_TEST_PG_URL, e.g. eval \"$(scripts/pg-test-server start --durable)\")"
        ),
    }
    print_table(&columns);
}

/// The store settings for a URL, through the configuration's own loader (defaults for the rest).
fn settings(url: &str) -> StoreSettings {
    let env = vec![("TETHER__STORE__URL".to_owned(), url.to_owned())];
    load(Sources { file: None, env })
        .expect("store settings")
        .settings
        .store
}

/// Runs every figure on a fresh store at `settings`.
async fn measure(settings: &StoreSettings) -> Figures {
    let mut figures = Figures::default();
    let store = Store::open(settings).await.expect("open store");
    let now = Utc::now();

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
    figures.lap("upsert seen records (batches of 100)", N, started);

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
    figures.lap("enqueue writes (one batch)", N, started);

    let started = Instant::now();
    let again = store.enqueue_writes(&writes, now).await.expect("enqueue");
    assert_eq!(again, 0);
    figures.lap("re-enqueue the same writes (all skipped)", N, started);

    let started = Instant::now();
    let pending = store.pending_writes(N as u32).await.expect("pending");
    figures.lap("list pending writes", pending.len(), started);

    let (one_by_one, batched) = pending.split_at(N / 2);
    let started = Instant::now();
    for item in one_by_one {
        store
            .mark_done(item.id, Some(&json!({ "ok": true })), "bench", now)
            .await
            .expect("done");
    }
    figures.lap_info(
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
    figures.lap("mark writes done (batches of 100)", batched.len(), started);

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
    figures.lap_info("create links with 5 bases (one tx each)", N / 2, started);

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
    figures.lap(
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
    figures.lap("look up a link by Gorgias id", N, started);

    let started = Instant::now();
    for i in 1..=N {
        let l = store
            .link_by_hubspot(&HubspotId::new(i.to_string()).expect("id"))
            .await
            .expect("lookup");
        let b = store.bases(l.expect("link").id).await.expect("bases");
        assert_eq!(b.len(), 5);
    }
    figures.lap("look up a link by HubSpot id + its bases", N, started);

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
    figures.lap(
        "complete creates + link + settle (per API batch)",
        N,
        started,
    );

    let started = Instant::now();
    let status = store.status().await.expect("status");
    figures.status_ms = started.elapsed().as_secs_f64() * 1000.0;
    // N links made one by one or in batches, and N by the completed creates.
    assert_eq!(status.counts.links, 2 * N as u64);
    store.close().await;
    figures
}
