//! Planner tests: scenario tests on small inline fixtures and the fixtures' helpers; the
//! linking and creating scenarios in [`linking`], and the property tests that simulate edit
//! sequences on both sides and apply the plans in memory in [`simulation`].

use super::*;
use crate::domain::{GorgiasId, HubspotId, System};
use crate::mappings::{MappingSet, parse_str};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MAP: &str = r#"
[records]
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
transforms = ["collapse_spaces"]
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.tether.stage"
values = { lead = "Lead", customer = "Customer" }
[fields.note]
hubspot = "note"
gorgias = "note"
conflict = "manual"
[fields.gorgias_id]
hubspot = "tether_gorgias_id"
gorgias = "@id"
direction = "to_hubspot"
[fields.hubspot_id]
hubspot = "@id"
gorgias = "external_id"
direction = "to_gorgias"
"#;

fn map() -> MappingSet {
    parse_str("t.toml", MAP).unwrap()
}

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap()
}

fn hid(s: &str) -> HubspotId {
    HubspotId::new(s).unwrap()
}

fn gid(i: i64) -> GorgiasId {
    GorgiasId::new(i).unwrap()
}

fn hs(id: &str, at: i64, props: &[(&str, &str)]) -> HubspotRecord {
    HubspotRecord {
        id: hid(id),
        updated_at: t(at),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn gs(id: i64, at: i64, fields: Value) -> GorgiasRecord {
    GorgiasRecord {
        id: gid(id),
        updated_at: t(at),
        fields,
    }
}

fn link(h: &str, g: i64, base: &[(&str, &str)]) -> Link {
    Link {
        hubspot_id: hid(h),
        gorgias_id: gid(g),
        base: base
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn run(h: &[HubspotRecord], g: &[GorgiasRecord], links: &[Link], m: &MappingSet) -> Plan {
    run_with(
        h,
        g,
        links,
        m,
        &Excluded::default(),
        &[],
        &Options::default(),
    )
}

fn run_with(
    h: &[HubspotRecord],
    g: &[GorgiasRecord],
    links: &[Link],
    m: &MappingSet,
    excluded: &Excluded,
    resolutions: &[Resolution],
    o: &Options,
) -> Plan {
    let input = Input {
        hubspot: h,
        gorgias: g,
        links,
        excluded,
        resolutions,
    };
    plan(&input, m, o)
}

/// A linked pair that agrees on everything, with matching bases.
fn agreed_pair() -> (HubspotRecord, GorgiasRecord, Link) {
    let h = hs(
        "101",
        10,
        &[
            ("email", "jane@x.co"),
            ("firstname", "Jane"),
            ("lastname", "Doe"),
            ("phone", "+14155552671"),
            ("lifecyclestage", "lead"),
            ("note", "hi"),
            ("tether_gorgias_id", "7"),
        ],
    );
    let g = gs(
        7,
        10,
        json!({"email": "jane@x.co", "name": "Jane Doe", "external_id": "101", "note": "hi",
        "channels": [{"type": "email", "address": "jane@x.co", "preferred": true}, {"type": "phone", "address": "+14155552671", "preferred": true}],
        "data": {"tether": {"stage": "Lead"}}}),
    );
    let l = link(
        "101",
        7,
        &[
            ("email", "jane@x.co"),
            ("name", "Jane Doe"),
            ("phone", "+14155552671"),
            ("stage", "lead"),
            ("note", "hi"),
            ("gorgias_id", "7"),
            ("hubspot_id", "101"),
        ],
    );
    (h, g, l)
}

#[test]
fn nothing_changed_means_an_empty_plan() {
    let (h, g, l) = agreed_pair();
    let p = run(&[h], &[g], &[l], &map());
    assert!(
        !p.has_changes(),
        "{}",
        serde_json::to_string_pretty(&p).unwrap()
    );
    assert!(p.skips.is_empty() && p.conflicts.is_empty());
    assert_eq!(p.summary.pairs, 1);
}

#[test]
fn a_one_sided_change_propagates_only_the_changed_field() {
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("lastname".into(), "Smith".into());
    h.properties
        .insert("lifecyclestage".into(), "customer".into());
    let p = run(&[h], &[g], &[l], &map());
    assert!(p.hubspot_updates.is_empty());
    let [u] = p.gorgias_updates.as_slice() else {
        panic!("{p:#?}")
    };
    assert_eq!(
        Value::Object(u.fields.clone()),
        json!({"name": "Jane Smith"})
    );
    assert_eq!(u.data, Some(json!({"tether": {"stage": "Customer"}})));
    assert_eq!(u.bases.get("name"), Some(&Some("Jane Smith".to_owned())));
    assert_eq!(u.bases.get("stage"), Some(&Some("customer".to_owned())));
    assert_eq!(p.changes.len(), 2);
    assert!(p.changes.iter().all(|c| c.target == System::Gorgias
        && c.cause == Cause::ChangedInHubspot
        && c.overwrites));
}

#[test]
fn both_changed_to_the_same_value_moves_only_the_base() {
    let (mut h, mut g, l) = agreed_pair();
    h.properties.insert("note".into(), "same".into());
    g.fields["note"] = json!("same");
    let p = run(&[h], &[g], &[l], &map());
    assert!(!p.has_writes());
    assert_eq!(
        p.base_updates,
        vec![BaseUpdate {
            hubspot_id: hid("101"),
            gorgias_id: gid(7),
            field: "note".into(),
            value: Some("same".into())
        }]
    );
}

#[test]
fn conflicts_follow_the_field_policy() {
    let (mut h, mut g, l) = agreed_pair();
    h.properties.insert("note".into(), "from hubspot".into()); // note: manual
    g.fields["note"] = json!("from gorgias");
    h.properties.insert("firstname".into(), "Janet".into()); // name: newest
    g.fields["name"] = json!("Jan Doe");
    g.updated_at = t(20);
    let p = run(&[h], &[g], &[l], &map());
    assert_eq!(p.conflicts.len(), 1);
    let c = &p.conflicts[0];
    assert_eq!(
        (
            c.field.as_str(),
            c.hubspot.as_deref(),
            c.gorgias.as_deref(),
            c.base.as_deref()
        ),
        (
            "note",
            Some("from hubspot"),
            Some("from gorgias"),
            Some("hi")
        )
    );
    assert!(p.gorgias_updates.is_empty(), "manual writes nothing");
    let [u] = p.hubspot_updates.as_slice() else {
        panic!("{p:#?}")
    };
    assert_eq!(
        u.properties,
        BTreeMap::from([("firstname".to_string(), "Jan".to_string())]),
        "Gorgias is newer"
    );
    assert!(!u.properties.contains_key("note"));
    assert_eq!(p.changes[0].cause, Cause::ConflictPolicy);
}

#[test]
fn a_review_decision_settles_a_manual_conflict() {
    let (mut h, mut g, l) = agreed_pair();
    h.properties.insert("note".into(), "from hubspot".into());
    g.fields["note"] = json!("from gorgias");
    let r = Resolution {
        hubspot_id: hid("101"),
        gorgias_id: gid(7),
        field: "note".into(),
        choice: Choice::Take(System::Gorgias),
    };
    let p = run_with(
        &[h],
        &[g],
        &[l],
        &map(),
        &Excluded::default(),
        &[r],
        &Options::default(),
    );
    assert!(p.conflicts.is_empty());
    assert_eq!(
        p.hubspot_updates[0]
            .properties
            .get("note")
            .map(String::as_str),
        Some("from gorgias")
    );
    assert_eq!(p.changes[0].cause, Cause::ReviewDecision);
}

#[test]
fn a_reviewers_own_value_is_written_to_both_sides() {
    let (mut h, mut g, l) = agreed_pair();
    h.properties.insert("note".into(), "from hubspot".into());
    g.fields["note"] = json!("from gorgias");
    let r = Resolution {
        hubspot_id: hid("101"),
        gorgias_id: gid(7),
        field: "note".into(),
        choice: Choice::Value("agreed by hand".into()),
    };
    let p = run_with(
        &[h],
        &[g],
        &[l],
        &map(),
        &Excluded::default(),
        &[r],
        &Options::default(),
    );
    assert!(p.conflicts.is_empty());
    assert_eq!(
        p.hubspot_updates[0]
            .properties
            .get("note")
            .map(String::as_str),
        Some("agreed by hand")
    );
    assert_eq!(
        p.gorgias_updates[0].fields.get("note"),
        Some(&json!("agreed by hand"))
    );
    assert!(p.changes.iter().all(|c| c.cause == Cause::ReviewDecision));
    assert_eq!(p.changes.len(), 2);
}

#[test]
fn a_reviewers_value_already_on_both_sides_only_moves_the_base() {
    let (mut h, mut g, l) = agreed_pair();
    h.properties.insert("note".into(), "same".into());
    g.fields["note"] = json!("same");
    let r = Resolution {
        hubspot_id: hid("101"),
        gorgias_id: gid(7),
        field: "note".into(),
        choice: Choice::Value("same".into()),
    };
    let p = run_with(
        &[h],
        &[g],
        &[l],
        &map(),
        &Excluded::default(),
        &[r],
        &Options::default(),
    );
    assert!(p.changes.is_empty());
    assert!(
        p.base_updates
            .iter()
            .any(|b| b.field == "note" && b.value.as_deref() == Some("same"))
    );
}

#[test]
fn a_value_that_does_not_fit_skips_only_that_field() {
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("phone".into(), "12".into());
    h.properties
        .insert("lifecyclestage".into(), "evangelist".into());
    h.properties.insert("note".into(), "changed".into());
    let p = run(&[h], &[g], &[l], &map());
    let fields: Vec<(&str, SkipCode)> = p
        .skips
        .iter()
        .map(|s| (s.field.as_deref().unwrap(), s.code))
        .collect();
    assert_eq!(
        fields,
        [
            ("phone", SkipCode::InvalidValue),
            ("stage", SkipCode::InvalidValue)
        ]
    );
    assert!(p.skips[0].reason.contains("not a phone number"));
    assert_eq!(
        Value::Object(p.gorgias_updates[0].fields.clone()),
        json!({"note": "changed"})
    );
}

#[test]
fn echo_of_our_own_write_is_a_no_op() {
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("phone".into(), "(415) 555-2672".into());
    let p = run(
        std::slice::from_ref(&h),
        std::slice::from_ref(&g),
        std::slice::from_ref(&l),
        &map(),
    );
    let mut sides = Sides::new(vec![h], vec![g], vec![l]);
    sides.apply(&p, 30);
    let gch = sides.g[0].fields["channels"].clone();
    assert_eq!(
        gch,
        json!([{"type": "email", "address": "jane@x.co", "preferred": true}, {"type": "phone", "address": "+14155552672", "preferred": true}])
    );
    let again = sides.plan(&map(), &Options::default());
    assert!(!again.has_changes(), "{again:#?}");
}

#[test]
fn filters_decide_who_takes_part() {
    let filter = "require_email = true\n[[records.only]]\nfield = \"stage\"\nin = [\"customer\"]\n";
    let text = MAP.replacen(
        "create_in_gorgias = true\n",
        &format!("create_in_gorgias = true\n{filter}"),
        1,
    );
    let m = parse_str("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.records.filters.len(), 1);
    let lead = hs("1", 1, &[("email", "a@x.co"), ("lifecyclestage", "lead")]);
    let cust = hs(
        "2",
        1,
        &[("email", "b@x.co"), ("lifecyclestage", "customer")],
    );
    let p = run(&[lead, cust], &[], &[], &m);
    assert_eq!(p.gorgias_creates.len(), 1);
    assert_eq!(p.gorgias_creates[0].from_hubspot.as_str(), "2");
    assert_eq!(p.skips[0].code, SkipCode::FilteredOut);
    // A linked pair takes part when either side passes.
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("note".into(), "new".into());
    let p = run(
        std::slice::from_ref(&h),
        std::slice::from_ref(&g),
        std::slice::from_ref(&l),
        &m,
    );
    assert!(!p.has_writes());
    assert_eq!(p.skips[0].code, SkipCode::FilteredOut);
    h.properties
        .insert("lifecyclestage".into(), "customer".into());
    let p = run(&[h], &[g], &[l], &m);
    assert_eq!(
        p.gorgias_updates.len(),
        1,
        "HubSpot now passes: note and stage propagate"
    );
}

#[test]
fn caps_block_large_plans_unless_allowed() {
    let recs: Vec<HubspotRecord> = (1..=3)
        .map(|i| hs(&i.to_string(), 1, &[("email", &format!("p{i}@x.co"))]))
        .collect();
    let o = Options {
        max_creates: 2,
        ..Options::default()
    };
    let p = run_with(&recs, &[], &[], &map(), &Excluded::default(), &[], &o);
    assert!(p.caps.exceeded && p.caps.blocked);
    assert_eq!(p.caps.creates, 3);
    let o = Options {
        max_creates: 2,
        allow_large: true,
        ..Options::default()
    };
    let p = run_with(&recs, &[], &[], &map(), &Excluded::default(), &[], &o);
    assert!(p.caps.exceeded && !p.caps.blocked);
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("note".into(), "new".into());
    let o = Options {
        max_overwrites: 0,
        ..Options::default()
    };
    let p = run_with(&[h], &[g], &[l], &map(), &Excluded::default(), &[], &o);
    assert_eq!(p.caps.overwrites, 1);
    assert!(p.caps.blocked);
}

#[test]
fn the_plan_serialises_to_the_documented_shape() {
    let (mut h, g, l) = agreed_pair();
    h.properties.insert("note".into(), "new".into());
    let v = serde_json::to_value(run(&[h], &[g], &[l], &map())).unwrap();
    for key in [
        "schema_version",
        "summary",
        "caps",
        "links",
        "hubspot_updates",
        "gorgias_updates",
        "hubspot_creates",
        "gorgias_creates",
        "base_updates",
        "changes",
        "conflicts",
        "skips",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["gorgias_updates"][0]["id"], 7);
    assert_eq!(v["gorgias_updates"][0]["hubspot_id"], "101");
    assert_eq!(v["changes"][0]["cause"], "changed_in_hubspot");
    assert_eq!(v["changes"][0]["target"], "gorgias");
}

mod linking;
mod simulation;

use simulation::Sides;

#[test]
fn list_items_without_channels_only_skip_pending_phone_changes() {
    let (h, mut g, l) = agreed_pair();
    g.fields.as_object_mut().unwrap().remove("channels");
    let p = run(
        std::slice::from_ref(&h),
        std::slice::from_ref(&g),
        std::slice::from_ref(&l),
        &map(),
    );
    assert!(!p.has_changes() && p.skips.is_empty(), "{p:#?}");
    let mut h2 = h.clone();
    h2.properties.insert("phone".into(), "+14155552672".into());
    let p = run(&[h2], &[g], &[l], &map());
    assert!(!p.has_writes());
    assert_eq!(p.skips[0].field.as_deref(), Some("phone"));
    assert!(p.skips[0].reason.contains("channels were not loaded"));
}

#[test]
fn created_counterparts_echo_only_the_id_fill_in_then_nothing() {
    let m = map();
    let h = hs(
        "5",
        1,
        &[
            ("email", "ann@x.co"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "4155552671"),
            ("lifecyclestage", "customer"),
            ("note", "vip"),
        ],
    );
    let g = gs(
        9,
        1,
        json!({"email": "bob@x.co", "name": "Bob Ray", "note": "hi",
        "channels": [{"type": "email", "address": "bob@x.co", "preferred": true}], "data": {"tether": {"stage": "Lead"}}}),
    );
    let p = run(std::slice::from_ref(&h), std::slice::from_ref(&g), &[], &m);
    assert_eq!((p.gorgias_creates.len(), p.hubspot_creates.len()), (1, 1));
    // Apply the creates as the systems would, with the bases of the new links.
    let gc = &p.gorgias_creates[0];
    let mut created_g = Value::Object(gc.fields.clone());
    created_g["data"] = gc.data.clone().unwrap_or(Value::Null);
    let new_g = gs(50, 2, created_g);
    let hc = &p.hubspot_creates[0];
    let new_h = HubspotRecord {
        id: hid("60"),
        updated_at: t(2),
        properties: hc.properties.clone(),
    };
    let base_of = |b: &BTreeMap<String, Option<String>>| -> Base {
        b.iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    };
    let links = vec![
        Link {
            hubspot_id: hid("5"),
            gorgias_id: gid(50),
            base: base_of(&gc.bases),
        },
        Link {
            hubspot_id: hid("60"),
            gorgias_id: gid(9),
            base: base_of(&hc.bases),
        },
    ];
    let mut sides = Sides::new(vec![h, new_h], vec![g, new_g], links);
    let p2 = sides.plan(&m, &Options::default());
    // Only the ids that could not be known before the create are written.
    let written: Vec<(&str, &str)> = p2
        .changes
        .iter()
        .map(|c| (c.hubspot_id.as_str(), c.field.as_str()))
        .collect();
    assert_eq!(
        written,
        [("5", "gorgias_id"), ("60", "hubspot_id")],
        "{p2:#?}"
    );
    assert!(p2.skips.is_empty() && p2.conflicts.is_empty());
    sides.apply(&p2, 3);
    let p3 = sides.plan(&m, &Options::default());
    assert!(!p3.has_changes(), "{p3:#?}");
}
