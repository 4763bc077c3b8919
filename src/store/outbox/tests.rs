//! Tests of the outbox: enqueue, attempts, completion (single and per batch) and their
//! audit rows, on an in-memory store. Must never touch a file or the network.

use super::super::test_support::*;
use super::*;

fn write(key: &str, target: Option<RecordRef>) -> NewWrite {
    NewWrite {
        idempotency_key: key.into(),
        system: System::Hubspot,
        op: if target.is_some() {
            OpKind::Update
        } else {
            OpKind::Create
        },
        target,
        payload: json!({ "properties": { "firstname": NASTY } }),
    }
}

async fn enqueue_is_idempotent_and_round_trips(s: Store) {
    let h = RecordRef::Hubspot(hs("7"));
    let batch = vec![write("k1", None), write(nasty(&s), Some(h.clone()))];
    assert_eq!(s.enqueue_writes(&batch, t(1)).await.unwrap(), 2);
    assert_eq!(s.enqueue_writes(&batch, t(2)).await.unwrap(), 0);
    assert_eq!(
        s.enqueue_writes(&[write("k1", None), write("k3", None)], t(3))
            .await
            .unwrap(),
        1
    );
    let pending = s.pending_writes(10).await.unwrap();
    assert_eq!(pending.len(), 3);
    let p = &pending[1];
    assert_eq!(p.idempotency_key, nasty(&s));
    assert_eq!(p.target, Some(h.clone()));
    assert_eq!(p.op, OpKind::Update);
    assert_eq!(p.payload, batch[1].payload);
    assert_eq!(p.status, OutboxStatus::Pending);
    assert_eq!(p.attempts, 0);
    assert_eq!(p.enqueued_at, t(1));
    assert_eq!(s.outbox_by_key(nasty(&s)).await.unwrap().as_ref(), Some(p));
    assert_eq!(s.pending_writes(1).await.unwrap().len(), 1);
}

async fn follow_ups_land_with_the_write_or_not_at_all(s: Store) {
    let create = NewWrite {
        idempotency_key: "create-g-for-h1".into(),
        system: System::Gorgias,
        op: OpKind::Create,
        target: None,
        payload: json!({ "email": "a@b.co" }),
    };
    s.enqueue_writes(std::slice::from_ref(&create), t(1))
        .await
        .unwrap();
    let id = s
        .outbox_by_key("create-g-for-h1")
        .await
        .unwrap()
        .unwrap()
        .id;
    let bases = BTreeMap::from([("email".to_owned(), json!("a@b.co"))]);
    let link_it = FollowUp::CreateLink {
        hubspot: hs("1"),
        gorgias: gg(50),
        bases: bases.clone(),
    };
    // A refused follow-up (unknown link) rolls everything back: still pending, no link.
    let err = s
        .mark_done_with(
            id,
            Some(&json!({ "id": 50 })),
            &[
                link_it.clone(),
                FollowUp::SetBases {
                    link: LinkId(999),
                    bases: bases.clone(),
                },
            ],
            "sync",
            t(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(
        s.outbox_item(id).await.unwrap().unwrap().status,
        OutboxStatus::Pending
    );
    assert_eq!(s.link_by_hubspot(&hs("1")).await.unwrap(), None);

    let done = s
        .mark_done_with(
            id,
            Some(&json!({ "id": 50 })),
            std::slice::from_ref(&link_it),
            "sync",
            t(3),
        )
        .await
        .unwrap();
    assert!(done.newly_done);
    assert_eq!(done.links.len(), 1);
    let link = s.link_by_gorgias(gg(50)).await.unwrap().unwrap();
    assert_eq!(done.links[0], link);
    assert_eq!(s.bases(link.id).await.unwrap(), bases);
    // Done again (a retried report): nothing applied twice.
    let again = s
        .mark_done_with(id, None, &[link_it], "sync", t(4))
        .await
        .unwrap();
    assert!(!again.newly_done);

    // A merge: alias and relink with the write.
    s.enqueue_writes(
        &[NewWrite {
            idempotency_key: "merge-1-into-2".into(),
            system: System::Hubspot,
            op: OpKind::Merge,
            target: Some(RecordRef::Hubspot(hs("2"))),
            payload: json!({ "merge": "1" }),
        }],
        t(5),
    )
    .await
    .unwrap();
    let m = s.outbox_by_key("merge-1-into-2").await.unwrap().unwrap().id;
    let done = s
        .mark_done_with(
            m,
            None,
            &[
                FollowUp::Alias {
                    merged_away: RecordRef::Hubspot(hs("1")),
                    survivor: RecordRef::Hubspot(hs("2")),
                },
                FollowUp::Relink {
                    link: link.id,
                    new: RecordRef::Hubspot(hs("2")),
                },
            ],
            "sync",
            t(6),
        )
        .await
        .unwrap();
    assert_eq!(done.links[0].hubspot, hs("2"));
    assert_eq!(
        s.resolve(&RecordRef::Hubspot(hs("1"))).await.unwrap(),
        RecordRef::Hubspot(hs("2"))
    );
    assert_eq!(s.bases(link.id).await.unwrap(), bases);
}

async fn a_batch_of_completions_is_all_or_nothing(s: Store) {
    let writes: Vec<NewWrite> = (1..=3)
        .map(|i| {
            write(
                &format!("w{i}"),
                Some(RecordRef::Hubspot(hs(&i.to_string()))),
            )
        })
        .collect();
    s.enqueue_writes(&writes, t(1)).await.unwrap();
    let ids = pending_ids(&s).await;
    let done = |id, link: Option<i64>| Done {
        id,
        result: Some(json!({ "ok": NASTY })),
        follow_ups: link
            .map(|g| {
                vec![FollowUp::CreateLink {
                    hubspot: hs("1"),
                    gorgias: gg(g),
                    bases: BTreeMap::new(),
                }]
            })
            .unwrap_or_default(),
    };
    // The third links hs 1 a second time: refused, so none of the three is done.
    let err = s
        .mark_done_batch(
            &[
                done(ids[0], Some(10)),
                done(ids[1], None),
                done(ids[2], Some(11)),
            ],
            "sync",
            t(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(s.pending_writes(10).await.unwrap().len(), 3);
    assert_eq!(s.link_by_gorgias(gg(10)).await.unwrap(), None);
    let out = s
        .mark_done_batch(
            &[
                done(ids[0], Some(10)),
                done(ids[1], None),
                done(ids[2], None),
            ],
            "sync",
            t(3),
        )
        .await
        .unwrap();
    assert!(out.iter().all(|c| c.newly_done));
    assert_eq!(out[0].links.len(), 1);
    assert!(s.pending_writes(10).await.unwrap().is_empty());
    let item = s.outbox_item(ids[1]).await.unwrap().unwrap();
    assert_eq!(item.result, Some(json!({ "ok": NASTY })));
}

async fn a_bad_batch_stores_nothing(s: Store) {
    let bad = vec![
        write("ok", None),
        write("bad", Some(RecordRef::Gorgias(gg(1)))),
    ];
    assert!(matches!(
        s.enqueue_writes(&bad, t(1)).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    assert!(s.pending_writes(10).await.unwrap().is_empty());
}

async fn attempts_then_done_or_failed_are_recorded_and_audited(s: Store) {
    let h = RecordRef::Hubspot(hs("7"));
    s.enqueue_writes(&[write("a", Some(h.clone())), write("b", None)], t(1))
        .await
        .unwrap();
    let a = s.outbox_by_key("a").await.unwrap().unwrap().id;
    let b = s.outbox_by_key("b").await.unwrap().unwrap().id;
    assert_eq!(s.mark_attempt(a, "429 slow down", t(2)).await.unwrap(), 1);
    assert_eq!(s.mark_attempt(a, nasty(&s), t(3)).await.unwrap(), 2);
    let item = s.outbox_item(a).await.unwrap().unwrap();
    assert_eq!(item.attempts, 2);
    assert_eq!(item.last_error.as_deref(), Some(nasty(&s)));
    assert_eq!(item.last_attempt_at, Some(t(3)));

    let answer = json!({ "id": "7", "updatedAt": "x" });
    assert!(s.mark_done(a, Some(&answer), "sync", t(4)).await.unwrap());
    assert!(!s.mark_done(a, Some(&answer), "sync", t(5)).await.unwrap());
    let done = s.outbox_item(a).await.unwrap().unwrap();
    assert_eq!(done.status, OutboxStatus::Done);
    assert_eq!(done.result, Some(answer));
    assert_eq!(done.finished_at, Some(t(4)));
    assert!(matches!(
        s.mark_attempt(a, "late", t(6)).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        s.mark_failed(a, "x", "sync", t(6)).await.unwrap_err(),
        StoreError::Conflict(_)
    ));

    assert!(s.mark_failed(b, "400 bad", "sync", t(7)).await.unwrap());
    let failed = s.outbox_item(b).await.unwrap().unwrap();
    assert_eq!(failed.status, OutboxStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("400 bad"));
    assert!(s.pending_writes(10).await.unwrap().is_empty());

    let audit = s.audit_for(&h).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "write.done");
    assert_eq!(audit[0].detail["attempts"], json!(2));
    let recent = s.recent_audit(1).await.unwrap();
    assert_eq!(recent[0].action, "write.failed");
}

/// Enqueues `writes` and answers the ids of every pending write, in order.
async fn enqueued(s: &Store, writes: &[NewWrite]) -> Vec<OutboxId> {
    s.enqueue_writes(writes, t(1)).await.unwrap();
    pending_ids(s).await
}

/// How many audit entries (of the last 100) have `action`.
async fn audited(s: &Store, action: &str) -> usize {
    s.recent_audit(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .count()
}

/// The ids of the pending writes, in order.
async fn pending_ids(s: &Store) -> Vec<OutboxId> {
    s.pending_writes(10)
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect()
}

/// Three pending HubSpot updates (targets hs 1..3), their ids in order.
async fn three_pending(s: &Store) -> Vec<OutboxId> {
    let writes: Vec<NewWrite> = (1..=3)
        .map(|i| {
            write(
                &format!("w{i}"),
                Some(RecordRef::Hubspot(hs(&i.to_string()))),
            )
        })
        .collect();
    enqueued(s, &writes).await
}

/// A completion linking hs 1 to `g` (when given) and settling the write's record.
fn linked_done(id: OutboxId, record: &str, link: Option<i64>) -> Done {
    let mut follow_ups: Vec<FollowUp> = link
        .map(|g| FollowUp::CreateLink {
            hubspot: hs("1"),
            gorgias: gg(g),
            bases: BTreeMap::new(),
        })
        .into_iter()
        .collect();
    follow_ups.push(FollowUp::Settle {
        record: RecordRef::Hubspot(hs(record)),
        target: System::Hubspot,
        why: "a write succeeded".into(),
    });
    Done {
        id,
        result: Some(json!({ "ok": NASTY })),
        follow_ups,
    }
}

async fn refuse(s: &Store, record: &str) {
    let r = super::super::NewRefusal {
        record: RecordRef::Hubspot(hs(record)),
        target: System::Hubspot,
        op: OpKind::Update,
        class: super::super::FailureClass::Record,
        reason: "VALIDATION_ERROR".into(),
    };
    s.record_refusal(&r, |_| chrono::Duration::minutes(1), "sync", t(1))
        .await
        .unwrap();
}

async fn open_unsettled(s: &Store) -> usize {
    s.unsettled(super::super::UnsettledFilter::Open)
        .await
        .unwrap()
        .len()
}

async fn a_refused_completion_in_a_batch_fails_only_its_write(s: Store) {
    let ids = three_pending(&s).await;
    refuse(&s, "1").await;
    refuse(&s, "2").await;
    // The second links hs 1 a second time: refused alone, rolled back to its savepoint
    // (its record stays unsettled); the first and third land in the one transaction.
    let answers = s
        .complete_batch(
            &[
                linked_done(ids[0], "1", Some(10)),
                linked_done(ids[1], "2", Some(11)),
                linked_done(ids[2], "3", None),
            ],
            "sync",
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(answers.len(), 3);
    assert!(
        answers[0]
            .as_ref()
            .is_ok_and(|c| c.newly_done && c.links.len() == 1)
    );
    assert!(
        matches!(answers[1], Err(StoreError::Conflict(_))),
        "{:?}",
        answers[1]
    );
    assert!(answers[2].as_ref().is_ok_and(|c| c.newly_done));
    let pending = pending_ids(&s).await;
    assert_eq!(pending, vec![ids[1]]);
    assert!(s.link_by_gorgias(gg(10)).await.unwrap().is_some());
    assert_eq!(s.link_by_gorgias(gg(11)).await.unwrap(), None);
    // hs 1 settled with its write; hs 2's refusal is still owed.
    let open = s
        .unsettled(super::super::UnsettledFilter::Open)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].record, RecordRef::Hubspot(hs("2")));
}

#[tokio::test]
async fn a_batch_completion_that_fails_leaves_every_write_pending() {
    let s = mem().await;
    let ids = three_pending(&s).await;
    refuse(&s, "1").await;
    // The third write's completion fails in SQL (not a refusal): the whole batch is rolled
    // back, the first's link and settling included.
    sqlx::query(&format!(
        "CREATE TRIGGER fail_third BEFORE UPDATE OF status ON outbox WHEN NEW.id = {}
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
        ids[2].0
    ))
    .execute(s.pool())
    .await
    .unwrap();
    let err = s
        .complete_batch(
            &[
                linked_done(ids[0], "1", Some(10)),
                linked_done(ids[1], "2", None),
                linked_done(ids[2], "3", None),
            ],
            "sync",
            t(2),
        )
        .await
        .unwrap_err();
    assert!(!matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(s.pending_writes(10).await.unwrap().len(), 3);
    assert_eq!(s.link_by_gorgias(gg(10)).await.unwrap(), None);
    assert_eq!(open_unsettled(&s).await, 1);
    for id in &ids {
        let item = s.outbox_item(*id).await.unwrap().unwrap();
        assert_eq!(item.status, OutboxStatus::Pending);
        assert_eq!(item.result, None);
    }
}

/// `FollowUp::Settle` of `record` toward `target`.
fn settle(record: &str, target: System) -> FollowUp {
    FollowUp::Settle {
        record: RecordRef::Hubspot(hs(record)),
        target,
        why: "a write succeeded".into(),
    }
}

async fn a_batch_with_nothing_refused_lands_whole_with_its_links_settles_and_audit(s: Store) {
    let ids = three_pending(&s).await;
    refuse(&s, "1").await;
    refuse(&s, "3").await;
    let links = |g: i64| FollowUp::CreateLink {
        hubspot: hs(&(g - 10).to_string()),
        gorgias: gg(g),
        bases: BTreeMap::from([("email".to_string(), json!(NASTY))]),
    };
    let answers = s
        .complete_batch(
            &[
                Done {
                    id: ids[0],
                    result: Some(json!({ "ok": NASTY })),
                    follow_ups: vec![links(11), settle("1", System::Hubspot)],
                },
                Done {
                    id: ids[1],
                    result: None,
                    follow_ups: vec![links(12), settle("2", System::Hubspot)],
                },
                // hs 3's item is owed toward HubSpot: settling it toward Gorgias leaves it.
                Done {
                    id: ids[2],
                    result: None,
                    follow_ups: vec![settle("3", System::Gorgias)],
                },
            ],
            "sync",
            t(2),
        )
        .await
        .unwrap();
    let newly: Vec<(bool, usize)> = answers
        .iter()
        .map(|a| {
            let c = a.as_ref().unwrap();
            (c.newly_done, c.links.len())
        })
        .collect();
    assert_eq!(newly, [(true, 1), (true, 1), (true, 0)]);
    assert!(s.pending_writes(10).await.unwrap().is_empty());
    let first = s.outbox_item(ids[0]).await.unwrap().unwrap();
    assert_eq!(first.result, Some(json!({ "ok": NASTY })));
    assert_eq!(first.finished_at, Some(t(2)));
    let l = s.link_by_gorgias(gg(11)).await.unwrap().unwrap();
    assert_eq!(l.hubspot, hs("1"));
    assert_eq!(s.bases(l.id).await.unwrap()["email"], json!(NASTY));
    assert!(s.link_by_gorgias(gg(12)).await.unwrap().is_some());
    let open = s
        .unsettled(super::super::UnsettledFilter::Open)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].record, RecordRef::Hubspot(hs("3")));
    let actions: Vec<String> = s
        .recent_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(count("write.done"), 3);
    assert_eq!(count("link.created"), 2);
    assert_eq!(count("unsettled.settled"), 1);
}

async fn a_batch_naming_a_finished_or_repeated_write_answers_it_as_one_by_one_would(s: Store) {
    let ids = three_pending(&s).await;
    s.mark_done(ids[0], None, "sync", t(1)).await.unwrap();
    s.mark_failed(ids[1], "gave up", "sync", t(1))
        .await
        .unwrap();
    let plain = |id| Done {
        id,
        result: None,
        follow_ups: vec![],
    };
    let answers = s
        .complete_batch(
            &[plain(ids[0]), plain(ids[1]), plain(ids[2]), plain(ids[2])],
            "sync",
            t(2),
        )
        .await
        .unwrap();
    // Done already: not again; failed: refused alone; the third lands once.
    assert!(answers[0].as_ref().is_ok_and(|c| !c.newly_done));
    assert!(matches!(answers[1], Err(StoreError::Conflict(_))));
    assert!(answers[2].as_ref().is_ok_and(|c| c.newly_done));
    assert!(answers[3].as_ref().is_ok_and(|c| !c.newly_done));
    let item = s.outbox_item(ids[2]).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Done);
    let done_audits = audited(&s, "write.done").await;
    assert_eq!(done_audits, 2, "ids[0] at t(1), ids[2] once");
}
/// Five writes (three creates, two updates of hs 4 and 5) completed as one API batch:
/// the creates with new links (with bases), every write with a settle that has nothing to
/// settle. Such a batch goes set-at-a-time (`bulk.rs`).
fn creates_and_updates(s: &Store, ids: &[OutboxId]) -> Vec<Done> {
    let bases = |i: i64| {
        BTreeMap::from([
            ("email".to_string(), json!(format!("{i}{}", nasty(s)))),
            ("firstname".to_string(), json!(null)),
            ("tags".to_string(), json!(["a", 1])),
        ])
    };
    ids.iter()
        .enumerate()
        .map(|(k, id)| {
            let i = k as i64 + 1;
            let mut follow_ups = Vec::new();
            if k < 3 {
                follow_ups.push(FollowUp::CreateLink {
                    hubspot: hs(&(100 + i).to_string()),
                    gorgias: gg(200 + i),
                    bases: bases(i),
                });
            }
            follow_ups.push(FollowUp::Settle {
                record: RecordRef::Gorgias(gg(200 + i)),
                target: System::Hubspot,
                why: "a write succeeded".into(),
            });
            Done {
                id: *id,
                result: (k != 1).then(|| json!({ "id": (100 + i).to_string(), "n": nasty(s) })),
                follow_ups,
            }
        })
        .collect()
}

async fn five_pending(s: &Store) -> Vec<OutboxId> {
    let writes: Vec<NewWrite> = (1..=5)
        .map(|i| {
            let target = (i > 3).then(|| RecordRef::Hubspot(hs(&i.to_string())));
            write(&format!("w{i}"), target)
        })
        .collect();
    enqueued(s, &writes).await
}

/// What a store holds after completions, for comparing two stores.
async fn holdings(s: &Store, ids: &[OutboxId]) -> String {
    let mut out = Vec::new();
    for id in ids {
        out.push(format!("{:?}", s.outbox_item(*id).await.unwrap()));
    }
    for l in s.links().await.unwrap() {
        out.push(format!("{l:?} {:?}", s.bases(l.id).await.unwrap()));
    }
    for e in s.recent_audit(1000).await.unwrap() {
        out.push(format!("{e:?}"));
    }
    out.join("\n")
}

/// The set-at-a-time path must leave exactly what completing the writes one by one leaves
/// (the same rows, ids, audit entries, subjects and order), and answer the same.
async fn a_set_at_a_time_batch_leaves_what_one_by_one_leaves(s: Store) {
    let other = mem().await;
    let ids = five_pending(&s).await;
    assert_eq!(five_pending(&other).await, ids);
    let done = creates_and_updates(&s, &ids);
    assert!(
        super::bulk::eligible(&done, &std::collections::HashSet::new()),
        "this batch must take the set-at-a-time path"
    );
    let answers = s.complete_batch(&done, "sync", t(2)).await.unwrap();
    let mut one_by_one = Vec::new();
    for d in &done {
        one_by_one.push(
            other
                .mark_done_with(d.id, d.result.as_ref(), &d.follow_ups, "sync", t(2))
                .await
                .unwrap(),
        );
    }
    let answers: Vec<Completion> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers, one_by_one);
    assert_eq!(answers.iter().map(|c| c.links.len()).sum::<usize>(), 3);
    assert_eq!(holdings(&s, &ids).await, holdings(&other, &ids).await);
    assert!(s.pending_writes(10).await.unwrap().is_empty());
}

/// A set-at-a-time batch that meets a refusal (a link side taken, by an earlier link or by
/// the batch itself) is done again write by write: only the refused writes stay pending.
async fn a_set_at_a_time_batch_meeting_a_taken_side_answers_write_by_write(s: Store) {
    let ids = five_pending(&s).await;
    s.create_link(&hs("101"), gg(999), &BTreeMap::new(), "sync", t(1))
        .await
        .unwrap();
    let mut done = creates_and_updates(&s, &ids);
    // The third create links the same Gorgias customer as the second.
    done[2].follow_ups[0] = FollowUp::CreateLink {
        hubspot: hs("103"),
        gorgias: gg(202),
        bases: BTreeMap::new(),
    };
    let answers = s.complete_batch(&done, "sync", t(2)).await.unwrap();
    assert!(
        matches!(answers[0], Err(StoreError::Conflict(_))),
        "hs 101 is taken"
    );
    assert!(answers[1].as_ref().is_ok_and(|c| c.links.len() == 1));
    assert!(
        matches!(answers[2], Err(StoreError::Conflict(_))),
        "gg 202 is taken"
    );
    assert!(
        answers[3..]
            .iter()
            .all(|a| a.as_ref().is_ok_and(|c| c.newly_done))
    );
    let pending = pending_ids(&s).await;
    assert_eq!(pending, vec![ids[0], ids[2]]);
    assert_eq!(s.links().await.unwrap().len(), 2);
    let done_audits = audited(&s, "write.done").await;
    assert_eq!(done_audits, 3);
}

conformance!(
    enqueue_is_idempotent_and_round_trips,
    follow_ups_land_with_the_write_or_not_at_all,
    a_batch_of_completions_is_all_or_nothing,
    a_bad_batch_stores_nothing,
    attempts_then_done_or_failed_are_recorded_and_audited,
    a_refused_completion_in_a_batch_fails_only_its_write,
    a_batch_with_nothing_refused_lands_whole_with_its_links_settles_and_audit,
    a_batch_naming_a_finished_or_repeated_write_answers_it_as_one_by_one_would,
    a_set_at_a_time_batch_leaves_what_one_by_one_leaves,
    a_set_at_a_time_batch_meeting_a_taken_side_answers_write_by_write,
);
