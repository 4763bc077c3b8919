//! The engine's property tests: both systems and the store simulated in memory, random edit
//! sequences planned and applied until they converge, under each conflict policy; the plan
//! independent of input order; nothing written when nothing changed. Must never do I/O.

use super::*;

/// Both systems and the store, in memory.
#[derive(Clone, Debug)]
pub(super) struct Sides {
    pub(super) h: Vec<HubspotRecord>,
    pub(super) g: Vec<GorgiasRecord>,
    pub(super) links: Vec<Link>,
}

impl Sides {
    pub(super) fn new(h: Vec<HubspotRecord>, g: Vec<GorgiasRecord>, links: Vec<Link>) -> Self {
        Self { h, g, links }
    }

    pub(super) fn plan(&self, m: &MappingSet, o: &Options) -> Plan {
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
    pub(super) fn apply(&mut self, p: &Plan, now: i64) {
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
