//! Prometheus metrics (OpenMetrics text, `prometheus-client`): cycles and their duration,
//! records read, writes by system and outcome, conflicts, proposals, API calls and 429s by
//! system and endpoint, outbox/quarantine sizes, last success time, webhook deliveries.
//!
//! Owns the registry and the names. Cycle figures are added when a cycle ends; gauges and
//! connector counters are refreshed from their sources when `/metrics` is scraped. Must
//! never carry customer data in a label (systems, outcomes and endpoint names only).

use super::CycleSummary;
use crate::connectors::gorgias::GorgiasClient;
use crate::connectors::hubspot::HubspotClient;
use crate::store::Counts;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The content type `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One connector counter read at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSample {
    pub system: &'static str,
    pub endpoint: String,
    pub calls: u64,
}

/// Connector totals read at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiSnapshot {
    pub calls: Vec<ApiSample>,
    /// (system, 429s received).
    pub rate_limited: Vec<(&'static str, u64)>,
    /// HubSpot `warnings[]` on 2xx answers, by category.
    pub hubspot_warnings: Vec<(String, u64)>,
    /// Gorgias card requests by outcome (`service::card`).
    pub card_requests: Vec<(&'static str, u64)>,
    /// Card cache (hits, misses), when the card is served.
    pub card_cache: Option<(u64, u64)>,
}

/// The HubSpot connector's counters (it counts search apart from all other calls).
pub fn hubspot_snapshot(client: &HubspotClient) -> ApiSnapshot {
    let c = client.counters();
    ApiSnapshot {
        calls: vec![
            ApiSample {
                system: "hubspot",
                endpoint: "search".into(),
                calls: c.search_calls,
            },
            ApiSample {
                system: "hubspot",
                endpoint: "other".into(),
                calls: c.calls.saturating_sub(c.search_calls),
            },
        ],
        rate_limited: vec![("hubspot", c.rate_limited)],
        hubspot_warnings: client.warnings().into_iter().collect(),
        ..ApiSnapshot::default()
    }
}

/// The Gorgias connector's counters, per operation.
pub fn gorgias_snapshot(client: &GorgiasClient) -> ApiSnapshot {
    let m = client.metrics();
    ApiSnapshot {
        calls: m
            .calls
            .iter()
            .map(|(op, n)| ApiSample {
                system: "gorgias",
                endpoint: (*op).to_owned(),
                calls: *n,
            })
            .collect(),
        rate_limited: vec![("gorgias", m.rate_limited)],
        ..ApiSnapshot::default()
    }
}

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    cycles: Family<Labels, Counter>,
    cycle_duration: Histogram,
    records_read: Family<Labels, Counter>,
    writes: Family<Labels, Counter>,
    conflicts: Counter,
    proposals_created: Counter,
    proposals_pending: Gauge,
    api_calls: Family<Labels, Counter>,
    rate_limited: Family<Labels, Counter>,
    outbox_pending: Gauge,
    outbox_failed: Gauge,
    quarantined: Gauge,
    unsettled: Family<Labels, Gauge>,
    links: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    webhook_requests: Family<Labels, Counter>,
    webhook_events: Family<Labels, Counter>,
    hubspot_warnings: Family<Labels, Counter>,
    card_requests: Family<Labels, Counter>,
    card_cache: Family<Labels, Counter>,
    lease_role: Gauge,
    lease_epoch: Gauge,
    lease_renewals: Counter,
    lease_lost: Counter,
}

/// The writer lease as `/metrics` shows it (read from [`crate::store::Lease`] at scrape time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseSnapshot {
    pub leader: bool,
    /// The epoch held (0: none).
    pub epoch: i64,
    pub renewals: u64,
    pub lost: u64,
}

impl LeaseSnapshot {
    /// The lease's figures; `None` (a SQLite store, one writer by its guard): always leader.
    pub fn of(lease: Option<&crate::store::Lease>) -> LeaseSnapshot {
        match lease {
            None => LeaseSnapshot {
                leader: true,
                ..LeaseSnapshot::default()
            },
            Some(l) => LeaseSnapshot {
                leader: l.role() == crate::store::Role::Leader,
                epoch: l.epoch().unwrap_or(0),
                renewals: l.renewals_total(),
                lost: l.lost_total(),
            },
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under the `tether_` prefix.
    /// Long (about 120 lines): a flat list of registrations, one statement per metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("tether");
        let m = Self {
            registry: Registry::default(),
            cycles: Family::default(),
            cycle_duration: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            records_read: Family::default(),
            writes: Family::default(),
            conflicts: Counter::default(),
            proposals_created: Counter::default(),
            proposals_pending: Gauge::default(),
            api_calls: Family::default(),
            rate_limited: Family::default(),
            outbox_pending: Gauge::default(),
            outbox_failed: Gauge::default(),
            quarantined: Gauge::default(),
            unsettled: Family::default(),
            links: Gauge::default(),
            last_success: Gauge::default(),
            webhook_requests: Family::default(),
            webhook_events: Family::default(),
            hubspot_warnings: Family::default(),
            card_requests: Family::default(),
            card_cache: Family::default(),
            lease_role: Gauge::default(),
            lease_epoch: Gauge::default(),
            lease_renewals: Counter::default(),
            lease_lost: Counter::default(),
        };
        r.register(
            "cycles",
            "Sync cycles finished, by kind (full, targeted) and outcome",
            m.cycles.clone(),
        );
        r.register(
            "cycle_duration_seconds",
            "Duration of sync cycles",
            m.cycle_duration.clone(),
        );
        r.register(
            "records_read",
            "Records read from each system",
            m.records_read.clone(),
        );
        r.register(
            "writes",
            "Writes sent, by system and outcome",
            m.writes.clone(),
        );
        r.register("conflicts", "Field conflicts resolved", m.conflicts.clone());
        r.register(
            "proposals_created",
            "Merge proposals created",
            m.proposals_created.clone(),
        );
        r.register(
            "proposals_pending",
            "Merge proposals waiting for review",
            m.proposals_pending.clone(),
        );
        r.register(
            "api_calls",
            "API calls made, by system and endpoint (retries included)",
            m.api_calls.clone(),
        );
        r.register(
            "api_rate_limited",
            "429 answers received, by system",
            m.rate_limited.clone(),
        );
        r.register(
            "outbox_pending",
            "Writes queued in the outbox",
            m.outbox_pending.clone(),
        );
        r.register(
            "outbox_failed",
            "Writes that failed for good",
            m.outbox_failed.clone(),
        );
        r.register(
            "quarantine_records",
            "Records the sync leaves alone",
            m.quarantined.clone(),
        );
        r.register(
            "unsettled_records",
            "Records still owed a write or left out, by kind (refused, dismissed, quarantined)",
            m.unsettled.clone(),
        );
        r.register("links", "Linked record pairs", m.links.clone());
        r.register(
            "last_success_timestamp_seconds",
            "Unix time of the last cycle that ended ok or partial",
            m.last_success.clone(),
        );
        r.register(
            "card_requests",
            "Gorgias sidebar card requests, by outcome",
            m.card_requests.clone(),
        );
        r.register(
            "card_cache_lookups",
            "Card HubSpot-context cache lookups, by result (hit, miss)",
            m.card_cache.clone(),
        );
        r.register(
            "webhook_requests",
            "HubSpot webhook requests, by result",
            m.webhook_requests.clone(),
        );
        r.register(
            "webhook_events",
            "HubSpot webhook events, by result (fresh, duplicate)",
            m.webhook_events.clone(),
        );
        r.register(
            "hubspot_warnings",
            "HubSpot warnings[] on successful answers, by category (never a failure)",
            m.hubspot_warnings.clone(),
        );
        r.register(
            "lease_role",
            "1 while this process leads (holds the store's writer lease), 0 while it stands by",
            m.lease_role.clone(),
        );
        r.register(
            "lease_epoch",
            "The writer lease's epoch this process holds (0: none; PostgreSQL stores)",
            m.lease_epoch.clone(),
        );
        r.register(
            "lease_renewals",
            "Renewals of the writer lease by this process",
            m.lease_renewals.clone(),
        );
        r.register(
            "lease_lost",
            "Times this process lost the writer lease to another one",
            m.lease_lost.clone(),
        );
        Self { registry: r, ..m }
    }

    /// Adds a finished cycle's figures.
    pub fn observe_cycle(&self, kind: &str, s: &CycleSummary, elapsed: Duration) {
        self.cycles
            .get_or_create(&labels(&[("kind", kind), ("outcome", s.outcome.as_str())]))
            .inc();
        self.cycle_duration.observe(elapsed.as_secs_f64());
        for (name, n) in &s.counts {
            let parts: Vec<&str> = name.split('.').collect();
            match parts.as_slice() {
                ["read", system] => {
                    self.records_read
                        .get_or_create(&labels(&[("system", system)]))
                        .inc_by(*n);
                }
                ["write", system, outcome] => {
                    self.writes
                        .get_or_create(&labels(&[("system", system), ("outcome", outcome)]))
                        .inc_by(*n);
                }
                ["conflicts"] => {
                    self.conflicts.inc_by(*n);
                }
                ["proposals"] => {
                    self.proposals_created.inc_by(*n);
                }
                _ => {}
            }
        }
        if matches!(
            s.outcome,
            crate::store::CycleOutcome::Ok | crate::store::CycleOutcome::Partial
        ) {
            let now = chrono::Utc::now();
            self.last_success
                .set(now.timestamp() as f64 + f64::from(now.timestamp_subsec_millis()) / 1e3);
        }
    }

    /// Sets the store gauges.
    pub fn set_store_counts(&self, c: &Counts) {
        let g = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.outbox_pending.set(g(c.outbox_pending));
        self.outbox_failed.set(g(c.outbox_failed));
        self.quarantined.set(g(c.quarantine));
        for (kind, n) in [
            ("refused", c.unsettled),
            ("dismissed", c.unsettled_dismissed),
            ("quarantined", c.quarantine),
        ] {
            self.unsettled
                .get_or_create(&labels(&[("kind", kind)]))
                .set(g(n));
        }
        self.links.set(g(c.links));
        self.proposals_pending.set(g(c.pending_proposals));
    }

    /// Copies connector totals (they only grow) into the API counters.
    pub fn set_api(&self, snap: &ApiSnapshot) {
        for s in &snap.calls {
            self.api_calls
                .get_or_create(&labels(&[("system", s.system), ("endpoint", &s.endpoint)]))
                .inner()
                .store(s.calls, Ordering::Relaxed);
        }
        for (system, n) in &snap.rate_limited {
            self.rate_limited
                .get_or_create(&labels(&[("system", system)]))
                .inner()
                .store(*n, Ordering::Relaxed);
        }
        for (category, n) in &snap.hubspot_warnings {
            self.hubspot_warnings
                .get_or_create(&labels(&[("category", category)]))
                .inner()
                .store(*n, Ordering::Relaxed);
        }
        for (outcome, n) in &snap.card_requests {
            self.card_requests
                .get_or_create(&labels(&[("outcome", outcome)]))
                .inner()
                .store(*n, Ordering::Relaxed);
        }
        if let Some((hits, misses)) = snap.card_cache {
            for (result, n) in [("hit", hits), ("miss", misses)] {
                self.card_cache
                    .get_or_create(&labels(&[("result", result)]))
                    .inner()
                    .store(n, Ordering::Relaxed);
            }
        }
    }

    /// Sets the lease figures.
    pub fn set_lease(&self, l: &LeaseSnapshot) {
        self.lease_role.set(i64::from(l.leader));
        self.lease_epoch.set(l.epoch);
        self.lease_renewals
            .inner()
            .store(l.renewals, Ordering::Relaxed);
        self.lease_lost.inner().store(l.lost, Ordering::Relaxed);
    }

    /// Counts a webhook request by result (`accepted`, `unauthorized`, `bad_request`).
    pub fn webhook_request(&self, result: &str) {
        self.webhook_requests
            .get_or_create(&labels(&[("result", result)]))
            .inc();
    }

    /// Counts webhook events, fresh and duplicate.
    pub fn webhook_events(&self, fresh: u64, duplicate: u64) {
        self.webhook_events
            .get_or_create(&labels(&[("result", "fresh")]))
            .inc_by(fresh);
        self.webhook_events
            .get_or_create(&labels(&[("result", "duplicate")]))
            .inc_by(duplicate);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CycleOutcome;

    fn value_of(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn cycles_writes_and_gauges_show_in_the_text() {
        let m = Metrics::new();
        let mut counts = std::collections::BTreeMap::new();
        counts.insert("read.hubspot".to_string(), 7);
        counts.insert("write.gorgias.ok".to_string(), 3);
        counts.insert("conflicts".to_string(), 2);
        counts.insert("unrelated".to_string(), 9);
        let s = CycleSummary {
            outcome: CycleOutcome::Ok,
            counts,
            error: None,
        };
        m.observe_cycle("full", &s, Duration::from_millis(120));
        m.observe_cycle("full", &s, Duration::from_millis(80));
        m.set_store_counts(&Counts {
            outbox_pending: 4,
            quarantine: 1,
            unsettled: 3,
            ..Counts::default()
        });
        m.set_api(&ApiSnapshot {
            calls: vec![ApiSample {
                system: "gorgias",
                endpoint: "list_customers".into(),
                calls: 12,
            }],
            rate_limited: vec![("hubspot", 2)],
            hubspot_warnings: vec![("PROPERTY_VALUE_NORMALIZED".into(), 3)],
            card_requests: vec![("linked", 3)],
            card_cache: Some((2, 1)),
        });
        let text = m.encode();
        assert_eq!(
            value_of(
                &text,
                "tether_hubspot_warnings_total{category=\"PROPERTY_VALUE_NORMALIZED\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            value_of(&text, "tether_card_requests_total{outcome=\"linked\"}"),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            value_of(&text, "tether_card_cache_lookups_total{result=\"hit\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            value_of(&text, "tether_cycles_total{kind=\"full\",outcome=\"ok\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            value_of(&text, "tether_records_read_total{system=\"hubspot\"}"),
            Some(14.0)
        );
        assert_eq!(
            value_of(
                &text,
                "tether_writes_total{system=\"gorgias\",outcome=\"ok\"}"
            ),
            Some(6.0)
        );
        assert_eq!(value_of(&text, "tether_conflicts_total"), Some(4.0));
        assert_eq!(
            value_of(&text, "tether_cycle_duration_seconds_count"),
            Some(2.0)
        );
        assert_eq!(value_of(&text, "tether_outbox_pending"), Some(4.0));
        assert_eq!(value_of(&text, "tether_quarantine_records"), Some(1.0));
        assert_eq!(
            value_of(&text, "tether_unsettled_records{kind=\"refused\"}"),
            Some(3.0)
        );
        assert_eq!(
            value_of(&text, "tether_unsettled_records{kind=\"quarantined\"}"),
            Some(1.0)
        );
        assert_eq!(
            value_of(
                &text,
                "tether_api_calls_total{system=\"gorgias\",endpoint=\"list_customers\"}"
            ),
            Some(12.0)
        );
        assert_eq!(
            value_of(&text, "tether_api_rate_limited_total{system=\"hubspot\"}"),
            Some(2.0)
        );
        assert!(value_of(&text, "tether_last_success_timestamp_seconds").unwrap() > 1e9);
        // Without a lease (SQLite), the one writer is the leader.
        assert_eq!(value_of(&text, "tether_lease_role"), Some(0.0));
        m.set_lease(&LeaseSnapshot::of(None));
        assert_eq!(value_of(&m.encode(), "tether_lease_role"), Some(1.0));
        m.set_lease(&LeaseSnapshot {
            leader: false,
            epoch: 0,
            renewals: 41,
            lost: 1,
        });
        let text = m.encode();
        assert_eq!(value_of(&text, "tether_lease_role"), Some(0.0));
        assert_eq!(value_of(&text, "tether_lease_epoch"), Some(0.0));
        assert_eq!(value_of(&text, "tether_lease_renewals_total"), Some(41.0));
        assert_eq!(value_of(&text, "tether_lease_lost_total"), Some(1.0));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
