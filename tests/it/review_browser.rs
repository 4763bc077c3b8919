//! End to end in headless Chromium: sign in on the review page, click "Approve" on a
//! proposal, and check that the merge happened in the HubSpot sandbox and in the store;
//! click "Take Gorgias" on a held conflict, and check that one sync applies it.
//!
//! Chromium is driven over the DevTools protocol with a minimal WebSocket client written
//! here (text frames only), to avoid a heavy CDP crate. Needs Debian's `chromium`
//! (`/usr/bin/chromium`, or `TETHER_CHROMIUM`); when it is missing the test FAILS with
//! instructions: CI installs it in `.ci/run`.

use crate::hubspot_support::{fast_sandbox, props, start};
use crate::review_page::{TOKEN, serve_review};
use chrono::Utc;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tether::domain::{HubspotId, RecordRef};
use tether::merges::{
    Connectors, MergeRecord, Merger, ProposalSettings, Survivorship, propose,
    record::hubspot_properties,
};
use tether::store::{Pair, ProposalStatus, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn chromium_path() -> PathBuf {
    let candidates = match std::env::var("TETHER_CHROMIUM") {
        Ok(p) => vec![p],
        Err(_) => vec![
            "/usr/bin/chromium".into(),
            "/usr/bin/chromium-browser".into(),
        ],
    };
    for p in candidates {
        if std::path::Path::new(&p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Chromium is missing: this end-to-end test needs Debian's `chromium` package \
         (`apt-get install -y --no-install-recommends chromium`; `.ci/run` installs it) or \
         TETHER_CHROMIUM=/path/to/chromium"
    );
}

/// A minimal WebSocket client: text frames out (masked), text frames in.
struct Ws {
    s: TcpStream,
}

impl Ws {
    async fn connect(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").expect("ws:// URL");
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = TcpStream::connect(host).await.unwrap();
        let req = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "WebSocket upgrade refused: {head}"
        );
        Ws { s }
    }

    async fn send(&mut self, text: &str) {
        let p = text.as_bytes();
        let mut f = vec![0x81u8];
        match p.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&mask);
        f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&f).await.unwrap();
    }

    async fn recv(&mut self) -> String {
        let mut msg = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).await.unwrap();
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut e = [0u8; 2];
                self.s.read_exact(&mut e).await.unwrap();
                len = u64::from(u16::from_be_bytes(e));
            } else if len == 127 {
                let mut e = [0u8; 8];
                self.s.read_exact(&mut e).await.unwrap();
                len = u64::from_be_bytes(e);
            }
            let mut mask = None;
            if h[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.s.read_exact(&mut m).await.unwrap();
                mask = Some(m);
            }
            let mut payload = vec![0u8; len as usize];
            self.s.read_exact(&mut payload).await.unwrap();
            if let Some(m) = mask {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= m[i % 4];
                }
            }
            match opcode {
                0x8 => panic!("Chromium closed the DevTools connection"),
                0x9 | 0xA => continue,
                _ => msg.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(msg).unwrap();
            }
        }
    }
}

/// A DevTools session on one page.
struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.ws
            .send(&json!({"id": id, "method": method, "params": params}).to_string())
            .await;
        loop {
            let v: Value = serde_json::from_str(&self.ws.recv().await).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits (up to about 30 s) until `js` evaluates to true.
    async fn wait_for(&mut self, js: &str, what: &str) {
        for _ in 0..600 {
            if self.eval(js).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let html = self.eval("document.documentElement.outerHTML").await;
        panic!("timed out waiting for {what}; page: {html}");
    }

    /// A real mouse click at the middle of the element with `id`.
    async fn click(&mut self, id: &str) {
        let js = format!(
            "(() => {{ const e = document.getElementById('{id}'); e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        );
        let at = self.eval(&js).await;
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }
}

/// Headless Chromium with its own profile; killed when dropped.
struct Browser {
    /// Killed on drop (`kill_on_drop`).
    _child: tokio::process::Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Browser {
        let bin = chromium_path();
        let profile = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let file = profile.path().join("DevToolsActivePort");
        for _ in 0..300 {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                return Browser {
                    _child: child,
                    port,
                    _profile: profile,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Chromium did not open its DevTools port within 30 s");
    }

    async fn page(&self) -> Cdp {
        let list: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        Cdp {
            ws: Ws::connect(&ws).await,
            next: 0,
        }
    }
}

/// Opens the review page at `url` and signs in with the test token through the form.
async fn sign_in(page: &mut Cdp, url: &str) {
    page.call("Page.navigate", json!({"url": url})).await;
    page.wait_for("!!document.getElementById('token')", "the login form")
        .await;
    page.eval(&format!(
        "document.getElementById('token').value = '{TOKEN}'; true"
    ))
    .await;
    page.click("login").await;
}

fn h(id: &str) -> RecordRef {
    RecordRef::Hubspot(HubspotId::new(id).unwrap())
}

#[tokio::test]
async fn approving_in_chromium_merges_in_the_sandbox() {
    tokio::time::timeout(Duration::from_secs(120), run())
        .await
        .expect("the browser test took over 120 s");
}

/// A signed-in review page in Chromium over two proposed HubSpot duplicates.
struct Session {
    sb: tether::sandbox::hubspot::HubspotSandbox,
    hs_running: tether::sandbox::Running,
    store: Store,
    ids: Vec<String>,
    proposal: tether::store::ProposalId,
    live_before: usize,
    review: tether::sandbox::Running,
    browser: Browser,
    page: Cdp,
}

async fn signed_in() -> Session {
    let (sb, hs_running, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![
        props(&[
            ("email", "ann.oak@gmail.com"),
            ("firstname", "Ann"),
            ("lastname", "Oak"),
            ("phone", "+44 20 7946 0101"),
            ("company", "Oak Ltd"),
        ]),
        props(&[
            ("email", "annoak@gmail.com"),
            ("firstname", "Ann"),
            ("lastname", "Oak"),
            ("phone", "+442079460101"),
            ("city", "Leeds"),
        ]),
    ]);
    let live_before = sb.live_count();
    let store = Store::open_in_memory().await.unwrap();
    let recs: Vec<MergeRecord> = client
        .list_all(&hubspot_properties())
        .await
        .unwrap()
        .iter()
        .filter_map(MergeRecord::from_hubspot)
        .collect();
    propose(&store, &recs, &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    let pair = Pair::new(h(&ids[0]), h(&ids[1])).unwrap();
    let p = store
        .pending_proposals(10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.pair == pair)
        .expect("the pair is proposed");
    let merger = Merger::new(
        Arc::new(store.clone()),
        Connectors {
            hubspot: Some(Arc::new(client)),
            gorgias: None,
        },
        Survivorship::default(),
    );
    let review = serve_review(merger, TOKEN).await;
    let url = format!("{}/review", review.base_url);

    let browser = Browser::launch().await;
    let mut page = browser.page().await;
    sign_in(&mut page, &url).await;
    let button = format!("approve-{}", p.id.0);
    page.wait_for(
        &format!("!!document.getElementById('{button}')"),
        "the queue",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelectorAll('script').length")
            .await,
        json!(0)
    );
    Session {
        sb,
        hs_running,
        store,
        ids,
        proposal: p.id,
        live_before,
        review,
        browser,
        page,
    }
}

async fn run() {
    let Session {
        sb,
        hs_running,
        store,
        ids,
        proposal,
        live_before,
        review,
        browser,
        mut page,
    } = signed_in().await;
    let p = store.proposal(proposal).await.unwrap().unwrap();
    let button = format!("approve-{}", p.id.0);
    page.click(&button).await;
    page.wait_for(
        "!!document.getElementById('message') && document.getElementById('message').textContent.includes('merged into')",
        "the merge result",
    )
    .await;
    let message = page
        .eval("document.getElementById('message').textContent")
        .await;

    // The merge happened in the sandbox: one record fewer, both old ids lead to a new one.
    assert_eq!(sb.live_count(), live_before - 1, "{message}");
    let survivor = store.resolve(&h(&ids[0])).await.unwrap();
    assert_ne!(survivor, h(&ids[0]), "{message}");
    assert_eq!(store.resolve(&h(&ids[1])).await.unwrap(), survivor);
    let c = sb.contact(&survivor.id_string()).expect("survivor");
    assert_eq!(c["id"], survivor.id_string().as_str());
    assert_eq!(
        sb.contact(&ids[0]).unwrap()["id"],
        survivor.id_string().as_str()
    );
    let decided = store.proposal(p.id).await.unwrap().unwrap();
    assert_eq!(decided.status, ProposalStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("review:web"));
    assert!(message.as_str().unwrap().contains(&survivor.id_string()));
    drop(page);
    drop(browser);
    review.stop().await;
    hs_running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_side_of_a_conflict_in_chromium_is_applied_by_one_sync() {
    tokio::time::timeout(Duration::from_secs(120), resolve_in_browser())
        .await
        .expect("the browser test took over 120 s");
}

async fn resolve_in_browser() {
    use crate::cycle_support::{
        contact, customer, cycle_with, manual_name_mappings, options, sandboxes, settle,
    };
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("jane@shop.test", "Jane", "Doe", "")]);
    sb.gorgias
        .seed_customers(vec![customer("jane@shop.test", "Jane Doe", "")]);
    let cycle = cycle_with(&sb, manual_name_mappings(), options()).await;
    cycle.run().await.unwrap();
    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.hubspot
        .edit_as_person(
            link.hubspot.as_str(),
            std::collections::BTreeMap::from([("firstname".to_string(), "Janet".to_string())]),
        )
        .unwrap();
    sb.gorgias
        .edit_as_agent(link.gorgias.get(), json!({"name": "Jane <b>Smith</b>"}));
    settle(&sb).await;
    cycle.run().await.unwrap();
    let [held] = cycle
        .store
        .conflicts(false)
        .await
        .unwrap()
        .try_into()
        .unwrap();

    let merger = Merger::new(
        cycle.store.clone(),
        Connectors::default(),
        Survivorship::default(),
    );
    let review = serve_review(merger, TOKEN).await;
    let url = format!("{}/review", review.base_url);
    let browser = Browser::launch().await;
    let mut page = browser.page().await;
    sign_in(&mut page, &url).await;
    let button = format!("take-gorgias-{}", held.id.0);
    page.wait_for(
        &format!("!!document.getElementById('{button}')"),
        "the Conflicts section",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelectorAll('script, b').length")
            .await,
        json!(0),
        "values are escaped, no scripts"
    );
    let section = page
        .eval(&format!(
            "document.getElementById('conflict-{}').textContent",
            held.id.0
        ))
        .await;
    let section = section.as_str().unwrap();
    assert!(
        section.contains("Janet Doe")
            && section.contains("Jane <b>Smith</b>")
            && section.contains("Jane Doe"),
        "{section}"
    );
    page.click(&button).await;
    page.wait_for(
        "!!document.getElementById('message') && document.getElementById('message').textContent.includes('resolved')",
        "the resolution result",
    )
    .await;
    let stored = cycle.store.conflict(held.id).await.unwrap().unwrap();
    assert_eq!(stored.resolved_by.as_deref(), Some("review:web"));
    drop(page);
    drop(browser);
    review.stop().await;

    // One sync applies it: HubSpot takes the Gorgias value, and nothing is left to do.
    cycle.run().await.unwrap();
    let c = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    assert_eq!(c["properties"]["firstname"], "Jane");
    assert_eq!(c["properties"]["lastname"], "<b>Smith</b>");
    assert_eq!(
        sb.gorgias.customer(link.gorgias.get()).unwrap()["name"],
        "Jane <b>Smith</b>"
    );
    settle(&sb).await;
    let plan = cycle.plan().await.unwrap();
    assert!(
        !plan.has_changes() && plan.conflicts.is_empty(),
        "{plan:#?}"
    );
    assert!(cycle.store.conflicts(false).await.unwrap().is_empty());
}

#[tokio::test]
async fn choosing_the_survivor_and_a_value_in_chromium_shapes_the_merge() {
    tokio::time::timeout(Duration::from_secs(120), choose())
        .await
        .expect("the browser test took over 120 s");
}

async fn choose() {
    let Session {
        sb,
        hs_running,
        store,
        ids,
        proposal,
        live_before,
        review,
        browser,
        mut page,
    } = signed_in().await;
    let id = proposal.0;
    // The page shows the merged record before anything is decided.
    let merged = page
        .eval(&format!(
            "document.getElementById('merged-{id}').textContent"
        ))
        .await;
    let merged = merged.as_str().unwrap_or_default().to_owned();
    assert!(
        merged.contains("Leeds") && merged.contains("Oak Ltd"),
        "{merged}"
    );
    assert!(merged.contains("only one record has a value"), "{merged}");
    // Choose the second record as survivor (a real click) and type a city.
    page.click(&format!("survivor-{id}-{}", ids[1])).await;
    page.eval(&format!(
        "document.getElementById('set-{id}-city').value = 'York'; true"
    ))
    .await;
    page.click(&format!("approve-{id}")).await;
    page.wait_for(
        "!!document.getElementById('message') && document.getElementById('message').textContent.includes('merged into')",
        "the merge result",
    )
    .await;
    let message = page
        .eval("document.getElementById('message').textContent")
        .await;
    let message = message.as_str().unwrap_or_default().to_owned();
    // The chosen record survived: the other was merged into it.
    assert!(
        message.contains(&format!(
            "hubspot:{} was merged into hubspot:{}",
            ids[0], ids[1]
        )),
        "{message}"
    );
    assert_eq!(sb.live_count(), live_before - 1, "{message}");
    let survivor = store.resolve(&h(&ids[1])).await.unwrap();
    assert_eq!(store.resolve(&h(&ids[0])).await.unwrap(), survivor);
    // The merged record in the sandbox holds the typed value and the carried-over company.
    let c = sb.contact(&survivor.id_string()).expect("survivor");
    assert_eq!(c["properties"]["city"], "York", "{c}");
    assert_eq!(c["properties"]["company"], "Oak Ltd", "{c}");
    // The choices are kept in the audit log with the outcome.
    let audit = store.audit_for(&h(&ids[0])).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.detail["choices"]["overrides"]["city"] == "York"),
        "{audit:?}"
    );
    drop(page);
    drop(browser);
    review.stop().await;
    hs_running.stop().await;
}
