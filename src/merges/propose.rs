//! Proposing merges: runs the matcher over records (duplicates inside each system, and
//! candidates across the systems for records not linked yet), then persists each pair as a
//! proposal with its score, explanation and a snapshot of both records. A rejected pair is
//! never proposed again, a merged-away record (an alias) is never proposed, and the
//! auto-merge band (off unless `matching.auto_merge_threshold` ≤ 1.0) approves at most
//! `matching.auto_merge_cap` pairs per call.
//!
//! [`find`] is pure; [`propose`] is the thin shell over the store. Must never call the
//! systems' APIs (applying approved merges is `apply`'s job).

use super::MergeError;
use super::record::MergeRecord;
use crate::config::MatchingSettings;
use crate::domain::{RecordRef, Region, System};
use crate::matcher::{self, MatchOptions, MatchRecord, Mode};
use crate::store::{Decision, Pair, ProposalId, ProposalInsert, StateStore};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;

/// The actor recorded on automatic approvals.
pub const AUTO_ACTOR: &str = "auto-merge";

/// The thresholds and cap that decide what is proposed and what merges by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProposalSettings {
    /// Pairs scoring at least this are proposed.
    pub review_threshold: f64,
    /// Pairs scoring at least this are approved automatically; above 1.0 turns it off.
    pub auto_merge_threshold: f64,
    /// Most automatic approvals in one call (one cycle).
    pub auto_merge_cap: u32,
    /// Region for national phone numbers.
    pub region: Region,
    /// The weights pairs are scored with: a learnt model's (`matching.model`), else the
    /// hand-set ones.
    pub weights: matcher::Weights,
}

impl Default for ProposalSettings {
    /// The `[matching]` and `sync.default_region` values of the built-in defaults
    /// ([`crate::config::Settings::built_in`]): one source for both.
    fn default() -> Self {
        let s = crate::config::Settings::built_in();
        Self::from_settings(&s.matching, s.sync.default_region)
    }
}

impl ProposalSettings {
    /// From the `[matching]` settings and the sync's default region.
    pub fn from_settings(m: &MatchingSettings, region: Region) -> Self {
        ProposalSettings {
            review_threshold: m.review_threshold,
            auto_merge_threshold: m.auto_merge_threshold,
            auto_merge_cap: m.auto_merge_cap,
            region,
            weights: matcher::Weights::HAND_SET,
        }
    }

    /// The same settings scoring with `weights` (from a model read by the caller).
    pub fn with_weights(self, weights: matcher::Weights) -> Self {
        ProposalSettings { weights, ..self }
    }

    /// Whether the auto-merge band exists at all.
    pub fn auto_merge_enabled(&self) -> bool {
        self.auto_merge_threshold <= 1.0
    }

    /// Whether `score` is in the auto-merge band.
    pub fn in_auto_band(&self, score: f64) -> bool {
        self.auto_merge_enabled() && score >= self.auto_merge_threshold
    }
}

/// A candidate pair: indexes into the records given to [`find`], with the matcher's proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub a: usize,
    pub b: usize,
    pub score: f64,
    pub explanation: matcher::Explanation,
}

fn run(
    records: &[MergeRecord],
    subset: &[usize],
    mode: Mode,
    settings: &ProposalSettings,
    out: &mut Vec<Found>,
) {
    if subset.len() < 2 {
        return;
    }
    let input: Vec<MatchRecord> = subset
        .iter()
        .filter_map(|&i| records.get(i).map(MergeRecord::to_match_record))
        .collect();
    let opts = MatchOptions {
        mode,
        region: settings.region,
        min_score: settings.review_threshold,
        weights: settings.weights,
        ..MatchOptions::default()
    };
    for p in matcher::propose(&input, &opts) {
        if let (Some(&a), Some(&b)) = (subset.get(p.a), subset.get(p.b)) {
            out.push(Found {
                a: a.min(b),
                b: a.max(b),
                score: p.score,
                explanation: p.explanation,
            });
        }
    }
}

/// Candidate pairs among `records`, highest score first: duplicates inside each system, and
/// cross-system candidates among records not in `linked`. Pure.
pub fn find(
    records: &[MergeRecord],
    linked: &HashSet<RecordRef>,
    settings: &ProposalSettings,
) -> Vec<Found> {
    let mut out = Vec::new();
    for system in [System::Hubspot, System::Gorgias] {
        let subset: Vec<usize> = (0..records.len())
            .filter(|&i| records.get(i).is_some_and(|r| r.record.system() == system))
            .collect();
        run(records, &subset, Mode::Duplicates, settings, &mut out);
    }
    let unlinked: Vec<usize> = (0..records.len())
        .filter(|&i| records.get(i).is_some_and(|r| !linked.contains(&r.record)))
        .collect();
    let has_both = |s: System| {
        unlinked
            .iter()
            .any(|&i| records.get(i).is_some_and(|r| r.record.system() == s))
    };
    if has_both(System::Hubspot) && has_both(System::Gorgias) {
        run(records, &unlinked, Mode::Linking, settings, &mut out);
    }
    out.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    out.dedup_by(|x, y| x.a == y.a && x.b == y.b);
    out
}

/// What [`propose`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProposeReport {
    /// New pending proposals.
    pub created: Vec<ProposalId>,
    /// Pending proposals whose score, explanation and snapshot were refreshed.
    pub refreshed: Vec<ProposalId>,
    /// Pairs a reviewer rejected before: not proposed again.
    pub previously_rejected: usize,
    /// Pairs already approved (applied, or failed and reported): not proposed again.
    pub already_approved: usize,
    /// Records skipped because they were merged away (aliases).
    pub merged_away: usize,
    /// Proposals approved automatically (the auto-merge band, within the cap).
    pub auto_approved: Vec<ProposalId>,
    /// Pairs in the auto-merge band left for review because the cap was reached.
    pub held_by_cap: usize,
}

/// The snapshot stored with a proposal: both records, in the pair's order.
pub fn snapshot(pair: &Pair, a: &MergeRecord, b: &MergeRecord) -> serde_json::Value {
    let (first, second) = if pair.first() == &a.record {
        (a, b)
    } else {
        (b, a)
    };
    json!({ "a": first, "b": second })
}

/// The records that were not merged away (one read of the alias table), and how many were.
async fn without_aliases(
    store: &dyn StateStore,
    records: &[MergeRecord],
) -> Result<(Vec<MergeRecord>, usize), MergeError> {
    let gone: HashSet<RecordRef> = store
        .aliases()
        .await?
        .into_iter()
        .map(|(old, _)| old)
        .collect();
    let live: Vec<MergeRecord> = records
        .iter()
        .filter(|r| !gone.contains(&r.record))
        .cloned()
        .collect();
    let n = records.len() - live.len();
    Ok((live, n))
}

/// Matches `records` and persists the proposals (see the module comment). `at` is the
/// proposal and decision time.
pub async fn propose(
    store: &dyn StateStore,
    records: &[MergeRecord],
    settings: &ProposalSettings,
    at: DateTime<Utc>,
) -> Result<ProposeReport, MergeError> {
    propose_where(store, records, settings, at, &|_, _| true).await
}

/// [`propose`], persisting only the pairs `keep` accepts (matching still sees every record,
/// so blocks and term frequencies are those of the whole set).
pub async fn propose_where(
    store: &dyn StateStore,
    records: &[MergeRecord],
    settings: &ProposalSettings,
    at: DateTime<Utc>,
    keep: &(dyn Fn(&MergeRecord, &MergeRecord) -> bool + Sync),
) -> Result<ProposeReport, MergeError> {
    let mut report = ProposeReport::default();
    let (live, merged_away) = without_aliases(store, records).await?;
    report.merged_away = merged_away;
    let linked: HashSet<RecordRef> = store
        .links()
        .await?
        .into_iter()
        .flat_map(|l| [RecordRef::Hubspot(l.hubspot), RecordRef::Gorgias(l.gorgias)])
        .collect();
    let approved: HashSet<Pair> = store
        .approved_proposals()
        .await?
        .into_iter()
        .map(|p| p.pair)
        .collect();
    let mut auto = 0u32;
    for f in find(&live, &linked, settings) {
        let (Some(a), Some(b)) = (live.get(f.a), live.get(f.b)) else {
            continue;
        };
        if !keep(a, b) {
            continue;
        }
        let pair = Pair::new(a.record.clone(), b.record.clone())?;
        if approved.contains(&pair) {
            report.already_approved += 1;
            continue;
        }
        let explanation = serde_json::to_value(&f.explanation).unwrap_or_default();
        let snap = snapshot(&pair, a, b);
        let id = match store
            .propose(&pair, f.score, &explanation, &snap, at)
            .await?
        {
            ProposalInsert::PreviouslyRejected => {
                report.previously_rejected += 1;
                continue;
            }
            ProposalInsert::Created(id) => {
                report.created.push(id);
                id
            }
            ProposalInsert::Refreshed(id) => {
                report.refreshed.push(id);
                id
            }
        };
        if settings.in_auto_band(f.score) {
            if auto < settings.auto_merge_cap {
                let why = format!(
                    "score {:.4} ≥ auto-merge threshold {}",
                    f.score, settings.auto_merge_threshold
                );
                store
                    .decide(id, Decision::Approve, &why, AUTO_ACTOR, at)
                    .await?;
                report.auto_approved.push(id);
                auto += 1;
            } else {
                report.held_by_cap += 1;
            }
        }
    }
    Ok(report)
}

/// What [`propose`] would do with a pair, for `tether plan` (nothing is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewAction {
    /// Queued for a person (new or refreshed).
    Review,
    /// Approved and merged automatically.
    AutoMerge,
    /// In the auto-merge band but over this cycle's cap: queued for a person.
    HeldByCap,
}

/// One pair [`preview`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewItem {
    pub a: RecordRef,
    pub b: RecordRef,
    pub score: f64,
    pub action: PreviewAction,
}

/// What [`propose`] would do, read-only: the same filters (aliases, links, approved and
/// rejected pairs) and the same auto-merge threshold and cap, without writing anything.
pub async fn preview(
    store: &dyn StateStore,
    records: &[MergeRecord],
    settings: &ProposalSettings,
) -> Result<Vec<PreviewItem>, MergeError> {
    let (live, _) = without_aliases(store, records).await?;
    let linked: HashSet<RecordRef> = store
        .links()
        .await?
        .into_iter()
        .flat_map(|l| [RecordRef::Hubspot(l.hubspot), RecordRef::Gorgias(l.gorgias)])
        .collect();
    let approved: HashSet<Pair> = store
        .approved_proposals()
        .await?
        .into_iter()
        .map(|p| p.pair)
        .collect();
    let mut out = Vec::new();
    let mut auto = 0u32;
    for f in find(&live, &linked, settings) {
        let (Some(a), Some(b)) = (live.get(f.a), live.get(f.b)) else {
            continue;
        };
        let pair = Pair::new(a.record.clone(), b.record.clone())?;
        if approved.contains(&pair) || store.is_rejected(&pair).await? {
            continue;
        }
        let action = if !settings.in_auto_band(f.score) {
            PreviewAction::Review
        } else if auto < settings.auto_merge_cap {
            auto += 1;
            PreviewAction::AutoMerge
        } else {
            PreviewAction::HeldByCap
        };
        out.push(PreviewItem {
            a: pair.first().clone(),
            b: pair.second().clone(),
            score: f.score,
            action,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use crate::store::ProposalStatus;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn at(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 1, 10, m, 0).single().unwrap()
    }

    fn rec(r: RecordRef, first: &str, last: &str, email: &str, phone: &str) -> MergeRecord {
        let fields: BTreeMap<String, String> = [
            ("first_name", first),
            ("last_name", last),
            ("email", email),
            ("phone", phone),
            ("address", "12 High Street"),
            ("city", "Leeds"),
            ("country", "GB"),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        MergeRecord {
            record: r,
            created_at: Some(at(0)),
            updated_at: Some(at(1)),
            fields,
        }
    }

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(HubspotId::new(id).unwrap())
    }

    fn g(id: i64) -> RecordRef {
        RecordRef::Gorgias(GorgiasId::new(id).unwrap())
    }

    /// Three duplicate pairs in HubSpot, one relative, and a Gorgias copy of one person.
    fn fixture() -> Vec<MergeRecord> {
        vec![
            rec(
                h("1"),
                "William",
                "Hart",
                "will.hart@gmail.com",
                "+44 113 496 0000",
            ),
            rec(
                h("2"),
                "Bill",
                "Hart",
                "willhart@gmail.com",
                "+44 113 496 0000",
            ),
            rec(
                h("3"),
                "Zoe",
                "Muller",
                "zoe@example.de",
                "+44 20 7946 0000",
            ),
            rec(
                h("4"),
                "Zoë",
                "Müller",
                "zoe@example.de",
                "+44 20 7946 0000",
            ),
            rec(
                h("5"),
                "Ann",
                "Oak",
                "ann.oak@example.com",
                "+44 20 7946 0101",
            ),
            rec(
                h("6"),
                "Ann",
                "Oak",
                "ann.oak@example.com",
                "+44 20 7946 0101",
            ),
            rec(
                h("7"),
                "Jane",
                "Hart",
                "hartfamily@example.com",
                "+44 113 496 0000",
            ),
            rec(
                g(9),
                "Ann",
                "Oak",
                "ann.oak@example.com",
                "+44 20 7946 0101",
            ),
        ]
    }

    fn ids(recs: &[MergeRecord], found: &[Found]) -> Vec<(String, String)> {
        found
            .iter()
            .map(|f| (recs[f.a].record.to_string(), recs[f.b].record.to_string()))
            .collect()
    }

    #[test]
    fn finds_within_and_across_systems_but_not_linked_records() {
        let recs = fixture();
        let s = ProposalSettings::default();
        let found = find(&recs, &HashSet::new(), &s);
        let pairs = ids(&recs, &found);
        for want in [
            ("hubspot:1", "hubspot:2"),
            ("hubspot:3", "hubspot:4"),
            ("hubspot:5", "hubspot:6"),
        ] {
            assert!(pairs.contains(&(want.0.into(), want.1.into())), "{pairs:?}");
        }
        assert!(
            pairs.contains(&("hubspot:5".into(), "gorgias:9".into())),
            "{pairs:?}"
        );
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
        // Once gorgias:9 is linked, it is no cross-system candidate any more.
        let linked = HashSet::from([g(9)]);
        let pairs = ids(&recs, &find(&recs, &linked, &s));
        assert!(!pairs.iter().any(|(_, b)| b == "gorgias:9"), "{pairs:?}");
    }

    /// `propose` needs nothing but the trait object: the store comes from the commands' one
    /// opening function as a `SharedStore`, a second holder (e.g. the review page) sees
    /// what it wrote, and a link made through the trait keeps its records out.
    #[tokio::test]
    async fn propose_works_through_a_shared_store_trait_object() {
        let store: crate::store::SharedStore =
            crate::commands::open_store::in_memory().await.unwrap();
        let review = store.clone();
        store
            .create_link(
                &HubspotId::new("5").unwrap(),
                GorgiasId::new(9).unwrap(),
                &Default::default(),
                "test",
                at(1),
            )
            .await
            .unwrap();
        let r = propose(&*store, &fixture(), &ProposalSettings::default(), at(2))
            .await
            .unwrap();
        assert!(!r.created.is_empty(), "{r:?}");
        let pending = review.pending_proposals(100).await.unwrap();
        assert_eq!(pending.len(), r.created.len());
        assert!(
            pending
                .iter()
                .all(|p| p.pair.first() != &g(9) && p.pair.second() != &g(9)),
            "a linked record is never proposed: {pending:?}"
        );
        review.close().await;
    }

    #[tokio::test]
    async fn proposals_persist_with_snapshot_and_rejections_are_remembered() {
        let store = crate::commands::open_store::in_memory().await.unwrap();
        let recs = fixture();
        let s = ProposalSettings::default();
        let r1 = propose(&*store, &recs, &s, at(2)).await.unwrap();
        assert!(r1.created.len() >= 4, "{r1:?}");
        assert!(r1.auto_approved.is_empty(), "auto-merge is off by default");
        let pending = store.pending_proposals(100).await.unwrap();
        let p = pending
            .iter()
            .find(|p| p.pair == Pair::new(h("1"), h("2")).unwrap())
            .unwrap();
        assert_eq!(p.snapshot["a"]["fields"]["first_name"], "William");
        assert_eq!(p.snapshot["b"]["fields"]["first_name"], "Bill");
        assert!(p.explanation["fields"].as_array().unwrap().len() >= 4);
        store
            .decide(p.id, Decision::Reject, "twins", "test", at(3))
            .await
            .unwrap();
        let r2 = propose(&*store, &recs, &s, at(4)).await.unwrap();
        assert_eq!(r2.previously_rejected, 1);
        assert!(r2.created.is_empty(), "{r2:?}");
        assert_eq!(r2.refreshed.len(), r1.created.len() - 1);
        assert!(
            !store
                .pending_proposals(100)
                .await
                .unwrap()
                .iter()
                .any(|q| q.pair == p.pair)
        );
    }

    #[tokio::test]
    async fn auto_merge_band_respects_threshold_and_cap() {
        let store = crate::commands::open_store::in_memory().await.unwrap();
        let recs = fixture();
        let s = ProposalSettings {
            auto_merge_threshold: 0.99,
            auto_merge_cap: 1,
            ..ProposalSettings::default()
        };
        let all = find(&recs, &HashSet::new(), &s);
        let in_band = all.iter().filter(|f| f.score >= 0.99).count();
        assert!(in_band >= 2, "fixture needs two auto-band pairs: {all:?}");
        let r = propose(&*store, &recs, &s, at(2)).await.unwrap();
        assert_eq!(r.auto_approved.len(), 1);
        assert_eq!(r.held_by_cap, in_band - 1);
        let approved = store.approved_proposals().await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].decided_by.as_deref(), Some(AUTO_ACTOR));
        assert_eq!(approved[0].status, ProposalStatus::Approved);
        // The relative (Jane) never reaches the band.
        assert!(
            all.iter()
                .filter(|f| recs[f.a].record == h("7") || recs[f.b].record == h("7"))
                .all(|f| f.score < 0.99)
        );
        // Next cycle: the approved pair is not proposed again; one more is approved.
        let r2 = propose(&*store, &recs, &s, at(3)).await.unwrap();
        assert_eq!(r2.already_approved, 1);
        assert_eq!(r2.auto_approved.len(), 1);
        // Off: nothing is approved whatever the score.
        let off = ProposalSettings::default();
        assert!(!off.auto_merge_enabled());
        assert!(!off.in_auto_band(1.0));
        let r3 = propose(&*store, &recs, &off, at(4)).await.unwrap();
        assert!(r3.auto_approved.is_empty());
    }

    #[tokio::test]
    async fn preview_matches_propose_and_writes_nothing() {
        let store = crate::commands::open_store::in_memory().await.unwrap();
        let recs = fixture();
        let s = ProposalSettings {
            auto_merge_threshold: 0.99,
            auto_merge_cap: 1,
            ..ProposalSettings::default()
        };
        let items = preview(&*store, &recs, &s).await.unwrap();
        assert!(store.pending_proposals(100).await.unwrap().is_empty());
        let count = |a: PreviewAction| items.iter().filter(|i| i.action == a).count();
        assert_eq!(count(PreviewAction::AutoMerge), 1);
        let r = propose(&*store, &recs, &s, at(2)).await.unwrap();
        assert_eq!(r.auto_approved.len(), 1);
        assert_eq!(count(PreviewAction::HeldByCap), r.held_by_cap);
        assert_eq!(items.len(), r.created.len());
    }

    #[tokio::test]
    async fn merged_away_records_are_not_proposed() {
        let store = crate::commands::open_store::in_memory().await.unwrap();
        store
            .add_alias(&h("6"), &h("5"), "test", at(1))
            .await
            .unwrap();
        let r = propose(&*store, &fixture(), &ProposalSettings::default(), at(2))
            .await
            .unwrap();
        assert_eq!(r.merged_away, 1);
        assert!(
            !store
                .pending_proposals(100)
                .await
                .unwrap()
                .iter()
                .any(|p| p.pair.first() == &h("6") || p.pair.second() == &h("6"))
        );
    }
}
