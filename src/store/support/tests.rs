//! Tests of the support store (tickets, surveys, merges, owed roll-ups, feed positions)
//! against the pure ledger, on an in-memory store. Must never touch the network.

use super::*;
use crate::mappings::Include;
use crate::store::test_support::{conformance, gg, hs, mem, t};
use crate::support::{Ledger, rollup};

fn ticket(id: i64, customer: i64, updated: i64) -> TicketFacts {
    TicketFacts {
        id,
        customer_id: customer,
        status: "open".into(),
        channel: "chat".into(),
        subject: format!("s{id}"),
        created_datetime: t(id),
        updated_datetime: t(updated),
        closed_datetime: None,
        last_message_datetime: Some(t(updated)),
        spam: false,
        trashed: false,
        messages_count: 2,
    }
}

/// A deterministic mixed sequence of changes (tickets moving, closing, spam, trash, surveys
/// scored late, merges).
fn changes(seed: u64, n: usize) -> Vec<Change> {
    let mut x = seed;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    (0..n as i64)
        .map(|step| match next(7) {
            0..=3 => {
                let mut tk = ticket(1 + next(15) as i64, 1 + next(6) as i64, step);
                match next(5) {
                    0 => {
                        tk.status = "closed".into();
                        tk.closed_datetime = Some(t(step));
                    }
                    1 => tk.spam = true,
                    2 => tk.trashed = true,
                    _ => {}
                }
                Change::Ticket(tk)
            }
            4 | 5 => {
                let score = match next(3) {
                    0 => None,
                    _ => Some(1 + next(5) as u8),
                };
                Change::Survey(SurveyFacts {
                    id: 1 + next(8) as i64,
                    ticket_id: 1 + next(15) as i64,
                    customer_id: 1 + next(6) as i64,
                    score,
                    scored_datetime: score.map(|_| t(step)),
                    created_datetime: Some(t(step)),
                })
            }
            _ => Change::Merge {
                from: gg(1 + next(5) as i64),
                into: gg(1 + next(6) as i64),
            },
        })
        .collect()
}

#[tokio::test]
async fn the_store_keeps_the_ledgers_rules_in_any_batching() {
    for seed in 1..=6u64 {
        ledger_rules_hold(seed, &mem().await).await;
    }
}

/// One seed's changes, applied in batches of `1 + seed`, give the pure ledger's roll-ups
/// and owed customers.
async fn ledger_rules_hold(seed: u64, store: &Store) {
    let all = changes(seed, 80);
    let mut ledger = Ledger::default();
    let mut expected_affected = BTreeSet::new();
    // Batches of varying size, as feed pages would come.
    for chunk in all.chunks(1 + seed as usize) {
        let got = store.apply_support_changes(chunk, t(0)).await.unwrap();
        let mut want = BTreeSet::new();
        for c in chunk {
            want.extend(ledger.apply(c.clone()).into_iter().map(gg));
        }
        assert_eq!(got, want, "seed {seed}");
        expected_affected.extend(want);
    }
    let customers: Vec<GorgiasId> = (1..=6).map(gg).collect();
    let facts = store.support_facts(&customers).await.unwrap();
    for c in &customers {
        for inc in [
            Include::default(),
            Include {
                spam: true,
                trashed: true,
            },
        ] {
            let f = &facts[c];
            assert_eq!(
                rollup(&f.tickets, &f.surveys, inc),
                ledger.rollup(c.get(), inc),
                "seed {seed}, customer {c:?}"
            );
        }
    }
    let owed: BTreeSet<GorgiasId> = store.support_owed(100).await.unwrap().into_iter().collect();
    assert_eq!(owed, expected_affected, "seed {seed}");
}

/// The ledger's rules on both engines (two seeds: each needs an empty store).
async fn ledger_rules_hold_seed_3(store: Store) {
    ledger_rules_hold(3, &store).await;
}

async fn ledger_rules_hold_seed_6(store: Store) {
    ledger_rules_hold(6, &store).await;
}

async fn owed_roll_ups_stay_owed_until_settled_and_written_values_are_kept(store: Store) {
    let owed = store
        .apply_support_changes(&[Change::Ticket(ticket(1, 7, 0))], t(1))
        .await
        .unwrap();
    assert_eq!(owed, BTreeSet::from([gg(7)]));
    assert_eq!(store.support_owed(10).await.unwrap(), vec![gg(7)]);
    let props = BTreeMap::from([("gorgias_ticket_count".to_owned(), "1".to_owned())]);
    store
        .settle_support(&[gg(7)], &[(hs("101"), props.clone())], t(2))
        .await
        .unwrap();
    assert!(store.support_owed(10).await.unwrap().is_empty());
    let written = store
        .support_written(&[hs("101"), hs("102")])
        .await
        .unwrap();
    assert_eq!(written[&hs("101")], props);
    assert!(written[&hs("102")].is_empty());
}

async fn feed_positions_round_trip(store: Store) {
    assert_eq!(
        store
            .support_feed(SupportFeed::TicketsBackfill)
            .await
            .unwrap(),
        FeedPosition::default()
    );
    let pos = FeedPosition {
        at: Some(t(5)),
        tie_break: Some("42".into()),
        cursor: Some("abc".into()),
        done: false,
        pages: 3,
        items: 300,
    };
    store
        .set_support_feed(SupportFeed::TicketsBackfill, &pos, t(6))
        .await
        .unwrap();
    assert_eq!(
        store
            .support_feed(SupportFeed::TicketsBackfill)
            .await
            .unwrap(),
        pos
    );
    assert_eq!(
        store.support_feed(SupportFeed::Tickets).await.unwrap(),
        FeedPosition::default()
    );
}

conformance!(
    ledger_rules_hold_seed_3,
    ledger_rules_hold_seed_6,
    owed_roll_ups_stay_owed_until_settled_and_written_values_are_kept,
    feed_positions_round_trip
);
