//! The failover run: two `tether run` replicas on one PostgreSQL store against the sandboxes.
//! The leader is `kill -9`ed inside a cycle and the standby must take over within the lease
//! time; then the new leader is stopped (SIGSTOP) inside a cycle, replaced by a third
//! replica, and resumed (SIGCONT): it must commit and send nothing. After quiescing, the
//! chaos oracles must hold. Part of `chaos_exec` (it drives a [`Run`]); must never judge
//! anything the oracles judge.

use super::service::{read_log, tail};
use super::*;
use crate::chaos_scenario::Field;

/// The lease time the replicas run with (`store.lease_seconds`): short, to keep the run short.
const LEASE_S: u64 = 3;

/// `GET /readyz`'s role, if the replica answers.
async fn role(addr: &str) -> Option<String> {
    let r = reqwest::get(format!("http://{addr}/readyz")).await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["role"].as_str().map(str::to_owned)
}

/// Polls `svc`'s `/readyz` until it says `want`; the time it took.
async fn until_role(svc: &Service, want: &str, within: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        let addr = read_log(svc.log()).1.addr;
        if let Some(addr) = addr
            && role(&addr).await.as_deref() == Some(want)
        {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > within {
            let (text, _) = read_log(svc.log());
            return Err(format!(
                "tether run #{} did not become {want} within {within:?}; its log ends:\n{}",
                svc.n(),
                tail(&text, 15)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database of its own on the test server, so replicas and oracles share it and nothing
/// else does; returns its URL.
async fn fresh_database(server: &str) -> String {
    let name = format!("tether_failover_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(server)
        .await
        .expect("connect to TETHER_TEST_PG_URL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(server).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The store's audited writes and pending outbox rows, read without the lease.
async fn store_rows(run: &Run) -> (usize, u64) {
    let url = &run
        .env
        .iter()
        .find(|(k, _)| k == "TETHER__STORE__URL")
        .unwrap()
        .1;
    let store = Store::open_read_only(&tether::config::StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: LEASE_S,
    })
    .await
    .unwrap();
    let writes = store
        .recent_audit(100_000)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.action.starts_with("write."))
        .count();
    let pending = store.counts().await.unwrap().outbox_pending;
    store.close().await;
    (writes, pending)
}

impl Run {
    /// Edits that give the cycles writes to make: every person's name on one side.
    async fn churn(&mut self, people: usize, tag: &str) {
        for p in 0..people {
            let side = if p % 2 == 0 {
                Side::Hubspot
            } else {
                Side::Gorgias
            };
            let step = Step::Edit {
                side,
                person: p,
                field: Field::Name,
                value: format!("{tag}{p} Person{p}"),
            };
            self.trace.push(format!("  {step}"));
            self.step(&step).await;
        }
    }

    /// Starts a replica and takes it out of `self.service`, where [`Run::service_start`]
    /// puts it.
    async fn replica(&mut self) -> Result<Service, String> {
        self.service_start(2).await;
        self.service
            .take()
            .ok_or_else(|| self.service_fails.join("\n"))
    }
}

/// Runs the failover; `Ok` holds the trace, `Err` the failures and the trace.
pub async fn run_failover(pg_server: &str, people: usize) -> Result<String, String> {
    let mappings = default_mappings().unwrap();
    let sc = Scenario {
        seed: 0,
        homes: (0..people)
            .map(|p| match p % 3 {
                0 => Home::Both,
                1 => Home::Hubspot,
                _ => Home::Gorgias,
            })
            .collect(),
        steps: vec![],
        service: true,
    };
    let mut run = Run::start(&sc).await;
    let db = fresh_database(pg_server).await;
    for (k, v) in run.env.iter_mut() {
        if k == "TETHER__STORE__URL" {
            *v = db.clone();
        }
    }
    run.env
        .push(("TETHER__STORE__LEASE_SECONDS".into(), LEASE_S.to_string()));
    let mut fails = failover_steps(&mut run, people).await;
    fails.extend(run.service_fails.iter().cloned());
    fails.extend(oracles(&mut run, &sc, &mappings).await);
    fails.extend(run.panics.iter().map(|p| format!("tether panicked: {p}")));
    if fails.is_empty() {
        Ok(run.trace.join("\n"))
    } else {
        Err(format!(
            "failover FAILED\n{}\ntrace:\n{}",
            fails.join("\n"),
            run.trace.join("\n")
        ))
    }
}

/// The steps; returns the failures (the quiesce stops the last leader).
async fn failover_steps(run: &mut Run, people: usize) -> Vec<String> {
    let mut fails = vec![];
    let lease = Duration::from_secs(LEASE_S);
    // A leads, B stands by.
    let a = match run.replica().await {
        Ok(a) => a,
        Err(e) => return vec![e],
    };
    if let Err(e) = until_role(&a, "leader", lease * 3).await {
        return vec![e];
    }
    let b = match run.replica().await {
        Ok(b) => b,
        Err(e) => return vec![e],
    };
    if let Err(e) = until_role(&b, "standby", lease * 3).await {
        fails.push(e);
    }
    run.trace.push("  A leads, B stands by".into());
    // Work, then A is killed inside a cycle: B takes over within the lease time (plus one
    // try of B's, every lease/3, and a margin for a loaded machine).
    run.service = Some(a);
    run.churn(people, "First").await;
    run.service_kill(0, Some(30), false).await;
    match until_role(&b, "leader", lease * 3).await {
        Ok(took) if took <= lease + lease / 3 + Duration::from_secs(1) => run
            .trace
            .push(format!("  B took over {took:.1?} after A was killed")),
        Ok(took) => fails.push(format!(
            "B took over {took:.1?} after A was killed: more than the lease time {lease:?} and a try"
        )),
        Err(e) => fails.push(e),
    }
    // C stands by.
    let c = match run.replica().await {
        Ok(c) => c,
        Err(e) => {
            run.service = Some(b);
            return [fails, vec![e]].concat();
        }
    };
    if let Err(e) = until_role(&c, "standby", lease * 3).await {
        fails.push(e);
    }
    fails.extend(stop_resume(run, people, b, c).await);
    fails
}

/// Waits until `svc` has finished two more full cycles `ok` without a write in between.
async fn until_quiet(run: &Run, svc: &Service, within: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    let mut seen = read_log(svc.log()).1.full_outcomes.len();
    let mut last = None;
    while t0.elapsed() < within {
        let v = read_log(svc.log()).1;
        if v.full_outcomes.len() > seen {
            let w = run.sb.write_calls();
            let ok = v.full_outcomes[seen..].iter().all(|o| o == "ok");
            if ok && last == Some(w) {
                return Ok(());
            }
            last = ok.then_some(w);
            seen = v.full_outcomes.len();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!(
        "tether run #{} did not quiesce within {within:?}",
        svc.n()
    ))
}

/// B, the leader, is stopped (SIGSTOP) inside a cycle; C takes over and quiesces; B is
/// resumed (SIGCONT) and must commit and send nothing; then B stops and C quiesces the run.
async fn stop_resume(run: &mut Run, people: usize, b: Service, c: Service) -> Vec<String> {
    let mut fails = vec![];
    let lease = Duration::from_secs(LEASE_S);
    run.service = Some(b);
    run.churn(people, "Second").await;
    run.wait_into_cycle(30).await;
    let b = run.service.take().unwrap();
    if !b.signal("STOP") {
        return vec!["could not SIGSTOP B".into()];
    }
    // B's open transaction is cut off by the server after the lease time, its lease expires:
    // C takes over.
    match until_role(&c, "leader", lease * 5).await {
        Ok(took) => run
            .trace
            .push(format!("  C took over {took:.1?} after B was stopped")),
        Err(e) => fails.push(e),
    }
    if let Err(e) = until_quiet(run, &c, Duration::from_secs(45)).await {
        fails.push(e);
    }
    let before = (run.sb.write_calls(), store_rows(run).await);
    let b_log = || read_log(b.log()).0;
    let lost_before = b_log().matches("lost the store's lease").count();
    b.signal("CONT");
    // B finds out at its next renewal (its keeper runs at once on resume) and stands by.
    let t0 = Instant::now();
    while b_log().matches("lost the store's lease").count() == lost_before {
        if t0.elapsed() > lease * 3 {
            fails.push(format!(
                "B, resumed, never said it lost the lease; its log ends:\n{}",
                tail(&b_log(), 15)
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One more quiet stretch of C: whatever B did would show by now.
    if let Err(e) = until_quiet(run, &c, Duration::from_secs(45)).await {
        fails.push(e);
    }
    let after = (run.sb.write_calls(), store_rows(run).await);
    if after != before {
        fails.push(format!(
            "the resumed former leader B changed something: (sandbox writes, (audited writes, pending outbox)) {before:?} then {after:?}"
        ));
    } else {
        run.trace
            .push("  B resumed: no write sent, no row committed".into());
    }
    match role(&read_log(b.log()).1.addr.unwrap_or_default())
        .await
        .as_deref()
    {
        Some("standby") => {}
        other => fails.push(format!("B, resumed, says its role is {other:?}")),
    }
    // B stops (standby: exit 0); C quiesces the run and stops.
    run.service = Some(b);
    run.service_stop().await;
    run.service = Some(c);
    if let Err(e) = run.quiesce_service(Duration::from_secs(45)).await {
        fails.push(e);
    }
    fails
}
