//! The merged record a proposal would produce, field by field, for the review page and
//! `tether merges show`: both records' values, the value that wins, which record it comes
//! from and why (the survivorship rule, a single value, agreement, or the reviewer's own
//! value), honouring the reviewer's [`Choices`]. A cross-system pair is not merged but
//! linked, and says so. Pure: reads the proposal's snapshot, never the systems.

use super::record::MergeRecord;
use super::survivorship::{Choices, Survivorship, SurvivorshipError, Why};
use crate::domain::RecordRef;
use serde::Serialize;
use std::collections::BTreeSet;

/// What approving a pair does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Two records of one system: merged into the survivor.
    Merge,
    /// A HubSpot contact and a Gorgias customer: linked for sync, both kept.
    Link,
}

/// One field of the preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldRow {
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
    /// The merged value (a merge only).
    pub value: Option<String>,
    /// The record it comes from (a merge only).
    pub from: Option<RecordRef>,
    pub why: Option<Why>,
}

/// The preview of approving a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergedPreview {
    pub action: Action,
    pub a: RecordRef,
    pub b: RecordRef,
    /// The record that survives (a merge only).
    pub survivor: Option<RecordRef>,
    pub rows: Vec<FieldRow>,
}

/// Both records of a proposal snapshot (`{"a": MergeRecord, "b": MergeRecord}`), when it
/// holds them.
pub fn records_of(snapshot: &serde_json::Value) -> Option<(MergeRecord, MergeRecord)> {
    let a = serde_json::from_value(snapshot.get("a")?.clone()).ok()?;
    let b = serde_json::from_value(snapshot.get("b")?.clone()).ok()?;
    Some((a, b))
}

/// The preview of approving `a` and `b` under `rules` and the reviewer's `choices`.
pub fn preview(
    rules: &Survivorship,
    a: &MergeRecord,
    b: &MergeRecord,
    choices: &Choices,
) -> Result<MergedPreview, SurvivorshipError> {
    let names: BTreeSet<&String> = a
        .fields
        .keys()
        .chain(b.fields.keys())
        .chain(choices.overrides.keys())
        .collect();
    let get = |r: &MergeRecord, n: &str| r.get(n).map(str::to_owned);
    if a.record.system() != b.record.system() {
        let rows = names
            .into_iter()
            .map(|n| FieldRow {
                field: n.clone(),
                a: get(a, n),
                b: get(b, n),
                value: None,
                from: None,
                why: None,
            })
            .collect();
        return Ok(MergedPreview {
            action: Action::Link,
            a: a.record.clone(),
            b: b.record.clone(),
            survivor: None,
            rows,
        });
    }
    let plan = rules.plan_with(a, b, choices)?;
    let rows = names
        .into_iter()
        .map(|n| FieldRow {
            field: n.clone(),
            a: get(a, n),
            b: get(b, n),
            value: plan.values.get(n).cloned(),
            from: plan.sources.get(n).cloned(),
            why: plan.why.get(n).copied(),
        })
        .collect();
    Ok(MergedPreview {
        action: Action::Merge,
        a: a.record.clone(),
        b: b.record.clone(),
        survivor: Some(plan.survivor),
        rows,
    })
}

/// The preview as text (for `tether merges show`).
pub fn to_text(p: &MergedPreview) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    match (&p.action, &p.survivor) {
        (Action::Link, _) => {
            let _ = writeln!(
                s,
                "approving links {} and {} (both are kept; sync keeps them alike)",
                p.a, p.b
            );
        }
        (Action::Merge, Some(survivor)) => {
            let _ = writeln!(s, "merged record (survivor {survivor}):");
        }
        (Action::Merge, None) => {}
    }
    if p.action == Action::Merge {
        for r in &p.rows {
            let side = match &r.from {
                Some(f) if *f == p.a => "a",
                Some(_) => "b",
                None => "-",
            };
            let _ = writeln!(
                s,
                "  {:<12} {:<32} from {side}: {}",
                r.field,
                r.value.as_deref().unwrap_or(""),
                r.why.map(Why::describe).unwrap_or_default()
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use std::collections::BTreeMap;

    fn rec(r: RecordRef, fields: &[(&str, &str)]) -> MergeRecord {
        MergeRecord {
            record: r,
            created_at: None,
            updated_at: None,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn a_merge_shows_each_winning_value_and_why() {
        let h = |id: &str| RecordRef::Hubspot(HubspotId::new(id).unwrap());
        let a = rec(h("1"), &[("first_name", "Ann"), ("city", "Leeds")]);
        let b = rec(h("2"), &[("first_name", "Ann"), ("phone", "+44 113")]);
        let p = preview(&Survivorship::default(), &a, &b, &Choices::default()).unwrap();
        assert_eq!(p.action, Action::Merge);
        let row = |f: &str| p.rows.iter().find(|r| r.field == f).unwrap().clone();
        assert_eq!(row("first_name").why, Some(Why::Same));
        assert_eq!(row("city").value.as_deref(), Some("Leeds"));
        assert_eq!(row("city").from, Some(h("1")));
        assert_eq!(row("phone").why, Some(Why::OnlyOne));
        let text = to_text(&p);
        assert!(text.contains("merged record (survivor"), "{text}");
        assert!(text.contains("only one record has a value"), "{text}");

        let chosen = Choices {
            survivor: Some(h("2")),
            overrides: BTreeMap::from([("city".to_owned(), "York".to_owned())]),
        };
        let p = preview(&Survivorship::default(), &a, &b, &chosen).unwrap();
        assert_eq!(p.survivor, Some(h("2")));
        let city = p.rows.iter().find(|r| r.field == "city").unwrap();
        assert_eq!(
            (city.value.as_deref(), city.why),
            (Some("York"), Some(Why::Override))
        );
    }

    #[test]
    fn a_cross_system_pair_is_a_link() {
        let a = rec(
            RecordRef::Hubspot(HubspotId::new("1").unwrap()),
            &[("email", "a@x.test")],
        );
        let b = rec(
            RecordRef::Gorgias(GorgiasId::new(5).unwrap()),
            &[("email", "a@x.test")],
        );
        let p = preview(&Survivorship::default(), &a, &b, &Choices::default()).unwrap();
        assert_eq!(p.action, Action::Link);
        assert!(p.survivor.is_none());
        assert!(to_text(&p).contains("approving links"));
        let snap = serde_json::json!({"a": a, "b": b});
        assert_eq!(records_of(&snap).map(|(x, _)| x.record), Some(a.record));
    }
}
