//! Merge proposals: pairs of records that may be the same person, waiting for a person's
//! decision, and the decisions (approvals and rejections) once made.
//!
//! Owns `proposals`. A [`Pair`] is unordered: (x, y) and (y, x) are stored the same way, so
//! a rejection is remembered whichever order the matcher finds the pair in next time. At
//! most one proposal per pair is pending; a rejected pair is not proposed again. Decisions
//! are audited. Must never merge anything: an approval is a decision, the cycle acts on it.

use super::audit::{NewAudit, append_in};
use super::{QueryContext, Store, StoreError, parse_json, parse_opt_ts, parse_ref, parse_ts, ts};
use crate::domain::RecordRef;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// A proposal's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ProposalId(pub i64);

/// Two distinct records, in canonical (sorted) order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pair {
    a: RecordRef,
    b: RecordRef,
}

impl Pair {
    /// The pair of `x` and `y` in either order; refused when they are the same record.
    pub fn new(x: RecordRef, y: RecordRef) -> Result<Pair, StoreError> {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => Ok(Pair { a: x, b: y }),
            std::cmp::Ordering::Greater => Ok(Pair { a: y, b: x }),
            std::cmp::Ordering::Equal => Err(StoreError::Conflict(format!(
                "a record ({x}) cannot be paired with itself"
            ))),
        }
    }

    /// The smaller record of the pair.
    pub fn first(&self) -> &RecordRef {
        &self.a
    }

    /// The larger record of the pair.
    pub fn second(&self) -> &RecordRef {
        &self.b
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    Pending,
    Approved,
    Rejected,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

/// What [`Store::propose`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalInsert {
    /// A new pending proposal.
    Created(ProposalId),
    /// The pair was already pending: its score, explanation and snapshot were refreshed.
    Refreshed(ProposalId),
    /// The pair was rejected before: nothing stored.
    PreviouslyRejected,
}

/// A stored proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub id: ProposalId,
    pub pair: Pair,
    pub score: f64,
    /// Why the matcher thinks so (per-feature scores, shared keys).
    pub explanation: serde_json::Value,
    /// Both records as they were when proposed, for the review page.
    pub snapshot: serde_json::Value,
    pub status: ProposalStatus,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    f64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

const SELECT: &str = "SELECT id, a_system, a_id, b_system, b_id, score, explanation, snapshot,
    status, created_at, decided_at, decided_by, reason FROM proposals";

fn proposal_from(r: Row) -> Result<Proposal, StoreError> {
    let (id, asys, aid, bsys, bid, score, expl, snap, status, created, decided, by, reason) = r;
    Ok(Proposal {
        id: ProposalId(id),
        pair: Pair::new(parse_ref(&asys, &aid)?, parse_ref(&bsys, &bid)?)?,
        score,
        explanation: parse_json("proposal explanation", &expl)?,
        snapshot: parse_json("proposal snapshot", &snap)?,
        status: match status.as_str() {
            "pending" => ProposalStatus::Pending,
            "approved" => ProposalStatus::Approved,
            "rejected" => ProposalStatus::Rejected,
            other => {
                return Err(StoreError::Corrupt {
                    what: "proposal status",
                    detail: format!("unknown status {other:?}"),
                });
            }
        },
        created_at: parse_ts("proposal time", &created)?,
        decided_at: parse_opt_ts("decision time", decided)?,
        decided_by: by,
        reason,
    })
}

const PAIR_WHERE: &str = "a_system = $1 AND a_id = $2 AND b_system = $3 AND b_id = $4";

impl Store {
    /// Proposes a pair for review, unless it is already pending (then refreshed) or was
    /// rejected before (then nothing is stored).
    pub async fn propose(
        &self,
        pair: &Pair,
        score: f64,
        explanation: &serde_json::Value,
        snapshot: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<ProposalInsert, StoreError> {
        if !score.is_finite() {
            return Err(StoreError::Conflict(format!(
                "a proposal's score must be a number, not {score}"
            )));
        }
        let mut tx = self.write_tx().await?;
        let existing: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT id, status FROM proposals WHERE {PAIR_WHERE} AND status IN ('pending', 'rejected')"
        ))
        .bind(pair.a.system().as_str())
        .bind(pair.a.id_string())
        .bind(pair.b.system().as_str())
        .bind(pair.b.id_string())
        .fetch_all(&mut *tx)
        .await
        .ctx("look up a proposal")?;
        if existing.iter().any(|(_, s)| s == "rejected") {
            return Ok(ProposalInsert::PreviouslyRejected);
        }
        let outcome = if let Some((id, _)) = existing.first() {
            sqlx::query(
                "UPDATE proposals SET score = $1, explanation = $2, snapshot = $3 WHERE id = $4",
            )
            .bind(score)
            .bind(explanation.to_string())
            .bind(snapshot.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await
            .ctx("refresh a proposal")?;
            ProposalInsert::Refreshed(ProposalId(*id))
        } else {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO proposals (a_system, a_id, b_system, b_id, score, explanation,
                   snapshot, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(pair.a.system().as_str())
            .bind(pair.a.id_string())
            .bind(pair.b.system().as_str())
            .bind(pair.b.id_string())
            .bind(score)
            .bind(explanation.to_string())
            .bind(snapshot.to_string())
            .bind(ts(at))
            .fetch_one(&mut *tx)
            .await
            .ctx("insert a proposal")?;
            ProposalInsert::Created(ProposalId(id))
        };
        tx.commit().await.ctx("commit a proposal")?;
        Ok(outcome)
    }

    /// A proposal by id.
    pub async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *self.read().await?)
            .await
            .ctx("read a proposal")?;
        row.map(proposal_from).transpose()
    }

    /// Pending proposals, highest score first (then oldest), at most `limit`.
    pub async fn pending_proposals(&self, limit: u32) -> Result<Vec<Proposal>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE status = 'pending' ORDER BY score DESC, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list pending proposals")?;
        rows.into_iter().map(proposal_from).collect()
    }

    /// Approved proposals, oldest decision first, for the cycle to act on.
    pub async fn approved_proposals(&self) -> Result<Vec<Proposal>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE status = 'approved' ORDER BY decided_at, id"
        ))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list approved proposals")?;
        rows.into_iter().map(proposal_from).collect()
    }

    /// Records a reviewer's decision on a pending proposal, audited as
    /// `proposal.approved` / `proposal.rejected`. Refused when it was already decided.
    pub async fn decide(
        &self,
        id: ProposalId,
        decision: Decision,
        reason: &str,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Proposal, StoreError> {
        let mut tx = self.write_tx().await?;
        let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .ctx("read a proposal")?;
        let p = row
            .map(proposal_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("proposal {}", id.0),
            })?;
        if p.status != ProposalStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "proposal {} was already {:?} by {} at {}",
                id.0,
                p.status,
                p.decided_by.as_deref().unwrap_or("unknown"),
                p.decided_at.map(ts).unwrap_or_default()
            )));
        }
        let (status, action, new_status) = match decision {
            Decision::Approve => ("approved", "proposal.approved", ProposalStatus::Approved),
            Decision::Reject => ("rejected", "proposal.rejected", ProposalStatus::Rejected),
        };
        sqlx::query(
            "UPDATE proposals SET status = $1, decided_at = $2, decided_by = $3, reason = $4
             WHERE id = $5",
        )
        .bind(status)
        .bind(ts(at))
        .bind(who)
        .bind(reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .ctx("decide a proposal")?;
        append_in(
            &mut tx,
            &NewAudit {
                at,
                actor: who.to_owned(),
                action: action.into(),
                subjects: vec![p.pair.a.clone(), p.pair.b.clone()],
                detail: json!({ "proposal": id.0, "score": p.score, "reason": reason }),
            },
        )
        .await?;
        tx.commit().await.ctx("commit a decision")?;
        Ok(Proposal {
            status: new_status,
            decided_at: Some(at),
            decided_by: Some(who.to_owned()),
            reason: Some(reason.to_owned()),
            ..p
        })
    }

    /// Whether a reviewer rejected this pair (in either order) at any time.
    pub async fn is_rejected(&self, pair: &Pair) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM proposals WHERE {PAIR_WHERE} AND status = 'rejected'"
        ))
        .bind(pair.a.system().as_str())
        .bind(pair.a.id_string())
        .bind(pair.b.system().as_str())
        .bind(pair.b.id_string())
        .fetch_one(&mut *self.read().await?)
        .await
        .ctx("look up a rejection")?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(hs(id))
    }

    #[test]
    fn pairs_are_unordered_and_distinct() {
        let p = Pair::new(h("2"), h("1")).unwrap();
        assert_eq!(p, Pair::new(h("1"), h("2")).unwrap());
        assert_eq!(p.first(), &h("1"));
        assert!(Pair::new(h("1"), h("1")).is_err());
    }

    async fn proposals_round_trip_sorted_by_score(s: Store) {
        let low = Pair::new(h("1"), RecordRef::Gorgias(gg(1))).unwrap();
        let high = Pair::new(h("3"), h("2")).unwrap();
        let expl = json!({ "email": 1.0, "note": NASTY });
        let snap = json!({ "a": { "name": NASTY }, "b": {} });
        let ProposalInsert::Created(lid) = s.propose(&low, 0.81, &expl, &snap, t(1)).await.unwrap()
        else {
            panic!("expected a new proposal")
        };
        s.propose(&high, 0.95, &expl, &snap, t(2)).await.unwrap();
        let pending = s.pending_proposals(10).await.unwrap();
        assert_eq!(
            pending.iter().map(|p| p.score).collect::<Vec<_>>(),
            vec![0.95, 0.81]
        );
        let p = s.proposal(lid).await.unwrap().unwrap();
        assert_eq!(p.pair, low);
        assert_eq!(p.explanation, expl);
        assert_eq!(p.snapshot, snap);
        assert_eq!(p.status, ProposalStatus::Pending);
        assert_eq!(p.created_at, t(1));
        // Proposing again (other order) refreshes, does not duplicate.
        let again = Pair::new(RecordRef::Gorgias(gg(1)), h("1")).unwrap();
        assert_eq!(
            s.propose(&again, 0.9, &json!({}), &snap, t(3))
                .await
                .unwrap(),
            ProposalInsert::Refreshed(lid)
        );
        assert_eq!(s.pending_proposals(10).await.unwrap().len(), 2);
        assert_eq!(s.proposal(lid).await.unwrap().unwrap().score, 0.9);
        assert!(s.propose(&low, f64::NAN, &expl, &snap, t(3)).await.is_err());
    }

    async fn rejections_are_remembered_in_either_order(s: Store) {
        let pair = Pair::new(h("10"), h("9")).unwrap();
        let ProposalInsert::Created(id) = s
            .propose(&pair, 0.9, &json!({}), &json!({}), t(1))
            .await
            .unwrap()
        else {
            panic!("expected a new proposal")
        };
        assert!(!s.is_rejected(&pair).await.unwrap());
        let d = s
            .decide(id, Decision::Reject, nasty(&s), "review:ann", t(2))
            .await
            .unwrap();
        assert_eq!(d.status, ProposalStatus::Rejected);
        assert_eq!(s.proposal(id).await.unwrap().unwrap(), d);
        assert_eq!(d.reason.as_deref(), Some(nasty(&s)));
        let swapped = Pair::new(h("9"), h("10")).unwrap();
        assert!(s.is_rejected(&swapped).await.unwrap());
        assert_eq!(
            s.propose(&swapped, 0.99, &json!({}), &json!({}), t(3))
                .await
                .unwrap(),
            ProposalInsert::PreviouslyRejected
        );
        assert!(s.pending_proposals(10).await.unwrap().is_empty());
        assert!(matches!(
            s.decide(id, Decision::Approve, "", "x", t(4))
                .await
                .unwrap_err(),
            StoreError::Conflict(_)
        ));
        let audit = s.audit_for(&h("9")).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "proposal.rejected");
        assert_eq!(audit[0].actor, "review:ann");
    }

    async fn approvals_are_listed_for_the_cycle(s: Store) {
        let pair = Pair::new(h("1"), h("2")).unwrap();
        let ProposalInsert::Created(id) = s
            .propose(&pair, 0.9, &json!({}), &json!({}), t(1))
            .await
            .unwrap()
        else {
            panic!("expected a new proposal")
        };
        s.decide(id, Decision::Approve, "same person", "review:bo", t(2))
            .await
            .unwrap();
        let approved = s.approved_proposals().await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].decided_by.as_deref(), Some("review:bo"));
        assert!(!s.is_rejected(&pair).await.unwrap());
    }

    conformance!(
        proposals_round_trip_sorted_by_score,
        rejections_are_remembered_in_either_order,
        approvals_are_listed_for_the_cycle
    );
}
