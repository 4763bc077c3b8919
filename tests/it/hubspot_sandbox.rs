//! The sandbox's own HTTP behaviour, checked with a plain HTTP client against the contract:
//! auth bodies, list paging, 404/204, conflicts, batch limits, search limits and headers,
//! property rules, history sources, controls.

use super::hubspot_support::*;
use serde_json::{Value, json};
use std::time::Duration;
use tether::sandbox::hubspot::SandboxConfig;

struct H {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl H {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }
    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn setup(
    cfg: SandboxConfig,
) -> (
    tether::sandbox::hubspot::HubspotSandbox,
    tether::sandbox::Running,
    H,
) {
    let (sb, run, _) = start(cfg.clone()).await;
    let h = H {
        http: reqwest::Client::new(),
        base: run.base_url.clone(),
        token: cfg.token.expose().to_string(),
    };
    (sb, run, h)
}

#[tokio::test]
async fn auth_paging_and_single_record_rules() {
    let (sb, _run, h) = setup(fast_sandbox()).await;
    let ids = sb.seed_contacts((0..25).map(person).collect());
    let anon = reqwest::get(format!("{}/crm/v3/objects/contacts", h.base))
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let body: Value = anon.json().await.unwrap();
    assert_eq!(body["category"], "INVALID_AUTHENTICATION");
    assert!(body["correlationId"].is_string());

    let (s, headers, page) = h.get("/crm/v3/objects/contacts").await;
    assert_eq!(s, 200);
    assert_eq!(
        page["results"].as_array().unwrap().len(),
        10,
        "default limit 10"
    );
    assert_eq!(headers["x-hubspot-ratelimit-max"], "100");
    assert_eq!(headers["x-hubspot-ratelimit-interval-milliseconds"], "500");
    let mut after = page["paging"]["next"]["after"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = 10;
    loop {
        let (_, _, p) = h
            .get(&format!("/crm/v3/objects/contacts?limit=10&after={after}"))
            .await;
        seen += p["results"].as_array().unwrap().len();
        match p.get("paging") {
            Some(pg) => after = pg["next"]["after"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 25);
    assert_eq!(h.get("/crm/v3/objects/contacts?limit=101").await.0, 400);

    let (s, _, one) = h
        .get(&format!(
            "/crm/v3/objects/contacts/{}?properties=email&properties=firstname",
            ids[0]
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["properties"]["firstname"], "First0");
    assert_eq!(one["properties"]["hs_object_id"], ids[0].as_str());
    assert_eq!(one["updatedAt"], one["properties"]["lastmodifieddate"]);
    assert!(one["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        one["createdAt"].as_str().unwrap().len(),
        24,
        "ISO with milliseconds"
    );
    let (s, _, byemail) = h
        .get("/crm/v3/objects/contacts/PERSON3@example.com?idProperty=email")
        .await;
    assert_eq!(s, 200);
    assert_eq!(byemail["id"], ids[3].as_str());
    let (s, _, nf) = h.get("/crm/v3/objects/contacts/99999999").await;
    assert_eq!(
        (s, nf["category"].as_str()),
        (404, Some("OBJECT_NOT_FOUND"))
    );
    let (s, _, _) = h
        .call(
            reqwest::Method::DELETE,
            "/crm/v3/objects/contacts/99999999",
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = h
        .call(
            reqwest::Method::DELETE,
            &format!("/crm/v3/objects/contacts/{}", ids[24]),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, _, archived) = h.get("/crm/v3/objects/contacts?archived=true").await;
    assert_eq!(archived["results"].as_array().unwrap().len(), 1);
    assert_eq!(archived["results"][0]["archived"], true);

    let (s, _, created) = h
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties":{"email":"new@example.com"}}),
        )
        .await;
    assert_eq!(s, 201);
    assert!(created["id"].is_string());
    let (s, _, conflict) = h
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties":{"email":"person1@example.com"}}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        conflict["message"],
        format!("Contact already exists. Existing ID: {}", ids[1])
    );
    let (s, _, v) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/contacts/{}", ids[2]),
            Some(json!({"properties":{"email":"person1@example.com"}})),
        )
        .await;
    assert_eq!((s, v["category"].as_str()), (400, Some("VALIDATION_ERROR")));
    let (s, _, v) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/contacts/{}", ids[2]),
            Some(json!({"properties":{"mystery":"1"}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
    let (s, _, v) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/crm/v3/objects/contacts/{}", ids[2]),
            Some(json!({"properties":{"firstname":""}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["properties"]["firstname"], Value::Null);
}

#[tokio::test]
async fn batch_and_search_limits() {
    let (sb, _run, h) = setup(fast_sandbox()).await;
    let ids = sb.seed_contacts((0..3).map(person).collect());
    let too_many: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string()})).collect();
    assert_eq!(
        h.post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": too_many})
        )
        .await
        .0,
        400
    );
    let fifty_one: Vec<Value> = (0..51).map(|i| json!({"id": i.to_string()})).collect();
    let (s, _, v) = h
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": fifty_one, "propertiesWithHistory": ["email"]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("property histories is 50")
    );
    let (s, _, v) = h
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [{"id": ids[0], "properties": {}}, {"id": ids[0], "properties": {}}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Duplicate IDs found in batch input")
    );
    let (s, _, v) = h
        .post("/crm/v3/objects/contacts/batch/create", json!({"inputs": [{"properties": {"email": "x@example.com"}}, {"properties": {"email": "person0@example.com"}}]}))
        .await;
    assert_eq!(s, 409, "a taken e-mail fails the whole batch");
    assert_eq!(v["category"], "CONFLICT");
    assert_eq!(sb.live_count(), 3);
    let (s, _, v) = h
        .post("/crm/v3/objects/contacts/batch/upsert", json!({"inputs": [{"id": "person0@example.com", "idProperty": "email", "properties": {"lastname": "Only"}}]}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["results"][0]["new"], false);
    let kept = sb.contact(&ids[0]).unwrap();
    assert_eq!(kept["properties"]["lastname"], "Only");
    assert!(
        kept["properties"].get("firstname").is_none(),
        "no partial upsert by e-mail: omitted values cleared"
    );
    let (s, _, _) = h
        .post(
            "/crm/v3/objects/contacts/batch/archive",
            json!({"inputs": [{"id": ids[2]}]}),
        )
        .await;
    assert_eq!(s, 204);

    let (s, headers, _) = h
        .post("/crm/v3/objects/contacts/search", json!({"limit": 10}))
        .await;
    assert_eq!(s, 200);
    assert!(
        headers.get("x-hubspot-ratelimit-remaining").is_none(),
        "search carries no rate headers"
    );
    assert_eq!(
        h.post("/crm/v3/objects/contacts/search", json!({"limit": 201}))
            .await
            .0,
        400
    );
    assert_eq!(
        h.post("/crm/v3/objects/contacts/search", json!({"after": "10000"}))
            .await
            .0,
        400
    );
    // Burst past 5 per (scaled) second.
    let mut statuses = vec![];
    for _ in 0..8 {
        let (s, _, v) = h
            .post("/crm/v3/objects/contacts/search", json!({"limit": 1}))
            .await;
        if s == 429 {
            assert_eq!(v["message"], "You have reached your secondly limit.");
            assert_eq!(v["errorType"], "RATE_LIMIT");
        }
        statuses.push(s);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Waiting out the (scaled, 50 ms) search window is the thing under test: this sleep stays.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        h.post("/crm/v3/objects/contacts/search", json!({"limit": 1}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn burst_429_body_and_history_sources() {
    let mut cfg = fast_sandbox();
    cfg.burst_limit = 3;
    cfg.app_id = 777;
    let (sb, _run, h) = setup(cfg).await;
    let (_, _, created) = h
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties":{"email":"h@example.com","firstname":"Api"}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    sb.edit_as_person(&id, props(&[("firstname", "Human")]))
        .unwrap();
    let (_, _, v) = h
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?propertiesWithHistory=firstname"
        ))
        .await;
    let hist = &v["propertiesWithHistory"]["firstname"];
    assert_eq!(hist[0]["value"], "Human");
    assert_eq!(hist[0]["sourceType"], "CRM_UI");
    assert_eq!(hist[1]["value"], "Api");
    assert_eq!(hist[1]["sourceType"], "INTEGRATION");
    assert_eq!(hist[1]["sourceId"], "777");
    let (s, headers, _) = h.get("/crm/v3/objects/contacts").await;
    assert_eq!(s, 200, "third call of three allowed");
    assert_eq!(headers["x-hubspot-ratelimit-remaining"], "0");
    let (s, _, v) = h.get("/crm/v3/objects/contacts").await;
    assert_eq!(s, 429);
    assert_eq!(v["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(sb.counters().rate_limited >= 1);
    assert_eq!(sb.counters().calls("GET /crm/v3/objects/contacts/{id}"), 1);
}

#[tokio::test]
async fn properties_api_and_value_rules() {
    let (_sb, _run, h) = setup(fast_sandbox()).await;
    let base = "/crm/v3/properties/contacts";
    let (s, headers, _) = h
        .post(base, json!({"name":"tier","label":"Tier","type":"enumeration","fieldType":"checkbox","groupName":"contactinformation",
            "options":[{"label":"Gold","value":"gold","hidden":false},{"label":"Silver","value":"silver","hidden":false}]}))
        .await;
    assert_eq!(s, 201);
    assert!(headers.get("location").is_some());
    assert_eq!(h.post(base, json!({"name":"tier","label":"T","type":"string","fieldType":"text","groupName":"contactinformation"})).await.0, 409);
    assert_eq!(h.post(base, json!({"name":"n","label":"N","type":"number","fieldType":"text","groupName":"contactinformation"})).await.0, 400);
    assert_eq!(h.post(base, json!({"name":"birthday","label":"B","type":"date","fieldType":"date","groupName":"contactinformation"})).await.0, 201);
    assert_eq!(h.post(base, json!({"name":"vip","label":"V","type":"bool","fieldType":"booleancheckbox","groupName":"contactinformation"})).await.0, 201);
    let (s, _, p) = h.get(&format!("{base}/tier")).await;
    assert_eq!((s, p["type"].as_str()), (200, Some("enumeration")));
    let (_, _, c) = h.post("/crm/v3/objects/contacts", json!({"properties":{"email":"p@example.com","tier":"gold","birthday":"1430438400000","vip":"true"}})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["properties"]["birthday"], "2015-05-01");
    let path = format!("/crm/v3/objects/contacts/{id}");
    let (_, _, v) = h
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties":{"tier":";silver"}})),
        )
        .await;
    assert_eq!(v["properties"]["tier"], "gold;silver");
    let (s, _, v) = h
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties":{"tier":"bronze"}})),
        )
        .await;
    assert_eq!(
        (s, v["errors"][0]["code"].as_str()),
        (400, Some("INVALID_OPTION"))
    );
    let (s, _, _) = h
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties":{"birthday":"1430438400001"}})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _, _) = h
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties":{"vip":"maybe"}})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _, _) = h
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"properties":{"lastmodifieddate":"0"}})),
        )
        .await;
    assert_eq!(s, 400, "read-only property");
}

#[tokio::test]
async fn control_endpoints_over_http() {
    let (sb, _run, h) = setup(fast_sandbox()).await;
    let (s, _, v) = h
        .post(
            "/__sandbox/seed",
            json!({"contacts":[{"email":"c1@example.com"},{"email":"c2@example.com"}]}),
        )
        .await;
    assert_eq!(s, 200);
    let ids: Vec<String> = serde_json::from_value(v["ids"].clone()).unwrap();
    assert_eq!(ids.len(), 2);
    let (s, _, _) = h
        .post(
            &format!("/__sandbox/contacts/{}/edit", ids[0]),
            json!({"properties":{"firstname":"Pat"}}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _, m) = h
        .post(
            "/__sandbox/merge",
            json!({"primary": ids[0], "secondary": ids[1]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, c) = h.get(&format!("/__sandbox/contacts/{}", ids[1])).await;
    assert_eq!(c["id"], m["id"]);
    assert_eq!(c["properties"]["firstname"], "Pat");
    assert_eq!(
        h.post(
            "/__sandbox/faults",
            json!({"kind":"status","status":503,"times":1})
        )
        .await
        .0,
        204
    );
    assert_eq!(h.get("/crm/v3/objects/contacts").await.0, 503);
    assert_eq!(h.get("/crm/v3/objects/contacts").await.0, 200);
    let (_, _, counters) = h.get("/__sandbox/counters").await;
    assert_eq!(counters["by_endpoint"]["GET /crm/v3/objects/contacts"], 2);
    assert_eq!(counters["faults"], 1);
    assert_eq!(sb.counters().total, 2, "control calls are not counted");
}
