//! The Gorgias sidebar (issue 15) against both sandboxes over loopback: install and
//! uninstall of tether's widgets and integration, the card endpoint (linked, unlinked and
//! merged-away customers, refused secrets, the per-contact cache under a burst), and the
//! sandbox firing the installed integration at the real card endpoint.

use crate::gorgias_common;
use crate::hubspot_support::{fast_sandbox, props, start};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::commands::gorgias::{install, uninstall};
use tether::config::SidebarSettings;
use tether::connectors::gorgias::{IntegrationSpec, WidgetSpec};
use tether::domain::{GorgiasId, HubspotId, RecordRef};
use tether::sandbox::hubspot::HubspotSandbox;
use tether::secret::Secret;
use tether::service::card::{CardConfig, CardState, router};
use tether::store::Store;

pub const SECRET: &str = "card-secret-7f3a";

pub fn sidebar_settings(public_url: &str) -> SidebarSettings {
    SidebarSettings {
        install: "card".into(),
        name: "HubSpot (tether)".into(),
        public_url: public_url.into(),
        card_secret: Secret::new(SECRET),
        card_header: "X-Tether-Card-Secret".into(),
        cache_seconds: 300,
        max_deals: 3,
        hubspot_portal_id: "4242".into(),
        hubspot_app_url: "https://app.hubspot.com".into(),
        requests_per_minute: 600,
    }
}

fn fields() -> Vec<(String, String)> {
    vec![
        ("Company".into(), "company".into()),
        ("Lifecycle stage".into(), "lifecycle_stage".into()),
    ]
}

/// (tether's integrations, tether's custom widgets, tether's http widgets, all ids).
fn census(
    sb: &tether::sandbox::gorgias::GorgiasSandbox,
) -> (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
    let (ints, ws) = sb.integrations_and_widgets();
    let ours: Vec<i64> = ints
        .iter()
        .filter(|i| i["name"] == "HubSpot (tether)")
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let custom: Vec<i64> = ws
        .iter()
        .filter(|w| w["type"] == "custom" && w["template"]["widgets"][0]["path"] == "tether")
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    let http: Vec<i64> = ws
        .iter()
        .filter(|w| w["type"] == "http" && ours.iter().any(|o| w["integration_id"] == *o))
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    let all = ints
        .iter()
        .chain(&ws)
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    (ours, custom, http, all)
}

#[tokio::test]
async fn install_twice_keeps_one_of_each_and_uninstall_removes_only_tethers() {
    let env = gorgias_common::start().await;
    // Somebody else's integration and widgets, which tether must leave alone.
    let other = IntegrationSpec {
        name: "Shop orders".into(),
        description: "not tether's".into(),
        url: "https://shop.example/orders?email={{ticket.customer.email}}".into(),
        headers: BTreeMap::new(),
        triggers: vec!["ticket-created".into()],
    };
    let other_id = env.client.put_integration(None, &other).await.unwrap();
    let other_template =
        json!({"type": "wrapper", "widgets": [{"type": "card", "path": "orders", "widgets": []}]});
    for (kind, integration) in [("http", Some(other_id)), ("custom", None)] {
        let spec = WidgetSpec {
            kind: kind.into(),
            context: "ticket".into(),
            integration_id: integration,
            order: 1,
            template: other_template.clone(),
        };
        env.client.put_widget(None, &spec).await.unwrap();
    }
    let (_, _, _, before) = census(&env.sb);
    let s = sidebar_settings("https://sync.example.com");

    install(&env.client, &s, &fields(), true).await.unwrap();
    let first = census(&env.sb);
    install(&env.client, &s, &fields(), true).await.unwrap();
    let second = census(&env.sb);
    assert_eq!(first.0.len(), 1, "one integration: {first:?}");
    assert_eq!(first.1.len(), 1, "one custom widget: {first:?}");
    assert_eq!(first.2.len(), 1, "one card widget: {first:?}");
    assert_eq!(first, second, "a second install changes nothing");
    assert_eq!(second.3.len(), before.len() + 3);

    // What was installed is what the contract describes.
    let (ints, ws) = env.sb.integrations_and_widgets();
    let ours = ints
        .iter()
        .find(|i| i["name"] == "HubSpot (tether)")
        .unwrap();
    let url = ours["http"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://sync.example.com/gorgias/card?email={{ticket.customer.email}}")
    );
    assert_eq!(ours["http"]["headers"]["X-Tether-Card-Secret"], SECRET);
    for t in ["ticket-created", "ticket-updated", "ticket-message-created"] {
        assert_eq!(ours["http"]["triggers"][t], true, "{t}");
    }
    let custom = ws.iter().find(|w| w["id"] == first.1[0]).unwrap();
    let labels: Vec<&str> = custom["template"]["widgets"][0]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["title"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["Company", "Lifecycle stage"]);

    let removed = uninstall(&env.client, &s).await.unwrap();
    assert_eq!(removed, 3);
    let after = census(&env.sb);
    assert!(after.0.is_empty() && after.1.is_empty() && after.2.is_empty());
    assert_eq!(after.3, before, "only tether's were removed");
    assert_eq!(uninstall(&env.client, &s).await.unwrap(), 0);
}

/// The UNCONFIRMED variants: a create answered 200 instead of 201, triggers echoed with
/// underscores, and associations reads that list contacts without any as 207 errors.
#[tokio::test]
async fn install_and_card_work_under_each_unconfirmed_variant() {
    let env = gorgias_common::start_with(tether::sandbox::gorgias::SandboxConfig {
        time_scale: gorgias_common::SCALE,
        integration_create_status: 200,
        echo_triggers_with_underscores: true,
        ..Default::default()
    })
    .await;
    let s = sidebar_settings("https://sync.example.com");
    install(&env.client, &s, &fields(), true).await.unwrap();
    install(&env.client, &s, &fields(), true).await.unwrap();
    let (ours, custom, http, _) = census(&env.sb);
    assert_eq!((ours.len(), custom.len(), http.len()), (1, 1, 1));
    let (ints, _) = env.sb.integrations_and_widgets();
    assert_eq!(ints[0]["http"]["triggers"]["ticket_created"], true);

    let mut cfg = fast_sandbox();
    cfg.associations_missing_as_errors = true;
    let card = card_env_with(cfg, Duration::from_secs(300)).await;
    // Contact 0 has no generated companies or deals: its associations come back as errors.
    let (status, body) = get_card(&card.base, "customer_id=5001", Some(SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "linked");
    assert!(body["company_name"].is_null() && body["open_deals_total"] == 0);
}

#[tokio::test]
async fn the_sandbox_refuses_what_gorgias_refuses() {
    let env = gorgias_common::start().await;
    let (http, base, user, key) = gorgias_common::raw(&env);
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .basic_auth(&user, Some(&key))
            .json(&body)
            .send()
    };
    let r = post(
        "/api/integrations",
        json!({"name": "x", "type": "shopify", "http": {"url": "u"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        "/api/widgets",
        json!({"type": "custom", "template": {"type": "card"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        "/api/widgets",
        json!({"type": "http", "template": {"type": "wrapper", "widgets": []}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "an http widget needs its integration");
    let r = post("/api/widgets", json!({"type": "custom", "context": "sidebar", "template": {"type": "wrapper", "widgets": []}})).await.unwrap();
    assert_eq!(r.status(), 400);
}

/// A HubSpot sandbox with 20 contacts, their CRM context, a store linking them to Gorgias
/// ids 5001.., and the card endpoint served on loopback.
pub struct CardEnv {
    pub hubspot: HubspotSandbox,
    pub _running: tether::sandbox::Running,
    pub store: Store,
    pub contacts: Vec<String>,
    pub base: String,
    pub state: Arc<CardState>,
}

pub async fn card_env(cache: Duration) -> CardEnv {
    card_env_with(fast_sandbox(), cache).await
}

pub async fn card_env_with(
    cfg: tether::sandbox::hubspot::SandboxConfig,
    cache: Duration,
) -> CardEnv {
    let (hubspot, running, client) = start(cfg).await;
    let rows = (0..20)
        .map(|i| {
            props(&[
                ("email", &format!("p{i}@shop.test")),
                ("firstname", "Pat"),
                ("lastname", &format!("Person{i}")),
                ("lifecyclestage", "customer"),
            ])
        })
        .collect();
    let contacts = hubspot.seed_contacts(rows);
    // Contact 0's context is set by the tests that need it; the others get generated ones.
    hubspot.seed_crm_context(&contacts[1..], 15);
    let store = Store::open_in_memory().await.unwrap();
    for (i, id) in contacts.iter().enumerate() {
        store
            .create_link(
                &HubspotId::new(id.clone()).unwrap(),
                GorgiasId::new(5001 + i as i64).unwrap(),
                &BTreeMap::new(),
                "test",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
    let s = sidebar_settings("http://unused");
    let mut cfg = CardConfig::from_settings(&s).unwrap();
    cfg.cache_ttl = cache;
    let state = CardState::new(cfg, Arc::new(store.clone()), client);
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = tether::service::http::serve(router(state.clone()), addr, std::future::pending())
        .await
        .unwrap();
    CardEnv {
        hubspot,
        _running: running,
        store,
        contacts,
        base: format!("http://{}", server.addr),
        state,
    }
}

pub async fn get_card(base: &str, query: &str, secret: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}/gorgias/card?{query}"));
    if let Some(s) = secret {
        req = req.header("X-Tether-Card-Secret", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn cards_for_linked_unlinked_and_merged_away_customers() {
    let env = card_env(Duration::from_secs(300)).await;
    // Contact 0 with a known owner, primary company and deals.
    let c0 = &env.contacts[0];
    let owner = env
        .hubspot
        .seed_owner("Olga", "Owner", "olga@sales.example");
    env.hubspot
        .edit_as_person(
            c0,
            props(&[
                ("hubspot_owner_id", &owner),
                ("hs_lead_status", "IN_PROGRESS"),
            ]),
        )
        .unwrap();
    let company = env
        .hubspot
        .seed_object(
            "companies",
            props(&[("name", "Zed Corp"), ("domain", "zed.example")]),
        )
        .unwrap();
    let other = env
        .hubspot
        .seed_object(
            "companies",
            props(&[("name", "Side Co"), ("domain", "side.example")]),
        )
        .unwrap();
    env.hubspot.associate(c0, "companies", &other, false);
    env.hubspot.associate(c0, "companies", &company, true);
    for (name, closed) in [("Renewal", "false"), ("Old order", "true")] {
        let d = env
            .hubspot
            .seed_object(
                "deals",
                props(&[
                    ("dealname", name),
                    ("dealstage", "contractsent"),
                    ("amount", "1200"),
                    ("closedate", "2027-01-15"),
                    ("hs_is_closed", closed),
                ]),
            )
            .unwrap();
        env.hubspot.associate(c0, "deals", &d, false);
    }

    let (status, card) = get_card(
        &env.base,
        "customer_id=5001&email=p0%40shop.test",
        Some(SECRET),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["schema"], "tether.card/1");
    assert_eq!(card["status"], "linked");
    assert_eq!(card["name"], "Pat Person0");
    assert_eq!(card["lifecycle_stage"], "customer");
    assert_eq!(card["lead_status"], "IN_PROGRESS");
    assert_eq!(card["owner"], "Olga Owner");
    assert_eq!(
        card["company_name"], "Zed Corp",
        "the primary company: {card}"
    );
    assert_eq!(card["company_domain"], "zed.example");
    assert_eq!(
        card["hubspot_url"],
        format!("https://app.hubspot.com/contacts/4242/record/0-1/{c0}")
    );
    assert!(card["created"].as_str().is_some_and(|s| !s.is_empty()));
    let deals = card["open_deals"].as_array().unwrap();
    assert_eq!(deals.len(), 1, "closed deals are left out: {card}");
    assert_eq!(deals[0]["name"], "Renewal");
    assert_eq!(deals[0]["amount"], "1200");

    // Unknown to tether: an explicit "not in HubSpot" card, by id or by e-mail.
    for q in ["customer_id=4444", "email=nobody%40shop.test"] {
        let (status, card) = get_card(&env.base, q, Some(SECRET)).await;
        assert_eq!(status, 200, "{q}: {card}");
        assert_eq!(card["status"], "not_in_hubspot", "{q}");
        assert!(card["hubspot_id"].is_null());
    }

    // A Gorgias customer merged into customer 5002: the survivor's card, saying so.
    env.store
        .add_alias(
            &RecordRef::Gorgias(GorgiasId::new(7777).unwrap()),
            &RecordRef::Gorgias(GorgiasId::new(5002).unwrap()),
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (status, card) = get_card(&env.base, "customer_id=7777", Some(SECRET)).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["status"], "linked");
    assert_eq!(card["merged_into_customer_id"], 5002);
    assert_eq!(card["hubspot_id"], env.contacts[1].as_str());

    // Contact 3 merged into contact 4 in HubSpot, before tether noticed: the card follows
    // HubSpot to the survivor.
    let survivor = env
        .hubspot
        .merge_as_person(&env.contacts[4], &env.contacts[3])
        .unwrap();
    let (status, card) = get_card(&env.base, "customer_id=5004", Some(SECRET)).await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["status"], "linked");
    assert_eq!(card["hubspot_id"], survivor.as_str(), "{card}");

    // Bad input is a 400, not a card.
    let (status, _) = get_card(&env.base, "customer_id=abc", Some(SECRET)).await;
    assert_eq!(status, 400);
}

/// What waits for a person on a linked pair shows on its card: the held conflict and the
/// refused write, each with the command that acts on it; a pair with neither shows nulls.
#[tokio::test]
async fn the_card_shows_a_pairs_held_conflict_and_refused_write() {
    use tether::store::{FailureClass, NewRefusal, OpKind, SeenConflict};
    let env = card_env(Duration::from_secs(300)).await;
    let (hubspot, gorgias) = (
        HubspotId::new(env.contacts[1].clone()).unwrap(),
        GorgiasId::new(5002).unwrap(),
    );
    let now = chrono::Utc::now();
    env.store
        .hold_conflicts(
            &[SeenConflict {
                hubspot_id: hubspot.clone(),
                gorgias_id: gorgias,
                field: "company".into(),
                hubspot_value: Some("Acme".into()),
                gorgias_value: Some("Acme Ltd".into()),
                base: None,
            }],
            now,
        )
        .await
        .unwrap();
    env.store
        .record_refusal(
            &NewRefusal {
                record: RecordRef::Gorgias(gorgias),
                target: tether::domain::System::Hubspot,
                op: OpKind::Update,
                class: FailureClass::Record,
                reason: "a portal rule requires zip".into(),
            },
            tether::cycle::failure::backoff,
            "test",
            now,
        )
        .await
        .unwrap();
    let (status, card) = get_card(&env.base, "customer_id=5002", Some(SECRET)).await;
    assert_eq!(status, 200, "{card}");
    let held = card["held_conflict"].as_str().unwrap_or_default();
    assert!(
        held.starts_with("company: HubSpot \"Acme\" / Gorgias \"Acme Ltd\"")
            && held.contains("tether conflicts show"),
        "{card}"
    );
    let refused = card["refused_write"].as_str().unwrap_or_default();
    assert!(
        refused.contains("a portal rule requires zip") && refused.contains("tether retry"),
        "{card}"
    );
    let (_, other) = get_card(&env.base, "customer_id=5003", Some(SECRET)).await;
    assert!(
        other["held_conflict"].is_null() && other["refused_write"].is_null(),
        "{other}"
    );
}

#[tokio::test]
async fn a_burst_of_200_cards_for_20_contacts_reads_hubspot_once_per_contact() {
    let env = card_env(Duration::from_secs(300)).await;
    env.hubspot.reset_counters();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let base = env.base.clone();
        tasks.spawn(async move {
            let q = format!("customer_id={}", 5001 + (n % 20));
            get_card(&base, &q, Some(SECRET)).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (status, card) = r.unwrap();
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["status"], "linked");
    }
    let c = env.hubspot.counters();
    let reads = |needle: &str| c.calls(needle);
    assert!(reads("contacts/batch/read") <= 20, "{c:?}");
    assert!(reads("companies/batch/read") <= 20, "{c:?}");
    assert!(reads("deals/batch/read") <= 20, "{c:?}");
    assert!(
        reads("contacts/{to}/batch/read") <= 40,
        "two association reads per contact: {c:?}"
    );
    assert!(
        reads("owners") <= 3,
        "owners are cached on their own: {c:?}"
    );
    // Misses of one moment share their reads: far fewer calls than contacts in all.
    assert!(reads("contacts/batch/read") >= 1);
    eprintln!(
        "200 cards for 20 contacts: {} HubSpot calls ({c:?})",
        c.total
    );
    // Every contact missed once (and was read), every other request hit the cache.
    let (hits, misses) = env.state.counters.cache();
    assert_eq!((hits, misses), (180, 20));

    // Once the cache period is over, one more read per contact asked again.
    let short = card_env(Duration::from_millis(200)).await;
    for _ in 0..3 {
        get_card(&short.base, "customer_id=5001", Some(SECRET)).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    get_card(&short.base, "customer_id=5001", Some(SECRET)).await;
    assert_eq!(short.hubspot.counters().calls("contacts/batch/read"), 2);
}

#[tokio::test]
async fn a_part_the_token_may_not_read_is_left_off_the_card() {
    let mut cfg = fast_sandbox();
    cfg.scopes.retain(|s| s != "crm.objects.companies.read");
    let env = card_env_with(cfg, Duration::from_secs(300)).await;
    let mut saw_deals = false;
    for i in 1..20 {
        let (status, card) = get_card(
            &env.base,
            &format!("customer_id={}", 5001 + i),
            Some(SECRET),
        )
        .await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["status"], "linked");
        assert!(card["company_name"].is_null(), "{card}");
        saw_deals |= card["open_deals_total"].as_u64().unwrap_or(0) > 0;
    }
    assert!(saw_deals, "deals are still shown");
}

/// A `MakeWriter` into a shared buffer, to read what the service logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_or_missing_secret_is_401_and_nothing_is_logged_in_clear() {
    let buf = Captured::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = card_env(Duration::from_secs(300)).await;
    let wrong = "guess-0000-wrong";
    for secret in [None, Some(wrong), Some("")] {
        let (status, body) =
            get_card(&env.base, "customer_id=5001&email=p0%40shop.test", secret).await;
        assert_eq!(status, 401, "{secret:?}");
        assert!(body.get("name").is_none(), "no card behind a 401: {body}");
    }
    let logs = String::from_utf8_lossy(&buf.0.lock().unwrap()).to_string();
    assert!(
        logs.contains("card request refused"),
        "the refusal is logged: {logs}"
    );
    for needle in [wrong, SECRET, "p0@shop.test", "p0%40shop.test"] {
        assert!(!logs.contains(needle), "{needle} in the logs: {logs}");
    }
    let counts = env.state.counters.requests();
    assert!(counts.contains(&("unauthorized", 3)), "{counts:?}");

    // Ten wrong secrets from one source within a minute lock that source out for a while.
    for _ in 0..7 {
        get_card(&env.base, "customer_id=5001", Some(wrong)).await;
    }
    let (status, _) = get_card(&env.base, "customer_id=5001", Some(SECRET)).await;
    assert_eq!(status, 429, "guessing is throttled per source");
}

#[tokio::test]
async fn gorgias_firing_the_installed_integration_stores_the_card_on_the_customer() {
    let card = card_env(Duration::from_secs(300)).await;
    let env = gorgias_common::start().await;
    let ids = env.sb.seed_customers(vec![
        json!({"email": "p3@shop.test", "name": "Pat Person3"}),
    ]);
    // Link the new Gorgias customer to contact 3 in tether's store.
    card.store
        .create_link(
            &HubspotId::new(format!("{}", 999_000)).unwrap(),
            GorgiasId::new(ids[0]).unwrap(),
            &BTreeMap::new(),
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let s = sidebar_settings(&card.base);
    install(&env.client, &s, &fields(), true).await.unwrap();
    let (ours, _, _, _) = census(&env.sb);
    let ticket = json!({"id": 31, "customer": {"id": ids[0], "email": "p3@shop.test"}});
    let fired = env
        .sb
        .fire_integration(ours[0], "ticket-message-created", ticket)
        .await
        .unwrap();
    assert_eq!(fired.status, 200, "{fired:?}");
    assert!(fired.url.contains("email=p3%40shop.test"), "{}", fired.url);
    let stored = env.sb.customer(ids[0]).unwrap()["integrations"][ours[0].to_string()].clone();
    // Contact 999000 does not exist in HubSpot: the card says the contact is gone.
    assert_eq!(stored["schema"], "tether.card/1", "{stored}");
    assert_eq!(stored["status"], "contact_gone");
    // A trigger that is off fires nothing.
    let off = env
        .sb
        .fire_integration(
            ours[0],
            "ticket-handed-over",
            json!({"id": 1, "customer": {"id": ids[0]}}),
        )
        .await;
    assert!(off.is_err());
}

/// The real binary: `tether gorgias install-widget --card` without `sidebar.public_url` is a
/// configuration mistake (exit 2); with it, the default mappings' fields are installed, and
/// `uninstall-widget` takes them out again. The secret never reaches the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_installs_and_uninstalls_with_the_default_mappings() {
    let env = gorgias_common::start().await;
    let base = env.running.base_url.clone();
    let run = move |args: &'static [&'static str], extra: Vec<(&'static str, String)>| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
            let mut c = super::harness::tether_command();
            c.current_dir(dir.path())
                .env("TETHER__HUBSPOT__TOKEN", "pat-na1-demo")
                .env("TETHER__GORGIAS__BASE_URL", &base)
                .env("TETHER__GORGIAS__USERNAME", "api@sandbox.gorgias.test")
                .env("TETHER__GORGIAS__API_KEY", "sandbox-api-key")
                .env("TETHER__MAPPINGS__DIR", &mappings)
                .env("TETHER__SIDEBAR__CARD_SECRET", SECRET)
                .args(args);
            for (k, v) in extra {
                c.env(k, v);
            }
            c.output().unwrap()
        })
    };
    let out = run(&["gorgias", "install-widget", "--card"], vec![])
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("sidebar.public_url"));
    let url = vec![(
        "TETHER__SIDEBAR__PUBLIC_URL",
        "https://sync.example.com".to_owned(),
    )];
    for _ in 0..2 {
        let out = run(&["gorgias", "install-widget", "--card"], url.clone())
            .await
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(!all.contains(SECRET), "the secret was printed: {all}");
    }
    let (ours, custom, http, _) = census(&env.sb);
    assert_eq!((ours.len(), custom.len(), http.len()), (1, 1, 1));
    let (_, ws) = env.sb.integrations_and_widgets();
    let w = ws.iter().find(|w| w["id"] == custom[0]).unwrap();
    let paths: Vec<&str> = w["template"]["widgets"][0]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"lifecycle_stage") && paths.contains(&"company"),
        "{paths:?}"
    );
    let out = run(&["gorgias", "uninstall-widget"], vec![]).await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (ours, custom, http, all) = census(&env.sb);
    assert!(ours.is_empty() && custom.is_empty() && http.is_empty() && all.is_empty());
}
