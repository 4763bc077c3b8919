//! The review page over loopback (mounted under `/review`, as the service will): refusals
//! without a token or credentials, escaping, CSRF, the login cookie and the JSON API.

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;
use tether::domain::{HubspotId, RecordRef};
use tether::merges::{Connectors, Merger, Survivorship};
use tether::review::{ReviewState, router};
use tether::sandbox::{Running, serve};
use tether::secret::Secret;
use tether::store::{Pair, ProposalId, ProposalInsert, ProposalStatus, Store};

pub const TOKEN: &str = "review-token-for-tests";
pub const NASTY: &str = "<script>alert('x')</script>";

/// Serves the review router under `/review` on a random loopback port.
pub async fn serve_review(merger: Merger, token: &str) -> Running {
    let app = axum::Router::new().nest(
        "/review",
        router(ReviewState::new(merger, Secret::new(token))),
    );
    serve(app, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn h(id: &str) -> RecordRef {
    RecordRef::Hubspot(HubspotId::new(id).unwrap())
}

/// A pending proposal whose first record's name is `<script>…`.
async fn nasty_proposal(store: &Store, a: &str, b: &str, score: f64) -> ProposalId {
    let snapshot = json!({
        "a": {"record": {"system": "hubspot", "id": a}, "fields": {"first_name": NASTY, "last_name": "O'Brien & Sons"}},
        "b": {"record": {"system": "hubspot", "id": b}, "fields": {"first_name": "Bob", "last_name": "\"quoted\""}},
    });
    let explanation = json!({"prior": -6.6, "fields": [
        {"field": "first_name", "level": "different", "weight": -3.25},
        {"field": "email", "level": "exact", "weight": 12.5}
    ], "relatives_guard": 0.0, "total": 2.65, "score": score});
    let pair = Pair::new(h(a), h(b)).unwrap();
    match store
        .propose(&pair, score, &explanation, &snapshot, Utc::now())
        .await
        .unwrap()
    {
        ProposalInsert::Created(id) => id,
        other => panic!("{other:?}"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn bare(store: &Store) -> Merger {
    Merger::new(
        std::sync::Arc::new(store.clone()),
        Connectors::default(),
        Survivorship::default(),
    )
}

#[tokio::test]
async fn without_a_configured_token_everything_is_refused() {
    let store = Store::open_in_memory().await.unwrap();
    let id = nasty_proposal(&store, "1", "2", 0.9).await;
    let srv = serve_review(bare(&store), "").await;
    let c = client();
    let base = format!("{}/review", srv.base_url);
    for (method, path) in [
        ("GET", ""),
        ("GET", "/api/proposals"),
        ("POST", "/login"),
        ("POST", &format!("/api/proposals/{}/reject", id.0) as &str),
    ] {
        let req = c
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth("")
            .form(&[("token", "")]);
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("alert"), "no data leaks: {body}");
    }
    assert_eq!(
        store.proposal(id).await.unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    srv.stop().await;
}

#[tokio::test]
async fn page_needs_the_token_and_escapes_names() {
    let store = Store::open_in_memory().await.unwrap();
    let low = nasty_proposal(&store, "1", "2", 0.83).await;
    let high = nasty_proposal(&store, "3", "4", 0.97).await;
    let srv = serve_review(bare(&store), TOKEN).await;
    let c = client();
    let base = format!("{}/review", srv.base_url);

    // No credentials, or wrong ones: the login form, no data.
    let res = c.get(base.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = res.text().await.unwrap();
    assert!(body.contains("name=\"token\"") && !body.contains("alert"));
    let res = c
        .get(base.clone())
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = c.get(format!("{base}/api/proposals")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // With the token: the queue, highest score first, every value escaped.
    let res = c.get(base.clone()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page.contains("O&#39;Brien &amp; Sons") && page.contains("&quot;quoted&quot;"));
    let (ph, pl) = (
        page.find(&format!("proposal-{}", high.0)).unwrap(),
        page.find(&format!("proposal-{}", low.0)).unwrap(),
    );
    assert!(ph < pl, "sorted by score");
    assert!(page.contains(&format!("action=\"/review/proposals/{}/approve\"", high.0)));
    assert!(
        page.contains("+12.50") && page.contains("-3.25"),
        "contributions shown"
    );

    // The login form sets an HttpOnly, SameSite=Strict cookie that is not the token.
    let res = c
        .post(format!("{base}/login"))
        .form(&[("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(SET_COOKIE).is_none());
    let res = c
        .post(format!("{base}/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/review");
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains(TOKEN));
    let cookie = set.split(';').next().unwrap().to_owned();
    let res = c
        .get(base.clone())
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();

    // CSRF: a cookie-only post (what a forged cross-site form sends) is refused.
    let reject = format!("{base}/proposals/{}/reject", low.0);
    let res = c
        .post(&reject)
        .header("cookie", &cookie)
        .form(&[("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = c
        .post(&reject)
        .header("cookie", &cookie)
        .form(&[("reason", "x"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        store.proposal(low).await.unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    // With the page's CSRF value, the rejection goes through and the reason is kept.
    let res = c
        .post(&reject)
        .header("cookie", &cookie)
        .form(&[("reason", NASTY), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p = store.proposal(low).await.unwrap().unwrap();
    assert_eq!(p.status, ProposalStatus::Rejected);
    assert_eq!(p.reason.as_deref(), Some(NASTY));
    assert_eq!(p.decided_by.as_deref(), Some("review:web"));
    // Deciding again is a conflict, not a second decision.
    let res = c
        .post(&reject)
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    srv.stop().await;
}

#[tokio::test]
async fn json_api_lists_and_decides_with_the_bearer_token_only() {
    let store = Store::open_in_memory().await.unwrap();
    let a = nasty_proposal(&store, "1", "2", 0.81).await;
    let b = nasty_proposal(&store, "3", "4", 0.95).await;
    let srv = serve_review(bare(&store), TOKEN).await;
    let c = client();
    let api = format!("{}/review/api/proposals", srv.base_url);
    let list: serde_json::Value = c
        .get(&api)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = list["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![b.0, a.0]);
    assert_eq!(
        list["proposals"][0]["snapshot"]["a"]["fields"]["first_name"],
        NASTY
    );
    // A browser session cookie does not open the API.
    let res = c
        .get(&api)
        .header("cookie", "tether_review=whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = c
        .post(format!("{api}/{}/reject", a.0))
        .bearer_auth(TOKEN)
        .json(&json!({"reason": "siblings"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p: serde_json::Value = res.json().await.unwrap();
    assert_eq!(p["status"], "rejected");
    assert_eq!(p["reason"], "siblings");
    // Approving without a HubSpot connector: approved, reported as not merged, with why.
    let res = c
        .post(format!("{api}/{}/approve", b.0))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let out: serde_json::Value = res.json().await.unwrap();
    assert_eq!(out["outcome"], "failed");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("HubSpot is not configured")
    );
    let res = c
        .get(format!("{api}/999"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let left: serde_json::Value = c
        .get(&api)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(left["proposals"].as_array().unwrap().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn guessing_the_token_is_throttled_for_everyone_until_the_window_passes() {
    use tether::review::throttle::MAX_FAILURES;
    let store = Store::open_in_memory().await.unwrap();
    nasty_proposal(&store, "1", "2", 0.9).await;
    let srv = serve_review(bare(&store), TOKEN).await;
    let c = client();
    let base = format!("{}/review", srv.base_url);
    let login = |token: &'static str| {
        c.post(format!("{base}/login"))
            .form(&[("token", token)])
            .send()
    };

    // A few wrong tokens do not lock the right one out.
    for _ in 0..3 {
        assert_eq!(
            login("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(login(TOKEN).await.unwrap().status(), StatusCode::SEE_OTHER);

    // Up to the budget, wrong tokens (form or Bearer header) are told they are wrong...
    for i in 3..MAX_FAILURES {
        let res = if i % 2 == 0 {
            login("guess").await.unwrap()
        } else {
            c.get(format!("{base}/api/proposals"))
                .bearer_auth("guess")
                .send()
                .await
                .unwrap()
        };
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // ...then every attempt is refused, even with the right token, with a Retry-After.
    let res = login(TOKEN).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "no session while throttled"
    );
    let res = c
        .get(format!("{base}/api/proposals"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = res.text().await.unwrap();
    assert!(!body.contains(TOKEN) && !body.contains("guess"), "{body}");
    // A request with no credentials at all is no guess: it still gets the login form.
    let res = c.get(base.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Signs in through the form: the session cookie and the page's CSRF value.
async fn session(c: &reqwest::Client, base: &str) -> (String, String) {
    let res = c
        .post(format!("{base}/login"))
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = c
        .get(base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

#[tokio::test]
async fn conflict_and_refused_write_forms_need_the_token_and_the_csrf_value() {
    use tether::domain::{GorgiasId, System};
    use tether::store::{
        ConflictStatus, FailureClass, NewRefusal, OpKind, SeenConflict, UnsettledFilter,
    };
    let store = Store::open_in_memory().await.unwrap();
    let now = Utc::now();
    store
        .hold_conflicts(
            &[SeenConflict {
                hubspot_id: HubspotId::new("101").unwrap(),
                gorgias_id: GorgiasId::new(7).unwrap(),
                field: "name".into(),
                hubspot_value: Some(NASTY.into()),
                gorgias_value: Some("Jane Smith".into()),
                base: Some("Jane Doe".into()),
            }],
            now,
        )
        .await
        .unwrap();
    let conflict = store.conflicts(false).await.unwrap()[0].id;
    let refused = store
        .record_refusal(
            &NewRefusal {
                record: RecordRef::Gorgias(GorgiasId::new(9).unwrap()),
                target: System::Hubspot,
                op: OpKind::Create,
                class: FailureClass::Record,
                reason: format!("VALIDATION_ERROR: {NASTY}"),
            },
            |_| chrono::Duration::hours(1),
            "sync",
            now,
        )
        .await
        .unwrap()
        .id;
    let srv = serve_review(bare(&store), TOKEN).await;
    let c = client();
    let base = format!("{}/review", srv.base_url);
    let resolve = format!("{base}/conflicts/{conflict}/resolve");

    // The page lists both, escaped.
    let page = c
        .get(base.clone())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains(&format!("id=\"take-gorgias-{conflict}\"")));
    assert!(page.contains(&format!("id=\"retry-{refused}\"")));
    assert!(page.contains("VALIDATION_ERROR: &lt;script&gt;"));

    // Without credentials, or with a cookie but no CSRF value: refused, nothing stored.
    let res = c
        .post(&resolve)
        .form(&[("take", "gorgias")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (cookie, csrf) = session(&c, &base).await;
    for form in [
        vec![("take", "gorgias")],
        vec![("take", "gorgias"), ("csrf", "forged")],
    ] {
        let res = c
            .post(&resolve)
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let res = c
        .post(format!("{base}/refused/{refused}/dismiss"))
        .header("cookie", &cookie)
        .form(&[("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        store.conflicts(false).await.unwrap()[0].status,
        ConflictStatus::Open
    );
    assert!(
        store.unsettled(UnsettledFilter::Open).await.unwrap()[0]
            .dismissed
            .is_none()
    );

    // With the CSRF value: a side is taken, a bad side or an unknown id is refused.
    let res = c
        .post(&resolve)
        .header("cookie", &cookie)
        .form(&[("take", "neither"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = c
        .post(format!("{base}/conflicts/999/resolve"))
        .header("cookie", &cookie)
        .form(&[("take", "gorgias"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c
        .post(&resolve)
        .header("cookie", &cookie)
        .form(&[("take", "gorgias"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let held = store.conflict(conflict).await.unwrap().unwrap();
    assert_eq!(held.status, ConflictStatus::Resolved);
    assert_eq!(held.resolved_by.as_deref(), Some("review:web"));

    // Retry, then dismiss (a reason is required).
    let res = c
        .post(format!("{base}/refused/{refused}/retry"))
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let dismiss = format!("{base}/refused/{refused}/dismiss");
    let res = c
        .post(&dismiss)
        .header("cookie", &cookie)
        .form(&[("reason", " "), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = c
        .post(&dismiss)
        .header("cookie", &cookie)
        .form(&[("reason", "duplicate of another"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        store
            .unsettled(UnsettledFilter::Open)
            .await
            .unwrap()
            .is_empty()
    );
    srv.stop().await;
}

/// Every route of the review router, as `method path` relative to `/review` (ids exist).
fn every_guarded_route(proposal: i64) -> Vec<(&'static str, String)> {
    vec![
        ("GET", String::new()),
        ("POST", format!("/proposals/{proposal}/approve")),
        ("POST", format!("/proposals/{proposal}/reject")),
        ("POST", "/conflicts/1/resolve".into()),
        ("POST", "/refused/1/retry".into()),
        ("POST", "/refused/1/dismiss".into()),
        ("GET", "/api/proposals".into()),
        ("GET", format!("/api/proposals/{proposal}")),
        ("POST", format!("/api/proposals/{proposal}/approve")),
        ("POST", format!("/api/proposals/{proposal}/reject")),
    ]
}

#[tokio::test]
async fn every_route_but_sign_in_refuses_without_the_token() {
    let store = Store::open_in_memory().await.unwrap();
    let id = nasty_proposal(&store, "1", "2", 0.9).await;
    let srv = serve_review(bare(&store), TOKEN).await;
    let c = client();
    let base = format!("{}/review", srv.base_url);
    let forged = format!("tether_review={}", "0".repeat(64));
    for (method, path) in every_guarded_route(id.0) {
        // No credentials at all, and a forged session cookie: both refused before the handler.
        for cookie in [None, Some(forged.as_str())] {
            let mut req = c
                .request(method.parse().unwrap(), format!("{base}{path}"))
                .form(&[("csrf", "x"), ("take", "hubspot"), ("reason", "r")]);
            if let Some(v) = cookie {
                req = req.header(reqwest::header::COOKIE, v);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with cookie {cookie:?}"
            );
            let body = res.text().await.unwrap();
            assert!(!body.contains("alert"), "no data leaks: {body}");
        }
    }
    // A signed-in browser's cookie does not open the JSON API (Bearer only).
    let (cookie, _csrf) = session(&c, &base).await;
    let res = c
        .get(format!("{base}/api/proposals"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Sign-in itself is open: the right token signs in, a wrong one shows the form again.
    let res = c
        .post(format!("{base}/login"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("not right"));
    assert_eq!(
        store.proposal(id).await.unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    srv.stop().await;
}
