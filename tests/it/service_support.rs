//! Shared helpers of the service tests: a fake cycle runner that records its calls, a
//! Prometheus/OpenMetrics text checker, and webhook signing.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tether::domain::HubspotId;
use tether::service::{CycleRunner, CycleSummary, RunError};
use tether::store::CycleOutcome;

/// One call to the fake runner.
#[derive(Debug, Clone)]
pub struct Call {
    pub targets: Option<Vec<String>>,
    pub started: Instant,
    pub ended: Option<Instant>,
}

/// A runner that sleeps `delay_ms` per cycle and records what it was asked.
#[derive(Debug, Default)]
pub struct FakeRunner {
    pub delay_ms: AtomicU64,
    pub calls: Mutex<Vec<Call>>,
    running: AtomicUsize,
    pub max_concurrent: AtomicUsize,
}

impl FakeRunner {
    pub fn new(delay: Duration) -> Self {
        let r = Self::default();
        r.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
        r
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl CycleRunner for FakeRunner {
    async fn run(&self, targets: Option<Vec<HubspotId>>) -> Result<CycleSummary, RunError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        let idx = {
            let mut c = self.calls.lock().unwrap();
            c.push(Call {
                targets: targets
                    .as_ref()
                    .map(|t| t.iter().map(|i| i.as_str().to_owned()).collect()),
                started: Instant::now(),
                ended: None,
            });
            c.len() - 1
        };
        // The fake cycle's length is what the scheduler tests are about: this sleep stays.
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
        self.calls.lock().unwrap()[idx].ended = Some(Instant::now());
        self.running.fetch_sub(1, Ordering::SeqCst);
        let mut counts = BTreeMap::new();
        counts.insert("read.hubspot".to_string(), 3);
        counts.insert("write.gorgias.ok".to_string(), 1);
        Ok(CycleSummary {
            outcome: CycleOutcome::Ok,
            counts,
            error: None,
        })
    }
}

/// Checks Prometheus / OpenMetrics text: every sample line is `name{labels} value` with a
/// valid name and a float value, every family has a TYPE, the text ends with `# EOF` when
/// it is OpenMetrics. Returns the samples (series text → value).
pub fn parse_prometheus(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut samples = BTreeMap::new();
    let mut typed: Vec<String> = vec![];
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            return Err(format!("line {}: empty line", i + 1));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match parts.next() {
                Some("TYPE") => {
                    let name = parts.next().ok_or("TYPE without name")?;
                    let kind = parts.next().ok_or("TYPE without kind")?;
                    if !valid_name(name) {
                        return Err(format!("bad metric name {name:?}"));
                    }
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "untyped",
                        "unknown",
                        "info",
                        "stateset",
                        "gaugehistogram",
                    ]
                    .contains(&kind)
                    {
                        return Err(format!("bad type {kind:?}"));
                    }
                    typed.push(name.to_owned());
                }
                Some("HELP") | Some("UNIT") => {}
                Some("EOF") if i + 1 == lines.len() => {}
                other => return Err(format!("line {}: unknown comment {other:?}", i + 1)),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("line {}: no value", i + 1))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("line {}: bad value {v:?}", i + 1))?,
        };
        let name = series.split('{').next().unwrap_or(series);
        if !valid_name(name) {
            return Err(format!("line {}: bad name {name:?}", i + 1));
        }
        let labels = &series[name.len()..];
        let braced = labels.starts_with('{') && labels.ends_with('}');
        if !labels.is_empty() && !braced {
            return Err(format!("line {}: bad labels {labels:?}", i + 1));
        }
        if !typed.iter().any(|t| name.starts_with(t.as_str())) {
            return Err(format!("line {}: sample {name} has no TYPE", i + 1));
        }
        samples.insert(series.to_owned(), value);
    }
    Ok(samples)
}

/// A HubSpot v3 signature, computed here independently of the crate.
pub fn sign(secret: &str, uri: &str, body: &[u8], ts: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(ts.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Waits until `f` holds, up to `limit`; returns how long it took.
pub async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f().then(|| t0.elapsed())
}

#[test]
fn the_checker_refuses_malformed_text() {
    assert!(parse_prometheus("# TYPE a counter\na_total 1\n# EOF").is_ok());
    assert!(parse_prometheus("a_total 1").is_err());
    assert!(parse_prometheus("# TYPE a counter\na_total one").is_err());
    assert!(parse_prometheus("# TYPE a counter\n9a 1").is_err());
    assert!(parse_prometheus("# TYPE a counter\n# EOF\na 1").is_err());
}
