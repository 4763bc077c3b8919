//! The sandbox pair: both sandboxes on loopback (port 0, so no port is ever raced for) with
//! connector clients paced for their time-scaled limits, the way `tether demo`, the cycle's
//! integration tests and the API-economy benchmark run them; and the seeding of generated
//! people into them (`tether demo`, `tether sandbox --records`). Must never fake an outcome:
//! the clients talk to the sandboxes over HTTP like to the real services.

use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig, GorgiasError};
use crate::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig, HubspotError};
use crate::connectors::retry::Backoff;
use crate::domain::System;
use crate::generate::GeneratedProfile as Profile;
use crate::sandbox::Running;
use crate::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasSandboxConfig};
use crate::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotSandboxConfig};
use crate::secret::Secret;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why the sandbox pair could not start.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("cannot serve the {0} sandbox on loopback: {1}")]
    Serve(&'static str, std::io::Error),
    #[error("cannot build the HubSpot client for the sandbox: {0}")]
    Hubspot(HubspotError),
    #[error("cannot build the Gorgias client for the sandbox: {0}")]
    Gorgias(GorgiasError),
}

/// Both sandboxes on loopback, with clients paced for their (time-scaled) limits.
#[derive(Debug)]
pub struct Sandboxes {
    pub hubspot: HubspotSandbox,
    pub gorgias: GorgiasSandbox,
    pub hubspot_running: Running,
    pub gorgias_running: Running,
    pub hubspot_client: HubspotClient,
    pub gorgias_client: Arc<GorgiasClient>,
}

impl Sandboxes {
    /// Starts both sandboxes with their real limits running `speed` times faster, the
    /// HubSpot client on the default API version (2026-09).
    pub async fn start(speed: f64) -> Result<Sandboxes, PairError> {
        Self::start_on(speed, ApiVersion::default()).await
    }

    /// As [`Sandboxes::start`], with the HubSpot client on `api_version`.
    pub async fn start_on(speed: f64, api_version: ApiVersion) -> Result<Sandboxes, PairError> {
        let speed = if speed.is_finite() && speed >= 1.0 {
            speed
        } else {
            1.0
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let hcfg = HubspotSandboxConfig {
            token: Secret::new("pat-na1-demo"),
            time_scale: 1.0 / speed,
            ..HubspotSandboxConfig::default()
        };
        let (hubspot, hubspot_running) = HubspotSandbox::start(hcfg.clone(), addr)
            .await
            .map_err(|e| PairError::Serve("HubSpot", e))?;
        let gcfg = GorgiasSandboxConfig {
            time_scale: speed,
            ..GorgiasSandboxConfig::default()
        };
        let (gorgias, gorgias_running) = GorgiasSandbox::start(gcfg.clone(), addr)
            .await
            .map_err(|e| PairError::Serve("Gorgias", e))?;
        let fast = Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(100),
            max_attempts: 8,
        };
        let hubspot_client = HubspotClient::new(HubspotConfig {
            base_url: hubspot_running.base_url.clone(),
            token: hcfg.token.clone(),
            api_version,
            burst_limit: hcfg.burst_limit,
            burst_window: hcfg.scaled(hcfg.burst_window),
            search_per_second: hcfg.search_limit,
            search_window: hcfg.scaled(hcfg.search_window),
            request_timeout: Duration::from_secs(10),
            backoff: fast,
            locked_wait: Duration::from_millis(50),
            max_rate_limit_retries: 20,
            feed_overlap: Duration::from_secs(1),
            search_page_size: 200,
        })
        .map_err(PairError::Hubspot)?;
        let mut gc = GorgiasConfig::new(
            gorgias_running.base_url.clone(),
            gcfg.username.clone(),
            gcfg.api_key.clone(),
        );
        gc.time_scale = gcfg.time_scale;
        gc.timeout = Duration::from_secs(10);
        gc.backoff = fast;
        let gorgias_client = Arc::new(GorgiasClient::new(gc).map_err(PairError::Gorgias)?);
        Ok(Sandboxes {
            hubspot,
            gorgias,
            hubspot_running,
            gorgias_running,
            hubspot_client,
            gorgias_client,
        })
    }

    /// Seeds generated people into the system each belongs to. Returns (contacts, customers).
    pub fn seed(&self, people: &[Profile]) -> (usize, usize) {
        seed_sandboxes(&self.hubspot, &self.gorgias, people)
    }

    /// Writes issued so far: HubSpot batch create/update/upsert calls and Gorgias
    /// create/update/data calls, as the sandboxes counted them.
    pub fn write_calls(&self) -> (u64, u64) {
        let h = self.hubspot.counters();
        let g = self.gorgias.counters();
        let h_writes = h
            .by_endpoint
            .iter()
            .filter(|(k, _)| {
                k.contains("batch/create")
                    || k.contains("batch/update")
                    || k.contains("batch/upsert")
                    || (k.starts_with("PATCH") && k.contains("contacts"))
                    || (k.starts_with("POST ")
                        && k.contains("/objects/")
                        && k.trim_end().ends_with("/contacts"))
            })
            .map(|(_, v)| *v)
            .sum();
        let g_writes = g
            .calls
            .iter()
            .filter(|(k, _)| k.starts_with("PUT ") || k.as_str() == "POST /api/customers")
            .map(|(_, v)| *v)
            .sum();
        (h_writes, g_writes)
    }

    /// All API calls so far (HubSpot, Gorgias), as the sandboxes counted them.
    pub fn total_calls(&self) -> (u64, u64) {
        (
            self.hubspot.counters().total,
            self.gorgias.counters().total_calls(),
        )
    }
}

fn stage_for(i: usize) -> &'static str {
    [
        "subscriber",
        "lead",
        "customer",
        "opportunity",
        "lead",
        "customer",
    ][i % 6]
}

/// Seeds generated people into the sandboxes of their `source` system, with the Gorgias
/// customers' support history; returns how many contacts and customers were created. Used by
/// `tether demo` and `tether sandbox --records`.
pub fn seed_sandboxes(
    hubspot: &HubspotSandbox,
    gorgias: &GorgiasSandbox,
    people: &[Profile],
) -> (usize, usize) {
    let mut h_rows = vec![];
    let mut g_rows = vec![];
    for (i, p) in people.iter().enumerate() {
        match p.source {
            Some(System::Hubspot) => h_rows.push(hubspot_row(p, i)),
            Some(System::Gorgias) => g_rows.push(gorgias_row(p)),
            None => {}
        }
    }
    // A row whose e-mail is already taken answers with the existing record's id: count
    // distinct ids, not rows.
    let h: HashSet<String> = hubspot.seed_contacts(h_rows).into_iter().collect();
    let g: HashSet<i64> = gorgias.seed_customers(g_rows).into_iter().collect();
    // Support history (issue 14): tickets and satisfaction surveys of the customers.
    let mut ids: Vec<i64> = g.iter().copied().collect();
    ids.sort_unstable();
    gorgias.seed_support_history(&ids, ids.len() as u64);
    (h.len(), g.len())
}

fn hubspot_row(p: &Profile, i: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("email", p.email.as_str()),
        ("firstname", p.first_name.as_str()),
        ("lastname", p.last_name.as_str()),
        ("phone", p.phone.as_str()),
        ("city", p.city.as_str()),
    ] {
        if !v.trim().is_empty() {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m.insert("lifecyclestage".into(), stage_for(i).into());
    m
}

fn gorgias_row(p: &Profile) -> Value {
    let name = format!("{} {}", p.first_name, p.last_name)
        .trim()
        .to_string();
    let mut channels = vec![];
    if !p.email.trim().is_empty() {
        channels.push(json!({"type": "email", "address": p.email, "preferred": true}));
    }
    if !p.phone.trim().is_empty() {
        channels.push(json!({"type": "phone", "address": p.phone, "preferred": false}));
    }
    let mut c = json!({"name": name, "channels": channels});
    if !p.email.trim().is_empty() {
        c["email"] = json!(p.email);
    }
    c
}
