//! Injected faults of the sandbox (5xx, 423, latency, timeouts, malformed bodies, given
//! bodies, 429 bursts), armed through the control API and consumed by matching calls. Must never affect calls
//! whose path does not match the fault's filter.

use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `status` (5xx, 423, ...) without doing the work.
    Status,
    /// Wait `millis`, then serve normally.
    Latency,
    /// Wait `millis`, then answer 504 without doing the work (the client should time out first).
    Timeout,
    /// Answer 200 with a body that is not JSON, without doing the work.
    Malformed,
    /// Answer `status` (default 200) with the fault's `body` verbatim as JSON, without doing
    /// the work: a hostile answer (a record missing fields, a wrong id, an error message).
    Body,
    /// Answer a `TEN_SECONDLY_ROLLING` 429.
    RateLimit,
}

/// One armed fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// HTTP status for [`FaultKind::Status`] (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// Delay for latency/timeout (real milliseconds, before `time_scale`).
    #[serde(default)]
    pub millis: Option<u64>,
    /// How many matching calls it hits.
    #[serde(default = "one")]
    pub times: u32,
    /// Only calls whose path contains this (e.g. `batch/create`).
    #[serde(default)]
    pub path: Option<String>,
    /// The body of a [`FaultKind::Body`] answer.
    #[serde(default)]
    pub body: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `times` calls answer `status`.
    pub fn status(status: u16, times: u32) -> Self {
        Self {
            kind: FaultKind::Status,
            status: Some(status),
            millis: None,
            times,
            path: None,
            body: None,
        }
    }

    /// `times` calls answered `status` with `body` verbatim (see [`FaultKind::Body`]).
    pub fn body(status: u16, body: impl Into<String>, times: u32) -> Self {
        Self {
            kind: FaultKind::Body,
            status: Some(status),
            millis: None,
            times,
            path: None,
            body: Some(body.into()),
        }
    }

    /// `times` calls of `kind`.
    pub fn of(kind: FaultKind, times: u32) -> Self {
        Self {
            kind,
            status: None,
            millis: None,
            times,
            path: None,
            body: None,
        }
    }

    /// Restricts to paths containing `p`.
    pub fn on_path(mut self, p: &str) -> Self {
        self.path = Some(p.to_string());
        self
    }

    /// Sets the delay.
    pub fn millis(mut self, ms: u64) -> Self {
        self.millis = Some(ms);
        self
    }
}

/// Takes the first armed fault matching `path`, consuming one of its uses.
pub fn take(faults: &mut Vec<Fault>, path: &str) -> Option<Fault> {
    let idx = faults
        .iter()
        .position(|f| f.times > 0 && f.path.as_deref().is_none_or(|p| path.contains(p)))?;
    let f = faults.get_mut(idx)?;
    f.times -= 1;
    let out = f.clone();
    if f.times == 0 {
        faults.remove(idx);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_paths_and_run_out() {
        let mut f = vec![Fault::status(503, 2).on_path("batch")];
        assert!(take(&mut f, "/crm/v3/objects/contacts/search").is_none());
        assert!(take(&mut f, "/crm/v3/objects/contacts/batch/read").is_some());
        assert!(take(&mut f, "/crm/v3/objects/contacts/batch/read").is_some());
        assert!(take(&mut f, "/crm/v3/objects/contacts/batch/read").is_none());
        assert!(f.is_empty());
    }
}
