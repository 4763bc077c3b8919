//! Held conflicts around a cycle: the stored resolutions become the engine's
//! [`engine::Resolution`]s ([`resolutions`]), and after the writes the store learns which
//! conflicts this cycle held and which it settled ([`record`]).
//!
//! Owns the conversion and that bookkeeping step. Must never decide a conflict (the engine
//! and a person do) and never close a conflict whose pair's writes did not all succeed
//! (pending, or refused and kept unsettled).

use super::{Cycle, CycleError};
use crate::domain::{GorgiasId, HubspotId, RecordRef};
use crate::engine::{self, Choice, Plan, Resolution};
use crate::store::{ConflictChoice, HeldConflict, SeenConflict, UnsettledFilter};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// The engine's resolutions for the stored conflicts that carry a person's choice.
pub fn resolutions(held: &[HeldConflict]) -> Vec<Resolution> {
    held.iter()
        .filter_map(|c| {
            let choice = match c.resolution.as_ref()? {
                ConflictChoice::Take(s) => Choice::Take(*s),
                ConflictChoice::Value(v) => Choice::Value(v.clone()),
            };
            Some(Resolution {
                hubspot_id: c.hubspot_id.clone(),
                gorgias_id: c.gorgias_id,
                field: c.field.clone(),
                choice,
            })
        })
        .collect()
}

/// The conflicts a plan holds, as the store keeps them.
pub fn seen(plan: &Plan) -> Vec<SeenConflict> {
    plan.conflicts
        .iter()
        .map(|c| SeenConflict {
            hubspot_id: c.hubspot_id.clone(),
            gorgias_id: c.gorgias_id,
            field: c.field.clone(),
            hubspot_value: c.hubspot.clone(),
            gorgias_value: c.gorgias.clone(),
            base: c.base.clone(),
        })
        .collect()
}

/// Pairs whose two records were both in the plan's input (so every field of theirs was
/// decided this cycle).
pub fn planned_pairs(
    links: &[engine::Link],
    hubspot: &[engine::HubspotRecord],
    gorgias: &[engine::GorgiasRecord],
) -> HashSet<(HubspotId, GorgiasId)> {
    let hs: HashSet<&HubspotId> = hubspot.iter().map(|r| &r.id).collect();
    let gs: HashSet<GorgiasId> = gorgias.iter().map(|r| r.id).collect();
    links
        .iter()
        .filter(|l| hs.contains(&l.hubspot_id) && gs.contains(&l.gorgias_id))
        .map(|l| (l.hubspot_id.clone(), l.gorgias_id))
        .collect()
}

/// Fields the plan left undecided: still held, or skipped with a reason (a chosen value
/// that does not fit). Their conflicts stay live.
pub fn undecided(plan: &Plan) -> HashSet<(HubspotId, GorgiasId, String)> {
    let held = plan
        .conflicts
        .iter()
        .map(|c| (c.hubspot_id.clone(), c.gorgias_id, c.field.clone()));
    let skipped = plan
        .skips
        .iter()
        .filter_map(|s| Some((s.hubspot_id.clone()?, s.gorgias_id?, s.field.clone()?)));
    held.chain(skipped).collect()
}

/// After a cycle's writes: stores the conflicts the plan held, and, when no write is left
/// pending (`clean`), closes the live conflicts of the planned pairs that the plan decided
/// (a resolution applied, or the sides agree again), except on pairs still owing a refused
/// write.
pub async fn record(
    ctx: &Cycle,
    plan: &Plan,
    planned: &HashSet<(HubspotId, GorgiasId)>,
    clean: bool,
    at: DateTime<Utc>,
) -> Result<(), CycleError> {
    ctx.store.hold_conflicts(&seen(plan), at).await?;
    if clean {
        // A pair still owing a refused write (an unsettled record) is not settled: its
        // resolution waits for that write.
        let owing: HashSet<RecordRef> = ctx
            .store
            .unsettled(UnsettledFilter::Open)
            .await?
            .into_iter()
            .map(|u| u.record)
            .collect();
        let settled = settled_pairs(planned, &owing);
        ctx.store
            .close_conflicts(&settled, &undecided(plan), &ctx.options.actor, at)
            .await?;
    }
    Ok(())
}

/// The planned pairs neither of whose records owes a write.
pub fn settled_pairs(
    planned: &HashSet<(HubspotId, GorgiasId)>,
    owing: &HashSet<RecordRef>,
) -> HashSet<(HubspotId, GorgiasId)> {
    planned
        .iter()
        .filter(|(h, g)| {
            !owing.contains(&RecordRef::Hubspot(h.clone()))
                && !owing.contains(&RecordRef::Gorgias(*g))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::System;
    use crate::store::{ConflictId, ConflictStatus};

    fn held(choice: Option<ConflictChoice>) -> HeldConflict {
        let t = chrono::DateTime::UNIX_EPOCH;
        HeldConflict {
            id: ConflictId(1),
            link_id: None,
            hubspot_id: HubspotId::new("101").unwrap(),
            gorgias_id: GorgiasId::new(7).unwrap(),
            field: "note".into(),
            hubspot_value: Some("a".into()),
            gorgias_value: Some("b".into()),
            base: None,
            first_seen: t,
            last_seen: t,
            status: ConflictStatus::Open,
            resolution: choice,
            resolved_by: None,
            resolved_at: None,
            closed_at: None,
            closed_how: None,
        }
    }

    #[test]
    fn a_pair_owing_a_refused_write_is_not_settled() {
        let (h, g) = (HubspotId::new("101").unwrap(), GorgiasId::new(7).unwrap());
        let (h2, g2) = (HubspotId::new("102").unwrap(), GorgiasId::new(8).unwrap());
        let planned = HashSet::from([(h.clone(), g), (h2.clone(), g2)]);
        let owing = HashSet::from([RecordRef::Hubspot(h)]);
        assert_eq!(settled_pairs(&planned, &owing), HashSet::from([(h2, g2)]));
    }

    #[test]
    fn only_conflicts_with_a_choice_become_resolutions() {
        let rs = resolutions(&[
            held(None),
            held(Some(ConflictChoice::Take(System::Gorgias))),
            held(Some(ConflictChoice::Value("v".into()))),
        ]);
        assert_eq!(
            rs.iter().map(|r| r.choice.clone()).collect::<Vec<_>>(),
            vec![Choice::Take(System::Gorgias), Choice::Value("v".into())]
        );
        assert!(rs.iter().all(|r| r.field == "note"));
    }
}
