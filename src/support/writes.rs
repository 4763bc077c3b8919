//! What to write to one HubSpot contact for its support roll-ups: the mapping's computed
//! fields turned into HubSpot property values, minus what tether last wrote.
//!
//! Pure. Unchanged values are never written; a value that became empty is cleared (`""`)
//! only when tether had written one. Must never send anything: the cycle batches the writes.

use super::rollup::Rollup;
use crate::domain::HubspotId;
use crate::mappings::transform::from_canonical;
use crate::mappings::{FieldMapping, GorgiasAccess, HubspotAccess, Include};
use std::collections::BTreeMap;

/// The roll-up properties to write to one contact (`""` clears a property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupWrite {
    pub contact: HubspotId,
    pub properties: BTreeMap<String, String>,
}

/// The distinct [`Include`] settings the roll-up fields ask for (one roll-up each).
pub fn includes(fields: &[FieldMapping]) -> Vec<Include> {
    let mut v: Vec<Include> = fields
        .iter()
        .filter_map(|f| match &f.gorgias {
            GorgiasAccess::Computed(c) => Some(c.include),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The HubSpot value of every roll-up field (by property), from the customer's roll-ups
/// (one per [`includes`] setting). `Err` names a field whose value cannot be written in its
/// HubSpot format; it is left out of the writes.
pub fn desired_values(
    fields: &[FieldMapping],
    rollups: &BTreeMap<Include, Rollup>,
    app_base: &str,
) -> (BTreeMap<String, Option<String>>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for f in fields {
        let (HubspotAccess::Property(prop), GorgiasAccess::Computed(c)) = (&f.hubspot, &f.gorgias)
        else {
            continue;
        };
        let Some(r) = rollups.get(&c.include) else {
            continue;
        };
        let canonical = r.value(c.source, app_base);
        let text = match canonical {
            None => Ok(None),
            Some(v) => from_canonical(f.kind, &v, f.hubspot_format.as_deref())
                .map(|t| Some(t.into_owned())),
        };
        match text {
            Ok(t) => {
                out.insert(prop.clone(), t);
            }
            Err(e) => problems.push(format!("field {}: {e}", f.name)),
        }
    }
    (out, problems)
}

/// The properties to write: the desired values that differ from those tether last wrote.
pub fn contact_writes(
    desired: &BTreeMap<String, Option<String>>,
    last_written: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    desired
        .iter()
        .filter_map(|(prop, want)| {
            let had = last_written.get(prop).filter(|v| !v.is_empty());
            match (want, had) {
                (Some(w), Some(h)) if w == h => None,
                (Some(w), _) => Some((prop.clone(), w.clone())),
                (None, Some(_)) => Some((prop.clone(), String::new())),
                (None, None) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mappings::parse_str;
    use crate::support::rollup::rollup;
    use crate::support::rollup::tests::{survey, ticket};

    const MAP: &str = r#"
[fields.n]
hubspot = "gorgias_ticket_count"
gorgias = "@tickets.count"
direction = "to_hubspot"
[fields.all]
hubspot = "gorgias_ticket_count_all"
gorgias = "@tickets.count"
direction = "to_hubspot"
include = ["spam", "trashed"]
[fields.csat]
hubspot = "gorgias_last_csat"
gorgias = "@satisfaction.last_score"
direction = "to_hubspot"
[fields.last]
hubspot = "gorgias_last_ticket_at"
gorgias = "@tickets.last_created_datetime"
direction = "to_hubspot"
"#;

    #[test]
    fn only_changed_values_are_written_and_emptied_ones_cleared() {
        let m = parse_str("s.toml", MAP).unwrap();
        let incs = includes(&m.rollups);
        assert_eq!(incs.len(), 2);
        let mut spam = ticket(2, 1, 5);
        spam.spam = true;
        let tickets = [ticket(1, 1, 0), spam];
        let surveys = [survey(1, 1, 1, Some(4), 9)];
        let rollups: BTreeMap<Include, Rollup> = incs
            .iter()
            .map(|i| (*i, rollup(&tickets, &surveys, *i)))
            .collect();
        let (want, problems) = desired_values(&m.rollups, &rollups, "https://a.gorgias.com");
        assert!(problems.is_empty());
        assert_eq!(want["gorgias_ticket_count"].as_deref(), Some("1"));
        assert_eq!(want["gorgias_ticket_count_all"].as_deref(), Some("2"));
        assert_eq!(want["gorgias_last_csat"].as_deref(), Some("4"));
        assert!(want["gorgias_last_ticket_at"].is_some());

        // First time: everything with a value is written.
        let first = contact_writes(&want, &BTreeMap::new());
        assert_eq!(first.len(), 4);
        // Again with the same values: nothing.
        assert!(contact_writes(&want, &first).is_empty());
        // One count changed and the score gone: only those two, the score cleared.
        let mut next = want.clone();
        next.insert("gorgias_ticket_count".into(), Some("2".into()));
        next.insert("gorgias_last_csat".into(), None);
        let w = contact_writes(&next, &first);
        assert_eq!(
            w,
            BTreeMap::from([
                ("gorgias_last_csat".to_owned(), String::new()),
                ("gorgias_ticket_count".to_owned(), "2".to_owned()),
            ])
        );
        // Never written, still empty: nothing to clear.
        let none = BTreeMap::from([("gorgias_last_csat".to_owned(), None)]);
        assert!(contact_writes(&none, &BTreeMap::new()).is_empty());
    }
}
