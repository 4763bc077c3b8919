//! Progress of the first backfill: the cycle's progress hook (`CycleOptions::progress`, wired
//! by `tether sync` and `tether run` to `service::progress::cycle_hook`) is called from the
//! read and apply steps with counts that grow up to each stage's total.

use super::cycle_support::*;
use std::sync::{Arc, Mutex};
use tether::cycle::{CycleOptions, ProgressHook, Stage};

type Calls = Arc<Mutex<Vec<(Stage, u64, u64)>>>;

fn recording() -> (Calls, ProgressHook) {
    let calls: Calls = Arc::default();
    let c = calls.clone();
    let hook = ProgressHook::new(move |s, d, t| c.lock().unwrap().push((s, d, t)));
    (calls, hook)
}

/// Every run of calls for one stage grows (never shrinks) and never passes its total.
fn check_monotonic(calls: &[(Stage, u64, u64)]) {
    for w in calls.windows(2) {
        let ((s0, d0, t0), (s1, d1, t1)) = (w[0], w[1]);
        assert!(d0 <= t0 && d1 <= t1, "{calls:?}");
        if s0 == s1 && t0 == t1 && d1 < d0 {
            // A new run of the same stage (e.g. the follow-up apply) starts again low.
            assert!(d1 <= 1 || d1 < d0, "{calls:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_progress_the_backfill_reports_growing_counts_per_stage() {
    let sb = sandboxes().await;
    seed_people(&sb, 30, 10);
    let (calls, hook) = recording();
    let cycle = cycle_with(
        &sb,
        tether::commands::demo::default_mappings().unwrap(),
        CycleOptions {
            progress: Some(hook),
            ..options()
        },
    )
    .await;
    let r = cycle.run().await.unwrap();
    assert!(r.applied.done > 0, "{r:?}");
    let seen = calls.lock().unwrap().clone();
    check_monotonic(&seen);
    // The backfill lists all 30 contacts and 30 customers.
    assert!(seen.contains(&(Stage::ReadHubspot, 30, 30)), "{seen:?}");
    assert!(seen.contains(&(Stage::ReadGorgias, 30, 30)), "{seen:?}");
    // The apply step counts its writes one batch or one call at a time, up to the total.
    let apply: Vec<(u64, u64)> = seen
        .iter()
        .filter(|(s, _, _)| *s == Stage::Apply)
        .map(|(_, d, t)| (*d, *t))
        .collect();
    assert!(apply.len() >= 2, "{seen:?}");
    let (first_total, mut last) = (apply[0].1, 0);
    for (d, t) in apply.iter().take_while(|(_, t)| *t == first_total) {
        assert!(*d > last && d <= t, "{apply:?}");
        last = *d;
    }
    assert_eq!(last, first_total, "{apply:?}");
    assert!(first_total >= 20, "{apply:?}");
}

#[test]
fn service_progress_cycle_hook_survives_stage_changes_and_restarts() {
    use tether::service::progress::{StageEvent::*, StageTracker};
    let calls = [
        (Stage::ReadHubspot, 5, 5),
        (Stage::Apply, 1, 10),
        (Stage::Apply, 4, 10),
        // A new run of the apply step (the follow-up), too small to show.
        (Stage::Apply, 1, 2),
        (Stage::Apply, 2, 2),
        (Stage::ReadGorgias, 3, 3),
    ];
    let mut tracker = StageTracker::new(3);
    let seen: Vec<_> = calls
        .iter()
        .map(|&(s, d, t)| tracker.observe(s, d, t))
        .collect();
    let expected = vec![
        vec![
            Start {
                stage: Stage::ReadHubspot,
                total: 5,
            },
            Advance {
                stage: Stage::ReadHubspot,
                by: 5,
            },
            Finish {
                stage: Stage::ReadHubspot,
                done: 5,
            },
        ],
        vec![
            Start {
                stage: Stage::Apply,
                total: 10,
            },
            Advance {
                stage: Stage::Apply,
                by: 1,
            },
        ],
        vec![Advance {
            stage: Stage::Apply,
            by: 3,
        }],
        // The restart finishes the shown run where it was; the small new run stays hidden.
        vec![Finish {
            stage: Stage::Apply,
            done: 4,
        }],
        vec![],
        vec![
            Start {
                stage: Stage::ReadGorgias,
                total: 3,
            },
            Advance {
                stage: Stage::ReadGorgias,
                by: 3,
            },
            Finish {
                stage: Stage::ReadGorgias,
                done: 3,
            },
        ],
    ];
    assert_eq!(seen, expected);
    // The hook itself (bar or log lines) takes the same calls without panicking.
    let hook = tether::service::progress::cycle_hook(3);
    for (s, d, t) in calls {
        (hook.0)(s, d, t);
    }
}
