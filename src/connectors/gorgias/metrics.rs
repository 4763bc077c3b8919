//! Call counters for metrics and tests: calls per operation, 429s received, retries, 5xx.
//! Lock-free reads of plain counters; must never hold customer data.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientMetrics {
    /// Operation name (`list_customers`, `get_customer`, `update_customer`, …) → HTTP calls
    /// made, retries included.
    pub calls: BTreeMap<&'static str, u64>,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 5xx (and 408) answers received.
    pub server_errors: u64,
    /// Requests sent again after a 429, a 5xx or a transport failure.
    pub retries: u64,
}

impl ClientMetrics {
    /// Calls made for one operation.
    pub fn calls_to(&self, op: &str) -> u64 {
        self.calls.get(op).copied().unwrap_or(0)
    }

    /// Every call made.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<ClientMetrics>);

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut ClientMetrics)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn count_call(&self, op: &'static str) {
        self.with(|m| *m.calls.entry(op).or_default() += 1);
    }

    pub fn count_rate_limited(&self) {
        self.with(|m| m.rate_limited += 1);
    }

    pub fn count_server_error(&self) {
        self.with(|m| m.server_errors += 1);
    }

    pub fn count_retry(&self) {
        self.with(|m| m.retries += 1);
    }

    pub fn snapshot(&self) -> ClientMetrics {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
