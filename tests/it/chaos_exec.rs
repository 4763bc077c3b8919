//! Chaos executor and oracles: runs a [`Scenario`] against both sandboxes with the real
//! binary: `tether sync` (started to its end, or `kill -9`ed at a moment) and the service
//! `tether run` (started, left cycling while edits and faults arrive, `kill -9`ed and
//! restarted, stopped by SIGTERM). Then it lets the systems quiesce (faults cleared, clean
//! cycles until nothing is written: through the service when it is still up, else through
//! `tether sync`) and checks the oracles. Owns I/O of the chaos suite; scenario generation
//! stays pure in `chaos_scenario.rs`.

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

/// A `tether run` process: its stderr goes to `log` (JSON lines).
struct Service {
    child: Child,
    log: PathBuf,
    /// Which start of the run this is (1, 2, ...), for the trace.
    n: usize,
    grace_s: u64,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a service's log says so far.
#[derive(Debug, Default)]
struct LogView {
    /// "cycle starting" lines (full and targeted).
    starts: usize,
    /// "cycle finished" lines (full and targeted).
    finished: usize,
    /// The outcome of each finished full cycle, in order.
    full_outcomes: Vec<String>,
    /// The HTTP address, once it serves.
    addr: Option<String>,
    /// How long each finished cycle took, in seconds.
    secs: Vec<f64>,
    panicked: bool,
}

fn read_log(path: &Path) -> (String, LogView) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut v = LogView {
        panicked: text.contains("panicked"),
        ..LogView::default()
    };
    for line in text.lines() {
        let Ok(j) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let msg = j["message"].as_str().unwrap_or_default();
        if msg == "cycle starting" {
            v.starts += 1;
        } else if msg == "cycle finished" {
            v.finished += 1;
            v.secs.extend(j["secs"].as_f64());
            if j["kind"] == "full" {
                v.full_outcomes
                    .push(j["outcome"].as_str().unwrap_or_default().to_string());
            }
        } else if msg.starts_with("serving ") {
            v.addr = j["addr"].as_str().map(str::to_string);
        }
    }
    (text, v)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
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
        let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
        c.current_dir(self.dir.path())
            .env_remove("TETHER_CONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
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

    /// Starts `tether run` and waits until it serves (store open, writer guard taken).
    async fn service_start(&mut self, grace_s: u64) {
        self.services_started += 1;
        let n = self.services_started;
        let log = self.dir.path().join(format!("run-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = self.base();
        cmd.args([
            "--log-format",
            "json",
            "run",
            "--shutdown-grace",
            &grace_s.to_string(),
        ])
        // A cycle every second; any free port; the caps lifted as `sync --allow-large` does.
        .env("TETHER__SCHEDULE__CRON", "* * * * * *")
        .env("TETHER__SERVER__LISTEN", "127.0.0.1:0")
        .env("TETHER__SYNC__MAX_CREATES", "100000")
        .env("TETHER__SYNC__MAX_OVERWRITES", "100000")
        .env("RUST_LOG", "info,sqlx=warn,hyper=warn,reqwest=warn,h2=warn")
        .stdout(Stdio::null())
        .stderr(file);
        let child = cmd.spawn().unwrap();
        self.service = Some(Service {
            child,
            log: log.clone(),
            n,
            grace_s,
        });
        let t0 = Instant::now();
        loop {
            if read_log(&log).1.addr.is_some() {
                break;
            }
            if !self.service_alive() {
                return;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let svc = self.service.take();
                self.service_fails
                    .push(format!("tether run #{n} did not serve within 30 s"));
                drop(svc);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.trace.push(format!("      tether run #{n} is up"));
        self.round += 1;
    }

    /// Whether `tether run` is up; one that exited by itself is a failure.
    fn service_alive(&mut self) -> bool {
        let Some(svc) = self.service.as_mut() else {
            return false;
        };
        match svc.child.try_wait() {
            Ok(None) => true,
            status => {
                let svc = self.service.take().unwrap();
                let (text, _) = read_log(&svc.log);
                self.service_fails.push(format!(
                    "tether run #{} exited by itself ({status:?}); its log ends:\n{}",
                    svc.n,
                    tail(&text, 20)
                ));
                self.check_log(&svc);
                false
            }
        }
    }

    fn check_log(&mut self, svc: &Service) {
        let (text, v) = read_log(&svc.log);
        if v.panicked {
            self.panics
                .push(format!("tether run #{}: {}", svc.n, tail(&text, 40)));
        }
    }

    /// `(cycles started, a cycle in flight)` of the running service, if one is up.
    fn service_cycles(&self) -> Option<(usize, bool)> {
        let svc = self.service.as_ref()?;
        let (_, v) = read_log(&svc.log);
        Some((v.starts, v.starts > v.finished))
    }

    /// Runs `write` and says whether a cycle of `tether run` was (or started) in flight
    /// meanwhile.
    fn racing<T>(&mut self, write: impl FnOnce(&mut Self) -> T) -> (T, bool) {
        let before = self.service_cycles();
        let out = write(self);
        let after = self.service_cycles();
        let racing = match (before, after) {
            (Some((s0, busy)), Some((s1, _))) => busy || s1 > s0,
            _ => false,
        };
        (out, racing)
    }

    async fn service_kill(
        &mut self,
        after_ms: u64,
        in_cycle_ms: Option<u64>,
        restart: bool,
    ) -> bool {
        if !self.service_alive() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        if let Some(ms) = in_cycle_ms {
            self.wait_into_cycle(ms).await;
        }
        if !self.service_alive() {
            return true;
        }
        let mut svc = self.service.take().unwrap();
        let _ = svc.child.kill(); // SIGKILL on Unix
        let _ = svc.child.wait();
        let (_, v) = read_log(&svc.log);
        let mean = v.secs.iter().sum::<f64>() / v.secs.len().max(1) as f64;
        self.trace.push(format!(
            "      killed tether run #{} after {} cycles (mean {:.0} ms){}",
            svc.n,
            v.finished,
            mean * 1000.0,
            if v.starts > v.finished {
                ", one in flight"
            } else {
                ""
            }
        ));
        self.check_log(&svc);
        self.round += 1;
        if restart {
            let grace = svc.grace_s;
            drop(svc);
            self.service_start(grace).await;
        }
        true
    }

    /// Waits (at most 3 s) for the next cycle of `tether run` to start, then `ms` more.
    async fn wait_into_cycle(&self, ms: u64) {
        let started = self.service_cycles().map_or(0, |c| c.0);
        let t0 = Instant::now();
        while self.service_cycles().is_some_and(|c| c.0 == started)
            && t0.elapsed() < Duration::from_secs(3)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// SIGTERM; `tether run` must exit 0 (within its grace and a margin).
    async fn service_stop(&mut self) -> bool {
        if !self.service_alive() {
            return false;
        }
        let mut svc = self.service.take().unwrap();
        let pid = svc.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let limit = Duration::from_secs(svc.grace_s + 20);
        let t0 = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = svc.child.try_wait() {
                break Some(s);
            }
            if t0.elapsed() > limit {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (text, _) = read_log(&svc.log);
        match status {
            Some(s) if s.success() && sent => {
                self.trace.push(format!(
                    "      tether run #{} stopped in {:.1?}{}",
                    svc.n,
                    t0.elapsed(),
                    if text.contains("abandoned") {
                        ", its in-flight cycle abandoned"
                    } else {
                        ""
                    }
                ));
            }
            other => self.service_fails.push(format!(
                "tether run #{} did not exit 0 on SIGTERM ({other:?}, signal sent: {sent}); its log ends:\n{}",
                svc.n,
                tail(&text, 20)
            )),
        }
        self.check_log(&svc);
        self.round += 1;
        true
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
        tokio::time::sleep(Duration::from_millis(150)).await;
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
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut cmd = self.tether();
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
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

    /// Clears faults and lets `tether run` cycle until a full cycle ends `ok` having written
    /// nothing; checks its `/metrics` say the outbox is empty; stops it with SIGTERM.
    async fn quiesce_service(&mut self, limit: Duration) -> Result<(), String> {
        let Some(log) = self.service.as_ref().map(|s| s.log.clone()) else {
            return Err("no tether run to quiesce through".into());
        };
        let t0 = Instant::now();
        let mut seen = read_log(&log).1.full_outcomes.len();
        let mut last: Option<(u64, u64)> = None;
        let mut quiet = false;
        while t0.elapsed() < limit && self.service_alive() {
            let (_, v) = read_log(&log);
            if v.full_outcomes.len() > seen {
                let w = self.sb.write_calls();
                let ok = v.full_outcomes[seen..].iter().all(|o| o == "ok");
                if ok && last == Some(w) {
                    quiet = true;
                    break;
                }
                last = ok.then_some(w);
                seen = v.full_outcomes.len();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut fails = vec![];
        let (text, v) = read_log(&log);
        if !quiet {
            fails.push(format!(
                "tether run did not quiesce in {limit:?} (full cycles seen {seen}, last writes {last:?}); its log ends:\n{}",
                tail(&text, 20)
            ));
        } else {
            self.trace.push(format!(
                "  quiesced through tether run in {:.1?}",
                t0.elapsed()
            ));
            match self.service_metrics(v.addr.as_deref()).await {
                Ok(m) => {
                    let pending = m.get("tether_outbox_pending").copied();
                    if pending != Some(0.0) {
                        fails.push(format!(
                            "tether run's /metrics says tether_outbox_pending {pending:?} after quiescing"
                        ));
                    }
                }
                Err(e) => fails.push(e),
            }
            // The last cycle was ok and recent: the readiness probe must say so.
            let ready = match v.addr.as_deref() {
                Some(addr) => reqwest::get(format!("http://{addr}/readyz"))
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string()),
                None => Err("no address".into()),
            };
            if ready != Ok(200) {
                fails.push(format!(
                    "tether run's /readyz after quiescing: {ready:?} (want 200)"
                ));
            }
        }
        self.service_stop().await;
        if fails.is_empty() {
            Ok(())
        } else {
            Err(fails.join("\n"))
        }
    }

    async fn service_metrics(&self, addr: Option<&str>) -> Result<BTreeMap<String, f64>, String> {
        let addr = addr.ok_or("tether run logged no address")?;
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .map_err(|e| format!("GET /metrics of tether run: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET /metrics of tether run: {e}"))?;
        super::service_support::parse_prometheus(&text)
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

fn hubspot_props() -> Vec<&'static str> {
    vec![
        "email",
        "firstname",
        "lastname",
        "phone",
        "company",
        "lifecyclestage",
        "tether_gorgias_id",
    ]
}

/// Checks every oracle; returns the failures.
async fn oracles(run: &mut Run, sc: &Scenario, mappings: &MappingSet) -> Vec<String> {
    let mut fails = vec![];
    let mut notes = vec![];
    let region = Region::default();
    // Every live record of each side.
    let contacts = run
        .sb
        .hubspot_client
        .list_all(&hubspot_props())
        .await
        .unwrap();
    let hubspot: Vec<HubspotRecord> = contacts
        .iter()
        .filter(|c| !c.archived)
        .map(|c| tether::cycle::read::hubspot_record(c).unwrap())
        .collect();
    let gorgias: Vec<GorgiasRecord> = run
        .sb
        .gorgias
        .customer_ids()
        .into_iter()
        .filter_map(|id| {
            let fields = run.sb.gorgias.customer(id)?;
            Some(GorgiasRecord {
                id: GorgiasId::new(id).unwrap(),
                updated_at: Utc::now(),
                fields,
            })
        })
        .collect();
    let norm = |s: Option<&str>| s.and_then(|e| Email::parse(e).ok()).map(|e| e.to_string());
    // No duplicates: no two records on one side share a normalised e-mail, and every e-mail
    // is one a person of the scenario has.
    let mut h_by: BTreeMap<String, Vec<&HubspotRecord>> = BTreeMap::new();
    for r in &hubspot {
        if let Some(e) = norm(r.properties.get("email").map(String::as_str)) {
            h_by.entry(e).or_default().push(r);
        }
    }
    let mut g_by: BTreeMap<String, Vec<&GorgiasRecord>> = BTreeMap::new();
    for r in &gorgias {
        if let Some(e) = norm(r.fields["email"].as_str()) {
            g_by.entry(e).or_default().push(r);
        }
    }
    for (e, v) in &h_by {
        if v.len() > 1 {
            fails.push(format!(
                "duplicate in HubSpot: {} contacts with {e}",
                v.len()
            ));
        }
    }
    for (e, v) in &g_by {
        if v.len() > 1 {
            fails.push(format!(
                "duplicate in Gorgias: {} customers with {e}",
                v.len()
            ));
        }
    }
    let people = run
        .writes
        .keys()
        .map(|(p, _)| *p)
        .max()
        .map_or(0, |m| m + 1);
    // Nothing recreated: a deleted or merged-away record has no new copy.
    for p in &run.deleted_g {
        if g_by.contains_key(&email(*p)) {
            fails.push(format!("p{p} was deleted in Gorgias and is there again"));
        }
    }
    for p in &run.merged_away_g {
        if g_by.contains_key(&email(*p)) {
            fails.push(format!(
                "p{p} was merged away in Gorgias and is there again"
            ));
        }
    }
    for p in &run.merged_away_h {
        if h_by.contains_key(&email(*p)) {
            fails.push(format!(
                "p{p} was merged away in HubSpot and a contact has its e-mail"
            ));
        }
    }
    // Agreement and no lost update, person by person.
    for p in 0..people {
        let e = email(p);
        let (h, g) = (
            h_by.get(&e).and_then(|v| v.first()),
            g_by.get(&e).and_then(|v| v.first()),
        );
        let touched = run.touched.contains(&p);
        // A person touched by a merge or a delete may legitimately be held: a HubSpot merge
        // leaves two Gorgias customers for one contact until a reviewer merges them (the
        // orphan is held and proposed, docs/merges.md), so agreement by e-mail is not owed.
        if touched {
            continue;
        }
        let (h, g) = match (h, g) {
            (Some(h), Some(g)) => (*h, *g),
            _ => {
                fails.push(format!(
                    "p{p} is not on both sides (HubSpot {}, Gorgias {})",
                    h.is_some(),
                    g.is_some()
                ));
                continue;
            }
        };
        for f in &mappings.fields {
            let hv = read_hubspot(f, h, region).map(|o| o.map(|c| c.into_owned()));
            let gv = read_gorgias(f, g, region).map(|o| o.map(|c| c.into_owned()));
            if hv != gv {
                fails.push(format!(
                    "p{p} field {}: HubSpot {hv:?} but Gorgias {gv:?}",
                    f.name
                ));
            }
        }
        for field in [Field::Name, Field::Phone, Field::Company] {
            let Some(ws) = run.writes.get(&(p, field)) else {
                continue;
            };
            let Some(f) = mappings.field(field.canonical()) else {
                continue;
            };
            let hubspot_final = read_hubspot(f, h, region)
                .ok()
                .flatten()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let gorgias_final = read_gorgias(f, g, region)
                .ok()
                .flatten()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            for (side, fin) in [("HubSpot", hubspot_final), ("Gorgias", gorgias_final)] {
                if !ws.iter().any(|w| w.value == fin) {
                    fails.push(format!(
                        "p{p}.{} in {side}: final {fin:?} is a value nobody wrote ({:?})",
                        field.canonical(),
                        ws.iter().map(|w| &w.value).collect::<Vec<_>>()
                    ));
                    continue;
                }
                // The policy (newest): the last write wins unless the other side wrote the
                // same field in the same round (a real conflict: either is acceptable).
                let Some(last) = ws.last() else { continue };
                let rivals: Vec<&Write> = ws
                    .iter()
                    .filter(|w| w.round == last.round && w.side != last.side)
                    .collect();
                // A cycle in flight during the last write may have read the record before it
                // and then written the other side's latest earlier value over it.
                let raced_by = ws[..ws.len() - 1]
                    .iter()
                    .rev()
                    .find(|w| w.side != last.side)
                    .filter(|_| last.racing);
                if fin != last.value && !rivals.iter().any(|w| w.value == fin) {
                    if raced_by.is_some_and(|w| w.value == fin) {
                        notes.push(format!(
                            "  note: p{p}.{} in {side}: the last write {:?} raced a cycle and ended as the earlier {fin:?} (accepted, docs/chaos.md \"Limits\")",
                            field.canonical(),
                            last.value
                        ));
                        continue;
                    }
                    fails.push(format!(
                        "p{p}.{} in {side}: lost update: final {fin:?}, last write {:?} ({:?}, round {})",
                        field.canonical(),
                        last.value,
                        last.side,
                        last.round
                    ));
                }
            }
        }
        if let Some(f) = run.foreign.get(&p) {
            let now = g.fields["data"]["shop"]["order"].as_str();
            let raced = f.racing && now == f.before.as_deref();
            if now != Some(f.value.as_str()) && raced {
                notes.push(format!(
                    "  note: p{p}: the foreign data.shop.order {:?} raced a cycle and ended as the earlier {now:?} (accepted, docs/chaos.md \"Limits\")",
                    f.value
                ));
            } else if now != Some(f.value.as_str()) {
                fails.push(format!(
                    "p{p}: the foreign integration's data.shop.order {:?} was overwritten: {}",
                    f.value, g.fields["data"]
                ));
            }
        }
    }
    // Store: outbox empty, every tether-marked record has an audited write.
    let settings = tether::config::StoreSettings {
        url: run
            .env
            .iter()
            .find(|(k, _)| k == "TETHER__STORE__URL")
            .map(|(_, v)| v.clone())
            .unwrap()
            .parse()
            .unwrap(),
        busy_timeout_ms: 5000,
    };
    let store = Store::open(&settings).await.unwrap();
    let pending = store.pending_writes(1000).await.unwrap();
    if !pending.is_empty() {
        fails.push(format!(
            "outbox not empty: {} pending writes",
            pending.len()
        ));
    }
    // Every record tether wrote (it carries tether's marks) is named by an audited
    // `write.done`: as its subject (updates) or as the id its create answered.
    let mut audited: BTreeSet<(String, String)> = BTreeSet::new();
    for a in store.recent_audit(100_000).await.unwrap() {
        if a.action != "write.done" {
            continue;
        }
        for s in &a.subjects {
            audited.insert((s.system().as_str().to_string(), s.id_string()));
        }
        let system = a.detail["system"].as_str().unwrap_or_default().to_string();
        let mut ids = vec![];
        collect_ids(&a.detail["result"], &mut ids);
        for id in ids {
            audited.insert((system.clone(), id));
        }
    }
    let h_sys = RecordRef::Hubspot(HubspotId::new("1").unwrap())
        .system()
        .as_str()
        .to_string();
    let g_sys = RecordRef::Gorgias(GorgiasId::new(1).unwrap())
        .system()
        .as_str()
        .to_string();
    for r in &hubspot {
        if r.properties
            .get("tether_gorgias_id")
            .is_some_and(|v| !v.is_empty())
            && !run.survivors_h.contains(r.id.as_str())
            && !audited.contains(&(h_sys.clone(), r.id.as_str().to_string()))
        {
            fails.push(format!(
                "HubSpot {} was written by tether but no write.done names it",
                r.id.as_str()
            ));
        }
    }
    for r in &gorgias {
        if r.fields["external_id"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
            && !audited.contains(&(g_sys.clone(), r.id.get().to_string()))
        {
            fails.push(format!(
                "Gorgias {} was written by tether but no write.done names it",
                r.id.get()
            ));
        }
    }
    store.close().await;
    let _ = sc;
    run.trace.extend(notes);
    fails
}

/// Every value under an `id` key, anywhere in `v`.
fn collect_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("id", Value::String(s)) => out.push(s.clone()),
                    ("id", Value::Number(n)) => out.push(n.to_string()),
                    _ => collect_ids(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ids(x, out)),
        _ => {}
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
