//! Shared set-up of the cycle tests: both sandboxes on loopback (time-scaled limits), the
//! built-in default mappings with their HubSpot property created, and small seeds.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tether::commands::demo::default_mappings;
use tether::cycle::{Cycle, CycleOptions};
use tether::mappings::{MappingSet, parse_str};
use tether::sandbox::Sandboxes;
use tether::store::Store;

pub const SPEED: f64 = 50.0;

/// Both sandboxes, the HubSpot client on the API version `TETHER_IT_HUBSPOT_API_VERSION`
/// names (default `2026-09`): `.ci/run` runs the cycle suites once more on the legacy `v3`.
pub async fn sandboxes() -> Sandboxes {
    let version = match std::env::var("TETHER_IT_HUBSPOT_API_VERSION") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("TETHER_IT_HUBSPOT_API_VERSION: {e}")),
        Err(_) => tether::connectors::hubspot::ApiVersion::default(),
    };
    Sandboxes::start_on(SPEED, version).await.unwrap()
}

pub fn options() -> CycleOptions {
    CycleOptions {
        overlap: Duration::from_secs(30),
        ..CycleOptions::default()
    }
}

pub async fn cycle_with(sb: &Sandboxes, mappings: MappingSet, options: CycleOptions) -> Cycle {
    sb.setup(&mappings).await.unwrap();
    let store = Store::open_in_memory().await.unwrap();
    sb.cycle(Arc::new(store), Arc::new(mappings), options)
}

pub async fn cycle(sb: &Sandboxes) -> Cycle {
    cycle_with(sb, default_mappings().unwrap(), options()).await
}

/// Waits until the HubSpot sandbox's search index shows every write made so far (its lag is
/// 2 s real, 40 ms at SPEED): polled with a deadline, never a fixed sleep.
pub async fn settle(sb: &Sandboxes) {
    super::harness::eventually(Duration::from_secs(5), "the HubSpot search index", || {
        sb.hubspot.search_index_current().then_some(())
    })
    .await;
}

pub fn contact(email: &str, first: &str, last: &str, phone: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("email", email),
        ("firstname", first),
        ("lastname", last),
        ("phone", phone),
    ] {
        if !v.is_empty() {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

pub fn customer(email: &str, name: &str, phone: &str) -> serde_json::Value {
    let mut channels = vec![json!({"type": "email", "address": email, "preferred": true})];
    if !phone.is_empty() {
        channels.push(json!({"type": "phone", "address": phone, "preferred": false}));
    }
    json!({"email": email, "name": name, "channels": channels})
}

/// A mapping file like the default one but with `name` under the `manual` policy.
pub const MANUAL_NAME_TOML: &str = r#"
version = 1
[defaults]
direction = "both"
conflict = "newest"
[records]
require_email = true
create_in_hubspot = true
create_in_gorgias = true
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"
transforms = ["trim", "lowercase"]
[fields.name]
hubspot = ["firstname", "lastname"]
gorgias = "name"
conflict = "manual"
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
"#;

/// A mapping set like the default one but with `name` under the `manual` policy.
pub fn manual_name_mappings() -> MappingSet {
    parse_str("manual.toml", MANUAL_NAME_TOML).unwrap()
}

/// The `tether` binary in `dir`, with `env` set and nothing from the caller's environment
/// that could change its configuration.
pub fn tether(env: &[(String, String)], dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = super::harness::tether_assert();
    c.current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs `tether ARGS` (off the async runtime): its exit code and stdout + stderr.
pub async fn run(
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    args: &[&str],
) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = tether(&env, &dir).args(&args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// The `TETHER__…` variables pointing the binary at both sandboxes, a store file in `dir`
/// and the mapping files in `mappings`.
pub fn cli_env(
    sb: &Sandboxes,
    dir: &std::path::Path,
    mappings: &std::path::Path,
) -> Vec<(String, String)> {
    [
        (
            "TETHER__HUBSPOT__BASE_URL",
            sb.hubspot_running.base_url.clone(),
        ),
        ("TETHER__HUBSPOT__TOKEN", "pat-na1-demo".to_string()),
        (
            "TETHER__GORGIAS__BASE_URL",
            sb.gorgias_running.base_url.clone(),
        ),
        (
            "TETHER__GORGIAS__USERNAME",
            "api@sandbox.gorgias.test".to_string(),
        ),
        ("TETHER__GORGIAS__API_KEY", "sandbox-api-key".to_string()),
        (
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        ),
        ("TETHER__MAPPINGS__DIR", mappings.display().to_string()),
        ("TETHER__SYNC__OVERLAP_SECONDS", "30".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Seeds `n` people on each side: the first `both` share an e-mail (linked by the first
/// sync), the rest exist on one side only (created on the other).
pub fn seed_people(sb: &Sandboxes, n: usize, both: usize) {
    let mut contacts = vec![];
    let mut customers = vec![];
    for i in 0..n {
        let phone = format!("+1415555{:04}", 1000 + i);
        contacts.push(contact(
            &format!("h{i}@shop.test"),
            "Hanna",
            &format!("Contact{i}"),
            &phone,
        ));
        let email = if i < both {
            format!("h{i}@shop.test")
        } else {
            format!("g{i}@shop.test")
        };
        customers.push(customer(&email, &format!("Hanna Contact{i}"), ""));
    }
    sb.hubspot.seed_contacts(contacts);
    sb.gorgias.seed_customers(customers);
}
