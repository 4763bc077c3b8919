//! Injected faults: a queue of one-shot misbehaviours (a status, a 429 storm, latency) that
//! the gate applies to matching API requests. Owns matching and counting down; must never
//! change the account's data itself.

use serde::{Deserialize, Serialize};

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and an error body. With `after_apply` the request is processed
    /// first (the write happens) and the answer is replaced.
    Status {
        status: u16,
        #[serde(default)]
        after_apply: bool,
    },
    /// Answer 429 with `Retry-after: retry_after` (sandbox seconds).
    RateLimit { retry_after: u64 },
    /// Hold the request this many real milliseconds before processing it.
    Delay { ms: u64 },
    /// Answer with `status` and this raw `body` as JSON, not processed: a corrupt answer
    /// about one record (truncated JSON, wrong types, nulls, a wrong id) when restricted to
    /// its path.
    Body { status: u16, body: String },
}

/// A fault applied to the next `times` requests that match `method` and `path_prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
    /// `GET`, `PUT`, … (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// e.g. `/api/customers` (any API path when absent).
    #[serde(default)]
    pub path_prefix: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `times` requests answered with `status`, not processed.
    pub fn status(status: u16, times: u32) -> Self {
        Self {
            kind: FaultKind::Status {
                status,
                after_apply: false,
            },
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// `times` requests answered 429.
    pub fn rate_limit(retry_after: u64, times: u32) -> Self {
        Self {
            kind: FaultKind::RateLimit { retry_after },
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// `times` requests answered 200 with `body` verbatim (see [`FaultKind::Body`]).
    pub fn body(body: impl Into<String>, times: u32) -> Self {
        Self {
            kind: FaultKind::Body {
                status: 200,
                body: body.into(),
            },
            times,
            method: None,
            path_prefix: None,
        }
    }

    /// Restricts the fault to one method.
    pub fn on_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// The queue of pending faults.
#[derive(Debug, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn push(&mut self, f: Fault) {
        self.0.push(f);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Takes one use of the first fault matching this request.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let f = self.0.iter_mut().find(|f| f.matches(method, path))?;
        f.times -= 1;
        let kind = f.kind.clone();
        self.0.retain(|f| f.times > 0);
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_and_matches() {
        let mut f = Faults::default();
        f.push(
            Fault::status(500, 2)
                .on_method("PUT")
                .on_path("/api/customers"),
        );
        assert_eq!(f.take("GET", "/api/customers"), None);
        assert!(f.take("PUT", "/api/customers/5").is_some());
        assert!(f.take("PUT", "/api/customers/5").is_some());
        assert_eq!(f.take("PUT", "/api/customers/5"), None);
        let parsed: Fault =
            serde_json::from_str(r#"{"kind":"rate_limit","retry_after":2,"times":3}"#).unwrap();
        assert_eq!(parsed, Fault::rate_limit(2, 3));
    }
}
