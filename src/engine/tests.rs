//! Planner tests: scenario tests on small inline fixtures, and property tests that simulate
//! edit sequences on both sides and apply the plans in memory.

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
fn new_records_link_by_email_and_one_way_ids_fill_in() {
    let h = hs("5", 1, &[("email", " Ann@X.co "), ("firstname", "Ann")]);
    let g = gs(
        9,
        1,
        json!({"email": "ann@x.co", "name": "Ann", "channels": []}),
    );
    let p = run(&[h], &[g], &[], &map());
    assert_eq!(
        p.links,
        vec![NewLink {
            hubspot_id: hid("5"),
            gorgias_id: gid(9),
            matched_by: MatchKind::Email,
            key: "ann@x.co".into()
        }]
    );
    assert_eq!(
        p.hubspot_updates[0].properties,
        BTreeMap::from([("tether_gorgias_id".to_string(), "9".to_string())])
    );
    assert_eq!(
        Value::Object(p.gorgias_updates[0].fields.clone()),
        json!({"external_id": "5"})
    );
    assert!(
        p.base_updates
            .iter()
            .any(|b| b.field == "name" && b.value.as_deref() == Some("Ann"))
    );
    assert!(
        p.changes.iter().all(|c| !c.overwrites),
        "filling empty values is not an overwrite"
    );
}

#[test]
fn ambiguous_emails_are_skipped_and_phones_link_second() {
    let a = hs("1", 1, &[("email", "dup@x.co")]);
    let b = hs("2", 1, &[("email", "dup@x.co")]);
    let c = hs("3", 1, &[("phone", "+14155552671")]);
    let g1 = gs(1, 1, json!({"email": "dup@x.co", "channels": []}));
    let g2 = gs(
        2,
        1,
        json!({"email": "z@x.co", "channels": [{"type": "phone", "address": "+1 415 555 2671", "preferred": true}]}),
    );
    let p = run(&[a, b, c], &[g1, g2], &[], &map());
    assert_eq!(p.links.len(), 1);
    assert_eq!(
        (p.links[0].hubspot_id.as_str(), p.links[0].matched_by),
        ("3", MatchKind::Phone)
    );
    let amb: Vec<_> = p
        .skips
        .iter()
        .filter(|s| s.code == SkipCode::AmbiguousMatch)
        .collect();
    assert_eq!(amb.len(), 3);
    assert!(
        p.gorgias_creates.is_empty() && p.hubspot_creates.is_empty(),
        "never guess, never create a duplicate"
    );
}

#[test]
fn recorded_ids_rebuild_links_when_the_store_is_lost() {
    let h = hs("5", 1, &[("email", "old@x.co"), ("tether_gorgias_id", "9")]);
    let g = gs(
        9,
        1,
        json!({"email": "new@x.co", "external_id": "5", "channels": []}),
    );
    let p = run(&[h], &[g], &[], &map());
    assert_eq!(p.links[0].matched_by, MatchKind::RecordedId);
}

#[test]
fn unmatched_records_get_counterparts_where_allowed() {
    let h = hs(
        "5",
        1,
        &[
            ("email", "ann@x.co"),
            ("firstname", "Ann"),
            ("lastname", "Lee"),
            ("phone", "4155552671"),
            ("lifecyclestage", "customer"),
        ],
    );
    let g = gs(
        9,
        1,
        json!({"email": "bob@x.co", "name": "Bob Ray", "channels": [], "data": {"tether": {"stage": "Lead"}}}),
    );
    let nomail = hs("6", 1, &[("firstname", "X")]);
    let p = run(&[h, nomail], &[g], &[], &map());
    let [gc] = p.gorgias_creates.as_slice() else {
        panic!("{p:#?}")
    };
    assert_eq!(gc.from_hubspot.as_str(), "5");
    assert_eq!(
        Value::Object(gc.fields.clone()),
        json!({"email": "ann@x.co", "name": "Ann Lee", "external_id": "5",
        "channels": [{"type": "email", "address": "ann@x.co", "preferred": true}, {"type": "phone", "address": "+14155552671", "preferred": true}]})
    );
    assert_eq!(gc.data, Some(json!({"tether": {"stage": "Customer"}})));
    let [hc] = p.hubspot_creates.as_slice() else {
        panic!()
    };
    assert_eq!(
        hc.properties,
        BTreeMap::from([
            ("email".to_string(), "bob@x.co".to_string()),
            ("firstname".to_string(), "Bob".to_string()),
            ("lastname".to_string(), "Ray".to_string()),
            ("lifecyclestage".to_string(), "lead".to_string()),
            ("tether_gorgias_id".to_string(), "9".to_string())
        ])
    );
    assert_eq!(hc.bases.get("name"), Some(&Some("Bob Ray".to_owned())));
    assert!(
        p.skips
            .iter()
            .any(|s| s.hubspot_id == Some(hid("6")) && s.code == SkipCode::NoEmailForCreate)
    );

    let off = parse_str(
        "t.toml",
        &MAP.replace("create_in_gorgias = true", "create_in_gorgias = false"),
    )
    .unwrap();
    let p = run(&[hs("5", 1, &[("email", "ann@x.co")])], &[], &[], &off);
    assert!(p.gorgias_creates.is_empty());
    assert_eq!(p.skips[0].code, SkipCode::CreateDisabled);
}

#[test]
fn tombstoned_and_missing_records_are_never_recreated() {
    let (h, g, l) = agreed_pair();
    let p = run(
        std::slice::from_ref(&h),
        &[],
        std::slice::from_ref(&l),
        &map(),
    );
    assert!(!p.has_writes());
    assert_eq!(p.skips[0].code, SkipCode::CounterpartMissing);
    let mut ex = Excluded::default();
    ex.gorgias.insert(gid(7));
    ex.hubspot.insert(hid("200"));
    let orphan = hs("200", 1, &[("email", "orphan@x.co")]);
    let p = run_with(
        &[h, orphan],
        &[g],
        &[l],
        &map(),
        &ex,
        &[],
        &Options::default(),
    );
    assert!(!p.has_writes(), "{p:#?}");
    assert_eq!(
        p.skips
            .iter()
            .filter(|s| s.code == SkipCode::Excluded)
            .count(),
        2
    );
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

// ---------- simulation ----------

/// Both systems and the store, in memory.
#[derive(Clone, Debug)]
struct Sides {
    h: Vec<HubspotRecord>,
    g: Vec<GorgiasRecord>,
    links: Vec<Link>,
}

impl Sides {
    fn new(h: Vec<HubspotRecord>, g: Vec<GorgiasRecord>, links: Vec<Link>) -> Self {
        Self { h, g, links }
    }

    fn plan(&self, m: &MappingSet, o: &Options) -> Plan {
        run_with(
            &self.h,
            &self.g,
            &self.links,
            m,
            &Excluded::default(),
            &[],
            o,
        )
    }

    fn link_mut(&mut self, h: &HubspotId, g: GorgiasId) -> &mut Link {
        let i = self
            .links
            .iter()
            .position(|l| &l.hubspot_id == h && l.gorgias_id == g)
            .unwrap();
        &mut self.links[i]
    }

    fn set_base(&mut self, h: &HubspotId, g: GorgiasId, field: &str, v: &Option<String>) {
        let l = self.link_mut(h, g);
        match v {
            Some(v) => l.base.insert(field.to_owned(), v.clone()),
            None => l.base.remove(field),
        };
    }

    /// Applies a plan's updates and bases (links and creates are not used by the simulation).
    fn apply(&mut self, p: &Plan, now: i64) {
        for u in &p.hubspot_updates {
            let r = self.h.iter_mut().find(|r| r.id == u.id).unwrap();
            for (k, v) in &u.properties {
                if v.is_empty() {
                    r.properties.remove(k);
                } else {
                    r.properties.insert(k.clone(), v.clone());
                }
            }
            r.updated_at = t(now);
            for (f, v) in &u.bases {
                self.set_base(&u.id, u.gorgias_id, f, v);
            }
        }
        for u in &p.gorgias_updates {
            let r = self.g.iter_mut().find(|r| r.id == u.id).unwrap();
            for (k, v) in &u.fields {
                r.fields[k] = v.clone();
            }
            if let Some(d) = &u.data {
                r.fields["data"] = d.clone();
            }
            r.updated_at = t(now);
            for (f, v) in &u.bases {
                self.set_base(&u.hubspot_id, u.id, f, v);
            }
        }
        for b in &p.base_updates {
            self.set_base(&b.hubspot_id, b.gorgias_id, &b.field, &b.value);
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    HubspotName(usize, usize, usize),
    HubspotPhone(usize, usize),
    HubspotStage(usize, usize),
    HubspotNote(usize, usize),
    GorgiasName(usize, usize),
    GorgiasPhone(usize, usize),
    GorgiasStage(usize, usize),
    GorgiasNote(usize, usize),
    Cycle,
}

const FIRST: &[&str] = &["", "Ann", "Bob", "Mary Ann"];
const LAST: &[&str] = &["", "Lee", "Ray"];
const FULL: &[&str] = &["", "Ann Lee", "Bob  Ray", "Mary Ann Smith", "Cher"];
const PHONES: &[&str] = &["", "+14155552671", "(415) 555-2672", "+442079460958"];
const H_STAGE: &[&str] = &["", "lead", "customer"];
const G_STAGE: &[&str] = &["", "Lead", "Customer"];
const NOTES: &[&str] = &["", "a", "b", "c"];
const PAIRS: usize = 3;

fn edit() -> impl Strategy<Value = Edit> {
    let r = 0..PAIRS;
    prop_oneof![
        (r.clone(), 0..FIRST.len(), 0..LAST.len()).prop_map(|(i, a, b)| Edit::HubspotName(i, a, b)),
        (r.clone(), 0..PHONES.len()).prop_map(|(i, a)| Edit::HubspotPhone(i, a)),
        (r.clone(), 0..H_STAGE.len()).prop_map(|(i, a)| Edit::HubspotStage(i, a)),
        (r.clone(), 0..NOTES.len()).prop_map(|(i, a)| Edit::HubspotNote(i, a)),
        (r.clone(), 0..FULL.len()).prop_map(|(i, a)| Edit::GorgiasName(i, a)),
        (r.clone(), 0..PHONES.len()).prop_map(|(i, a)| Edit::GorgiasPhone(i, a)),
        (r.clone(), 0..G_STAGE.len()).prop_map(|(i, a)| Edit::GorgiasStage(i, a)),
        (r, 0..NOTES.len()).prop_map(|(i, a)| Edit::GorgiasNote(i, a)),
        Just(Edit::Cycle),
    ]
}

fn set_prop(r: &mut HubspotRecord, k: &str, v: &str) {
    if v.is_empty() {
        r.properties.remove(k);
    } else {
        r.properties.insert(k.into(), v.into());
    }
}

fn policy_map(policy: &str) -> MappingSet {
    let text = format!(
        "[defaults]\nconflict = \"{policy}\"\n{}",
        MAP.replace("conflict = \"manual\"\n", "")
    );
    parse_str("p.toml", &text).unwrap()
}

fn initial() -> Sides {
    let mut h = Vec::new();
    let mut g = Vec::new();
    let mut links = Vec::new();
    for i in 0..PAIRS {
        let (hi, gi) = ((100 + i).to_string(), 1 + i as i64);
        h.push(hs(&hi, 0, &[("email", &format!("p{i}@x.co"))]));
        g.push(gs(gi, 0, json!({"email": format!("p{i}@x.co"), "channels": [{"type": "email", "address": format!("p{i}@x.co"), "preferred": true}]})));
        links.push(link(&hi, gi, &[]));
    }
    Sides::new(h, g, links)
}

fn canon_h(m: &MappingSet, f: &str, r: &HubspotRecord) -> Option<String> {
    canonical::read_hubspot(m.field(f).unwrap(), r, Default::default())
        .unwrap()
        .map(|c| c.into_owned())
}

fn canon_g(m: &MappingSet, f: &str, r: &GorgiasRecord) -> Option<String> {
    canonical::read_gorgias(m.field(f).unwrap(), r, Default::default())
        .unwrap()
        .map(|c| c.into_owned())
}

fn simulate(policy: &str, edits: &[Edit]) -> Result<(), TestCaseError> {
    let m = policy_map(policy);
    let o = Options {
        max_creates: usize::MAX,
        max_overwrites: usize::MAX,
        ..Options::default()
    };
    let mut s = initial();
    let mut now = 1;
    for e in edits {
        now += 1;
        match *e {
            Edit::HubspotName(i, a, b) => {
                set_prop(&mut s.h[i], "firstname", FIRST[a]);
                set_prop(&mut s.h[i], "lastname", LAST[b]);
                s.h[i].updated_at = t(now);
            }
            Edit::HubspotPhone(i, a) => {
                set_prop(&mut s.h[i], "phone", PHONES[a]);
                s.h[i].updated_at = t(now);
            }
            Edit::HubspotStage(i, a) => {
                set_prop(&mut s.h[i], "lifecyclestage", H_STAGE[a]);
                s.h[i].updated_at = t(now);
            }
            Edit::HubspotNote(i, a) => {
                set_prop(&mut s.h[i], "note", NOTES[a]);
                s.h[i].updated_at = t(now);
            }
            Edit::GorgiasName(i, a) => {
                s.g[i].fields["name"] = json!(FULL[a]);
                s.g[i].updated_at = t(now);
            }
            Edit::GorgiasPhone(i, a) => {
                let email = s.g[i].fields["email"].clone();
                let mut ch = vec![json!({"type": "email", "address": email, "preferred": true})];
                if !PHONES[a].is_empty() {
                    ch.push(json!({"type": "phone", "address": PHONES[a], "preferred": true}));
                }
                s.g[i].fields["channels"] = Value::Array(ch);
                s.g[i].updated_at = t(now);
            }
            Edit::GorgiasStage(i, a) => {
                s.g[i].fields["data"] = json!({"tether": {"stage": G_STAGE[a]}});
                s.g[i].updated_at = t(now);
            }
            Edit::GorgiasNote(i, a) => {
                s.g[i].fields["note"] = json!(NOTES[a]);
                s.g[i].updated_at = t(now);
            }
            Edit::Cycle => {
                let p = s.plan(&m, &o);
                s.apply(&p, now);
            }
        }
    }
    // Run cycles to a fixpoint.
    let mut last = s.plan(&m, &o);
    let mut rounds = 0;
    while last.has_writes() {
        rounds += 1;
        prop_assert!(rounds <= 4, "no fixpoint after 4 cycles: {:#?}", last);
        now += 1;
        s.apply(&last, now);
        last = s.plan(&m, &o);
    }
    // The fixpoint's base moves, then nothing at all.
    s.apply(&last, now + 1);
    let end = s.plan(&m, &o);
    prop_assert!(!end.has_changes(), "changes after the fixpoint: {:#?}", end);
    prop_assert!(end.skips.is_empty(), "{:#?}", end.skips);
    for i in 0..PAIRS {
        for f in ["email", "name", "phone", "stage", "note"] {
            let (hv, gv) = (canon_h(&m, f, &s.h[i]), canon_g(&m, f, &s.g[i]));
            if policy == "manual" && hv != gv {
                prop_assert!(
                    end.conflicts
                        .iter()
                        .any(|c| c.field == f && c.gorgias_id == s.g[i].id),
                    "disagreement not held: {f} {hv:?} {gv:?}"
                );
            } else {
                prop_assert_eq!(&hv, &gv, "field {} of pair {} under {}", f, i, policy);
                prop_assert_eq!(s.links[i].base.get(f), hv.as_ref(), "base of {}", f);
            }
        }
        // One-way ids mirrored.
        prop_assert_eq!(
            s.h[i].properties.get("tether_gorgias_id").cloned(),
            Some(s.g[i].id.to_string())
        );
        prop_assert_eq!(
            s.g[i].fields["external_id"].as_str(),
            Some(s.h[i].id.as_str())
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn edit_sequences_converge_under_hubspot(edits in proptest::collection::vec(edit(), 0..30)) {
        simulate("hubspot", &edits)?;
    }

    #[test]
    fn edit_sequences_converge_under_gorgias(edits in proptest::collection::vec(edit(), 0..30)) {
        simulate("gorgias", &edits)?;
    }

    #[test]
    fn edit_sequences_converge_under_newest(edits in proptest::collection::vec(edit(), 0..30)) {
        simulate("newest", &edits)?;
    }

    #[test]
    fn edit_sequences_converge_under_manual(edits in proptest::collection::vec(edit(), 0..30)) {
        simulate("manual", &edits)?;
    }

    #[test]
    fn the_plan_does_not_depend_on_input_order(
        edits in proptest::collection::vec(edit(), 0..20),
        seed in any::<u64>(),
    ) {
        // Build a messy state: some linked, some unlinked, shared e-mails, with edits.
        let m = map();
        let mut s = initial();
        for (n, e) in edits.iter().enumerate() {
            if let Edit::HubspotNote(i, a) | Edit::GorgiasNote(i, a) = *e {
                set_prop(&mut s.h[i], "note", NOTES[a]);
                s.g[(i + n) % PAIRS].fields["note"] = json!(NOTES[(a + 1) % NOTES.len()]);
            }
        }
        s.links.truncate(1);
        s.h.push(hs("900", 3, &[("email", "p1@x.co")]));
        s.h.push(hs("901", 3, &[("email", "solo@x.co"), ("phone", "+14155552671")]));
        s.g.push(gs(900, 3, json!({"email": "other@x.co", "channels": [{"type": "phone", "address": "+14155552671", "preferred": true}]})));
        let o = Options::default();
        let reference = serde_json::to_string(&s.plan(&m, &o)).unwrap();
        let mut shuffled = s.clone();
        let mut state = seed | 1;
        let mut next = |n: usize| { state ^= state << 13; state ^= state >> 7; state ^= state << 17; (state % n as u64) as usize };
        for i in (1..shuffled.h.len()).rev() { let j = next(i + 1); shuffled.h.swap(i, j); }
        for i in (1..shuffled.g.len()).rev() { let j = next(i + 1); shuffled.g.swap(i, j); }
        // Duplicated input records must not change the plan either.
        let dup = shuffled.h[0].clone();
        shuffled.h.push(dup);
        prop_assert_eq!(serde_json::to_string(&shuffled.plan(&m, &o)).unwrap(), reference);
    }

    #[test]
    fn nothing_is_written_when_nothing_changed(edits in proptest::collection::vec(edit(), 0..30)) {
        // Any state whose bases equal both sides' values plans nothing.
        let m = policy_map("newest");
        let o = Options { max_creates: usize::MAX, max_overwrites: usize::MAX, ..Options::default() };
        let mut s = initial();
        for e in &edits {
            if let Edit::HubspotNote(i, a) | Edit::GorgiasNote(i, a) = *e {
                set_prop(&mut s.h[i], "note", NOTES[a]);
                s.g[i].fields["note"] = json!(NOTES[a]);
            }
        }
        for (i, l) in s.links.iter_mut().enumerate() {
            for f in ["email", "name", "phone", "stage", "note", "gorgias_id", "hubspot_id"] {
                if let Some(v) = canon_h(&m, f, &s.h[i]) { l.base.insert(f.into(), v); }
            }
            s.h[i].properties.insert("tether_gorgias_id".into(), s.g[i].id.to_string());
            s.g[i].fields["external_id"] = json!(s.h[i].id.as_str());
            l.base.insert("gorgias_id".into(), s.g[i].id.to_string());
            l.base.insert("hubspot_id".into(), s.h[i].id.to_string());
        }
        let p = s.plan(&m, &o);
        prop_assert!(!p.has_changes(), "{:#?}", p);
    }
}

#[test]
fn key_linking_matches_the_single_plan() {
    // Linking by keys alone gives the same links and unmatched records as a full plan.
    let m = map();
    let h = vec![
        hs("1", 1, &[("email", "A@x.co")]),
        hs("2", 1, &[("email", "b@x.co"), ("tether_gorgias_id", "30")]),
        hs("3", 1, &[("email", "dup@x.co")]),
        hs("4", 1, &[("email", "dup@x.co")]),
        hs("5", 1, &[("email", "solo@x.co")]),
    ];
    let g = vec![
        gs(10, 1, json!({"email": "a@x.co", "channels": []})),
        gs(
            30,
            1,
            json!({"email": "changed@x.co", "external_id": "2", "channels": []}),
        ),
        gs(40, 1, json!({"email": "only@x.co", "channels": []})),
    ];
    let mut ex = Excluded::default();
    ex.hubspot.insert(hid("5"));
    let o = Options::default();
    let reader = KeyReader::new(&m, &o, &ex);
    let (hk, hskips): (Vec<_>, Vec<_>) =
        h.iter().map(|r| reader.hubspot(r)).partition(Result::is_ok);
    let gk: Vec<GorgiasKeys> = g.iter().map(|r| reader.gorgias(r).unwrap()).collect();
    let hk: Vec<HubspotKeys> = hk.into_iter().map(Result::unwrap).collect();
    assert_eq!(hskips.len(), 1, "excluded record has no keys");
    let k = link_keys(&hk, &gk, &Default::default());
    let full = run_with(&h, &g, &[], &m, &ex, &[], &o);
    assert_eq!(k.links, full.links);
    assert_eq!(k.links.len(), 2);
    assert_eq!(k.unmatched_gorgias, vec![gid(40)]);
    assert!(k.unmatched_hubspot.is_empty());
    assert_eq!(
        k.skips
            .iter()
            .filter(|s| s.code == SkipCode::AmbiguousMatch)
            .count(),
        2
    );
}

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
