//! Shared set-up for the Gorgias tests: a sandbox on loopback with time scaled, and a client
//! pointed at it with the same scale and fast backoff.

use std::net::SocketAddr;
use std::time::Duration;
use tether::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use tether::connectors::retry::Backoff;
use tether::sandbox::Running;
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig};

pub const SCALE: f64 = 20.0;

pub struct Env {
    pub sb: GorgiasSandbox,
    pub running: Running,
    pub client: GorgiasClient,
}

pub fn client_for(cfg: &SandboxConfig, base_url: &str) -> GorgiasClient {
    let mut c = GorgiasConfig::new(base_url, cfg.username.clone(), cfg.api_key.clone());
    c.time_scale = cfg.time_scale;
    c.timeout = Duration::from_secs(5);
    c.backoff = Backoff {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(40),
        max_attempts: 8,
    };
    GorgiasClient::new(c).unwrap()
}

pub async fn start_with(cfg: SandboxConfig) -> Env {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (sb, running) = GorgiasSandbox::start(cfg.clone(), addr).await.unwrap();
    let client = client_for(&cfg, &running.base_url);
    Env {
        sb,
        running,
        client,
    }
}

pub async fn start() -> Env {
    start_with(SandboxConfig {
        time_scale: SCALE,
        ..SandboxConfig::default()
    })
    .await
}

/// A raw HTTP client with the sandbox's Basic credentials, for wire-level checks.
pub fn raw(env: &Env) -> (reqwest::Client, String, String, String) {
    (
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        env.running.base_url.clone(),
        env.sb_username(),
        env.sb_key(),
    )
}

impl Env {
    pub fn sb_username(&self) -> String {
        SandboxConfig::default().username
    }
    pub fn sb_key(&self) -> String {
        SandboxConfig::default().api_key.expose().to_owned()
    }
}

pub fn customer_seed(i: usize) -> serde_json::Value {
    serde_json::json!({
        "name": format!("Customer {i}"),
        "channels": [{"type": "email", "address": format!("c{i}@shop.test"), "preferred": true}],
    })
}

/// Whether a string has the wire datetime form `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub fn is_wire_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 32
        && s.ends_with("+00:00")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[..19]
            .iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
        && b[20..26].iter().all(u8::is_ascii_digit)
}
