//! `tether explain` end to end: both sandboxes on loopback (port 0), a store in a temporary
//! directory filled through the store API (a link with bases, records seen, audit entries),
//! and the real binary pointed at them with `TETHER__…` variables.

use assert_cmd::Command;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use tether::config::StoreSettings;
use tether::domain::{Email, GorgiasId, HubspotId, RecordRef};
use tether::sandbox::Running;
use tether::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasConfig};
use tether::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotConfig};
use tether::secret::Secret;
use tether::store::{NewAudit, RecordSeen, Store};

const MAPPINGS: &str = r#"
[records]
create_in_hubspot = true
create_in_gorgias = true
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"
[fields.name]
hubspot = ["firstname", "lastname"]
gorgias = "name"
[fields.company]
hubspot = "company"
gorgias = "data.tether.company"
conflict = "manual"
"#;

struct World {
    dir: tempfile::TempDir,
    hubspot: Running,
    gorgias: Running,
    _hs: HubspotSandbox,
    _gs: GorgiasSandbox,
    hubspot_id: String,
    gorgias_id: i64,
    /// A Gorgias customer known to nobody but Gorgias.
    lone_gorgias_id: i64,
}

fn store_settings(dir: &Path) -> StoreSettings {
    StoreSettings {
        url: format!("sqlite://{}", dir.join("tether.db").display())
            .parse()
            .unwrap(),
        busy_timeout_ms: 2_000,
        lease_seconds: 15,
    }
}

async fn world() -> World {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let hcfg = HubspotConfig {
        token: Secret::new("pat-na1-explain"),
        ..HubspotConfig::default()
    };
    let (hs, hubspot) = HubspotSandbox::start(hcfg, addr).await.unwrap();
    let (gs, gorgias) = GorgiasSandbox::start(GorgiasConfig::default(), addr)
        .await
        .unwrap();
    let row: BTreeMap<String, String> = [
        ("email", "jane@shop.test"),
        ("firstname", "Jane"),
        ("lastname", "Smith"),
        ("company", "Acme Corp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let hubspot_id = hs.seed_contacts(vec![row]).pop().unwrap();
    let ids = gs.seed_customers(vec![
        json!({
            "email": "jane@shop.test",
            "name": "Jane Doe",
            "channels": [{"type": "email", "address": "jane@shop.test", "preferred": true}],
            "data": {"tether": {"company": "Acme Ltd"}},
        }),
        json!({
            "email": "solo@shop.test",
            "name": "Solo <b>&",
            "channels": [{"type": "email", "address": "solo@shop.test", "preferred": true}],
        }),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mappings")).unwrap();
    std::fs::write(dir.path().join("mappings/test.toml"), MAPPINGS).unwrap();

    let store = Store::open(&store_settings(dir.path())).await.unwrap();
    let h = HubspotId::new(hubspot_id.clone()).unwrap();
    let g = GorgiasId::new(ids[0]).unwrap();
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let bases = BTreeMap::from([
        ("email".to_owned(), json!("jane@shop.test")),
        ("name".to_owned(), json!("Jane Doe")),
        ("company".to_owned(), json!("Acme")),
    ]);
    store.create_link(&h, g, &bases, "sync", at).await.unwrap();
    for r in [RecordRef::Hubspot(h.clone()), RecordRef::Gorgias(g)] {
        store
            .upsert_record_seen(&RecordSeen {
                record: r,
                email: Some(Email::parse("jane@shop.test").unwrap()),
                keys: vec!["email:jane@shop.test".into()],
                updated_at: at,
                content_hash: "h".into(),
                seen_at: at,
            })
            .await
            .unwrap();
    }
    store
        .append_audit(&NewAudit {
            at: at + chrono::Duration::seconds(60),
            actor: "sync".into(),
            action: "write.done".into(),
            subjects: vec![RecordRef::Gorgias(g)],
            detail: json!({"field": "name", "value": "Jane Doe"}),
        })
        .await
        .unwrap();
    store.close().await;
    World {
        dir,
        hubspot,
        gorgias,
        _hs: hs,
        _gs: gs,
        hubspot_id,
        gorgias_id: ids[0],
        lone_gorgias_id: ids[1],
    }
}

impl World {
    fn tether(&self) -> Command {
        let mut cmd = super::harness::tether_assert();
        cmd.current_dir(self.dir.path());
        cmd.env(
            "TETHER__STORE__URL",
            store_settings(self.dir.path()).url.as_str(),
        )
        .env("TETHER__MAPPINGS__DIR", self.dir.path().join("mappings"))
        .env("TETHER__HUBSPOT__BASE_URL", &self.hubspot.base_url)
        .env("TETHER__HUBSPOT__TOKEN", "pat-na1-explain")
        .env("TETHER__GORGIAS__BASE_URL", &self.gorgias.base_url)
        .env("TETHER__GORGIAS__USERNAME", "api@sandbox.gorgias.test")
        .env("TETHER__GORGIAS__API_KEY", "sandbox-api-key");
        cmd
    }

    /// Runs `tether explain ARGS…` off the runtime's threads; (exit code, stdout, stderr).
    async fn explain(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.tether();
        cmd.arg("explain").args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {v:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_by_email_shows_both_sides_bases_actions_and_history() {
    let w = world().await;
    let (code, out, err) = w.explain(&["jane@shop.test", "--json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "tether.explain/1");
    assert_eq!(v["hubspot_id"], w.hubspot_id.as_str());
    assert_eq!(v["gorgias_id"], w.gorgias_id);
    assert_eq!(v["linked"], true);
    assert_eq!(v["hubspot_found"], true);
    assert_eq!(v["gorgias_found"], true);

    let name = field(&v, "name");
    assert_eq!(name["hubspot"], "Jane Smith");
    assert_eq!(name["gorgias"], "Jane Doe");
    assert_eq!(name["base"], "Jane Doe");
    assert_eq!(name["action"], "write_gorgias");
    assert_eq!(name["value"], "Jane Smith");

    let company = field(&v, "company");
    assert_eq!(company["hubspot"], "Acme Corp");
    assert_eq!(company["gorgias"], "Acme Ltd");
    assert_eq!(company["base"], "Acme");
    assert_eq!(company["action"], "hold");

    assert_eq!(field(&v, "email")["action"], "in_sync");

    let actions: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["link.created", "write.done"], "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_by_gorgias_id_prints_a_table_and_filters_by_field() {
    let w = world().await;
    let g = format!("g:{}", w.gorgias_id);
    let (code, out, err) = w.explain(&[&g]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "HubSpot {} ⇄ Gorgias {} · linked",
            w.hubspot_id, w.gorgias_id
        )),
        "{out}"
    );
    assert!(out.contains("update Gorgias := Jane Smith"), "{out}");
    assert!(out.contains("hold for review"), "{out}");
    assert!(out.contains("History (2 entries)"), "{out}");
    assert!(!out.contains('\x1b'), "NO_COLOR is set: {out:?}");

    let gid = w.gorgias_id.to_string();
    let (code, out, err) = w
        .explain(&[&gid, "--system", "gorgias", "--field", "company"])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("company"), "{out}");
    assert!(!out.contains("Jane Smith"), "only the company field: {out}");
    // The write of `name` is not about `company`; the link entry names no field and stays.
    assert!(out.contains("History (1 entries)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_record_is_explained_by_its_id() {
    let w = world().await;
    let g = format!("g:{}", w.lone_gorgias_id);
    let (code, out, err) = w.explain(&[&g, "--json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["linked"], false);
    assert_eq!(v["hubspot_id"], Value::Null);
    assert_eq!(field(&v, "name")["gorgias"], "Solo <b>&");
    assert_eq!(field(&v, "name")["action"], "no_pair");
    let notes = v["notes"].to_string();
    assert!(notes.contains("would create a HubSpot contact"), "{notes}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_2_and_unknown_customers_exit_1() {
    let w = world().await;
    for args in [
        &["jane"][..],
        &["x:12"],
        &["g:abc"],
        &["g:5", "--system", "hubspot"],
        &["jane@shop.test", "--field", "nosuch"],
    ] {
        let (code, out, err) = w.explain(args).await;
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert!(err.contains("error:"), "{err}");
    }
    for args in [&["nobody@shop.test"][..], &["999999"], &["g:999999"]] {
        let (code, out, err) = w.explain(args).await;
        assert_eq!(code, 1, "{args:?}: {out}\n{err}");
        assert!(
            err.contains("not found") || err.contains("no customer"),
            "{err}"
        );
    }
}
