//! Applying approved proposals: a HubSpot pair through the contact merge API (the survivor
//! may get a NEW id: links and aliases follow it, and the surviving values are written to
//! it), a Gorgias pair through the customer merge API (ids in the query, the surviving values
//! in the body; the integration-data conflict is reported as a failed merge with its reason,
//! never retried blindly), a cross-system pair by linking the two records. Every decision
//! and every write leaves an audit entry; every merged-away id gets an alias, so the sync
//! never recreates it from the other side.
//!
//! The shell around [`Survivorship`]: must never decide which values survive itself, never
//! hold SQL (the store does) nor HTTP (the connectors do).

use super::MergeError;
use super::record::{HUBSPOT_FIELDS, MergeRecord, hubspot_properties};
use super::survivorship::{Choices, MergePlan, Survivorship};
use crate::connectors::gorgias::{CustomerUpdate, GorgiasClient, GorgiasError};
use crate::connectors::hubspot::{HubspotClient, WriteOutcome};
use crate::domain::{GorgiasId, HubspotId, RecordRef};
use crate::store::{Decision, NewAudit, Proposal, ProposalId, ProposalStatus, SharedStore};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Audit action of a merge (or link) that happened.
pub const APPLIED: &str = "merge.applied";
/// Audit action of a merge that was refused or could not be attempted.
pub const FAILED: &str = "merge.failed";

/// The clients a merge may need; a missing one fails the merges of that system.
#[derive(Debug, Clone, Default)]
pub struct Connectors {
    pub hubspot: Option<Arc<HubspotClient>>,
    pub gorgias: Option<Arc<GorgiasClient>>,
}

/// What applying one approved proposal did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Two records of one system became one.
    Merged {
        /// The record survivorship chose, as it was before the merge.
        survivor_before: RecordRef,
        merged_away: RecordRef,
        /// The survivor after the merge (a new id for HubSpot).
        survivor: RecordRef,
        /// The surviving values sent to the survivor (system field names).
        written: BTreeMap<String, String>,
        /// Why writing those values failed, when it did (the merge itself happened).
        write_error: Option<String>,
    },
    /// A HubSpot contact and a Gorgias customer were linked.
    Linked {
        hubspot: RecordRef,
        gorgias: RecordRef,
    },
    /// Nothing changed in the systems; the reason says why.
    Failed { reason: String },
}

/// One proposal's application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub proposal: ProposalId,
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
}

impl Applied {
    /// Whether the merge (or link) happened.
    pub fn succeeded(&self) -> bool {
        !matches!(self.outcome, ApplyOutcome::Failed { .. })
    }
}

fn failed(reason: impl Into<String>) -> ApplyOutcome {
    ApplyOutcome::Failed {
        reason: reason.into(),
    }
}

/// Decides and applies merges: the store, the connectors and the survivorship rules.
#[derive(Debug, Clone)]
pub struct Merger {
    pub store: SharedStore,
    pub connectors: Connectors,
    pub rules: Survivorship,
}

impl Merger {
    pub fn new(store: SharedStore, connectors: Connectors, rules: Survivorship) -> Self {
        Merger {
            store,
            connectors,
            rules,
        }
    }

    async fn pending(&self, id: ProposalId) -> Result<Proposal, MergeError> {
        let p = self
            .store
            .proposal(id)
            .await?
            .ok_or(MergeError::NoSuchProposal(id.0))?;
        if p.status != ProposalStatus::Pending {
            return Err(MergeError::NotPending {
                id: id.0,
                status: serde_json::to_value(p.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            });
        }
        Ok(p)
    }

    /// Approves a pending proposal as `who` and applies it at once.
    pub async fn approve(
        &self,
        id: ProposalId,
        who: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Applied, MergeError> {
        self.approve_with(id, who, reason, &Choices::default(), at)
            .await
    }

    /// [`Merger::approve`] honouring a person's `choices` (the survivor, typed-in values);
    /// the choices are kept in the audit entry of the outcome.
    pub async fn approve_with(
        &self,
        id: ProposalId,
        who: &str,
        reason: &str,
        choices: &Choices,
        at: DateTime<Utc>,
    ) -> Result<Applied, MergeError> {
        let pending = self.pending(id).await?;
        if let Some(s) = &choices.survivor
            && s != pending.pair.first()
            && s != pending.pair.second()
        {
            return Err(MergeError::BadChoice {
                id: id.0,
                why: format!("{s} is not one of the pair, so it cannot survive"),
            });
        }
        let p = self
            .store
            .decide(id, Decision::Approve, reason, who, at)
            .await?;
        self.apply_with(&p, who, choices, at).await
    }

    /// Approves and applies every pending proposal scoring at least `min_score`, highest
    /// first.
    pub async fn approve_above(
        &self,
        min_score: f64,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Applied>, MergeError> {
        let mut out = Vec::new();
        for p in self.store.pending_proposals(u32::MAX).await? {
            if p.score >= min_score {
                let why = format!("approved with score ≥ {min_score}");
                out.push(self.approve(p.id, who, &why, at).await?);
            }
        }
        Ok(out)
    }

    /// Rejects a pending proposal; the pair is never proposed again.
    pub async fn reject(
        &self,
        id: ProposalId,
        who: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Proposal, MergeError> {
        self.pending(id).await?;
        Ok(self
            .store
            .decide(id, Decision::Reject, reason, who, at)
            .await?)
    }

    /// Whether an approved proposal was already applied or reported as failed.
    pub async fn is_settled(&self, p: &Proposal) -> Result<bool, MergeError> {
        Ok(self
            .store
            .audit_for(p.pair.first())
            .await?
            .iter()
            .any(|e| (e.action == APPLIED || e.action == FAILED) && e.detail["proposal"] == p.id.0))
    }

    /// Applies every approved proposal not settled yet (e.g. auto-approved in this cycle,
    /// or approved while a system was unreachable).
    pub async fn apply_pending(
        &self,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Applied>, MergeError> {
        let mut out = Vec::new();
        for p in self.store.approved_proposals().await? {
            if !self.is_settled(&p).await? {
                out.push(self.apply(&p, who, at).await?);
            }
        }
        Ok(out)
    }

    /// Applies an approved proposal and audits the outcome. A refusal is an
    /// [`ApplyOutcome::Failed`]; an error means the bookkeeping failed.
    pub async fn apply(
        &self,
        p: &Proposal,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Applied, MergeError> {
        self.apply_with(p, who, &Choices::default(), at).await
    }

    /// [`Merger::apply`] honouring a person's `choices`.
    pub async fn apply_with(
        &self,
        p: &Proposal,
        who: &str,
        choices: &Choices,
        at: DateTime<Utc>,
    ) -> Result<Applied, MergeError> {
        let outcome = match (p.pair.first(), p.pair.second()) {
            (RecordRef::Hubspot(a), RecordRef::Hubspot(b)) => {
                self.merge_hubspot(a, b, choices, who, at).await?
            }
            (RecordRef::Gorgias(a), RecordRef::Gorgias(b)) => {
                self.merge_gorgias(*a, *b, choices, who, at).await?
            }
            (RecordRef::Hubspot(h), RecordRef::Gorgias(g))
            | (RecordRef::Gorgias(g), RecordRef::Hubspot(h)) => self.link(h, *g, who, at).await?,
        };
        let mut subjects = vec![p.pair.first().clone(), p.pair.second().clone()];
        if let ApplyOutcome::Merged { survivor, .. } = &outcome
            && !subjects.contains(survivor)
        {
            subjects.push(survivor.clone());
        }
        let action = match outcome {
            ApplyOutcome::Failed { .. } => FAILED,
            _ => APPLIED,
        };
        self.store
            .append_audit(&NewAudit {
                at,
                actor: who.to_owned(),
                action: action.into(),
                subjects,
                detail: json!({
                    "proposal": p.id.0,
                    "score": p.score,
                    "result": outcome,
                    "snapshot": p.snapshot,
                    "choices": choices,
                }),
            })
            .await?;
        Ok(Applied {
            proposal: p.id,
            outcome,
        })
    }

    /// After a merge: links and aliases follow the survivor.
    async fn follow(
        &self,
        plan: &MergePlan,
        new: &RecordRef,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<(), MergeError> {
        let store = &self.store;
        let survivor_link = store.link_for(&plan.survivor).await?;
        let away_link = store.link_for(&plan.merged_away).await?;
        if let Some(l) = &survivor_link
            && new != &plan.survivor
        {
            store.relink(l.id, new, who, at).await?;
        }
        if let Some(l) = away_link {
            if survivor_link.is_some() {
                let why = format!(
                    "{} was merged into {new}, which is linked already",
                    plan.merged_away
                );
                store.remove_link(l.id, &why, who, at).await?;
            } else {
                store.relink(l.id, new, who, at).await?;
            }
        }
        for old in [&plan.survivor, &plan.merged_away] {
            if old != new {
                store.add_alias(old, new, who, at).await?;
            }
        }
        Ok(())
    }

    async fn merge_hubspot(
        &self,
        a: &HubspotId,
        b: &HubspotId,
        choices: &Choices,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplyOutcome, MergeError> {
        let Some(client) = &self.connectors.hubspot else {
            return Ok(failed("HubSpot is not configured (hubspot.token)"));
        };
        let ra = self.store.resolve(&RecordRef::Hubspot(a.clone())).await?;
        let rb = self.store.resolve(&RecordRef::Hubspot(b.clone())).await?;
        if ra == rb {
            return Ok(failed(format!("already merged: both resolve to {ra}")));
        }
        let props = hubspot_properties();
        let mut recs = Vec::with_capacity(2);
        for r in [&ra, &rb] {
            match client.get(&r.id_string(), &props).await {
                Ok(Some(c)) => match MergeRecord::from_hubspot(&c) {
                    Some(m) => recs.push(m),
                    None => return Ok(failed(format!("HubSpot answered a bad id for {r}"))),
                },
                Ok(None) => return Ok(failed(format!("{r} no longer exists in HubSpot"))),
                Err(e) => return Ok(failed(format!("cannot read {r}: {e}"))),
            }
        }
        let (Some(ma), Some(mb)) = (recs.first(), recs.get(1)) else {
            return Ok(failed("internal: records missing"));
        };
        if ma.record == mb.record {
            return Ok(failed(format!(
                "already one record in HubSpot ({})",
                ma.record
            )));
        }
        let plan = match self.rules.plan_with(ma, mb, choices) {
            Ok(p) => p,
            Err(e) => return Ok(failed(e.to_string())),
        };
        let merged = match client
            .merge(&plan.survivor.id_string(), &plan.merged_away.id_string())
            .await
        {
            Ok(c) => c,
            Err(e) => return Ok(failed(format!("HubSpot refused the merge: {e}"))),
        };
        let Ok(new_id) = HubspotId::new(merged.id.clone()) else {
            return Ok(failed(format!(
                "HubSpot answered the merge with a bad id {:?}",
                merged.id
            )));
        };
        let new = RecordRef::Hubspot(new_id);
        let mut written = BTreeMap::new();
        for (field, prop) in HUBSPOT_FIELDS {
            if let Some(v) = plan.values.get(*field)
                && merged.prop(prop) != Some(v.as_str())
            {
                written.insert((*prop).to_owned(), v.clone());
            }
        }
        let mut write_error = None;
        if !written.is_empty() {
            match client
                .batch_update(&[(merged.id.clone(), written.clone())])
                .await
            {
                Ok(out) => match out.first() {
                    Some(WriteOutcome::Updated(_)) => {}
                    Some(other) => write_error = Some(format!("{other:?}")),
                    None => write_error = Some("HubSpot answered no result".into()),
                },
                Err(e) => write_error = Some(e.to_string()),
            }
        }
        self.follow(&plan, &new, who, at).await?;
        Ok(ApplyOutcome::Merged {
            survivor_before: plan.survivor,
            merged_away: plan.merged_away,
            survivor: new,
            written,
            write_error,
        })
    }

    async fn merge_gorgias(
        &self,
        a: GorgiasId,
        b: GorgiasId,
        choices: &Choices,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplyOutcome, MergeError> {
        let Some(client) = &self.connectors.gorgias else {
            return Ok(failed(
                "Gorgias is not configured (gorgias.base_url, api_key)",
            ));
        };
        let ra = self.store.resolve(&RecordRef::Gorgias(a)).await?;
        let rb = self.store.resolve(&RecordRef::Gorgias(b)).await?;
        if ra == rb {
            return Ok(failed(format!("already merged: both resolve to {ra}")));
        }
        let mut recs = Vec::with_capacity(2);
        for r in [&ra, &rb] {
            let RecordRef::Gorgias(id) = r else {
                return Ok(failed(format!("{r} is not a Gorgias record")));
            };
            match client.get(id.get()).await {
                Ok(c) => match MergeRecord::from_gorgias(&c) {
                    Some(m) => recs.push(m),
                    None => return Ok(failed(format!("Gorgias answered a bad id for {r}"))),
                },
                Err(e) => return Ok(failed(format!("cannot read {r}: {e}"))),
            }
        }
        let (Some(ma), Some(mb)) = (recs.first(), recs.get(1)) else {
            return Ok(failed("internal: records missing"));
        };
        let plan = match self.rules.plan_with(ma, mb, choices) {
            Ok(p) => p,
            Err(e) => return Ok(failed(e.to_string())),
        };
        let (RecordRef::Gorgias(target), RecordRef::Gorgias(source)) =
            (&plan.survivor, &plan.merged_away)
        else {
            return Ok(failed("internal: not a Gorgias pair"));
        };
        let (body, written) = gorgias_body(&plan);
        if body.is_empty() {
            return Ok(failed(
                "neither customer has a name, e-mail or note to carry into the merge",
            ));
        }
        match client.merge(source.get(), target.get(), &body).await {
            Ok(_) => {}
            Err(GorgiasError::MergeConflict { msg, .. }) => {
                return Ok(failed(format!(
                    "Gorgias refused the merge: both customers hold data of the same integration ({msg}); \
                     resolve it in Gorgias, then merge by hand or propose again"
                )));
            }
            Err(e) => return Ok(failed(format!("Gorgias refused the merge: {e}"))),
        }
        let survivor = plan.survivor.clone();
        self.follow(&plan, &survivor, who, at).await?;
        Ok(ApplyOutcome::Merged {
            survivor_before: plan.survivor,
            merged_away: plan.merged_away,
            survivor,
            written,
            write_error: None,
        })
    }

    async fn link(
        &self,
        h: &HubspotId,
        g: GorgiasId,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplyOutcome, MergeError> {
        let hr = self.store.resolve(&RecordRef::Hubspot(h.clone())).await?;
        let gr = self.store.resolve(&RecordRef::Gorgias(g)).await?;
        for r in [&hr, &gr] {
            if let Some(l) = self.store.link_for(r).await? {
                return Ok(failed(format!(
                    "{r} is already linked (hubspot:{} ↔ gorgias:{})",
                    l.hubspot, l.gorgias
                )));
            }
        }
        let (RecordRef::Hubspot(hid), RecordRef::Gorgias(gid)) = (&hr, &gr) else {
            return Ok(failed("internal: not a cross-system pair"));
        };
        self.store
            .create_link(hid, *gid, &BTreeMap::new(), who, at)
            .await?;
        Ok(ApplyOutcome::Linked {
            hubspot: hr,
            gorgias: gr,
        })
    }
}

/// The Gorgias merge body: the surviving name, e-mail and note (the survivor's target
/// fields after the merge), and the same as a field → value map for the audit.
pub fn gorgias_body(plan: &MergePlan) -> (CustomerUpdate, BTreeMap<String, String>) {
    let mut written = BTreeMap::new();
    let name: Vec<&str> = ["first_name", "last_name"]
        .iter()
        .filter_map(|f| plan.values.get(*f).map(String::as_str))
        .collect();
    let mut body = CustomerUpdate::default();
    if !name.is_empty() {
        let n = name.join(" ");
        written.insert("name".to_owned(), n.clone());
        body.name = Some(Some(n));
    }
    if let Some(e) = plan.values.get("email") {
        written.insert("email".to_owned(), e.clone());
        body.email = Some(Some(e.clone()));
    }
    if let Some(n) = plan.values.get("note") {
        written.insert("note".to_owned(), n.clone());
        body.note = Some(Some(n.clone()));
    }
    (body, written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Pair, ProposalInsert, StateStore};

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(HubspotId::new(id).unwrap())
    }

    async fn proposal(store: &dyn StateStore, a: &str, b: &str, score: f64) -> ProposalId {
        let pair = Pair::new(h(a), h(b)).unwrap();
        match store
            .propose(&pair, score, &json!({}), &json!({}), Utc::now())
            .await
            .unwrap()
        {
            ProposalInsert::Created(id) => id,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn approve_above_takes_only_pending_pairs_at_or_above_the_score() {
        let store = crate::commands::open_store::in_memory().await.unwrap();
        let low = proposal(&*store, "1", "2", 0.85).await;
        let high = proposal(&*store, "3", "4", 0.95).await;
        let edge = proposal(&*store, "5", "6", 0.9).await;
        let m = Merger::new(
            store.clone(),
            Connectors::default(),
            Survivorship::default(),
        );
        let done = m.approve_above(0.9, "test", Utc::now()).await.unwrap();
        let ids: Vec<ProposalId> = done.iter().map(|a| a.proposal).collect();
        assert_eq!(ids, vec![high, edge]);
        // No HubSpot connector: approved, reported as failed with the reason, audited.
        assert!(done.iter().all(|a| !a.succeeded()));
        let status = |id| {
            let store = store.clone();
            async move { store.proposal(id).await.unwrap().unwrap().status }
        };
        assert_eq!(status(low).await, ProposalStatus::Pending);
        assert_eq!(status(high).await, ProposalStatus::Approved);
        let p = store.proposal(high).await.unwrap().unwrap();
        assert!(m.is_settled(&p).await.unwrap());
        assert!(
            m.apply_pending("cycle", Utc::now())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            m.approve(high, "test", "", Utc::now()).await,
            Err(MergeError::NotPending { .. })
        ));
        assert!(matches!(
            m.reject(ProposalId(999), "test", "", Utc::now()).await,
            Err(MergeError::NoSuchProposal(999))
        ));
    }

    #[test]
    fn gorgias_body_carries_name_email_and_note() {
        let plan = MergePlan {
            survivor: RecordRef::Gorgias(GorgiasId::new(1).unwrap()),
            merged_away: RecordRef::Gorgias(GorgiasId::new(2).unwrap()),
            values: BTreeMap::from([
                ("first_name".to_owned(), "Ann".to_owned()),
                ("last_name".to_owned(), "Oak".to_owned()),
                ("email".to_owned(), "ann@x.test".to_owned()),
                ("phone".to_owned(), "+1".to_owned()),
            ]),
            sources: BTreeMap::new(),
            changes: BTreeMap::new(),
            why: BTreeMap::new(),
        };
        let (body, written) = gorgias_body(&plan);
        assert_eq!(body.name, Some(Some("Ann Oak".to_owned())));
        assert_eq!(body.email, Some(Some("ann@x.test".to_owned())));
        assert_eq!(body.note, None);
        assert_eq!(written.len(), 2);
        let empty = MergePlan {
            values: BTreeMap::new(),
            ..plan
        };
        assert!(gorgias_body(&empty).0.is_empty());
    }
}
