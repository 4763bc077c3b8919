//! The properties the fuzz targets check, shared by the libFuzzer targets (`fuzz/fuzz_targets/`,
//! nightly-style build through `fuzz/run.sh`) and the stable proptest smoke suite
//! (`tests/it/fuzz_smoke.rs`), so both drive the same entry points with the same oracles.
//!
//! Each function takes raw bytes, feeds them to one family of the product's pure decoders and
//! panics (an `assert!`) only when a property is broken. A panic inside the product code is a
//! finding too. Must never do I/O or depend on the clock beyond `Instant::now()` as a base.
//!
//! Input layout: the mapping target takes the whole input as a TOML text; the others take a
//! first byte that picks what to decode (see each function) and the rest as the body.

use serde_json::{Value, json};
use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};
use tether::connectors::{gorgias, hubspot};
use tether::mappings::{self, MappingErrors, ValueKind, transform};

/// Values tried through every mapped field's conversions.
const SAMPLES: &[&str] = &[
    "2015-05-01",
    "01/05/2015",
    "1430438400000",
    "2020-02-29T04:30:17+01:00",
    "2019-04-13T03:27:56.973873",
    "+14155552671",
    "(415) 555-2671",
    "020 7946 0958",
    " Jane.Doe@Example.COM ",
    "017.50",
    "1e3",
    "yes",
    "  Mary   Ann ",
    "customer",
];

/// Mapping files: parse, then push sample values through every field of an accepted set.
///
/// Properties: an error list is never empty and every error names the file and a line of
/// the text; parsing is deterministic; field names are sorted and unique; for every
/// accepted field, reading a value to its canonical form never panics, the canonical form is
/// a fixed point (reading it again gives itself) and can be written to both sides in their
/// formats without a panic.
pub fn mappings(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let set = match mappings::parse_str("fuzz.toml", &text) {
        Ok(set) => set,
        Err(MappingErrors(errors)) => {
            assert!(!errors.is_empty(), "an error without problems");
            let lines = text.lines().count() + 1;
            for e in &errors {
                assert_eq!(e.file, Path::new("fuzz.toml"), "{e}");
                assert!(e.line <= lines, "line {} of {lines}: {e}", e.line);
                assert!(
                    !e.problem.is_empty() && !e.expected.is_empty(),
                    "{e} for {text:?}"
                );
            }
            return;
        }
    };
    let again = mappings::parse_str("fuzz.toml", &text).expect("the same text parsed twice");
    let names = |s: &mappings::MappingSet| s.fields.iter().map(|f| f.name.clone()).collect();
    let first: Vec<String> = names(&set);
    assert_eq!(first, names(&again), "parsing is not deterministic");
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    let _ = set.hubspot_properties();
    for f in &set.fields {
        let region = f.region.unwrap_or_default();
        let defaults = f.default.iter().map(String::as_str);
        for raw in SAMPLES.iter().copied().chain(defaults) {
            let mut value = Cow::Borrowed(raw);
            for t in &f.transforms {
                value = t.apply(value);
            }
            if value.is_empty() {
                continue;
            }
            let formats = [f.hubspot_format.as_deref(), f.gorgias_format.as_deref()];
            for format in formats {
                let Ok(canonical) = transform::to_canonical(f.kind, value.clone(), region, format)
                else {
                    continue;
                };
                let fixed = transform::to_canonical(f.kind, canonical.clone(), region, None);
                assert_eq!(
                    fixed.as_deref(),
                    Ok(&*canonical),
                    "field {} ({:?}): canonical {canonical:?} of {raw:?} is not a fixed point",
                    f.name,
                    f.kind
                );
                for side in formats {
                    let _ = transform::from_canonical(f.kind, &canonical, side);
                }
            }
            if f.kind == ValueKind::Enum
                && let Some(map) = &f.values
                && let Some(g) = map.to_gorgias(&value)
            {
                assert_eq!(map.to_hubspot(g), Some(&*value), "value map not inverse");
            }
        }
    }
}

/// The selector byte: a letter names the kind (readable seeds), any other byte picks one by
/// its value.
fn pick(tag: u8, kinds: &[u8]) -> u8 {
    if kinds.contains(&tag) {
        tag
    } else {
        kinds[usize::from(tag) % kinds.len()]
    }
}

/// A status from three leading ASCII digits (`"429{...}"`), else from the byte values.
fn status_and_body(rest: &[u8]) -> (u16, &[u8]) {
    match rest.get(..3).and_then(|d| std::str::from_utf8(d).ok()) {
        Some(d) if d.bytes().all(|b| b.is_ascii_digit()) => {
            (d.parse::<u16>().unwrap_or(400).clamp(100, 599), &rest[3..])
        }
        _ => {
            let b = rest.first().copied().unwrap_or(0);
            (300 + u16::from(b) % 300, rest.get(1..).unwrap_or_default())
        }
    }
}

/// HubSpot timestamps as HubSpot writes them: RFC 3339 for years it can spell, else epoch ms.
fn hubspot_time(t: &chrono::DateTime<chrono::Utc>) -> Value {
    use chrono::Datelike;
    if (0..=9999).contains(&t.year()) {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    } else {
        json!(t.timestamp_millis().to_string())
    }
}

/// A decoded contact written back as a `SimplePublicObject`.
fn hubspot_wire(c: &hubspot::Contact) -> Value {
    let mut o = json!({
        "id": c.id,
        "properties": c.properties,
        "archived": c.archived,
        "propertiesWithHistory": c.history,
    });
    if let Some(m) = o.as_object_mut() {
        if let Some(t) = &c.created_at {
            m.insert("createdAt".into(), hubspot_time(t));
        }
        if let Some(t) = &c.updated_at {
            m.insert("updatedAt".into(), hubspot_time(t));
        }
    }
    o
}

/// A decoded contact is what it keeps: re-encoded and decoded again, it is the same.
fn hubspot_contact_round_trip(c: &hubspot::Contact) {
    let wire = hubspot_wire(c);
    let back = hubspot::wire::contact("fuzz", wire.clone());
    assert_eq!(back.as_ref().ok(), Some(c), "re-decoding {wire}");
    assert!(
        c.merged_ids
            .iter()
            .all(|m| !m.is_empty() && !m.contains(';'))
    );
}

fn hubspot_decode_error(e: &hubspot::HubspotError) {
    assert!(
        matches!(e, hubspot::HubspotError::Decode { .. }),
        "not a decode error: {e:?}"
    );
    assert_eq!(e.category(), "DECODE");
    assert!(!e.to_string().is_empty());
}

/// HubSpot answers. First byte: `c` one contact, `l` a list page, `s` a search page (and the
/// feed's paging decision on it), `b` a batch answer, `e` an error answer (`e` + 3-digit
/// status + body), `h` rate-limit headers (`name: value` lines) driven through the budget.
///
/// Properties: decoding never panics and fails only with a typed decode error; every decoded
/// contact and page re-encodes to JSON that decodes to the same value; the search paging
/// step always moves strictly forward within the 10,000 cap or stops; an error answer keeps
/// its status and a category; headers never break the budget's arithmetic.
pub fn hubspot(data: &[u8]) {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    let kind = pick(tag, b"clsbeh");
    if kind == b'h' {
        return hubspot_headers(&String::from_utf8_lossy(rest));
    }
    let (status, rest) = if kind == b'e' {
        status_and_body(rest)
    } else {
        (200, rest)
    };
    let text = String::from_utf8_lossy(rest);
    // What the transport does with a body that is not JSON (a retry, then a decode error).
    let Some(body) = hubspot::wire::parse_body(&text) else {
        return;
    };
    // Warnings of any answer: never a panic, and every category is a safe metric label.
    for w in hubspot::wire::warnings(&body) {
        assert!(!w.category.is_empty() && w.category.len() <= 64);
        assert!(
            w.category
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        );
    }
    match kind {
        b'c' => match hubspot::wire::contact("fuzz", body) {
            Ok(c) => hubspot_contact_round_trip(&c),
            Err(e) => hubspot_decode_error(&e),
        },
        b'l' | b's' => {
            let decoded = if kind == b'l' {
                hubspot::wire::list_page(body)
            } else {
                hubspot::wire::search_page(body)
            };
            match decoded {
                Ok(page) => hubspot_page(kind, &page),
                Err(e) => hubspot_decode_error(&e),
            }
        }
        b'b' => match hubspot::wire::batch("fuzz", body) {
            Ok(resp) => {
                for r in resp.results {
                    hubspot_contact_round_trip(&hubspot::Contact::from(r));
                }
            }
            Err(e) => hubspot_decode_error(&e),
        },
        _ => {
            let e = hubspot::wire::api_error("POST", "/crm/v3/objects/contacts", status, body);
            assert_eq!(e.status(), Some(status));
            assert!(!e.category().is_empty());
            if let Some(id) = e.existing_id() {
                assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            }
            let item = hubspot::ItemError::from(&e);
            assert_eq!(item.category, e.category());
            assert!(item.codes.iter().all(|c| !c.is_empty()));
            assert!(item.property_names.iter().all(|p| !p.is_empty()));
            let _ = item.refusal();
            let _ = e.missing_scopes();
            assert!(!e.to_string().is_empty());
        }
    }
}

fn hubspot_page(kind: u8, page: &hubspot::wire::Page) {
    let mut wire = json!({
        "results": page.contacts.iter().map(hubspot_wire).collect::<Vec<_>>(),
    });
    if let Some(m) = wire.as_object_mut() {
        if let Some(t) = page.total {
            m.insert("total".into(), json!(t));
        }
        if let Some(a) = &page.next_after {
            m.insert("paging".into(), json!({"next": {"after": a}}));
        }
    }
    let back = if kind == b'l' {
        hubspot::wire::list_page(wire.clone())
    } else {
        hubspot::wire::search_page(wire.clone())
    };
    assert_eq!(back.as_ref().ok(), Some(page), "re-decoding {wire}");
    if kind != b's' {
        return;
    }
    // The feed's decision after this page, from a few positions in a window.
    let ids: Vec<u64> = page
        .contacts
        .iter()
        .filter_map(|c| c.id.parse().ok())
        .collect();
    let next = page
        .next_after
        .as_deref()
        .and_then(|s| s.trim().parse::<u64>().ok());
    for offset in [0u64, 100, 9_800, 10_000] {
        for limit in [1u32, 100, 200] {
            for after_id in [None, ids.iter().min().map(|m| m.saturating_sub(1))] {
                let seen = offset + page.contacts.len() as u64;
                let cut_short = page.total.is_some_and(|t| t > seen) && !page.contacts.is_empty();
                let last = ids.iter().copied().max();
                match hubspot::search_step(cut_short, next, offset, limit, last, after_id) {
                    hubspot::SearchStep::NextPage(n) => assert!(
                        n > offset && n.checked_add(u64::from(limit)).is_some_and(|e| e <= 10_000),
                        "page {n} after {offset} (limit {limit})"
                    ),
                    hubspot::SearchStep::RestartAfter(l) => {
                        assert!(Some(l) > after_id, "restart at {l} after {after_id:?}")
                    }
                    hubspot::SearchStep::Finished | hubspot::SearchStep::NoProgress => {}
                }
            }
        }
    }
}

fn hubspot_headers(text: &str) {
    let lines: Vec<(String, &str)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
        .collect();
    let h =
        hubspot::wire::rate_headers(|name| lines.iter().find(|(k, _)| k == name).map(|(_, v)| *v));
    let window = Duration::from_secs(10);
    let mut budget = hubspot::WindowBudget::new(100, window);
    let start = Instant::now();
    let t = budget.try_acquire(start).ok();
    budget.observe(h.max, h.interval, h.remaining, start, start);
    if let Some(t) = t {
        budget.complete(t, start);
    }
    if let Some(d) = h.retry_after {
        budget.block_for(d, start);
    }
    for later in [
        Duration::ZERO,
        Duration::from_secs(11),
        Duration::from_secs(7200),
    ] {
        let Some(now) = start.checked_add(later) else {
            continue;
        };
        if let Err(wait) = budget.try_acquire(now) {
            // Never longer than the longest wait a header may ask for, plus the margin.
            let longest = hubspot::wire::MAX_WAIT + Duration::from_secs(1);
            assert!(
                wait > Duration::ZERO && wait <= longest,
                "{h:?} made it wait {wait:?}"
            );
        }
    }
}

/// A decoded customer is what it keeps: serialised and decoded again, it is the same.
fn gorgias_round_trip(c: &gorgias::Customer) {
    let bytes = serde_json::to_vec(c).expect("a customer serialises");
    let back = gorgias::wire::customer("fuzz", &bytes);
    assert_eq!(
        back.as_ref().ok(),
        Some(c),
        "re-decoding {}",
        String::from_utf8_lossy(&bytes)
    );
}

fn gorgias_decode_error(e: &gorgias::GorgiasError) {
    assert!(
        matches!(e, gorgias::GorgiasError::Decode { .. }),
        "not a decode error: {e:?}"
    );
    assert!(!e.is_transient());
}

/// How many items the `data` list of a page body holds, counted on the text made valid
/// UTF-8: serde skips unknown fields without checking their UTF-8, so the page may read where
/// a `Value` would not. serde also reads a struct from an array (`[data, meta]`).
fn list_len(body: &[u8]) -> usize {
    serde_json::from_str::<Value>(&String::from_utf8_lossy(body))
        .ok()
        .and_then(|v| {
            let data = match &v {
                Value::Array(fields) => fields.first(),
                object => object.get("data"),
            };
            data.and_then(Value::as_array).map(Vec::len)
        })
        .unwrap_or(0)
}

/// Gorgias answers. First byte: `c` one customer, `l` a customer list page, `v` an event
/// page, `t` a ticket page, `s` a satisfaction-survey page, `e` an error answer (`e` + 3-digit status + body, the body also read as a
/// `Location`), `r` a `Retry-after` value, `k` a call-limit header value.
///
/// Properties: decoding never panics and fails only with a typed decode error; every item of
/// a list page is either read or quarantined with a reason; ticket facts survive a JSON round
/// trip and survey scores stay within 1..=5; every decoded customer
/// serialises and decodes to the same value; an error answer maps to the type its status
/// says; a `Retry-after` wait never exceeds the configured maximum.
pub fn gorgias(data: &[u8]) {
    let Some((&tag, rest)) = data.split_first() else {
        return;
    };
    match pick(tag, b"clverkts") {
        b'c' => match gorgias::wire::customer("fuzz", rest) {
            Ok(c) => gorgias_round_trip(&c),
            Err(e) => gorgias_decode_error(&e),
        },
        b'l' => match gorgias::wire::customer_page("fuzz", rest) {
            Ok(page) => {
                // Counted on the text made valid UTF-8: serde skips unknown fields without
                // checking their UTF-8, so the page may read where a `Value` would not. serde
                // also reads a struct from an array (`[data, meta]`).
                assert_eq!(
                    page.customers.len() + page.quarantined.len(),
                    list_len(rest)
                );
                assert!(page.quarantined.iter().all(|q| !q.reason.is_empty()));
                assert!(page.next_cursor.as_deref().is_none_or(|c| !c.is_empty()));
                for c in &page.customers {
                    gorgias_round_trip(c);
                }
                let _ = gorgias::watermark_of(&page.customers);
            }
            Err(e) => gorgias_decode_error(&e),
        },
        b't' => match gorgias::wire::ticket_page("fuzz", rest) {
            Ok(page) => {
                assert_eq!(page.items.len() + page.quarantined.len(), list_len(rest));
                assert!(page.quarantined.iter().all(|q| !q.reason.is_empty()));
                assert!(page.next_cursor.as_deref().is_none_or(|c| !c.is_empty()));
                for t in &page.items {
                    // Facts are plain data: they survive a JSON round trip unchanged.
                    let back: tether::support::TicketFacts =
                        serde_json::from_value(serde_json::to_value(t).unwrap()).unwrap();
                    assert_eq!(&back, t);
                    assert_eq!(t.status, t.status.trim().to_ascii_lowercase());
                }
            }
            Err(e) => gorgias_decode_error(&e),
        },
        b's' => match gorgias::wire::survey_page("fuzz", rest) {
            Ok(page) => {
                assert_eq!(page.items.len() + page.quarantined.len(), list_len(rest));
                assert!(page.quarantined.iter().all(|q| !q.reason.is_empty()));
                for s in &page.items {
                    assert!(s.score.is_none_or(|n| (1..=5).contains(&n)), "{s:?}");
                }
            }
            Err(e) => gorgias_decode_error(&e),
        },
        b'v' => match gorgias::wire::event_page("fuzz", rest) {
            Ok((events, _skipped, cursor)) => {
                assert!(cursor.as_deref().is_none_or(|c| !c.is_empty()));
                for e in &events {
                    let _ = e.merge_ids();
                }
            }
            Err(e) => gorgias_decode_error(&e),
        },
        b'e' => {
            let (status, body) = status_and_body(rest);
            let location = std::str::from_utf8(body).ok();
            let e = gorgias::wire::error("fuzz", Some(7), status, body, location);
            let expected = match status {
                401 => matches!(e, gorgias::GorgiasError::Unauthorized),
                403 => matches!(e, gorgias::GorgiasError::Forbidden),
                404 => matches!(e, gorgias::GorgiasError::NotFound { id: 7 }),
                301 | 302 | 307 | 308 => matches!(e, gorgias::GorgiasError::Merged { id: 7, .. }),
                400 | 422 => matches!(e, gorgias::GorgiasError::Validation { .. }),
                409 => matches!(e, gorgias::GorgiasError::Conflict { .. }),
                _ => matches!(e, gorgias::GorgiasError::Unexpected { .. }),
            };
            assert!(expected, "status {status} gave {e:?}");
            assert!(!e.to_string().is_empty());
        }
        b'r' => {
            let max = Duration::from_secs(60);
            let raw = String::from_utf8_lossy(rest);
            let wait = gorgias::wire::retry_after(Some(&raw), max);
            assert!(wait <= max, "{raw:?} gave {wait:?}");
        }
        _ => {
            if let Some((_, limit)) =
                gorgias::wire::parse_call_limit(&String::from_utf8_lossy(rest))
            {
                assert!(limit > 0);
            }
        }
    }
}

/// HubSpot webhook deliveries (the service's decoder) and their signature.
///
/// Properties: a delivery is either a list of contact events, sorted by `occurredAt`, each
/// naming at least one valid contact id, or a typed refusal with a reason; a request signed
/// with the secret verifies, whatever its URI and body, and the same request with another
/// body does not.
pub fn webhook(data: &[u8]) {
    use tether::service::webhook;
    match webhook::parse_events(data) {
        Ok(events) => {
            assert!(
                events
                    .windows(2)
                    .all(|w| w[0].occurred_at <= w[1].occurred_at)
            );
            for e in &events {
                assert!(!e.contacts.is_empty());
                assert!(
                    e.contacts
                        .iter()
                        .all(|c| c.as_str().bytes().all(|b| b.is_ascii_digit()))
                );
            }
        }
        Err(reason) => assert!(!reason.is_empty()),
    }
    let text = String::from_utf8_lossy(data);
    let uri = text.lines().next().unwrap_or_default();
    assert!(webhook::decode_uri_escapes(uri).len() <= uri.len());
    let secret = tether::secret::Secret::new("fuzz-secret");
    let now_ms: i64 = 1_700_000_000_000;
    let ts = now_ms.to_string();
    let sig = webhook::sign_v3(secret.expose(), "POST", uri, data, &ts);
    let verify =
        |body: &[u8]| webhook::verify_v3(&secret, "POST", uri, body, Some(&ts), Some(&sig), now_ms);
    assert_eq!(verify(data), Ok(()));
    let mut other = data.to_vec();
    other.push(b'x');
    assert_eq!(verify(&other), Err(webhook::Rejection::BadSignature));
}
