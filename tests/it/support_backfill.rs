//! The first ticket backfill is resumable (issue 14): interrupted after two of its three
//! pages (the cycle stopped there, as a crash would, the store kept), the next cycle reads
//! only the third page, and the roll-ups come out exact; `tether status`'s figures follow.
//! Roll-ups sent before a crash kept them from being recorded are recorded, not rewritten.
//! The backfill is pipelined (the next page is fetched while one is stored): a page fetched
//! ahead but not stored when the backfill stops is fetched again, and counted once.

use crate::cycle_support::{cycle_with, options, sandboxes, seed_people};
use crate::support_rollups::{hubspot_updates, mappings, prop, rollups_of};
use serde_json::json;
use tether::cycle::{Cycle, CycleError, CycleOptions, StopPoint};
use tether::sandbox::Sandboxes;

/// Seeds `n` tickets spread over the Gorgias customers `g` in turn, the first `closed` of
/// every `every` closed.
fn seed_round_robin(sb: &Sandboxes, g: &[i64], n: usize, every: usize, closed: usize) {
    sb.gorgias.seed_tickets(
        (0..n)
            .map(|i| {
                json!({"customer_id": g[i % g.len()], "subject": format!("Order {i}"),
                    "channel": "email", "status": if i % every < closed { "closed" } else { "open" }})
            })
            .collect(),
    );
}

/// A cycle stopped (as a crash would stop it, the store kept) after storing two ticket
/// pages.
async fn stopped_after_two_pages(sb: &Sandboxes) -> Cycle {
    let crashing = CycleOptions {
        stop_at: Some(StopPoint::AfterSupportPages(2)),
        ..options()
    };
    let c = cycle_with(sb, mappings(), crashing).await;
    let err = c.run().await.unwrap_err();
    assert!(
        matches!(err, CycleError::Stopped(StopPoint::AfterSupportPages(2))),
        "{err}"
    );
    c
}

/// `c` run again without its stop point: the cycle, its report and how many ticket pages it
/// listed.
async fn restarted(sb: &Sandboxes, c: &Cycle) -> (Cycle, tether::cycle::CycleReport, u64) {
    sb.gorgias.reset_counters();
    let mut restarted = c.clone();
    restarted.options.stop_at = None;
    let r = restarted.run().await.unwrap();
    let listed = sb.gorgias.counters().calls_to("GET /api/tickets");
    (restarted, r, listed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_resumes_after_its_last_stored_page() {
    let sb = sandboxes().await;
    seed_people(&sb, 5, 5);
    let g = sb.gorgias.customer_ids();
    // 250 tickets: 3 pages of 100; customer i gets 50, every 5th of them closed.
    seed_round_robin(&sb, &g, 250, 25, 5);
    let c = stopped_after_two_pages(&sb).await;
    let st = c.store.support_status().await.unwrap();
    assert_eq!((st.backfill_pages, st.backfill_tickets), (2, 200));
    assert!(!st.backfill_done);

    // Restarted: only the third page is listed.
    let (mut restarted, r, listed) = restarted(&sb, &c).await;
    assert_eq!(listed, 1, "pages already stored are not read again");
    assert_eq!(r.support.tickets_read, 50, "{:?}", r.support);
    let st = c.store.support_status().await.unwrap();
    assert_eq!((st.backfill_pages, st.backfill_tickets), (3, 250));
    assert!(st.backfill_done);
    for customer in &g {
        let p = rollups_of(&sb, &c, *customer).await;
        assert_eq!(prop(&p, "gorgias_ticket_count"), "50", "{p}");
        assert_eq!(prop(&p, "gorgias_open_tickets"), "40", "{p}");
    }

    // From now on the incremental feed runs from the backfill's watermark (no overlap here,
    // so only the newest backfilled ticket is met again): one page.
    sb.gorgias.reset_counters();
    restarted.options.overlap = std::time::Duration::ZERO;
    sb.gorgias.open_ticket(g[0], "Another", "chat");
    let r = restarted.run().await.unwrap();
    assert_eq!(sb.gorgias.counters().calls_to("GET /api/tickets"), 1);
    assert!(r.support.tickets_read <= 2, "{:?}", r.support);
    let p = rollups_of(&sb, &c, g[0]).await;
    assert_eq!(prop(&p, "gorgias_ticket_count"), "51", "{p}");
}

/// Stopped right after storing page 2 while page 3 was already fetched ahead (the pipeline):
/// page 3's facts are not stored, the stored cursor is page 2's `next`, so the resumed
/// backfill fetches page 3 again, and no page or ticket is counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_fetched_ahead_but_not_stored_is_fetched_again_and_counted_once() {
    let sb = sandboxes().await;
    seed_people(&sb, 4, 4);
    let g = sb.gorgias.customer_ids();
    // 320 tickets: 4 pages of 100 (the last one 20); customer i gets 80, 16 of them closed.
    seed_round_robin(&sb, &g, 320, 20, 4);
    sb.gorgias.reset_counters();
    let c = stopped_after_two_pages(&sb).await;
    assert_eq!(
        sb.gorgias.counters().calls_to("GET /api/tickets"),
        3,
        "page 3 was fetched while page 2 was stored"
    );
    let st = c.store.support_status().await.unwrap();
    assert_eq!(
        (st.backfill_pages, st.backfill_tickets),
        (2, 200),
        "the page fetched ahead was not stored"
    );
    assert!(!st.backfill_done);

    let (_, r, listed) = restarted(&sb, &c).await;
    assert_eq!(
        listed, 2,
        "pages 3 and 4: the page fetched ahead is fetched again, the stored ones are not"
    );
    assert_eq!(r.support.tickets_read, 120, "{:?}", r.support);
    let st = c.store.support_status().await.unwrap();
    assert_eq!(
        (st.backfill_pages, st.backfill_tickets),
        (4, 320),
        "no page counted twice"
    );
    assert!(st.backfill_done);
    for customer in &g {
        let p = rollups_of(&sb, &c, *customer).await;
        assert_eq!(prop(&p, "gorgias_ticket_count"), "80", "{p}");
        assert_eq!(prop(&p, "gorgias_open_tickets"), "64", "{p}");
    }
}

/// A crash after the roll-up writes were sent and before they were recorded: the next cycle
/// records them from the finished write and sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_sent_before_a_crash_are_recorded_not_rewritten() {
    let sb = sandboxes().await;
    seed_people(&sb, 2, 2);
    let g = sb.gorgias.customer_ids();
    sb.gorgias.open_ticket(g[0], "Refund", "chat");
    sb.gorgias.open_ticket(g[1], "Sizing", "email");
    let crashing = CycleOptions {
        stop_at: Some(StopPoint::AfterRollupWrites),
        ..options()
    };
    let c = cycle_with(&sb, mappings(), crashing).await;
    let err = c.run().await.unwrap_err();
    assert!(
        matches!(err, CycleError::Stopped(StopPoint::AfterRollupWrites)),
        "{err}"
    );
    let p = rollups_of(&sb, &c, g[0]).await;
    assert_eq!(
        prop(&p, "gorgias_ticket_count"),
        "1",
        "written before the crash"
    );
    assert_eq!(c.store.support_owed(10).await.unwrap().len(), 2);

    let before = hubspot_updates(&sb);
    let mut restarted = c.clone();
    restarted.options.stop_at = None;
    let r = restarted.run().await.unwrap();
    assert_eq!(
        hubspot_updates(&sb),
        before,
        "the same values are not written again"
    );
    assert_eq!(r.support.contacts_owed, 0, "{:?}", r.support);
    assert!(c.store.support_owed(10).await.unwrap().is_empty());
}
