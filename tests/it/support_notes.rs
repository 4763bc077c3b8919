//! Optional HubSpot notes (issue 14, `[support] notes = true`) end to end: one note per
//! closed ticket on the linked contact, never two for one ticket, including when the cycle
//! is killed right after HubSpot accepted the notes and before tether recorded them (the
//! crash harness of `cycle_crash.rs`: a `StopPoint`, the store kept as a crash leaves it),
//! and when a real `tether sync` process is `kill -9`ed while its notes are being written;
//! and the association type is the one HubSpot's labels list, not a hard-coded one.

use crate::cycle_support::{cycle_with, options, sandboxes, seed_people};
use serde_json::Value;
use std::collections::BTreeSet;
use tether::commands::demo::{Sandboxes, default_mappings};
use tether::cycle::{CycleError, CycleOptions, StopPoint};
use tether::domain::GorgiasId;
use tether::sandbox::gorgias::TicketAction;

fn notes_on() -> CycleOptions {
    CycleOptions {
        notes: true,
        ..options()
    }
}

/// Note upsert calls HubSpot counted so far.
fn upserts(sb: &Sandboxes) -> u64 {
    sb.hubspot
        .counters()
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.contains("/notes/batch/upsert"))
        .map(|(_, v)| v)
        .sum()
}

/// The notes' ticket keys, each once (panics on a duplicate).
fn keys(sb: &Sandboxes) -> BTreeSet<String> {
    let notes = sb.hubspot.notes();
    let keys: BTreeSet<String> = notes
        .iter()
        .map(|n| {
            n["properties"]["tether_gorgias_ticket"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        keys.len(),
        notes.len(),
        "two notes for one ticket: {notes:?}"
    );
    keys
}

fn note_of(sb: &Sandboxes, ticket: i64) -> Value {
    let key = format!("gorgias-ticket-{ticket}");
    sb.hubspot
        .notes()
        .into_iter()
        .find(|n| n["properties"]["tether_gorgias_ticket"] == key.as_str())
        .unwrap_or_else(|| panic!("no note for ticket {ticket}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_written_once_per_closed_ticket_across_a_crash() {
    let sb = sandboxes().await;
    seed_people(&sb, 3, 3);
    assert!(sb.hubspot_client.ensure_note_key_property().await.unwrap());
    assert!(!sb.hubspot_client.ensure_note_key_property().await.unwrap());
    let g = sb.gorgias.customer_ids();
    let closed = sb
        .gorgias
        .open_ticket(g[0], "Where is my <order>?", "email");
    sb.gorgias
        .ticket_action(closed, TicketAction::Close)
        .unwrap();
    let other = sb.gorgias.open_ticket(g[1], "Refund", "chat");
    sb.gorgias
        .ticket_action(other, TicketAction::Close)
        .unwrap();
    let open = sb.gorgias.open_ticket(g[2], "Sizing", "email");
    let spam = sb.gorgias.open_ticket(g[2], "WIN", "email");
    sb.gorgias.ticket_action(spam, TicketAction::Close).unwrap();
    sb.gorgias.ticket_action(spam, TicketAction::Spam).unwrap();

    // Killed right after HubSpot made the notes, before tether recorded them.
    let crashing = CycleOptions {
        stop_at: Some(StopPoint::AfterNoteUpsert),
        ..notes_on()
    };
    let c = cycle_with(&sb, default_mappings().unwrap(), crashing).await;
    let err = c.run().await.unwrap_err();
    assert!(
        matches!(err, CycleError::Stopped(StopPoint::AfterNoteUpsert)),
        "{err}"
    );
    let made: BTreeSet<String> = [closed, other]
        .iter()
        .map(|t| format!("gorgias-ticket-{t}"))
        .collect();
    assert_eq!(keys(&sb), made, "only closed, live tickets get a note");
    assert_eq!(c.store.support_status().await.unwrap().notes_owed, 2);

    // Restarted: the same notes, now associated; none doubled.
    let mut restarted = c.clone();
    restarted.options.stop_at = None;
    let r = restarted.run().await.unwrap();
    assert_eq!(r.support.notes.written, 2, "{:?}", r.support);
    assert_eq!(keys(&sb), made);
    let status = c.store.support_status().await.unwrap();
    assert_eq!((status.notes_owed, status.notes_written), (0, 2));
    for (ticket, customer) in [(closed, g[0]), (other, g[1])] {
        let link = c
            .store
            .link_by_gorgias(GorgiasId::new(customer).unwrap())
            .await
            .unwrap()
            .unwrap();
        let note = note_of(&sb, ticket);
        assert_eq!(
            note["contacts"],
            serde_json::json!([[link.hubspot.as_str(), 202]]),
            "{note}"
        );
        let body = note["properties"]["hs_note_body"].as_str().unwrap();
        assert!(body.contains(&format!("/app/ticket/{ticket}")), "{body}");
        assert!(note["properties"]["hs_timestamp"].as_str().is_some());
    }
    assert!(
        note_of(&sb, closed)["properties"]["hs_note_body"]
            .as_str()
            .unwrap()
            .contains("Where is my &lt;order&gt;?")
    );

    // A quiet cycle writes no note again.
    let before = upserts(&sb);
    restarted.run().await.unwrap();
    assert_eq!(upserts(&sb), before, "no note written twice");

    // A ticket closed later gets its own note; the others are left alone.
    sb.gorgias.ticket_action(open, TicketAction::Close).unwrap();
    let r = restarted.run().await.unwrap();
    assert_eq!(r.support.notes.written, 1, "{:?}", r.support);
    assert_eq!(keys(&sb).len(), 3);
}

/// `tether sync` as a real process with notes on, `kill -9`ed while its second notes call is
/// in flight (HubSpot slowed down on that endpoint so the kill lands mid-way), then run
/// again to its end: every closed ticket has exactly one note, and a further sync writes
/// none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_written_once_across_a_real_kill_9() {
    use crate::cycle_cli::sandbox_env;
    use crate::cycle_support::run;
    use std::process::Stdio;
    use std::time::Duration;
    use tether::sandbox::hubspot::{Fault, FaultKind};

    let sb = sandboxes().await;
    seed_people(&sb, 20, 20);
    let g = sb.gorgias.customer_ids();
    // 600 closed tickets: six notes calls of 100.
    let mut closed = BTreeSet::new();
    for i in 0..600 {
        let t = sb
            .gorgias
            .open_ticket(g[i % g.len()], &format!("Order {i}"), "email");
        sb.gorgias.ticket_action(t, TicketAction::Close).unwrap();
        closed.insert(format!("gorgias-ticket-{t}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut env = sandbox_env(&sb, dir.path());
    env.push(("TETHER__SUPPORT__NOTES".into(), "true".into()));
    let d = dir.path().to_path_buf();
    let (code, out) = run(env.clone(), d.clone(), &["setup"]).await;
    assert_eq!(code, 0, "{out}");

    sb.hubspot.inject_fault(
        Fault::of(FaultKind::Latency, 1_000)
            .on_path("/notes/batch/upsert")
            .millis(400),
    );
    let mut child = crate::harness::tether_command()
        .current_dir(dir.path())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("sync")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::harness::eventually(Duration::from_secs(120), "a second notes call", || {
        (upserts(&sb) >= 2).then_some(())
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let written = keys(&sb).len();
    assert!(
        written < closed.len(),
        "the kill came after every note was written ({written}): the test exercised nothing"
    );

    sb.hubspot.clear_faults();
    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(keys(&sb), closed, "one note per closed ticket, none twice");
    let before = upserts(&sb);
    let (code, out) = run(env, d, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(upserts(&sb), before, "no note written again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_association_type_is_read_from_the_labels() {
    let sb = sandboxes().await;
    // A portal whose plain note → contact type is not the documented 202.
    sb.hubspot.set_note_contact_type(4_321);
    seed_people(&sb, 1, 1);
    sb.hubspot_client.ensure_note_key_property().await.unwrap();
    let g = sb.gorgias.customer_ids();
    let t = sb.gorgias.open_ticket(g[0], "Refund", "chat");
    sb.gorgias.ticket_action(t, TicketAction::Close).unwrap();
    let c = cycle_with(&sb, default_mappings().unwrap(), notes_on()).await;
    let r = c.run().await.unwrap();
    assert_eq!(r.support.notes.written, 1, "{:?}", r.support);
    let note = note_of(&sb, t);
    let contacts = note["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{note}");
    assert_eq!(contacts[0][1], 4_321, "the labels' type, not 202: {note}");
    // The labels were read once for the client, then cached.
    let t2 = sb.gorgias.open_ticket(g[0], "Exchange", "email");
    sb.gorgias.ticket_action(t2, TicketAction::Close).unwrap();
    c.run().await.unwrap();
    let label_reads: u64 = sb
        .hubspot
        .counters()
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.ends_with("/notes/contacts/labels"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(label_reads, 1);
    assert_eq!(keys(&sb).len(), 2);
}
