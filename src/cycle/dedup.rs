//! Duplicates in the sync cycle (design §6, docs/cycle.md "Duplicates"): turns the records a
//! cycle read into [`MergeRecord`]s, proposes merges over them once the plan's writes and
//! links are made ([`propose_and_apply`]: `merges::propose`, then `Merger::apply_pending`
//! for the auto-approved pairs), answers the same question read-only for `tether plan`
//! ([`preview`]), and holds back a record whose counterpart was merged away so the engine
//! does not recreate the duplicate ([`hold_orphans`]).
//!
//! Owns only the glue between the cycle and `crate::merges`. Must never match records itself
//! (the matcher does), never make API calls of its own beyond the merges of approved
//! proposals and the by-id read of a held record's partner (it works on what the read step
//! already holds), and must never write anything in [`preview`] or [`hold_orphans`].

use super::read::Gathered;
use super::{Cycle, CycleError};
use crate::connectors::gorgias::Customer;
use crate::connectors::hubspot::Contact;
use crate::domain::{RecordRef, Region};
use crate::engine::canonical;
use crate::engine::{GorgiasRecord, HubspotRecord, Plan};
use crate::mappings::MappingSet;
use crate::merges::{
    self, Connectors, MergeRecord, Merger, PreviewAction, PreviewItem, ProposalSettings,
    Survivorship,
};
use crate::report::ProposalLine;
use crate::store::Pair;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The HubSpot properties duplicate proposals compare, plus `createdate` (for the `oldest`
/// survivorship rule); the read step asks for them with the mapped ones, in the same calls.
pub fn hubspot_properties() -> Vec<&'static str> {
    let mut out = merges::record::hubspot_properties();
    out.push("createdate");
    out
}

/// A contact as the merge code sees it, from the engine's record.
pub fn from_hubspot(r: &HubspotRecord) -> Option<MergeRecord> {
    let created_at = r
        .properties
        .get("createdate")
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    let c = Contact {
        id: r.id.as_str().to_owned(),
        properties: r.properties.clone(),
        created_at,
        updated_at: Some(r.updated_at),
        archived: false,
        history: BTreeMap::new(),
        merged_ids: vec![],
    };
    MergeRecord::from_hubspot(&c)
}

/// A customer as the merge code sees it, from the engine's record (which holds the
/// customer's JSON as read).
pub fn from_gorgias(r: &GorgiasRecord) -> Option<MergeRecord> {
    let c: Customer = serde_json::from_value(r.fields.clone()).ok()?;
    MergeRecord::from_gorgias(&c)
}

/// Every record the read step holds: the changed records and, on later cycles, their
/// counterparts and the other side's records sharing an e-mail. On the first cycle that is
/// everything. When the mappings mark a field as the date of birth
/// (`records.date_of_birth_field`), its canonical value goes in as `date_of_birth` for the
/// matcher to compare; a value that does not read is left out (no evidence either way).
pub fn merge_records(g: &Gathered, mappings: &MappingSet, region: Region) -> Vec<MergeRecord> {
    let dob = mappings
        .records
        .date_of_birth_field
        .as_deref()
        .and_then(|name| mappings.field(name));
    let born = |mut m: MergeRecord, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            m.fields.insert("date_of_birth".into(), v);
        }
        m
    };
    let hubspot = g.hubspot.iter().filter_map(|r| {
        let v = dob.and_then(|f| canonical::read_hubspot(f, r, region).ok().flatten());
        Some(born(from_hubspot(r)?, v.map(|v| v.into_owned())))
    });
    let gorgias = g.gorgias.iter().filter_map(|r| {
        let v = dob.and_then(|f| canonical::read_gorgias(f, r, region).ok().flatten());
        Some(born(from_gorgias(r)?, v.map(|v| v.into_owned())))
    });
    hubspot.chain(gorgias).collect()
}

/// Holds back the unlinked records in hand whose counterpart was **merged away** (a merge
/// of two linked records removed the merged-away one's link): without this the engine
/// would create a new counterpart for them, bringing the duplicate back on the side where
/// it was just merged. Each such record is excluded from this cycle's plan (shown as an
/// `excluded` skip) while its pair with the survivor's counterpart is neither approved nor
/// rejected; that counterpart is returned (read by id when `read_partners` and not in hand:
/// one call per held record) so the pair can be proposed. Costs nothing until some merge
/// happened (no alias), then one audit lookup per unlinked record in hand.
/// Long (about 110 lines): the sets it compares (aliases, links, decisions, records in hand)
/// are built first, then one loop over the audit trail; each part is short.
pub async fn hold_orphans(
    ctx: &Cycle,
    g: &mut Gathered,
    read_partners: bool,
) -> Result<Vec<MergeRecord>, CycleError> {
    let store = &ctx.store;
    let aliases: HashSet<RecordRef> = store
        .aliases()
        .await?
        .into_iter()
        .map(|(old, _)| old)
        .collect();
    if aliases.is_empty() {
        return Ok(vec![]);
    }
    let linked: HashSet<RecordRef> = g
        .links
        .iter()
        .flat_map(|l| {
            [
                RecordRef::Hubspot(l.hubspot_id.clone()),
                RecordRef::Gorgias(l.gorgias_id),
            ]
        })
        .collect();
    let in_hand: Vec<RecordRef> = g
        .hubspot
        .iter()
        .map(|r| RecordRef::Hubspot(r.id.clone()))
        .chain(g.gorgias.iter().map(|r| RecordRef::Gorgias(r.id)))
        .collect();
    let decided: HashSet<Pair> = store
        .approved_proposals()
        .await?
        .into_iter()
        .map(|p| p.pair)
        .collect();
    let mut partners: Vec<RecordRef> = vec![];
    for r in in_hand.iter().filter(|r| !linked.contains(r)) {
        let mut partner = None;
        for e in store.audit_for(r).await?.iter().rev() {
            if e.action != "link.removed" {
                continue;
            }
            let Some(other) = e.subjects.iter().find(|s| s.system() != r.system()) else {
                continue;
            };
            if !aliases.contains(other) {
                continue;
            }
            let survivor = store.resolve(other).await?;
            if let Some(l) = store.link_for(&survivor).await? {
                let c = match r {
                    RecordRef::Hubspot(_) => RecordRef::Hubspot(l.hubspot),
                    RecordRef::Gorgias(_) => RecordRef::Gorgias(l.gorgias),
                };
                if &c != r {
                    partner = Some(c);
                    break;
                }
            }
        }
        let Some(c) = partner else {
            continue;
        };
        let pair = Pair::new(r.clone(), c.clone())?;
        if decided.contains(&pair) || store.is_rejected(&pair).await? {
            continue;
        }
        tracing::info!(record = %r, partner = %c, "counterpart merged away: held until the pair is decided");
        match r {
            RecordRef::Hubspot(id) => g.excluded.hubspot.insert(id.clone()),
            RecordRef::Gorgias(id) => g.excluded.gorgias.insert(*id),
        };
        if !in_hand.contains(&c) && !partners.contains(&c) {
            partners.push(c);
        }
    }
    let mut out = vec![];
    if !read_partners {
        return Ok(out);
    }
    let hs: Vec<String> = partners
        .iter()
        .filter_map(|r| match r {
            RecordRef::Hubspot(h) => Some(h.as_str().to_owned()),
            RecordRef::Gorgias(_) => None,
        })
        .collect();
    if !hs.is_empty() {
        for res in ctx.hubspot.batch_read(&hs, &hubspot_properties()).await? {
            if let crate::connectors::hubspot::ReadOutcome::Found(c) = res.outcome
                && let Some(m) = MergeRecord::from_hubspot(&c)
            {
                out.push(m);
            }
        }
    }
    for r in &partners {
        if let RecordRef::Gorgias(id) = r {
            match ctx.gorgias.get(id.get()).await {
                Ok(c) => out.extend(MergeRecord::from_gorgias(&c)),
                Err(
                    crate::connectors::gorgias::GorgiasError::NotFound { .. }
                    | crate::connectors::gorgias::GorgiasError::Merged { .. },
                ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// What the cycle did about duplicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DedupReport {
    /// Records compared.
    pub records: usize,
    /// New pending proposals.
    pub proposed: usize,
    /// Pending proposals found again (score, explanation and snapshot refreshed).
    pub refreshed: usize,
    /// Pairs not proposed again because a person rejected them.
    pub previously_rejected: usize,
    /// Proposals approved automatically (the auto-merge band, within the cap).
    pub auto_approved: usize,
    /// Pairs in the auto-merge band left for review because the cap was reached.
    pub held_by_cap: usize,
    /// Approved merges applied this cycle.
    pub merges_applied: usize,
    /// Approved merges refused by a system (reported, never retried blindly).
    pub merges_failed: usize,
    /// Why each failed merge failed (`#id: reason`).
    pub failures: Vec<String>,
}

/// Proposes merges over `records` (writer mode) and applies the approved proposals not yet
/// applied: those auto-approved just now, and any whose earlier application stopped on an
/// error before its outcome was recorded (a person's approval is applied at once by
/// `tether merges approve` and the review page, so it is settled already).
pub async fn propose_and_apply(
    ctx: &Cycle,
    settings: &ProposalSettings,
    records: &[MergeRecord],
    at: DateTime<Utc>,
) -> Result<DedupReport, CycleError> {
    // Keep a snapshot of every record read, for `tether merges scan`.
    let snapshots: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.record.clone(),
                serde_json::to_value(r).unwrap_or_default(),
            )
        })
        .collect();
    ctx.store.upsert_snapshots(&snapshots, at).await?;
    let proposed = merges::propose(&*ctx.store, records, settings, at).await?;
    let mut out = DedupReport {
        records: records.len(),
        proposed: proposed.created.len(),
        refreshed: proposed.refreshed.len(),
        previously_rejected: proposed.previously_rejected,
        auto_approved: proposed.auto_approved.len(),
        held_by_cap: proposed.held_by_cap,
        ..DedupReport::default()
    };
    let merger = Merger::new(
        ctx.store.clone(),
        Connectors {
            hubspot: Some(Arc::new(ctx.hubspot.clone())),
            gorgias: Some(ctx.gorgias.clone()),
        },
        Survivorship::default(),
    );
    super::apply::ensure_leading(ctx)?;
    for a in merger.apply_pending(&ctx.options.actor, at).await? {
        match &a.outcome {
            merges::ApplyOutcome::Failed { reason } => {
                out.merges_failed += 1;
                out.failures.push(format!("#{}: {reason}", a.proposal.0));
            }
            _ => out.merges_applied += 1,
        }
    }
    Ok(out)
}

/// The records a plan links or creates a counterpart for: they will be linked once the plan
/// is applied, so they are no cross-system candidates.
pub fn linked_by_plan(plan: &Plan) -> HashSet<RecordRef> {
    let mut out = HashSet::new();
    for l in &plan.links {
        out.insert(RecordRef::Hubspot(l.hubspot_id.clone()));
        out.insert(RecordRef::Gorgias(l.gorgias_id));
    }
    for c in &plan.hubspot_creates {
        out.insert(RecordRef::Gorgias(c.from_gorgias));
    }
    for c in &plan.gorgias_creates {
        out.insert(RecordRef::Hubspot(c.from_hubspot.clone()));
    }
    out
}

/// Drops cross-system pairs the plan is about to link, and assigns the auto-merge band and
/// cap again over what is left, in score order (as the cycle's proposing would see it once
/// the plan's links exist). Pure.
pub fn after_plan(
    items: Vec<PreviewItem>,
    plan_linked: &HashSet<RecordRef>,
    settings: &ProposalSettings,
) -> Vec<PreviewItem> {
    let mut auto = 0u32;
    items
        .into_iter()
        .filter(|i| {
            i.a.system() == i.b.system()
                || !(plan_linked.contains(&i.a) || plan_linked.contains(&i.b))
        })
        .map(|mut i| {
            i.action = if !settings.in_auto_band(i.score) {
                PreviewAction::Review
            } else if auto < settings.auto_merge_cap {
                auto += 1;
                PreviewAction::AutoMerge
            } else {
                PreviewAction::HeldByCap
            };
            i
        })
        .collect()
}

/// What the next cycle would propose and auto-merge, read-only (`tether plan`), highest
/// score first, with each record's full name.
///
/// The same filters as `merges::preview` (merged-away records, approved and rejected pairs,
/// the auto-merge threshold and cap), but the records the plan is about to link count as
/// linked *before* matching, as they will when the cycle proposes (after its writes): the
/// matcher's term-frequency weights and blocks depend on the set it is given, so filtering
/// afterwards would not give the cycle's answer.
pub async fn preview(
    ctx: &Cycle,
    settings: &ProposalSettings,
    gathered: &Gathered,
    extra: &[MergeRecord],
    plan: &Plan,
) -> Result<Vec<ProposalLine>, CycleError> {
    let store = &ctx.store;
    let gone: HashSet<RecordRef> = store
        .aliases()
        .await?
        .into_iter()
        .map(|(old, _)| old)
        .collect();
    let live: Vec<MergeRecord> = merge_records(gathered, &ctx.mappings, ctx.options.default_region)
        .into_iter()
        .chain(extra.iter().cloned())
        .filter(|r| !gone.contains(&r.record))
        .collect();
    let mut linked = linked_by_plan(plan);
    linked.extend(
        store
            .links()
            .await?
            .into_iter()
            .flat_map(|l| [RecordRef::Hubspot(l.hubspot), RecordRef::Gorgias(l.gorgias)]),
    );
    let approved: HashSet<Pair> = store
        .approved_proposals()
        .await?
        .into_iter()
        .map(|p| p.pair)
        .collect();
    let mut items = vec![];
    for f in merges::find(&live, &linked, settings) {
        let (Some(a), Some(b)) = (live.get(f.a), live.get(f.b)) else {
            continue;
        };
        let pair = Pair::new(a.record.clone(), b.record.clone())?;
        if approved.contains(&pair) || store.is_rejected(&pair).await? {
            continue;
        }
        items.push(PreviewItem {
            a: pair.first().clone(),
            b: pair.second().clone(),
            score: f.score,
            action: PreviewAction::Review,
        });
    }
    let names: HashMap<&RecordRef, String> = live
        .iter()
        .filter_map(|r| r.full_name().map(|n| (&r.record, n)))
        .collect();
    Ok(after_plan(items, &linked, settings)
        .into_iter()
        .map(|i| ProposalLine {
            a_name: names.get(&i.a).cloned(),
            b_name: names.get(&i.b).cloned(),
            a: i.a,
            b: i.b,
            score: i.score,
            action: i.action,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use serde_json::json;

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(HubspotId::new(id).unwrap())
    }

    fn g(id: i64) -> RecordRef {
        RecordRef::Gorgias(GorgiasId::new(id).unwrap())
    }

    fn item(a: RecordRef, b: RecordRef, score: f64) -> PreviewItem {
        PreviewItem {
            a,
            b,
            score,
            action: PreviewAction::Review,
        }
    }

    #[test]
    fn a_mapped_birthday_reaches_the_matcher() {
        let m = crate::mappings::parse_str(
            "m.toml",
            r#"
version = 1
[records]
date_of_birth_field = "birthday"
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"
[fields.birthday]
hubspot = "birthday"
gorgias = "data.profile.birthday"
type = "date"
gorgias_format = "%d/%m/%Y"
"#,
        )
        .unwrap();
        let mut g = Gathered::default();
        g.hubspot.push(HubspotRecord {
            id: HubspotId::new("42").unwrap(),
            updated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            properties: BTreeMap::from([
                ("firstname".to_string(), "Ann".to_string()),
                ("birthday".to_string(), "1970-03-04".to_string()),
            ]),
        });
        g.gorgias.push(GorgiasRecord {
            id: GorgiasId::new(7).unwrap(),
            updated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            fields: json!({"id": 7, "name": "Ann Lee", "data": {"profile": {"birthday": "04/03/1970"}}}),
        });
        g.gorgias.push(GorgiasRecord {
            id: GorgiasId::new(8).unwrap(),
            updated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            fields: json!({"id": 8, "name": "Bo Day", "data": {"profile": {"birthday": "soon"}}}),
        });
        let recs = merge_records(&g, &m, Region::default());
        let dobs: Vec<String> = recs
            .iter()
            .map(|r| r.to_match_record().date_of_birth)
            .collect();
        // Both spellings read as the canonical ISO date; an unreadable one is left out.
        assert_eq!(dobs, ["1970-03-04", "1970-03-04", ""]);
        // Without the key, nothing is compared as a date of birth.
        let plain = crate::mappings::parse_str(
            "m.toml",
            "version = 1\n[fields.email]\nhubspot = \"email\"\ngorgias = \"email\"\ntype = \"email\"\n",
        )
        .unwrap();
        assert!(
            merge_records(&g, &plain, Region::default())
                .iter()
                .all(|r| r.get("date_of_birth").is_none())
        );
    }

    #[test]
    fn engine_records_become_merge_records() {
        let hr = HubspotRecord {
            id: HubspotId::new("42").unwrap(),
            updated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            properties: BTreeMap::from([
                ("firstname".to_string(), "Ann".to_string()),
                ("email".to_string(), "ann@x.test".to_string()),
                ("createdate".to_string(), "2024-01-02T03:04:05Z".to_string()),
            ]),
        };
        let m = from_hubspot(&hr).unwrap();
        assert_eq!(m.record, h("42"));
        assert_eq!(m.get("first_name"), Some("Ann"));
        assert_eq!(
            m.created_at.unwrap().to_rfc3339(),
            "2024-01-02T03:04:05+00:00"
        );
        let gr = GorgiasRecord {
            id: GorgiasId::new(7).unwrap(),
            updated_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            fields: json!({"id": 7, "name": "Bo Day", "email": "bo@x.test"}),
        };
        let m = from_gorgias(&gr).unwrap();
        assert_eq!(m.record, g(7));
        assert_eq!(m.get("last_name"), Some("Day"));
    }

    #[test]
    fn pairs_the_plan_links_are_dropped_and_the_cap_is_counted_again() {
        let s = ProposalSettings {
            auto_merge_threshold: 0.9,
            auto_merge_cap: 1,
            ..ProposalSettings::default()
        };
        let items = vec![
            item(h("1"), g(1), 0.99),
            item(h("2"), h("3"), 0.95),
            item(g(2), g(3), 0.93),
            item(h("4"), g(4), 0.85),
        ];
        let linked = HashSet::from([g(1)]);
        let out = after_plan(items, &linked, &s);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].a, h("2"));
        assert_eq!(out[0].action, PreviewAction::AutoMerge);
        assert_eq!(out[1].action, PreviewAction::HeldByCap);
        assert_eq!(out[2].action, PreviewAction::Review);
    }
}
