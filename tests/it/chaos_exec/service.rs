//! The chaos executor's `tether run` side: the service process and what its log says,
//! starting, watching, killing and stopping it, and quiescing through it (its `/metrics`).
//! Part of `chaos_exec` (its `Run`); must never judge the outcome (the oracles do).

use super::*;

/// A `tether run` process: its stderr goes to `log` (JSON lines).
pub(super) struct Service {
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

impl Service {
    /// Its log file.
    pub(super) fn log(&self) -> &Path {
        &self.log
    }

    /// Which start of the run it is.
    pub(super) fn n(&self) -> usize {
        self.n
    }

    /// Sends it a signal (`STOP`, `CONT`, …) with `kill`; whether that worked.
    pub(super) fn signal(&self, sig: &str) -> bool {
        Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// What a service's log says so far.
#[derive(Debug, Default)]
pub(super) struct LogView {
    /// "cycle starting" lines (full and targeted).
    starts: usize,
    /// "cycle finished" lines (full and targeted).
    finished: usize,
    /// The outcome of each finished full cycle, in order.
    pub(super) full_outcomes: Vec<String>,
    /// The HTTP address, once it serves.
    pub(super) addr: Option<String>,
    /// How long each finished cycle took, in seconds.
    secs: Vec<f64>,
    panicked: bool,
}

pub(super) fn read_log(path: &Path) -> (String, LogView) {
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
        } else if msg.starts_with("listening on ") {
            v.addr = j["addr"].as_str().map(str::to_string);
        }
    }
    (text, v)
}

pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Run {
    /// Starts `tether run` and waits until it serves (store open, writer guard taken).
    pub(super) async fn service_start(&mut self, grace_s: u64) {
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
    pub(super) fn service_alive(&mut self) -> bool {
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

    pub(super) fn check_log(&mut self, svc: &Service) {
        let (text, v) = read_log(&svc.log);
        if v.panicked {
            self.panics
                .push(format!("tether run #{}: {}", svc.n, tail(&text, 40)));
        }
    }

    /// `(cycles started, a cycle in flight)` of the running service, if one is up.
    pub(super) fn service_cycles(&self) -> Option<(usize, bool)> {
        let svc = self.service.as_ref()?;
        let (_, v) = read_log(&svc.log);
        Some((v.starts, v.starts > v.finished))
    }

    /// Runs `write` and says whether a cycle of `tether run` was (or started) in flight
    /// meanwhile.
    pub(super) fn racing<T>(&mut self, write: impl FnOnce(&mut Self) -> T) -> (T, bool) {
        let before = self.service_cycles();
        let out = write(self);
        let after = self.service_cycles();
        let racing = match (before, after) {
            (Some((s0, busy)), Some((s1, _))) => busy || s1 > s0,
            _ => false,
        };
        (out, racing)
    }

    pub(super) async fn service_kill(
        &mut self,
        after_ms: u64,
        in_cycle_ms: Option<u64>,
        restart: bool,
    ) -> bool {
        if !self.service_alive() {
            return false;
        }
        // When the kill comes is the scenario's chaos (seeded): this sleep stays.
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
    pub(super) async fn wait_into_cycle(&self, ms: u64) {
        let started = self.service_cycles().map_or(0, |c| c.0);
        let t0 = Instant::now();
        while self.service_cycles().is_some_and(|c| c.0 == started)
            && t0.elapsed() < Duration::from_secs(3)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // How far into the cycle is the scenario's chaos (seeded): this sleep stays.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// SIGTERM; `tether run` must exit 0 (within its grace and a margin).
    pub(super) async fn service_stop(&mut self) -> bool {
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

    /// Clears faults and lets `tether run` cycle until a full cycle ends `ok` having written
    /// nothing; checks its `/metrics` say the outbox is empty; stops it with SIGTERM.
    pub(super) async fn quiesce_service(&mut self, limit: Duration) -> Result<(), String> {
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

    pub(super) async fn service_metrics(
        &self,
        addr: Option<&str>,
    ) -> Result<BTreeMap<String, f64>, String> {
        let addr = addr.ok_or("tether run logged no address")?;
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .map_err(|e| format!("GET /metrics of tether run: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET /metrics of tether run: {e}"))?;
        super::super::service_support::parse_prometheus(&text)
    }
}
