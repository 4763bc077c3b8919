//! Survivorship: which of two duplicate records survives a merge, and which value each field
//! keeps. Declarative ([`Survivorship`], deserialisable from a `[merge]` TOML table) and pure:
//! must never do I/O or read the clock; the times it compares come with the records.
//!
//! The value rules share their vocabulary with the sync conflict policies of the mappings
//! (`hubspot`, `gorgias`, `newest`; see [`ValueRule::from`] a
//! [`ConflictPolicy`](crate::mappings::model::ConflictPolicy)).

use super::record::MergeRecord;
use crate::domain::{RecordRef, System};
use crate::mappings::model::ConflictPolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Which record survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurvivorRule {
    /// The record updated last.
    MostRecentlyUpdated,
    /// The record created first (its history and id are the older ones).
    Oldest,
    /// The record holding the most non-empty fields.
    MostComplete,
}

/// Which value a field keeps when both records hold one (a value always beats no value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueRule {
    /// The surviving record's value.
    Survivor,
    /// The value of the record updated last (as the sync conflict policy `newest`).
    Newest,
    /// The value of the record created first.
    Oldest,
    /// The longer value (more characters).
    Longest,
    /// The HubSpot record's value (as the conflict policy `hubspot`); within one system,
    /// the survivor's.
    Hubspot,
    /// The Gorgias record's value (as the conflict policy `gorgias`); within one system,
    /// the survivor's.
    Gorgias,
}

impl From<ConflictPolicy> for ValueRule {
    /// The same words mean the same thing; `manual` keeps the survivor's value (a merge
    /// already had a person's approval).
    fn from(p: ConflictPolicy) -> ValueRule {
        match p {
            ConflictPolicy::Hubspot => ValueRule::Hubspot,
            ConflictPolicy::Gorgias => ValueRule::Gorgias,
            ConflictPolicy::Newest => ValueRule::Newest,
            ConflictPolicy::Manual => ValueRule::Survivor,
        }
    }
}

/// The survivorship rules. TOML form (all keys optional):
///
/// ```toml
/// [merge]
/// survivor = "most_complete"      # most_recently_updated | oldest | most_complete
/// values = "newest"               # default rule for every field
/// fields = { email = "survivor", note = "longest" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Survivorship {
    /// Which record survives; ties fall back to most recently updated, then oldest, then
    /// most complete, then the smaller reference.
    pub survivor: SurvivorRule,
    /// The rule of every field not named in `fields`.
    pub values: ValueRule,
    /// Per-field rules by canonical field name.
    pub fields: BTreeMap<String, ValueRule>,
}

impl Default for Survivorship {
    /// The most complete record survives; each field keeps its newest value, except the
    /// e-mail, which stays the survivor's (changing the primary e-mail of a survivor can
    /// collide with the merged-away record's address).
    fn default() -> Self {
        Survivorship {
            survivor: SurvivorRule::MostComplete,
            values: ValueRule::Newest,
            fields: BTreeMap::from([("email".to_owned(), ValueRule::Survivor)]),
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurvivorshipError {
    #[error("{a} and {b} are in different systems: a cross-system pair is linked, not merged")]
    DifferentSystems { a: RecordRef, b: RecordRef },
    #[error("{0} cannot be merged with itself")]
    SameRecord(RecordRef),
    #[error("the survivorship rules do not parse: {0}")]
    BadRules(String),
    #[error("{0} is not one of the pair: it cannot survive their merge")]
    NotInPair(RecordRef),
}

/// A person's choices before approving (the review page, `tether merges approve`): which
/// record survives, and values typed in for some fields. Absent choices follow the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survivor: Option<RecordRef>,
    /// Field values by canonical name; empty values are ignored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, String>,
}

impl Choices {
    /// Whether there is nothing to honour.
    pub fn is_empty(&self) -> bool {
        self.survivor.is_none() && self.overrides.values().all(|v| v.trim().is_empty())
    }
}

/// Why a field of a merged record keeps its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Only one record holds a value.
    OnlyOne,
    /// Both hold one; this rule chose.
    Rule(ValueRule),
    /// Both hold the same value.
    Same,
    /// A person typed it in.
    Override,
}

impl Why {
    /// In words, for the review page and `tether merges show`.
    pub fn describe(self) -> String {
        match self {
            Why::OnlyOne => "only one record has a value".into(),
            Why::Same => "both records agree".into(),
            Why::Override => "typed in by the reviewer".into(),
            Why::Rule(r) => format!(
                "rule {}",
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        }
    }
}

/// What a merge should do: who survives, and the values the survivor ends with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergePlan {
    pub survivor: RecordRef,
    pub merged_away: RecordRef,
    /// Every field's surviving value.
    pub values: BTreeMap<String, String>,
    /// The record each value came from.
    pub sources: BTreeMap<String, RecordRef>,
    /// The values that differ from what the survivor holds now (what must be written).
    pub changes: BTreeMap<String, String>,
    /// Why each field keeps its value.
    pub why: BTreeMap<String, Why>,
}

impl Survivorship {
    /// Parses the rules from TOML: either a document with a `[merge]` table or the table's
    /// keys at the top level.
    pub fn from_toml(text: &str) -> Result<Survivorship, SurvivorshipError> {
        #[derive(Deserialize)]
        struct Wrapped {
            merge: Survivorship,
        }
        if let Ok(w) = toml::from_str::<Wrapped>(text) {
            return Ok(w.merge);
        }
        toml::from_str::<Survivorship>(text).map_err(|e| SurvivorshipError::BadRules(e.to_string()))
    }

    /// The rule for `field`.
    pub fn rule_for(&self, field: &str) -> ValueRule {
        self.fields.get(field).copied().unwrap_or(self.values)
    }

    /// Orders two records so that the greater one survives.
    fn survivor_order(&self, a: &MergeRecord, b: &MergeRecord) -> Ordering {
        let updated = || later(a.updated_at, b.updated_at);
        let oldest = || later(b.created_at, a.created_at);
        let complete = || a.completeness().cmp(&b.completeness());
        let primary = match self.survivor {
            SurvivorRule::MostRecentlyUpdated => updated(),
            SurvivorRule::Oldest => oldest(),
            SurvivorRule::MostComplete => complete(),
        };
        primary
            .then_with(updated)
            .then_with(oldest)
            .then_with(complete)
            // The smaller reference survives a complete tie.
            .then_with(|| b.record.cmp(&a.record))
    }

    /// Plans the merge of two records of one system.
    pub fn plan(&self, a: &MergeRecord, b: &MergeRecord) -> Result<MergePlan, SurvivorshipError> {
        self.plan_with(a, b, &Choices::default())
    }

    /// Plans the merge of two records of one system, honouring a person's `choices`: the
    /// survivor they chose (it must be one of the pair) and the values they typed in.
    pub fn plan_with(
        &self,
        a: &MergeRecord,
        b: &MergeRecord,
        choices: &Choices,
    ) -> Result<MergePlan, SurvivorshipError> {
        if a.record.system() != b.record.system() {
            return Err(SurvivorshipError::DifferentSystems {
                a: a.record.clone(),
                b: b.record.clone(),
            });
        }
        if a.record == b.record {
            return Err(SurvivorshipError::SameRecord(a.record.clone()));
        }
        let (s, m) = match &choices.survivor {
            Some(r) if *r == a.record => (a, b),
            Some(r) if *r == b.record => (b, a),
            Some(r) => return Err(SurvivorshipError::NotInPair(r.clone())),
            None if self.survivor_order(a, b) == Ordering::Less => (b, a),
            None => (a, b),
        };
        let overrides: BTreeMap<&String, &str> = choices
            .overrides
            .iter()
            .map(|(k, v)| (k, v.trim()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let names: BTreeSet<&String> = s
            .fields
            .keys()
            .chain(m.fields.keys())
            .chain(overrides.keys().copied())
            .collect();
        let mut plan = MergePlan {
            survivor: s.record.clone(),
            merged_away: m.record.clone(),
            values: BTreeMap::new(),
            sources: BTreeMap::new(),
            changes: BTreeMap::new(),
            why: BTreeMap::new(),
        };
        for name in names {
            let (value, from, why) = if let Some(v) = overrides.get(name) {
                ((*v).to_owned(), s, Why::Override)
            } else {
                let (from, why) = match (s.get(name), m.get(name)) {
                    (Some(_), None) => (s, Why::OnlyOne),
                    (None, Some(_)) => (m, Why::OnlyOne),
                    (None, None) => continue,
                    (Some(x), Some(y)) if x == y => (s, Why::Same),
                    (Some(_), Some(_)) => {
                        let rule = self.rule_for(name);
                        (pick(rule, name, s, m), Why::Rule(rule))
                    }
                };
                let Some(v) = from.get(name) else { continue };
                (v.to_owned(), from, why)
            };
            if s.get(name) != Some(value.as_str()) {
                plan.changes.insert(name.clone(), value.clone());
            }
            plan.values.insert(name.clone(), value);
            plan.sources.insert(name.clone(), from.record.clone());
            plan.why.insert(name.clone(), why);
        }
        Ok(plan)
    }
}

/// `Greater` when `a` is later than `b` (a known time beats an unknown one).
fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    a.cmp(&b)
}

/// The record whose value a rule keeps, both holding one; ties keep the survivor's.
fn pick<'r>(
    rule: ValueRule,
    field: &str,
    s: &'r MergeRecord,
    m: &'r MergeRecord,
) -> &'r MergeRecord {
    let other_wins = |o: Ordering| if o == Ordering::Greater { m } else { s };
    let in_system = |sys: System| {
        if s.record.system() != sys && m.record.system() == sys {
            m
        } else {
            s
        }
    };
    match rule {
        ValueRule::Survivor => s,
        ValueRule::Newest => other_wins(later(m.updated_at, s.updated_at)),
        ValueRule::Oldest => other_wins(later(s.created_at, m.created_at)),
        ValueRule::Longest => {
            let len = |r: &MergeRecord| r.get(field).map_or(0, |v| v.chars().count());
            other_wins(len(m).cmp(&len(s)))
        }
        ValueRule::Hubspot => in_system(System::Hubspot),
        ValueRule::Gorgias => in_system(System::Gorgias),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn choices_pick_the_survivor_and_override_fields() {
        let rec = |id: &str, first: &str, city: Option<&str>, day: u32| MergeRecord {
            record: RecordRef::Hubspot(crate::domain::HubspotId::new(id).unwrap()),
            created_at: t(day),
            updated_at: t(day),
            fields: [("first_name", Some(first)), ("city", city)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
                .collect(),
        };
        let (a, b) = (rec("1", "Ann", Some("Leeds"), 1), rec("2", "Anne", None, 2));
        let rules = Survivorship::default();
        let auto = rules.plan(&a, &b).unwrap();
        assert_eq!(auto.survivor, a.record, "the more complete record");
        assert_eq!(auto.values["first_name"], "Anne", "newest value");
        assert_eq!(auto.why["first_name"], Why::Rule(ValueRule::Newest));
        assert_eq!(auto.why["city"], Why::OnlyOne);
        let choices = Choices {
            survivor: Some(b.record.clone()),
            overrides: BTreeMap::from([
                ("first_name".to_owned(), " Annie ".to_owned()),
                ("zip".to_owned(), "".to_owned()),
            ]),
        };
        let chosen = rules.plan_with(&a, &b, &choices).unwrap();
        assert_eq!(chosen.survivor, b.record);
        assert_eq!(chosen.merged_away, a.record);
        assert_eq!(chosen.values["first_name"], "Annie");
        assert_eq!(chosen.why["first_name"], Why::Override);
        assert_eq!(chosen.changes["first_name"], "Annie");
        assert_eq!(chosen.changes["city"], "Leeds");
        assert!(
            !chosen.values.contains_key("zip"),
            "an empty override is ignored"
        );
        let stranger = Choices {
            survivor: Some(RecordRef::Hubspot(
                crate::domain::HubspotId::new("9").unwrap(),
            )),
            ..Choices::default()
        };
        assert!(matches!(
            rules.plan_with(&a, &b, &stranger),
            Err(SurvivorshipError::NotInPair(_))
        ));
    }

    fn t(day: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).single()
    }

    fn hs(id: &str, created: u32, updated: u32, fields: &[(&str, &str)]) -> MergeRecord {
        MergeRecord {
            record: RecordRef::Hubspot(crate::domain::HubspotId::new(id).unwrap()),
            created_at: t(created),
            updated_at: t(updated),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn default_keeps_most_complete_and_newest_values_but_survivor_email() {
        let old = hs(
            "1",
            1,
            2,
            &[
                ("email", "a@x.test"),
                ("first_name", "Bill"),
                ("phone", "+1"),
                ("company", "Old Co"),
            ],
        );
        let new = hs(
            "2",
            3,
            9,
            &[("email", "b@x.test"), ("first_name", "William")],
        );
        let p = Survivorship::default().plan(&new, &old).unwrap();
        assert_eq!(p.survivor, old.record);
        assert_eq!(p.merged_away, new.record);
        assert_eq!(p.values["email"], "a@x.test");
        assert_eq!(p.values["first_name"], "William");
        assert_eq!(p.sources["first_name"], new.record);
        assert_eq!(p.values["company"], "Old Co");
        assert_eq!(
            p.changes,
            BTreeMap::from([("first_name".to_owned(), "William".to_owned())])
        );
    }

    #[test]
    fn survivor_rules_choose_differently() {
        let a = hs("5", 1, 2, &[("first_name", "A"), ("last_name", "X")]);
        let b = hs("6", 3, 9, &[("first_name", "B")]);
        let with = |survivor| Survivorship {
            survivor,
            ..Survivorship::default()
        };
        assert_eq!(
            with(SurvivorRule::MostRecentlyUpdated)
                .plan(&a, &b)
                .unwrap()
                .survivor,
            b.record
        );
        assert_eq!(
            with(SurvivorRule::Oldest).plan(&b, &a).unwrap().survivor,
            a.record
        );
        assert_eq!(
            with(SurvivorRule::MostComplete)
                .plan(&b, &a)
                .unwrap()
                .survivor,
            a.record
        );
        // A complete tie: the smaller reference survives, whichever order they come in.
        let c = hs("7", 1, 2, &[("first_name", "C")]);
        let d = hs("8", 1, 2, &[("first_name", "D")]);
        let r = Survivorship::default();
        assert_eq!(r.plan(&c, &d).unwrap().survivor, c.record);
        assert_eq!(r.plan(&d, &c).unwrap().survivor, c.record);
    }

    #[test]
    fn value_rules_and_gaps() {
        let s = hs(
            "1",
            1,
            1,
            &[("note", "short"), ("city", "Leeds"), ("first_name", "Al")],
        );
        let m = hs("2", 2, 5, &[("note", "a much longer note"), ("zip", "LS1")]);
        let rules = Survivorship {
            survivor: SurvivorRule::Oldest,
            values: ValueRule::Survivor,
            fields: BTreeMap::from([("note".to_owned(), ValueRule::Longest)]),
        };
        let p = rules.plan(&m, &s).unwrap();
        assert_eq!(p.survivor, s.record);
        assert_eq!(p.values["note"], "a much longer note");
        assert_eq!(
            p.values["zip"], "LS1",
            "a value fills a gap whatever the rule"
        );
        assert_eq!(p.values["city"], "Leeds");
        assert_eq!(p.changes.len(), 2);
        let newest = Survivorship {
            values: ValueRule::Oldest,
            ..rules.clone()
        };
        assert_eq!(
            newest.plan(&s, &m).unwrap().values["note"],
            "a much longer note"
        );
    }

    #[test]
    fn conflict_policies_share_the_vocabulary() {
        assert_eq!(ValueRule::from(ConflictPolicy::Newest), ValueRule::Newest);
        assert_eq!(ValueRule::from(ConflictPolicy::Hubspot), ValueRule::Hubspot);
        assert_eq!(ValueRule::from(ConflictPolicy::Gorgias), ValueRule::Gorgias);
        let r = Survivorship::from_toml(
            "[merge]\nsurvivor = \"oldest\"\nvalues = \"hubspot\"\nfields = { note = \"longest\" }\n",
        )
        .unwrap();
        assert_eq!(r.survivor, SurvivorRule::Oldest);
        assert_eq!(r.rule_for("note"), ValueRule::Longest);
        assert_eq!(r.rule_for("city"), ValueRule::Hubspot);
        assert_eq!(
            Survivorship::from_toml("").unwrap(),
            Survivorship::default()
        );
        assert!(Survivorship::from_toml("survivor = \"coin_flip\"").is_err());
    }

    #[test]
    fn refuses_cross_system_and_self_merges() {
        let a = hs("1", 1, 1, &[]);
        let g = MergeRecord {
            record: RecordRef::Gorgias(crate::domain::GorgiasId::new(1).unwrap()),
            ..a.clone()
        };
        assert!(matches!(
            Survivorship::default().plan(&a, &g),
            Err(SurvivorshipError::DifferentSystems { .. })
        ));
        assert!(Survivorship::default().plan(&a, &a).is_err());
    }
}
