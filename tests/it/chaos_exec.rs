//! Chaos executor and oracles: runs a [`Scenario`] against both sandboxes with the real
//! binary: `tether sync` (started to its end, or `kill -9`ed at a moment) and the service
//! `tether run` (started, left cycling while edits and faults arrive, `kill -9`ed and
//! restarted, stopped by SIGTERM). Then it lets the systems quiesce (faults cleared, clean
//! cycles until nothing is written: through the service when it is still up, else through
//! `tether sync`) and checks the oracles. Owns I/O of the chaos suite; scenario generation
//! stays pure in `chaos_scenario.rs`; the service side lives in `chaos_exec/service.rs`, the
//! oracles in `chaos_exec/oracles.rs`.

use super::chaos_scenario::{FaultSpec, Field, Home, Scenario, Side, Step};
use super::cycle_support::SPEED;
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tether::commands::demo::{Sandboxes, default_mappings};
use tether::domain::{Email, GorgiasId, HubspotId, RecordRef, Region};
use tether::engine::canonical::{read_gorgias, read_hubspot};
use tether::engine::input::{GorgiasRecord, HubspotRecord};
use tether::mappings::MappingSet;
use tether::sandbox::gorgias::{Fault as GFault, FaultKind as GKind};
use tether::sandbox::hubspot::{Fault as HFault, FaultKind as HKind, PortalRules};
use tether::store::Store;

mod failover;
mod oracles;
mod service;
pub use failover::run_failover;
use oracles::oracles;
use service::Service;

/// One value somebody wrote: when (round), where, what (canonical), and whether a cycle of
/// `tether run` was in flight when it was written (`racing`): neither system offers a
/// conditional write, so a cycle that read the record before the edit may still overwrite
/// it with the other side's earlier value (docs/chaos.md, "Limits").
#[derive(Debug, Clone)]
struct Write {
    round: u32,
    side: Option<Side>,
    value: String,
    racing: bool,
}

/// The last `data.shop.order` another integration wrote, and the one before it (which a
/// cycle in flight during the write may legitimately restore, see [`Write`]).
#[derive(Debug, Clone)]
struct Foreign {
    value: String,
    racing: bool,
    before: Option<String>,
}

/// What the executor knows while running.
struct Run {
    sb: Sandboxes,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    round: u32,
    hs: HashMap<usize, String>,
    gg: HashMap<usize, i64>,
    writes: BTreeMap<(usize, Field), Vec<Write>>,
    foreign: HashMap<usize, Foreign>,
    /// People touched by a merge or a delete: value oracles skip them.
    touched: BTreeSet<usize>,
    deleted_g: BTreeSet<usize>,
    merged_away_h: BTreeSet<usize>,
    merged_away_g: BTreeSet<usize>,
    /// HubSpot ids a UI merge made (they carry the merged records' marks, not tether's).
    survivors_h: BTreeSet<String>,
    trace: Vec<String>,
    panics: Vec<String>,
    /// The `tether run` process, while one is up.
    service: Option<Service>,
    services_started: usize,
    /// What went wrong with `tether run` itself (exited by itself, did not start, did not
    /// stop cleanly on SIGTERM), or with `tether retry --all` after a portal rule.
    service_fails: Vec<String>,
}

fn email(p: usize) -> String {
    format!("p{p}@chaos.test")
}

fn init_name(p: usize) -> String {
    format!("Init{p} Person{p}")
}

fn init_phone(p: usize) -> String {
    format!("+1415555{:04}", 1000 + p)
}

fn init_company(p: usize) -> String {
    format!("Start{p}")
}

fn hubspot_row(p: usize, name: &str) -> BTreeMap<String, String> {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    [
        ("email", email(p)),
        ("firstname", first.to_string()),
        ("lastname", last.to_string()),
        ("phone", init_phone(p)),
        ("company", init_company(p)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn gorgias_row(p: usize, name: &str) -> Value {
    json!({
        "email": email(p),
        "name": name,
        "channels": [
            {"type": "email", "address": email(p), "preferred": true},
            {"type": "phone", "address": init_phone(p), "preferred": true},
        ],
        "data": {"tether": {"company": init_company(p)}},
    })
}

impl Run {
    async fn start(sc: &Scenario) -> Run {
        let sb = Sandboxes::start(SPEED).await.unwrap();
        let mappings = default_mappings().unwrap();
        sb.setup(&mappings).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mdir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let hwin = (10_000.0 / SPEED) as u64;
        let gwin = sb.gorgias.config().real_window().as_millis().max(1);
        let env: Vec<(String, String)> = [
            (
                "TETHER__HUBSPOT__BASE_URL",
                sb.hubspot_running.base_url.clone(),
            ),
            ("TETHER__HUBSPOT__TOKEN", "pat-na1-demo".to_string()),
            ("TETHER__HUBSPOT__BURST_WINDOW_MS", hwin.to_string()),
            (
                "TETHER__GORGIAS__BASE_URL",
                sb.gorgias_running.base_url.clone(),
            ),
            (
                "TETHER__GORGIAS__USERNAME",
                "api@sandbox.gorgias.test".into(),
            ),
            ("TETHER__GORGIAS__API_KEY", "sandbox-api-key".into()),
            ("TETHER__GORGIAS__BUCKET_WINDOW_MS", gwin.to_string()),
            (
                "TETHER__STORE__URL",
                format!("sqlite://{}", dir.path().join("t.db").display()),
            ),
            ("TETHER__MAPPINGS__DIR", mdir.display().to_string()),
            ("TETHER__SYNC__OVERLAP_SECONDS", "30".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut run = Run {
            sb,
            dir,
            env,
            round: 0,
            hs: HashMap::new(),
            gg: HashMap::new(),
            writes: BTreeMap::new(),
            foreign: HashMap::new(),
            touched: BTreeSet::new(),
            deleted_g: BTreeSet::new(),
            merged_away_h: BTreeSet::new(),
            merged_away_g: BTreeSet::new(),
            survivors_h: BTreeSet::new(),
            trace: vec![],
            panics: vec![],
            service: None,
            services_started: 0,
            service_fails: vec![],
        };
        for (p, home) in sc.homes.iter().enumerate() {
            run.create(p, *home, &init_name(p));
        }
        run
    }

    fn create(&mut self, p: usize, home: Home, name: &str) {
        let mut sides = vec![];
        if matches!(home, Home::Both | Home::Hubspot) {
            let ids = self.sb.hubspot.seed_contacts(vec![hubspot_row(p, name)]);
            self.hs.insert(p, ids[0].clone());
            sides.push(Side::Hubspot);
        }
        if matches!(home, Home::Both | Home::Gorgias) {
            let ids = self.sb.gorgias.seed_customers(vec![gorgias_row(p, name)]);
            self.gg.insert(p, ids[0]);
            sides.push(Side::Gorgias);
        }
        for side in sides {
            for (f, v) in [
                (Field::Name, name.to_string()),
                (Field::Phone, init_phone(p)),
                (Field::Company, init_company(p)),
            ] {
                self.writes.entry((p, f)).or_default().push(Write {
                    round: self.round,
                    side: Some(side),
                    value: v,
                    racing: false,
                });
            }
        }
    }

    /// The person's live HubSpot id (aliases followed; else found through its Gorgias
    /// customer's `external_id`).
    fn hubspot_id(&mut self, p: usize) -> Option<String> {
        if let Some(id) = self.hs.get(&p) {
            let c = self.sb.hubspot.contact(id)?;
            if c["archived"].as_bool() == Some(true) {
                return None;
            }
            return c["id"].as_str().map(str::to_string);
        }
        let g = self.gorgias_id(p)?;
        let c = self.sb.gorgias.customer(g)?;
        let id = c["external_id"].as_str()?.to_string();
        self.sb.hubspot.contact(&id)?;
        self.hs.insert(p, id.clone());
        Some(id)
    }

    /// The person's live Gorgias id (found by e-mail when tether created it).
    fn gorgias_id(&mut self, p: usize) -> Option<i64> {
        if let Some(id) = self.gg.get(&p) {
            return self.sb.gorgias.customer(*id).map(|_| *id);
        }
        let want = email(p);
        let id = self.sb.gorgias.customer_ids().into_iter().find(|id| {
            self.sb
                .gorgias
                .customer(*id)
                .is_some_and(|c| c["email"].as_str() == Some(want.as_str()))
        })?;
        self.gg.insert(p, id);
        Some(id)
    }

    fn base(&self) -> Command {
        let mut c = super::harness::tether_command();
        c.current_dir(self.dir.path()).stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn tether(&self) -> Command {
        let mut c = self.base();
        c.args(["sync", "--allow-large"]);
        c
    }

    /// `tether retry --all`, as a person runs it once a portal rule is lifted; it must exit 0.
    async fn retry_all(&mut self) {
        let mut cmd = self.base();
        cmd.args(["retry", "--all"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.trace
            .push(format!("      {}", text.trim().replace('\n', "\n      ")));
        if out.status.code() != Some(0) {
            self.service_fails.push(format!(
                "tether retry --all failed ({:?}): {text}",
                out.status
            ));
        }
    }

    async fn sync(&mut self) -> i32 {
        super::cycle_support::settle(&self.sb).await;
        let mut cmd = self.tether();
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        if text.contains("panicked") || code == 101 {
            self.panics.push(text.clone());
        }
        if code == 0 {
            self.round += 1;
        }
        code
    }

    async fn crash(&mut self, after_ms: u64) {
        super::cycle_support::settle(&self.sb).await;
        let mut cmd = self.tether();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // When the crash comes is the scenario's chaos (seeded): this sleep stays.
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let _ = child.kill(); // SIGKILL on Unix
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        // A crash may have applied some writes: later writes are in a new round.
        self.round += 1;
    }

    fn edit(&mut self, side: Side, p: usize, field: Field, value: &str) -> bool {
        match side {
            Side::Hubspot => {
                let Some(id) = self.hubspot_id(p) else {
                    return false;
                };
                let mut props = BTreeMap::new();
                match field {
                    Field::Name => {
                        let (f, l) = value.split_once(' ').unwrap_or((value, ""));
                        props.insert("firstname".to_string(), f.to_string());
                        props.insert("lastname".to_string(), l.to_string());
                    }
                    Field::Phone => {
                        props.insert("phone".to_string(), value.to_string());
                    }
                    Field::Company => {
                        props.insert("company".to_string(), value.to_string());
                    }
                }
                self.sb.hubspot.edit_as_person(&id, props).is_ok()
            }
            Side::Gorgias => {
                let Some(id) = self.gorgias_id(p) else {
                    return false;
                };
                let Some(cur) = self.sb.gorgias.customer(id) else {
                    return false;
                };
                let patch = match field {
                    Field::Name => json!({"name": value}),
                    Field::Phone => {
                        let mut chans: Vec<Value> = cur["channels"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|c| c["type"] != "phone")
                            .map(|c| {
                                json!({"type": c["type"], "address": c["address"], "preferred": c["preferred"]})
                            })
                            .collect();
                        chans.push(json!({"type": "phone", "address": value, "preferred": true}));
                        json!({ "channels": chans })
                    }
                    Field::Company => {
                        let mut data = cur["data"].clone();
                        if !data.is_object() {
                            data = json!({});
                        }
                        if !data["tether"].is_object() {
                            data["tether"] = json!({});
                        }
                        data["tether"]["company"] = json!(value);
                        json!({ "data": data })
                    }
                };
                self.sb.gorgias.edit_as_agent(id, patch)
            }
        }
    }

    fn foreign(&mut self, p: usize, value: &str) -> bool {
        let Some(id) = self.gorgias_id(p) else {
            return false;
        };
        let Some(cur) = self.sb.gorgias.customer(id) else {
            return false;
        };
        let mut data = cur["data"].clone();
        if !data.is_object() {
            data = json!({});
        }
        data["shop"] = json!({"order": value});
        self.sb.gorgias.edit_as_agent(id, json!({ "data": data }))
    }

    fn fault(&self, f: FaultSpec) {
        let h = &self.sb.hubspot;
        let g = &self.sb.gorgias;
        match f {
            FaultSpec::Status {
                side: Side::Hubspot,
                status,
                times,
            } => h.inject_fault(HFault::status(status, times)),
            FaultSpec::Status {
                side: Side::Gorgias,
                status,
                times,
            } => g.inject_fault(GFault::status(status, times)),
            FaultSpec::RateLimitBurst {
                side: Side::Hubspot,
                times,
            } => h.inject_fault(HFault::of(HKind::RateLimit, times)),
            FaultSpec::RateLimitBurst {
                side: Side::Gorgias,
                times,
            } => g.inject_fault(GFault::rate_limit(1, times)),
            FaultSpec::Latency {
                side: Side::Hubspot,
                ms,
                times,
            } => h.inject_fault(HFault::of(HKind::Latency, times).millis(ms)),
            FaultSpec::Latency {
                side: Side::Gorgias,
                ms,
                times,
            } => g.inject_fault(GFault {
                kind: GKind::Delay { ms },
                times,
                method: None,
                path_prefix: None,
            }),
            FaultSpec::HubspotTimeout { times } => {
                h.inject_fault(HFault::of(HKind::Timeout, times).millis(100))
            }
            FaultSpec::GorgiasMalformed { times } => {
                g.inject_fault(GFault::body("{\"data\": [{\"id\": 1", times).on_method("GET"))
            }
            FaultSpec::HubspotMalformed { times } => {
                h.inject_fault(HFault::of(HKind::Malformed, times))
            }
        }
    }

    async fn step(&mut self, s: &Step) {
        let done = match s {
            Step::Edit {
                side,
                person,
                field,
                value,
            } => {
                let (ok, racing) = self.racing(|r| r.edit(*side, *person, *field, value));
                if ok {
                    self.writes
                        .entry((*person, *field))
                        .or_default()
                        .push(Write {
                            round: self.round,
                            side: Some(*side),
                            value: value.clone(),
                            racing,
                        });
                    if racing {
                        self.trace.push("      (a cycle was in flight)".into());
                    }
                }
                ok
            }
            Step::ForeignData { person, value } => {
                let (ok, racing) = self.racing(|r| r.foreign(*person, value));
                if ok {
                    let before = self.foreign.get(person).map(|f| f.value.clone());
                    self.foreign.insert(
                        *person,
                        Foreign {
                            value: value.clone(),
                            racing,
                            before,
                        },
                    );
                    if racing {
                        self.trace.push("      (a cycle was in flight)".into());
                    }
                }
                ok
            }
            Step::Create { side, person } => {
                let home = match side {
                    Side::Hubspot => Home::Hubspot,
                    Side::Gorgias => Home::Gorgias,
                };
                self.create(*person, home, &init_name(*person));
                true
            }
            Step::NearDuplicate { side, person, of } => {
                let home = match side {
                    Side::Hubspot => Home::Hubspot,
                    Side::Gorgias => Home::Gorgias,
                };
                self.create(*person, home, &init_name(*of));
                true
            }
            Step::DeleteGorgias { person } => match self.gorgias_id(*person) {
                Some(id) => {
                    let ok = self.sb.gorgias.delete_as_agent(id);
                    if ok {
                        self.touched.insert(*person);
                        self.deleted_g.insert(*person);
                    }
                    ok
                }
                None => false,
            },
            Step::MergeHubspot { keep, gone } => {
                match (self.hubspot_id(*keep), self.hubspot_id(*gone)) {
                    (Some(k), Some(g)) if k != g => match self.sb.hubspot.merge_as_person(&k, &g) {
                        Ok(survivor) => {
                            self.survivors_h.insert(survivor.clone());
                            self.hs.insert(*keep, survivor.clone());
                            self.hs.insert(*gone, survivor);
                            self.touched.extend([*keep, *gone]);
                            self.merged_away_h.insert(*gone);
                            true
                        }
                        Err(_) => false,
                    },
                    _ => false,
                }
            }
            Step::MergeGorgias { keep, gone } => {
                match (self.gorgias_id(*keep), self.gorgias_id(*gone)) {
                    (Some(k), Some(g)) if k != g => {
                        let ok = self.sb.gorgias.merge_as_agent(g, k);
                        if ok {
                            self.touched.extend([*keep, *gone]);
                            self.merged_away_g.insert(*gone);
                        }
                        ok
                    }
                    _ => false,
                }
            }
            Step::Fault(f) => {
                self.fault(*f);
                true
            }
            Step::PortalRule { on: true } => {
                self.sb.hubspot.set_portal_rules(PortalRules {
                    create_required: vec!["lifecyclestage".into()],
                    ..PortalRules::default()
                });
                true
            }
            Step::PortalRule { on: false } => {
                self.sb.hubspot.clear_portal_rules();
                self.retry_all().await;
                true
            }
            Step::Sync => {
                let code = self.sync().await;
                self.trace.push(format!("      exit {code}"));
                true
            }
            Step::Crash { after_ms } => {
                self.crash(*after_ms).await;
                true
            }
            Step::RunStart { grace_s } => {
                self.service_start(*grace_s).await;
                true
            }
            Step::RunFor { ms } => {
                // The service running this long is the scenario's step: this sleep stays.
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                self.round += 1;
                // One that died meanwhile is recorded as a failure.
                self.service_alive();
                true
            }
            Step::RunKill {
                after_ms,
                in_cycle_ms,
                restart,
            } => self.service_kill(*after_ms, *in_cycle_ms, *restart).await,
            Step::RunStop { in_cycle_ms } => {
                if let Some(ms) = in_cycle_ms {
                    self.wait_into_cycle(*ms).await;
                }
                self.service_stop().await
            }
        };
        if !done {
            self.trace
                .push("      (skipped: no such record, or no tether run up)".into());
        }
    }

    /// Clears faults and quiesces: through `tether run` when it is still up, else by syncing
    /// until a cycle writes nothing (at most `max` times).
    async fn quiesce(&mut self, max: usize) -> Result<(), String> {
        self.sb.hubspot.clear_faults();
        self.sb.gorgias.clear_faults();
        if self.service_alive() {
            return self.quiesce_service(Duration::from_secs(45)).await;
        }
        self.trace.push("  quiesce through tether sync".into());
        let mut last = None;
        for _ in 0..max {
            let code = self.sync().await;
            let w = self.sb.write_calls();
            if code == 0 && last == Some(w) {
                return Ok(());
            }
            last = Some(w);
        }
        Err(format!(
            "did not quiesce in {max} clean cycles (last exit and writes {last:?})"
        ))
    }
}

/// Runs one seed; `Ok` holds the trace, `Err` the seed, the failures and the trace.
pub async fn run_seed(sc: &Scenario) -> Result<String, String> {
    run_seed_with(sc, false).await
}

/// Like [`run_seed`]; with `sabotage`, an agent edits a quiet person's name in Gorgias after
/// the run quiesced and nobody syncs it, so the oracles must fail (proves they can).
pub async fn run_seed_with(sc: &Scenario, sabotage: bool) -> Result<String, String> {
    let mappings = default_mappings().unwrap();
    let mut run = Run::start(sc).await;
    for (i, s) in sc.steps.iter().enumerate() {
        run.trace.push(format!("  {i:>2}. {s}"));
        run.step(s).await;
    }
    let mut fails = vec![];
    if let Err(e) = run.quiesce(5).await {
        fails.push(e);
    }
    if sabotage {
        let people = run
            .writes
            .keys()
            .map(|(p, _)| *p)
            .max()
            .map_or(0, |m| m + 1);
        let quiet = (0..people).find(|p| !run.touched.contains(p));
        if let Some(p) = quiet
            && let Some(id) = run.gorgias_id(p)
        {
            run.sb
                .gorgias
                .edit_as_agent(id, json!({"name": "Nobody Wrote This"}));
            run.trace.push(format!(
                "  sabotage: p{p}.name = \"Nobody Wrote This\" in Gorgias, unsynced"
            ));
        }
    }
    // Whatever happened, no `tether run` outlives the steps and the quiesce.
    if run.service.is_some() {
        run.service_stop().await;
    }
    fails.extend(run.service_fails.iter().cloned());
    fails.extend(oracles(&mut run, sc, &mappings).await);
    fails.extend(run.panics.iter().map(|p| format!("tether panicked: {p}")));
    if fails.is_empty() {
        return Ok(run.trace.join("\n"));
    }
    if std::env::var_os("TETHER_CHAOS_KEEP").is_some() {
        let dir = std::mem::replace(&mut run.dir, tempfile::tempdir().unwrap());
        fails.push(format!("store kept in {}", dir.keep().display()));
    }
    Err(format!(
        "chaos seed {} FAILED (replay: {}TETHER_CHAOS_SEEDS={} cargo test --test it chaos::replay -- --ignored --nocapture)\n{}\ntrace:\nhomes {:?}\n{}",
        sc.seed,
        if sc.service {
            ""
        } else {
            "TETHER_CHAOS_SERVICE=0 "
        },
        sc.seed,
        fails.join("\n"),
        sc.homes,
        run.trace.join("\n")
    ))
}

/// The store path of a run (for debugging).
#[allow(dead_code)]
fn store_path(dir: &Path) -> PathBuf {
    dir.join("t.db")
}
