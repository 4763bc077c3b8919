//! Shared setup of the HubSpot integration tests: a sandbox on loopback with time scaled down
//! and a connector pointed at it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tether::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig};
use tether::connectors::retry::Backoff;
use tether::sandbox::Running;
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig};
use tether::secret::Secret;

/// Real-time limits with every window and lag divided by 20.
pub fn fast_sandbox() -> SandboxConfig {
    SandboxConfig {
        token: Secret::new("pat-na1-test"),
        time_scale: 0.05,
        ..SandboxConfig::default()
    }
}

/// A connector matching `cfg`'s scaled limits.
pub fn client_for(cfg: &SandboxConfig, base_url: &str) -> HubspotClient {
    HubspotClient::new(client_config(cfg, base_url)).unwrap()
}

pub fn client_config(cfg: &SandboxConfig, base_url: &str) -> HubspotConfig {
    HubspotConfig {
        base_url: base_url.to_string(),
        token: cfg.token.clone(),
        api_version: ApiVersion::default(),
        burst_limit: cfg.burst_limit,
        burst_window: cfg.scaled(cfg.burst_window),
        search_per_second: cfg.search_limit,
        search_window: cfg.scaled(cfg.search_window),
        request_timeout: Duration::from_secs(10),
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(200),
            max_attempts: 8,
        },
        locked_wait: Duration::from_millis(100),
        max_rate_limit_retries: 20,
        feed_overlap: Duration::from_secs(1),
        search_page_size: 200,
    }
}

pub async fn start(cfg: SandboxConfig) -> (HubspotSandbox, Running, HubspotClient) {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (sb, running) = HubspotSandbox::start(cfg.clone(), addr).await.unwrap();
    let client = client_for(&cfg, &running.base_url);
    (sb, running, client)
}

pub fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn person(i: usize) -> BTreeMap<String, String> {
    props(&[
        ("email", &format!("person{i}@example.com")),
        ("firstname", &format!("First{i}")),
        ("lastname", "Tester"),
    ])
}
