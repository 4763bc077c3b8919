//! The Gorgias sandbox on the wire: auth, limits, validation bodies, list envelope and
//! paging, merge/301, data 202 and versions, events, tickets, account.

use crate::gorgias_common::*;
use serde_json::{Value, json};
use tether::sandbox::gorgias::{CALL_LIMIT_HEADER, SandboxConfig};

#[tokio::test]
async fn auth_and_call_limit_header_on_every_response() {
    let env = start().await;
    let (http, base, user, key) = raw(&env);
    let r = http
        .get(format!("{base}/api/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get(CALL_LIMIT_HEADER).is_some());
    let r = http
        .get(format!("{base}/api/customers"))
        .basic_auth(&user, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base}/api/customers"))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CALL_LIMIT_HEADER], "1/40");
    assert_eq!(env.sb.counters().unauthorized, 2);
}

#[tokio::test]
async fn bucket_refuses_with_retry_after_basic_40_bearer_80() {
    // Real time (scale 1) so the bucket does not drain during the burst.
    let cfg = SandboxConfig {
        bearer_token: Some(tether::secret::Secret::new("tok")),
        ..SandboxConfig::default()
    };
    let env = start_with(cfg).await;
    let (http, base, user, key) = raw(&env);
    for _ in 0..40 {
        let r = http
            .get(format!("{base}/api/account"))
            .basic_auth(&user, Some(&key))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http
        .get(format!("{base}/api/account"))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()[CALL_LIMIT_HEADER], "40/40");
    // The same account bucket, seen through a Bearer token, has room up to 80.
    let r = http
        .get(format!("{base}/api/account"))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CALL_LIMIT_HEADER], "41/80");
    assert_eq!(env.sb.counters().rate_limited, 1);
}

async fn post(env: &Env, path: &str, body: Value) -> (u16, Value) {
    let (http, base, user, key) = raw(env);
    let r = http
        .post(format!("{base}{path}"))
        .basic_auth(&user, Some(&key))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn call(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let (http, base, user, key) = raw(env);
    let mut req = http
        .request(method, format!("{base}{path}"))
        .basic_auth(&user, Some(&key));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test]
async fn create_validates_like_gorgias() {
    let env = start().await;
    let (s, body) = post(
        &env,
        "/api/customers",
        json!({"firstname": "Ada", "email": "ada@x.test"}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body["error"]["msg"].is_string());
    assert_eq!(
        body["error"]["data"]["firstname"],
        json!(["Unknown field."])
    );
    assert_eq!(
        body["error"]["data"]["channels"],
        json!(["Missing data for required field."])
    );
    let (s, body) = post(
        &env,
        "/api/customers",
        json!({"channels": [{"type": "email", "address": "ada@x.test"}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body["error"]["data"]["channels"]["0"]["preferred"].is_array());
    let (s, body) = post(
        &env,
        "/api/customers",
        json!({"name": "Ada Lovelace", "email": "ada@x.test",
               "channels": [{"type": "email", "address": "ada@x.test", "preferred": true}]}),
    )
    .await;
    assert_eq!(s, 201);
    assert!(body["id"].as_i64().unwrap() > 0);
    assert_eq!(body["firstname"], "Ada");
    assert_eq!(body["channels"][0]["type"], "email");
    for k in ["created_datetime", "updated_datetime"] {
        assert!(is_wire_datetime(body[k].as_str().unwrap()), "{}", body[k]);
    }
    let (s, body) = post(
        &env,
        "/api/customers",
        json!({"email": "ADA@x.test", "channels": [{"type": "email", "address": "ADA@x.test", "preferred": true}]}),
    )
    .await;
    assert_eq!(s, 409);
    assert!(body["error"]["msg"].is_string());
}

#[tokio::test]
async fn list_is_compact_paged_and_filtered() {
    let env = start().await;
    let ids = env.sb.seed_customers((0..35).map(customer_seed).collect());
    env.sb.edit_as_agent(ids[3], json!({"channels": [{"type":"phone","address":"+15550003","preferred":true}], "external_id": "hs-3"}));
    let (s, text, _) = call(&env, reqwest::Method::GET, "/api/customers", None).await;
    assert_eq!(s, 200);
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["object"], "list");
    assert_eq!(page["uri"], "/api/customers");
    assert!(page["meta"]["prev_cursor"].is_null());
    let items = page["data"].as_array().unwrap();
    assert_eq!(items.len(), 30);
    assert!(
        items
            .iter()
            .all(|c| c.get("channels").is_none() && c.get("integrations").is_none())
    );
    // Default order: created_datetime:desc.
    assert_eq!(items[0]["id"].as_i64(), ids.last().copied());
    let next = page["meta"]["next_cursor"].as_str().unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let (_, text, _) = call(
        &env,
        reqwest::Method::GET,
        &format!("/api/customers?cursor={enc}"),
        None,
    )
    .await;
    let page2: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page2["data"].as_array().unwrap().len(), 5);
    assert!(page2["meta"]["next_cursor"].is_null());
    assert!(page2["meta"]["prev_cursor"].is_string());
    // updated desc puts the edited one first.
    let (_, text, _) = call(
        &env,
        reqwest::Method::GET,
        "/api/customers?order_by=updated_datetime:desc&limit=1",
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0]["id"].as_i64(), Some(ids[3]));
    for (q, want) in [
        ("email=c7@shop.test", Some(ids[7])),
        ("external_id=hs-3", Some(ids[3])),
        ("name=Customer%2012", Some(ids[12])),
        (
            "channel_type=phone&channel_address=%2B15550003",
            Some(ids[3]),
        ),
        ("email=nobody@shop.test", None),
    ] {
        let (_, text, _) = call(
            &env,
            reqwest::Method::GET,
            &format!("/api/customers?{q}"),
            None,
        )
        .await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["data"].get(0).and_then(|c| c["id"].as_i64()), want, "{q}");
    }
    for q in ["limit=101", "limit=0", "order_by=name", "cursor=bogus"] {
        let (s, text, _) = call(
            &env,
            reqwest::Method::GET,
            &format!("/api/customers?{q}"),
            None,
        )
        .await;
        assert_eq!(s, 400, "{q}");
        assert!(serde_json::from_str::<Value>(&text).unwrap()["error"]["msg"].is_string());
    }
}

#[tokio::test]
async fn put_is_partial_and_channels_replace() {
    let env = start().await;
    let id = env.sb.seed_customers(vec![json!({"name": "A B", "note": "keep",
        "channels": [{"type":"email","address":"ab@x.test","preferred":true},{"type":"phone","address":"+1555","preferred":true}]})])[0];
    let (s, text, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{id}"),
        Some(json!({"language": "fr"})),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let c = env.sb.customer(id).unwrap();
    assert_eq!(c["language"], "fr");
    assert_eq!(c["note"], "keep");
    assert_eq!(c["channels"].as_array().unwrap().len(), 2);
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{id}"),
        Some(json!({"channels": [{"type":"email","address":"ab@x.test","preferred":true}]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        env.sb.customer(id).unwrap()["channels"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{id}"),
        Some(json!({"firstname": "x"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        "/api/customers/999999",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn merge_data_and_delete_semantics() {
    let env = start().await;
    let ids = env.sb.seed_customers(vec![
        json!({"name": "Src", "integrations": {"77": {"orders": 1}}, "channels": [{"type":"email","address":"s@x.test","preferred":true}]}),
        json!({"name": "Tgt", "channels": [{"type":"email","address":"t@x.test","preferred":true}]}),
        json!({"name": "Other", "integrations": {"77": {"orders": 2}}, "channels": [{"type":"email","address":"o@x.test","preferred":true}]}),
    ]);
    let (src, tgt, other) = (ids[0], ids[1], ids[2]);
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/merge?source_id={src}&target_id={tgt}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 400, "empty body refused");
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/merge?source_id={src}&target_id={other}"),
        Some(json!({"name": "Other"})),
    )
    .await;
    assert_eq!(s, 409, "same integration on both");
    let (s, text, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/merge?source_id={src}&target_id={tgt}"),
        Some(json!({"name": "Tgt"})),
    )
    .await;
    assert_eq!(s, 200);
    let merged: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(merged["id"].as_i64(), Some(tgt));
    assert_eq!(merged["channels"].as_array().unwrap().len(), 2);
    for (m, path) in [
        (reqwest::Method::GET, format!("/api/customers/{src}")),
        (reqwest::Method::DELETE, format!("/api/customers/{src}")),
        (reqwest::Method::PUT, format!("/api/customers/{src}/data")),
    ] {
        let (s, _, h) = call(&env, m, &path, Some(json!({"data": {}}))).await;
        assert_eq!(s, 301, "{path}");
        assert_eq!(h["location"], format!("/api/customers/{tgt}"));
    }
    // data: 202 with an empty body, replaces, ignores older versions.
    let (s, text, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{tgt}/data"),
        Some(json!({"data": {"a": 1}, "version": "2025-01-02T00:00:00"})),
    )
    .await;
    assert_eq!((s, text.as_str()), (202, ""));
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{tgt}/data"),
        Some(json!({"data": {"b": 1}, "version": "2025-01-01T00:00:00.000000+00:00"})),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(env.sb.customer(tgt).unwrap()["data"], json!({"a": 1}));
    let (s, _, _) = call(
        &env,
        reqwest::Method::PUT,
        &format!("/api/customers/{tgt}/data"),
        Some(json!({"version": "2025-01-03T00:00:00"})),
    )
    .await;
    assert_eq!(s, 400, "data is required");
    // delete single and bulk.
    let (s, text, _) = call(
        &env,
        reqwest::Method::DELETE,
        &format!("/api/customers/{tgt}"),
        None,
    )
    .await;
    assert_eq!((s, text.as_str()), (204, ""));
    let (s, _, _) = call(
        &env,
        reqwest::Method::GET,
        &format!("/api/customers/{tgt}"),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &env,
        reqwest::Method::DELETE,
        "/api/customers",
        Some(json!({"ids": [other]})),
    )
    .await;
    assert_eq!(s, 204);
    assert!(env.sb.customer(other).is_none());
}

#[tokio::test]
async fn events_filter_and_page() {
    let env = start().await;
    let ids = env.sb.seed_customers((0..3).map(customer_seed).collect());
    env.sb.delete_as_agent(ids[0]);
    env.sb.merge_as_agent(ids[1], ids[2]);
    let (s, text, _) = call(&env, reqwest::Method::GET, "/api/events?object_type=Customer&types=customer-deleted&types=customer-merged&order_by=created_datetime:asc&limit=1", None).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0]["type"], "customer-deleted");
    assert_eq!(v["data"][0]["object_id"].as_i64(), Some(ids[0]));
    assert!(is_wire_datetime(
        v["data"][0]["created_datetime"].as_str().unwrap()
    ));
    let next = v["meta"]["next_cursor"].as_str().unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let (_, text, _) = call(&env, reqwest::Method::GET, &format!("/api/events?object_type=Customer&types=customer-deleted&types=customer-merged&order_by=created_datetime:asc&limit=1&cursor={enc}"), None).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0]["type"], "customer-merged");
    assert!(v["meta"]["next_cursor"].is_null());
    let (_, text, _) = call(
        &env,
        reqwest::Method::GET,
        "/api/events?created_datetime[gte]=2999-01-01T00:00:00Z",
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 0);
    let (s, _, _) = call(
        &env,
        reqwest::Method::GET,
        "/api/events?created_datetime[gte]=soon",
        None,
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn tickets_and_account() {
    let env = start().await;
    let ids = env.sb.seed_customers((0..2).map(customer_seed).collect());
    env.sb.seed_tickets(vec![
        json!({"customer_id": ids[0], "subject": "one"}),
        json!({"customer_id": ids[0], "subject": "two", "trashed_datetime": "2025-01-01T00:00:00.000000+00:00"}),
        json!({"customer_id": ids[1], "subject": "three"}),
    ]);
    let (_, text, _) = call(
        &env,
        reqwest::Method::GET,
        &format!("/api/tickets?customer_id={}", ids[0]),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        2,
        "trashed included by default"
    );
    assert_eq!(v["object"], "list");
    let tickets = env.client.tickets_of(ids[0]).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].subject.as_deref(), Some("one"));
    let acc = env.client.check_account().await.unwrap();
    assert_eq!(acc.domain.as_deref(), Some("sandbox"));
}

#[tokio::test]
async fn controls_over_http() {
    let env = start().await;
    let http = reqwest::Client::new();
    let base = env.running.base_url.clone();
    let r = http
        .post(format!("{base}/__sandbox/customers"))
        .json(&json!([customer_seed(1), customer_seed(2)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ids: Value = r.json().await.unwrap();
    let id = ids["ids"][0].as_i64().unwrap();
    let r = http
        .patch(format!("{base}/__sandbox/customers/{id}"))
        .json(&json!({"note": "from agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.sb.customer(id).unwrap()["note"], "from agent");
    let r = http
        .post(format!("{base}/__sandbox/faults"))
        .json(&json!({"kind": "status", "status": 503, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _, _) = call(&env, reqwest::Method::GET, "/api/account", None).await;
    assert_eq!(s, 503);
    let (s, _, _) = call(&env, reqwest::Method::GET, "/api/account", None).await;
    assert_eq!(s, 200);
    let counters: Value = http
        .get(format!("{base}/__sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["calls"]["GET /api/account"], 2);
    assert_eq!(counters["faults"], 1);
    let other = ids["ids"][1].as_i64().unwrap();
    let r = http
        .post(format!("{base}/__sandbox/merge"))
        .json(&json!({"source_id": other, "target_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(format!("{base}/__sandbox/customers/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(env.sb.customer(id).is_none());
    // Unknown routes and methods answer with the JSON error shape.
    let (s, text, _) = call(&env, reqwest::Method::GET, "/api/nothing", None).await;
    assert_eq!(s, 404);
    assert!(text.contains("\"msg\""));
    let (s, text, _) = call(&env, reqwest::Method::PATCH, "/api/customers", None).await;
    assert_eq!(s, 405);
    assert!(text.contains("not allowed"));
    assert_eq!(env.sb.seed_generated(20, 3).len(), 20);
}
