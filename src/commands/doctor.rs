//! `tether doctor`: prints the effective configuration (each key, its value with secrets
//! redacted, and where it came from), then runs checks: the configuration loads, the store
//! opens and migrates, the HubSpot API version (a warning on the legacy `v3`), each system's
//! credentials (HubSpot: one cheap call per scope read, naming a missing scope) and whether
//! HubSpot webhooks can be checked (a warning without `hubspot.client_secret`); extend
//! [`credential_checks`]. Exit code 1 when a check failed, else 0 (warnings included).
//!
//! Must never print a secret: secret keys print only whether they are set.

use super::Global;
use crate::config::{DEFAULTS, GorgiasSettings, HubspotSettings, Loaded, Origin, StoreUrl};
use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use crate::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig, HubspotError};
use crate::secret::REDACTED;
use crate::store::{OpenError, SqliteOpenError};
use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

/// Keys whose values are credentials. Their value is never printed, even partly.
pub const SECRET_KEYS: &[&str] = &[
    "hubspot.token",
    "hubspot.client_secret",
    "gorgias.api_key",
    "server.review_token",
];

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Checked and fine.
    Ok,
    /// Checked and broken: doctor exits 1.
    Failed,
    /// Not checked because what it needs is not configured.
    NotConfigured,
    /// Not checked, for the reason in the detail (e.g. not implemented yet).
    Skipped,
    /// Works today but needs attention (doctor still exits 0).
    Warning,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Failed => "FAILED",
            CheckStatus::NotConfigured => "not configured",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Warning => "WARNING",
        })
    }
}

/// One line of doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    pub fn new(name: impl Into<String>, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }

    /// Whether the check did not fail (skipped and not-configured checks did not fail).
    pub fn ok(&self) -> bool {
        self.status != CheckStatus::Failed
    }
}

pub async fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    print!("{}", render_config(&loaded));
    let mut checks = vec![config_check(&loaded)];
    checks.push(store_check(&loaded).await);
    checks.extend(credential_checks(&loaded).await);
    println!();
    println!("Checks:");
    for c in &checks {
        println!("  [{}] {}: {}", c.status, c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| !c.ok()).count();
    if failed > 0 {
        println!();
        println!("{failed} check(s) failed.");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a value came from, in a few words.
fn origin_label(o: &Origin) -> String {
    match o {
        Origin::Default => "default".into(),
        Origin::File(p) => format!("file {}", p.display()),
        Origin::Env(v) => format!("env {v}"),
    }
}

/// The effective value of a dotted key, as shown: JSON text, or for a secret only
/// `[redacted]` / `(not set)`.
fn shown_value(settings: &serde_json::Value, key: &str) -> String {
    let value = key
        .split('.')
        .try_fold(settings, |node, part| node.get(part));
    if SECRET_KEYS.contains(&key) {
        // Never look at the value beyond whether it is empty: `Secret` serialises as "" or
        // the redaction marker.
        return match value.and_then(|v| v.as_str()) {
            Some("") | None => "(not set)".into(),
            Some(_) => REDACTED.into(),
        };
    }
    match value {
        Some(v) => v.to_string(),
        None => "(unknown)".into(),
    }
}

/// The effective configuration, one key per line, with its origin.
pub fn render_config(loaded: &Loaded) -> String {
    let settings = serde_json::to_value(&loaded.settings).unwrap_or_default();
    let mut out = String::from("Configuration (effective; secrets redacted):\n");
    let width = DEFAULTS.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, _) in DEFAULTS {
        out.push_str(&format!(
            "  {key:<width$} = {}  ({})\n",
            shown_value(&settings, key),
            origin_label(&loaded.origin_of(key))
        ));
    }
    out
}

fn config_check(loaded: &Loaded) -> Check {
    let detail = match &loaded.sources.file {
        Some(p) => format!("loaded from defaults, {} and the environment", p.display()),
        None => "loaded from defaults and the environment (no configuration file)".into(),
    };
    Check::new("configuration", CheckStatus::Ok, detail)
}

/// Opens the store as the writer (creating and migrating it); when another process is the
/// writer, reads it instead.
pub async fn store_check(loaded: &Loaded) -> Check {
    let settings = &loaded.settings.store;
    let name = "store";
    match super::open_store::writer(settings).await {
        Ok(store) => {
            let check = match store.schema_state().await {
                Ok(state) => {
                    let place = match &settings.url {
                        StoreUrl::Sqlite { path, .. } => path.display().to_string(),
                        StoreUrl::Postgres { connection, .. } => format!(
                            "{} (schema {})",
                            settings.url.redacted(),
                            connection.schema()
                        ),
                        StoreUrl::Memory { .. } => {
                            "in memory (nothing persists between runs)".into()
                        }
                    };
                    Check::new(
                        name,
                        CheckStatus::Ok,
                        format!(
                            "{place} opens; migrations applied (schema version {}, {} migration(s))",
                            state.version, state.applied
                        ),
                    )
                }
                Err(e) => Check::new(name, CheckStatus::Failed, e.to_string()),
            };
            store.close().await;
            check
        }
        Err(OpenError::Sqlite(SqliteOpenError::Locked { holder, .. })) => {
            match super::open_store::reader(settings).await {
                Ok(store) => {
                    let version = store.schema_state().await.map(|s| s.version).unwrap_or(0);
                    store.close().await;
                    Check::new(
                        name,
                        CheckStatus::Ok,
                        format!(
                            "in use by the writer pid {} on host {} since {}; read it instead (schema version {version})",
                            holder.pid, holder.host, holder.since
                        ),
                    )
                }
                Err(e) => Check::new(name, CheckStatus::Failed, e.to_string()),
            }
        }
        Err(e) => Check::new(name, CheckStatus::Failed, e.to_string()),
    }
}

/// How long one credential check may take, retries included, before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// The HubSpot API version in use, with a warning for the legacy `v3` (unsupported from
/// September 2027).
pub fn hubspot_version_check(settings: &HubspotSettings) -> Check {
    const NAME: &str = "hubspot api version";
    let v = settings.api_version;
    match v {
        ApiVersion::V2026_09 => Check::new(
            NAME,
            CheckStatus::Ok,
            "2026-09 (current; HubSpot enforces the portal's validation rules on it)",
        ),
        ApiVersion::V2026_03 => Check::new(
            NAME,
            CheckStatus::Ok,
            "2026-03 (supported until about September 2027; 2026-09 is current)",
        ),
        ApiVersion::V3 => Check::new(
            NAME,
            CheckStatus::Warning,
            "v3 is legacy: HubSpot stops supporting the v1-v3 APIs and legacy private apps in \
             September 2027; set hubspot.api_version = \"2026-09\" (TETHER__HUBSPOT__API_VERSION)",
        ),
    }
}

/// What a failed HubSpot credential call means for the user: the missing scope named by a
/// 403, else the error itself (connector errors never carry the credential).
fn hubspot_failure(e: &HubspotError, what: &str) -> String {
    match e.missing_scopes().as_slice() {
        [] => format!("{what}: {e}"),
        scopes => format!(
            "{what}: the credential lacks the scope {} (HubSpot answered 403 MISSING_SCOPES); \
             add it to the Service Key (Development > Keys > Service keys) and try again",
            scopes.join(", ")
        ),
    }
}

/// Proves the HubSpot credential with one cheap call per scope tether reads with: contacts
/// (`GET /crm/objects/{V}/contacts?limit=1`) and property definitions
/// (`GET /crm/properties/{V}/contacts/email`). Write scopes have no harmless probe; a
/// missing one shows as a 403 naming it on the first write.
async fn hubspot_check(settings: &HubspotSettings) -> Check {
    const NAME: &str = "hubspot credentials";
    let client = match HubspotClient::new(HubspotConfig::from_settings(settings)) {
        Ok(c) => c,
        Err(e) => return Check::new(NAME, CheckStatus::Failed, e.to_string()),
    };
    let probes = async {
        client
            .check_token()
            .await
            .map_err(|e| hubspot_failure(&e, "contacts read"))?;
        client
            .check_properties_read()
            .await
            .map_err(|e| hubspot_failure(&e, "properties read"))
    };
    timed_check(NAME, &settings.base_url.to_string(), probes, |()| {
        format!(
            "credential accepted by {} on {} (contacts read, properties read)",
            settings.base_url, settings.api_version
        )
    })
    .await
}

/// Push webhooks are signed with a project app's client secret (a Service Key cannot send
/// them); without `hubspot.client_secret`, `tether run` refuses every delivery.
pub fn hubspot_webhooks_check(settings: &HubspotSettings) -> Check {
    const NAME: &str = "hubspot webhooks";
    if settings.client_secret.is_empty() {
        Check::new(
            NAME,
            CheckStatus::Warning,
            "POST /webhooks/hubspot refuses every delivery: hubspot.client_secret is not set \
             (TETHER__HUBSPOT__CLIENT_SECRET). Changes still arrive by polling on schedule.cron; \
             for push webhooks deploy the project app in deploy/hubspot-project/ and set its \
             client secret",
        )
    } else {
        Check::new(
            NAME,
            CheckStatus::Ok,
            "signatures (v3) checked with hubspot.client_secret",
        )
    }
}

/// Proves the Gorgias credentials with `GET /api/account`.
async fn gorgias_check(settings: &GorgiasSettings) -> Check {
    const NAME: &str = "gorgias credentials";
    let client = match GorgiasConfig::from_settings(settings).and_then(GorgiasClient::new) {
        Ok(c) => c,
        Err(e) => return Check::new(NAME, CheckStatus::Failed, e.to_string()),
    };
    timed_check(
        NAME,
        &settings.base_url,
        client.check_account(),
        |account| {
            format!(
                "credentials accepted by {} (account {})",
                settings.base_url,
                account.domain.as_deref().unwrap_or("(domain not given)")
            )
        },
    )
    .await
}

/// Runs one credential call under [`CHECK_TIMEOUT`]: `Ok` with `ok`'s detail, or `Failed`
/// with the error (connector errors never carry the secret) or the timeout.
async fn timed_check<T, E: std::fmt::Display>(
    name: &str,
    base_url: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
    ok: impl FnOnce(T) -> String,
) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Ok(Ok(v)) => Check::new(name, CheckStatus::Ok, ok(v)),
        Ok(Err(e)) => Check::new(name, CheckStatus::Failed, e.to_string()),
        Err(_) => Check::new(
            name,
            CheckStatus::Failed,
            format!("no answer from {base_url} within {CHECK_TIMEOUT:?}"),
        ),
    }
}

/// The credential checks of each system: one cheap authenticated call each, reporting `Ok`
/// or `Failed` with the reason. A system whose credentials are not set reports
/// `NotConfigured` and is not called.
pub async fn credential_checks(loaded: &Loaded) -> Vec<Check> {
    let s = &loaded.settings;
    let hubspot = if s.hubspot.token.is_empty() {
        Check::new(
            "hubspot credentials",
            CheckStatus::NotConfigured,
            "hubspot.token is not set: a Service Key (TETHER__HUBSPOT__TOKEN or [hubspot] token)",
        )
    } else {
        hubspot_check(&s.hubspot).await
    };
    let mut missing = Vec::new();
    if !s.gorgias_configured() {
        missing.push("gorgias.base_url still has the {domain} placeholder");
    }
    if s.gorgias.username.is_empty() {
        missing.push("gorgias.username is not set");
    }
    if s.gorgias.api_key.is_empty() {
        missing.push("gorgias.api_key is not set");
    }
    let gorgias = if missing.is_empty() {
        gorgias_check(&s.gorgias).await
    } else {
        Check::new(
            "gorgias credentials",
            CheckStatus::NotConfigured,
            missing.join("; "),
        )
    };
    vec![
        hubspot_version_check(&s.hubspot),
        hubspot,
        hubspot_webhooks_check(&s.hubspot),
        gorgias,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Sources, load};

    fn loaded(env: &[(&str, &str)]) -> Loaded {
        load(Sources {
            file: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn config_lists_every_key_with_its_origin_and_hides_secrets() {
        let l = loaded(&[
            ("TETHER__HUBSPOT__TOKEN", "pat-na1-TOPSECRET"),
            ("TETHER__GORGIAS__API_KEY", "gg-TOPSECRET"),
            ("TETHER__SYNC__MAX_CREATES", "7"),
        ]);
        let text = render_config(&l);
        assert!(!text.contains("TOPSECRET"), "{text}");
        for (key, _) in DEFAULTS {
            assert!(
                text.contains(&format!("  {key} ")),
                "{key} missing:\n{text}"
            );
        }
        let line = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(&format!("{key} ")))
                .unwrap()
                .to_owned()
        };
        assert!(line("hubspot.token").contains("[redacted]  (env TETHER__HUBSPOT__TOKEN)"));
        assert!(line("hubspot.client_secret").contains("(not set)  (default)"));
        assert!(line("sync.max_creates").contains("7  (env TETHER__SYNC__MAX_CREATES)"));
        assert!(line("store.url").contains("\"sqlite://tether.db\"  (default)"));
    }

    #[test]
    fn values_from_a_file_name_the_file() {
        use std::io::Write;
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(b"[hubspot]\ntoken = \"pat-FILESECRET\"\n[sync]\nmax_creates = 9\n")
            .unwrap();
        let l = load(Sources {
            file: Some(f.path().to_owned()),
            env: vec![],
        })
        .unwrap();
        let text = render_config(&l);
        assert!(!text.contains("FILESECRET"), "{text}");
        let file = format!("(file {})", f.path().display());
        let token = text.lines().find(|l| l.contains("hubspot.token ")).unwrap();
        assert!(token.contains(&format!("[redacted]  {file}")), "{token}");
        let creates = text
            .lines()
            .find(|l| l.contains("sync.max_creates "))
            .unwrap();
        assert!(creates.contains(&format!("9  {file}")), "{creates}");
    }

    #[tokio::test]
    async fn credentials_are_checked_against_each_system() {
        use crate::sandbox::{gorgias, hubspot};
        let creds = |checks: Vec<Check>| -> Vec<Check> {
            checks
                .into_iter()
                .filter(|c| c.name.ends_with("credentials"))
                .collect()
        };
        let all = credential_checks(&loaded(&[])).await;
        assert!(all.iter().all(Check::ok), "{all:?}");
        let none = creds(all);
        assert_eq!(none.len(), 2);
        assert!(none.iter().all(|c| c.status == CheckStatus::NotConfigured));

        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let hs_cfg = hubspot::SandboxConfig::default();
        let gg_cfg = gorgias::SandboxConfig::default();
        let (_hs, hs_run) = hubspot::HubspotSandbox::start(hs_cfg.clone(), any)
            .await
            .unwrap();
        let (_gg, gg_run) = gorgias::GorgiasSandbox::start(gg_cfg.clone(), any)
            .await
            .unwrap();
        let env = |token: &str, key: &str| {
            vec![
                ("TETHER__HUBSPOT__BASE_URL", hs_run.base_url.clone()),
                ("TETHER__HUBSPOT__TOKEN", token.to_owned()),
                ("TETHER__GORGIAS__BASE_URL", gg_run.base_url.clone()),
                ("TETHER__GORGIAS__USERNAME", gg_cfg.username.clone()),
                ("TETHER__GORGIAS__API_KEY", key.to_owned()),
            ]
        };
        let as_refs = |v: &[(&'static str, String)]| -> Loaded {
            let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            loaded(&pairs)
        };

        let good = creds(
            credential_checks(&as_refs(&env(
                hs_cfg.token.expose(),
                gg_cfg.api_key.expose(),
            )))
            .await,
        );
        assert!(good.iter().all(|c| c.status == CheckStatus::Ok), "{good:?}");

        let bad = creds(credential_checks(&as_refs(&env("pat-WRONG-TOKEN", "WRONG-KEY"))).await);
        assert!(
            bad.iter().all(|c| c.status == CheckStatus::Failed),
            "{bad:?}"
        );
        for c in &bad {
            assert!(
                !c.detail.contains("WRONG-TOKEN") && !c.detail.contains("WRONG-KEY"),
                "a secret leaked into {c:?}"
            );
        }
    }

    #[tokio::test]
    async fn hubspot_checks_state_the_version_name_a_missing_scope_and_warn_about_webhooks() {
        use crate::sandbox::hubspot;
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let cfg = hubspot::SandboxConfig {
            scopes: vec!["crm.objects.contacts.write".into()],
            ..hubspot::SandboxConfig::default()
        };
        let (sb, run) = hubspot::HubspotSandbox::start(cfg.clone(), any)
            .await
            .unwrap();
        let l = loaded(&[
            ("TETHER__HUBSPOT__BASE_URL", &run.base_url),
            ("TETHER__HUBSPOT__TOKEN", cfg.token.expose()),
        ]);
        let checks = credential_checks(&l).await;
        let find = |name: &str| checks.iter().find(|c| c.name == name).unwrap().clone();
        let version = find("hubspot api version");
        assert_eq!(version.status, CheckStatus::Ok);
        assert!(version.detail.starts_with("2026-09"), "{version:?}");
        let cred = find("hubspot credentials");
        assert_eq!(cred.status, CheckStatus::Failed);
        assert!(
            cred.detail
                .contains("lacks the scope crm.objects.contacts.read"),
            "{cred:?}"
        );
        let hooks = find("hubspot webhooks");
        assert_eq!(hooks.status, CheckStatus::Warning);
        assert!(hooks.ok() && hooks.detail.contains("hubspot.client_secret"));
        // Legacy v3 works but is warned about, naming the date.
        let l = loaded(&[
            ("TETHER__HUBSPOT__API_VERSION", "v3"),
            ("TETHER__HUBSPOT__CLIENT_SECRET", "shh"),
        ]);
        let v3 = hubspot_version_check(&l.settings.hubspot);
        assert_eq!(v3.status, CheckStatus::Warning);
        assert!(v3.detail.contains("September 2027"), "{v3:?}");
        assert_eq!(
            hubspot_webhooks_check(&l.settings.hubspot).status,
            CheckStatus::Ok
        );
        assert_eq!(sb.counters().legacy_calls, 0, "doctor on 2026-09 used v3");
        assert!(sb.counters().calls("/crm/objects/2026-09/contacts") >= 1);
    }

    #[test]
    fn a_bad_api_version_names_the_key_and_the_choices() {
        let err = load(Sources {
            file: None,
            env: vec![("TETHER__HUBSPOT__API_VERSION".into(), "2025-01".into())],
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("hubspot.api_version"), "{err}");
        assert!(err.contains("TETHER__HUBSPOT__API_VERSION"), "{err}");
        assert!(err.contains("2026-09"), "{err}");
    }

    #[tokio::test]
    async fn store_check_migrates_and_reads_a_store_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let l = loaded(&[("TETHER__STORE__URL", &url)]);
        let c = store_check(&l).await;
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        assert!(c.detail.contains("migrations applied"), "{}", c.detail);
        let writer = crate::commands::open_store::writer(&l.settings.store)
            .await
            .unwrap();
        let c = store_check(&l).await;
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        assert!(
            c.detail.contains("in use by the writer pid"),
            "{}",
            c.detail
        );
        writer.close().await;
        let bad = loaded(&[("TETHER__STORE__URL", "sqlite:///nonexistent-dir/x/y.db")]);
        assert_eq!(store_check(&bad).await.status, CheckStatus::Failed);
    }
}
