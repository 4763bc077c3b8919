//! The Gorgias ticket and satisfaction-survey feeds against the sandbox: a backfill pages every
//! ticket once, then an incremental pass reads only what changed (a reply, a close, a trash, a
//! new ticket, a merge moving tickets to the survivor); surveys are read newest first down to
//! the last seen less the re-check window, so a late score is seen; the controls over HTTP;
//! one shared budget (no 429 while feeds and live reads run together).

use crate::gorgias_common::*;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use tether::connectors::gorgias::{survey_watermark, ticket_watermark};
use tether::sandbox::gorgias::{SandboxConfig, TicketAction};
use tether::support::TicketFacts;

/// `n` tickets spread over `customers`, backdated one second apart in 2024.
fn backdated_tickets(customers: &[i64], n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let base = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
            let at = (base + ChronoDuration::seconds(i as i64))
                .format("%Y-%m-%dT%H:%M:%S.%6f+00:00")
                .to_string();
            json!({
                "customer_id": customers[i % customers.len()],
                "subject": format!("Order {i}"),
                "channel": if i % 3 == 0 { "chat" } else { "email" },
                "created_datetime": at,
                "updated_datetime": at,
                "status": if i % 4 == 0 { "closed" } else { "open" },
            })
        })
        .collect()
}

fn by_id(tickets: &[TicketFacts]) -> HashMap<i64, &TicketFacts> {
    tickets.iter().map(|t| (t.id, t)).collect()
}

#[tokio::test]
async fn backfill_then_incremental_reads_only_the_changes() {
    let env = start().await;
    let customers = env.sb.seed_customers((0..20).map(customer_seed).collect());
    let ids = env.sb.seed_tickets(backdated_tickets(&customers, 250));
    env.sb.reset_counters();
    let overlap = ChronoDuration::seconds(2);

    let backfill = env
        .client
        .tickets_since_watermark(None, overlap)
        .await
        .unwrap();
    assert!(backfill.complete_history);
    assert_eq!(backfill.items.len(), 250);
    assert_eq!(backfill.pages, 3, "⌈250/100⌉ pages");
    assert!(backfill.quarantined.is_empty());
    let counters = env.sb.counters();
    assert_eq!(counters.calls_to("GET /api/tickets"), 3);
    assert_eq!(counters.rate_limited, 0);
    let seen = by_id(&backfill.items);
    let t0 = seen[&ids[0]];
    assert_eq!(
        (t0.customer_id, t0.status.as_str()),
        (customers[0], "closed")
    );
    assert_eq!(
        (t0.channel.as_str(), t0.subject.as_str()),
        ("chat", "Order 0")
    );
    assert!(t0.closed_datetime.is_some() && !t0.trashed && !t0.spam);
    assert_eq!(t0.messages_count, 1);
    let watermark = ticket_watermark(None, &backfill.items);

    // Support happens: a reply, a close, a trash, a spam, a new ticket, a merge.
    env.sb.ticket_action(ids[1], TicketAction::Reply).unwrap();
    env.sb.ticket_action(ids[2], TicketAction::Close).unwrap();
    env.sb.ticket_action(ids[3], TicketAction::Trash).unwrap();
    env.sb.ticket_action(ids[5], TicketAction::Spam).unwrap();
    let new = env.sb.open_ticket(customers[7], "Refund please", "sms");
    env.sb.reset_counters();
    let next = env
        .client
        .tickets_since_watermark(watermark, overlap)
        .await
        .unwrap();
    assert!(!next.complete_history);
    assert_eq!(next.pages, 1, "stops at the watermark");
    let changed = by_id(&next.items);
    // Besides the changes, only the overlap's tickets (the backfill's last two seconds).
    let mut got: Vec<i64> = changed
        .values()
        .filter(|t| t.updated_datetime > watermark.unwrap())
        .map(|t| t.id)
        .collect();
    got.sort_unstable();
    let mut want = vec![ids[1], ids[2], ids[3], ids[5], new];
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(
        changed
            .values()
            .all(|t| t.updated_datetime >= watermark.unwrap() - overlap)
    );
    assert_eq!(
        changed.len(),
        want.len() + 3,
        "the last 2 s of the backfill: 3 tickets"
    );
    assert_eq!(changed[&ids[1]].messages_count, 2);
    assert!(changed[&ids[1]].last_message_datetime > seen[&ids[1]].last_message_datetime);
    assert_eq!(changed[&ids[2]].status, "closed");
    assert!(changed[&ids[3]].trashed);
    assert!(changed[&ids[5]].spam);
    assert_eq!(
        (changed[&new].customer_id, changed[&new].channel.as_str()),
        (customers[7], "sms")
    );
    let watermark = ticket_watermark(watermark, &next.items);
    assert_eq!(
        watermark,
        next.items.iter().map(|t| t.updated_datetime).max()
    );
    // Nothing changed: one page, only the overlap's tickets.
    let quiet = env
        .client
        .tickets_since_watermark(watermark, overlap)
        .await
        .unwrap();
    assert_eq!(quiet.pages, 1);
    assert!(
        quiet
            .items
            .iter()
            .all(|t| t.updated_datetime >= watermark.unwrap() - overlap)
    );
}

#[tokio::test]
async fn a_merge_moves_tickets_and_surveys_to_the_survivor() {
    for touch in [false, true] {
        let env = start_with(SandboxConfig {
            time_scale: SCALE,
            merge_touches_tickets: touch,
            ..SandboxConfig::default()
        })
        .await;
        let c = env.sb.seed_customers((0..2).map(customer_seed).collect());
        let t = env.sb.seed_tickets(backdated_tickets(&c[..1], 3));
        let s = env.sb.add_survey(t[0], Some(2)).unwrap();
        let before = env
            .client
            .tickets_since_watermark(None, ChronoDuration::zero())
            .await
            .unwrap();
        let watermark = ticket_watermark(None, &before.items);
        assert!(env.sb.merge_as_agent(c[0], c[1]));
        let all = env
            .client
            .tickets_since_watermark(None, ChronoDuration::zero())
            .await
            .unwrap();
        assert!(all.items.iter().all(|x| x.customer_id == c[1]), "{all:?}");
        let surveys = env
            .client
            .surveys_since_last_seen(None, ChronoDuration::zero())
            .await
            .unwrap();
        assert_eq!(surveys.items.len(), 1);
        assert_eq!(
            (surveys.items[0].id, surveys.items[0].customer_id),
            (s, c[1])
        );
        // Whether the incremental feed sees the move is the UNCONFIRMED switch.
        let after = env
            .client
            .tickets_since_watermark(watermark, ChronoDuration::zero())
            .await
            .unwrap();
        let moved = after.items.iter().filter(|x| t.contains(&x.id)).count();
        assert_eq!(moved, if touch { 3 } else { 1 }, "touch {touch}: {after:?}");
    }
}

#[tokio::test]
async fn surveys_newest_first_with_a_recheck_window_for_late_scores() {
    let env = start().await;
    let c = env.sb.seed_customers((0..5).map(customer_seed).collect());
    let tickets = env.sb.seed_tickets(backdated_tickets(&c, 150));
    let mut surveys = Vec::new();
    for (i, t) in tickets.iter().enumerate() {
        let score = (i % 3 != 0).then_some((i % 5 + 1) as u8);
        surveys.push(env.sb.add_survey(*t, score).unwrap());
    }
    let recheck = ChronoDuration::hours(1);
    env.sb.reset_counters();
    let first = env
        .client
        .surveys_since_last_seen(None, recheck)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 150);
    assert_eq!(first.pages, 2);
    assert_eq!(
        env.sb.counters().calls_to("GET /api/satisfaction-surveys"),
        2
    );
    let created: Vec<DateTime<Utc>> = first
        .items
        .iter()
        .map(|s| s.created_datetime.unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let unscored = first
        .items
        .iter()
        .find(|s| s.score.is_none())
        .unwrap()
        .clone();
    let last_seen = survey_watermark(None, &first.items);

    // A survey sent earlier is answered now; a new ticket gets a scored survey.
    assert!(env.sb.score_survey(unscored.id, 5));
    assert!(!env.sb.score_survey(unscored.id, 9), "scores are 1..=5");
    let t = env.sb.open_ticket(c[0], "Thanks", "email");
    let fresh = env.sb.add_survey(t, Some(1)).unwrap();
    let next = env
        .client
        .surveys_since_last_seen(last_seen, recheck)
        .await
        .unwrap();
    // Everything was created within the hour: the whole window is re-read, late score included.
    let got: HashMap<i64, Option<u8>> = next.items.iter().map(|s| (s.id, s.score)).collect();
    assert_eq!(got[&unscored.id], Some(5));
    assert_eq!(got[&fresh], Some(1));
    // Outside the window, only what is newer than the last seen is read, in one page.
    let narrow = env
        .client
        .surveys_since_last_seen(
            survey_watermark(last_seen, &next.items),
            ChronoDuration::zero(),
        )
        .await
        .unwrap();
    assert_eq!(narrow.pages, 1);
    assert_eq!(
        narrow.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![fresh]
    );
}

#[tokio::test]
async fn ticket_and_survey_controls_over_http() {
    let env = start().await;
    let c = env.sb.seed_customers(vec![customer_seed(0)]);
    let http = reqwest::Client::new();
    let base = &env.running.base_url;
    let seeded: Value = http
        .post(format!("{base}/__sandbox/tickets"))
        .json(&json!({"customer_id": c[0], "subject": "Help"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = seeded["ids"][0].as_i64().unwrap();
    for (action, check) in [
        ("reply", "messages_count"),
        ("close", "closed_datetime"),
        ("open", "status"),
        ("trash", "trashed_datetime"),
    ] {
        let r = http
            .post(format!("{base}/__sandbox/tickets/{id}/{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
        let t: Value = r.json().await.unwrap();
        assert!(!t[check].is_null(), "{action}: {t}");
    }
    let r = http
        .post(format!("{base}/__sandbox/tickets/{id}/explode"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{base}/__sandbox/tickets/424242/close"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("{base}/__sandbox/satisfaction-surveys"))
        .json(&json!({"ticket_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = http
        .post(format!("{base}/__sandbox/satisfaction-surveys/{sid}/score"))
        .json(&json!({"score": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .post(format!("{base}/__sandbox/satisfaction-surveys/{sid}/score"))
        .json(&json!({"score": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The API side: auth and the bucket apply, the envelope is the list envelope.
    let (raw_http, base, user, key) = raw(&env);
    let r = raw_http
        .get(format!(
            "{base}/api/satisfaction-surveys?ticket_id={id}&limit=100"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = raw_http
        .get(format!(
            "{base}/api/satisfaction-surveys?ticket_id={id}&limit=100"
        ))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["score"], 4);
    assert_eq!(v["data"][0]["customer_id"], c[0]);
    assert!(is_wire_datetime(
        v["data"][0]["scored_datetime"].as_str().unwrap()
    ));
    let r = raw_http
        .get(format!(
            "{base}/api/satisfaction-surveys?order_by=score:desc"
        ))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Feeds, a backfill and live reads share one bucket: run together they get no 429.
#[tokio::test]
async fn one_budget_no_429_while_backfill_feeds_and_live_reads_run_together() {
    let env = start().await;
    let customers = env.sb.seed_customers((0..60).map(customer_seed).collect());
    env.sb.seed_tickets(backdated_tickets(&customers, 3000));
    env.sb.reset_counters();
    let client = &env.client;
    let backfill = client.tickets_since_watermark(None, ChronoDuration::zero());
    let surveys = client.surveys_since_last_seen(None, ChronoDuration::zero());
    let feed = client.changed_since_watermark(None, ChronoDuration::zero());
    let live = async {
        for id in &customers[..30] {
            client.get(*id).await.unwrap();
        }
    };
    let (b, s, f, ()) = tokio::join!(backfill, surveys, feed, live);
    assert_eq!(b.unwrap().items.len(), 3000);
    assert!(s.unwrap().items.is_empty());
    assert_eq!(f.unwrap().customers.len(), 60);
    let counters = env.sb.counters();
    assert_eq!(counters.rate_limited, 0, "{counters:?}");
    assert_eq!(counters.calls_to("GET /api/tickets"), 30);
    assert_eq!(client.metrics().rate_limited, 0);
}

/// The generator's support history, seeded as `tether demo` and `tether sandbox` do, reads
/// back whole through the feeds: every ticket and survey once, none quarantined.
#[tokio::test]
async fn generated_support_history_reads_back_through_the_feeds() {
    let env = start().await;
    let customers = env.sb.seed_customers((0..120).map(customer_seed).collect());
    let (tickets, surveys) = env.sb.seed_support_history(&customers, 7);
    assert!(
        tickets > 60 && surveys > 20,
        "{tickets} tickets, {surveys} surveys"
    );
    let t = env
        .client
        .tickets_since_watermark(None, ChronoDuration::zero())
        .await
        .unwrap();
    assert_eq!((t.items.len(), t.quarantined.len()), (tickets, 0));
    assert_eq!(t.pages as usize, tickets.div_ceil(100));
    assert!(t.items.iter().all(|x| customers.contains(&x.customer_id)));
    assert!(t.items.iter().any(|x| !x.is_open()) && t.items.iter().any(TicketFacts::is_open));
    let s = env
        .client
        .surveys_since_last_seen(None, ChronoDuration::zero())
        .await
        .unwrap();
    assert_eq!((s.items.len(), s.quarantined.len()), (surveys, 0));
    assert!(s.items.iter().any(|x| x.score.is_none()));
}
