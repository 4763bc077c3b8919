//! Tests of the explain view on a small inline mapping and pair.

use super::*;
use crate::mappings::parse_str;
use serde_json::json;

const MAP: &str = r#"
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
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
[fields.note]
hubspot = "note"
gorgias = "note"
conflict = "manual"
"#;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap()
}

fn hid() -> HubspotId {
    HubspotId::new("101").unwrap()
}

fn gid() -> GorgiasId {
    GorgiasId::new(7).unwrap()
}

fn hubspot() -> HubspotRecord {
    HubspotRecord {
        id: hid(),
        updated_at: t(2_000),
        properties: [
            ("email", "jane@shop.test"),
            ("firstname", "Jane"),
            ("lastname", "Smith"),
            ("phone", "not a phone"),
            ("note", "from hubspot <b>"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn gorgias() -> GorgiasRecord {
    GorgiasRecord {
        id: gid(),
        updated_at: t(1_500),
        fields: json!({
            "email": "jane@shop.test",
            "name": "Jane Doe",
            "note": "from gorgias",
            "channels": [],
        }),
    }
}

fn link() -> Link {
    Link {
        hubspot_id: hid(),
        gorgias_id: gid(),
        base: [
            ("email", "jane@shop.test"),
            ("name", "Jane Doe"),
            ("note", "old note"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

fn history() -> Vec<HistoryItem> {
    vec![
        HistoryItem {
            id: 2,
            at: t(1_000),
            actor: "sync".into(),
            action: "write.done".into(),
            detail: json!({"field": "name", "value": "Jane Doe"}),
        },
        HistoryItem {
            id: 1,
            at: t(900),
            actor: "sync".into(),
            action: "link.created".into(),
            detail: json!({"matched_by": "email"}),
        },
        HistoryItem {
            id: 2,
            at: t(1_000),
            actor: "sync".into(),
            action: "write.done".into(),
            detail: json!({"field": "name", "value": "Jane Doe"}),
        },
    ]
}

fn explain(field: Option<&str>, linked: bool) -> Explanation {
    let map = parse_str("t.toml", MAP).unwrap();
    let (h, g, l, hist) = (hubspot(), gorgias(), link(), history());
    let facts = Facts {
        subject: "jane@shop.test",
        hubspot_id: Some(&h.id),
        gorgias_id: Some(g.id),
        hubspot: Some(&h),
        gorgias: Some(&g),
        link: linked.then_some(&l),
        history: &hist,
        resolutions: &[],
        field,
    };
    build(&facts, &map, &Options::default())
}

fn field<'a>(e: &'a Explanation, name: &str) -> &'a FieldView {
    e.fields.iter().find(|f| f.field == name).unwrap()
}

#[test]
fn each_field_says_what_the_engine_would_do() {
    let e = explain(None, true);
    assert!(e.linked && e.hubspot_found && e.gorgias_found);
    let names: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["email", "name", "note", "phone"]);

    let email = field(&e, "email");
    assert_eq!(email.action, FieldAction::InSync);
    assert_eq!(email.base.as_deref(), Some("jane@shop.test"));

    let name = field(&e, "name");
    assert_eq!(name.action, FieldAction::WriteGorgias);
    assert_eq!(name.value.as_deref(), Some("Jane Smith"));
    assert_eq!(name.hubspot.as_deref(), Some("Jane Smith"));
    assert_eq!(name.gorgias.as_deref(), Some("Jane Doe"));

    let note = field(&e, "note");
    assert_eq!(note.action, FieldAction::Hold, "{note:?}");
    assert!(note.reason.contains("manual"), "{}", note.reason);

    let phone = field(&e, "phone");
    assert_eq!(phone.action, FieldAction::Skip, "{phone:?}");
    assert_eq!(phone.hubspot.as_deref(), Some("not a phone"));
}

#[test]
fn history_is_ordered_deduplicated_and_filtered_by_field() {
    let e = explain(None, true);
    let ids: Vec<i64> = e.history.iter().map(|h| h.id).collect();
    assert_eq!(ids, [1, 2]);
    let only_note = explain(Some("note"), true);
    assert_eq!(only_note.fields.len(), 1);
    // The link entry names no field, so it stays; the write of `name` goes.
    let ids: Vec<i64> = only_note.history.iter().map(|h| h.id).collect();
    assert_eq!(ids, [1]);
}

#[test]
fn an_unlinked_pair_is_linked_by_email_against_an_empty_base() {
    let e = explain(None, false);
    assert!(!e.linked);
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("would link HubSpot 101 and Gorgias 7")),
        "{:?}",
        e.notes
    );
    assert_eq!(field(&e, "email").action, FieldAction::RecordBase);
}

#[test]
fn a_missing_side_is_noted_and_fields_have_no_pair() {
    let map = parse_str("t.toml", MAP).unwrap();
    let (h, l) = (hubspot(), link());
    let facts = Facts {
        subject: "h:101",
        hubspot_id: Some(&h.id),
        gorgias_id: Some(gid()),
        hubspot: Some(&h),
        gorgias: None,
        link: Some(&l),
        history: &[],
        resolutions: &[],
        field: None,
    };
    let e = build(&facts, &map, &Options::default());
    assert!(!e.gorgias_found);
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("Gorgias customer was not found")),
        "{:?}",
        e.notes
    );
    assert!(e.fields.iter().all(|f| f.gorgias.is_none()));
    assert_eq!(field(&e, "name").action, FieldAction::NoPair);
    let t = render_text(&e, &RenderOptions::default());
    assert!(t.contains("Gorgias 7 (not found) · linked"), "{t}");
    assert!(t.contains("nothing recorded yet"), "{t}");
}

#[test]
fn text_shows_link_fields_and_history() {
    let t = render_text(&explain(None, true), &RenderOptions::default());
    assert!(t.starts_with("Customer jane@shop.test\n"), "{t}");
    assert!(t.contains("HubSpot 101 ⇄ Gorgias 7 · linked"), "{t}");
    assert!(t.contains("update Gorgias := Jane Smith"), "{t}");
    assert!(t.contains("hold for review"), "{t}");
    assert!(t.contains("History (2 entries)"), "{t}");
    assert!(
        t.contains("1970-01-01T00:15:00Z  sync  link.created"),
        "{t}"
    );
    assert!(!t.contains('\x1b'));
}

#[test]
fn json_has_a_stable_shape() {
    let v: Value = serde_json::from_str(&render_json(&explain(None, true))).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "schema",
            "subject",
            "hubspot_id",
            "gorgias_id",
            "linked",
            "hubspot_found",
            "gorgias_found",
            "notes",
            "fields",
            "history"
        ]
    );
    assert_eq!(v["schema"], EXPLAIN_SCHEMA);
    assert_eq!(v["hubspot_id"], "101");
    assert_eq!(v["gorgias_id"], 7);
    assert_eq!(v["fields"][1]["action"], "write_gorgias");
    assert_eq!(v["fields"][2]["note"], Value::Null);
    assert_eq!(v["fields"][2]["conflict_policy"], "manual");
    assert_eq!(v["fields"][2]["hubspot"], "from hubspot <b>");
}
