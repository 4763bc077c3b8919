//! The full duplicate scan (`tether merges scan`, and `tether run` on `matching.scan_cron`):
//! compares every record the store keeps a snapshot of (both systems; the cycle stores one
//! for each record it reads), by the matcher's blocking over the whole set, and proposes what
//! the cycles could not see (a new duplicate of a record that did not change). With `since`,
//! only pairs with a record seen at or after that time are proposed (matching still sees
//! every record). Each scan is logged in the store; one that did not finish is resumed by
//! the next (same `since`), and proposing is idempotent, so running again is always safe.
//!
//! Must never call the systems' APIs nor apply merges (approved pairs are `apply`'s job).

use super::propose::{ProposalSettings, ProposeReport, propose_where};
use super::{MergeError, MergeRecord};
use crate::domain::System;
use crate::store::{Snapshot, StateStore};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// What a scan did.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub scan_id: i64,
    /// The `since` the scan used (given, or resumed from an interrupted scan).
    pub since: Option<DateTime<Utc>>,
    /// Whether it resumed an interrupted scan.
    pub resumed: bool,
    pub hubspot_records: usize,
    pub gorgias_records: usize,
    /// Snapshots that could not be read back as records (skipped, counted).
    pub unreadable: usize,
    #[serde(flatten)]
    pub proposals: ProposeReport,
}

/// Records from stored snapshots, with each one's time seen; unreadable ones are counted.
pub fn records_from(snapshots: Vec<Snapshot>) -> (Vec<MergeRecord>, Vec<DateTime<Utc>>, usize) {
    let mut out = Vec::with_capacity(snapshots.len());
    let mut seen = Vec::with_capacity(snapshots.len());
    let mut bad = 0;
    for s in snapshots {
        match serde_json::from_value::<MergeRecord>(s.snapshot) {
            Ok(r) if r.record == s.record => {
                out.push(r);
                seen.push(s.seen_at);
            }
            _ => bad += 1,
        }
    }
    (out, seen, bad)
}

/// Runs a scan at `at`. `progress` hears each step (for a terminal or a log).
pub async fn scan(
    store: &dyn StateStore,
    settings: &ProposalSettings,
    since: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<ScanReport, MergeError> {
    let last = store.scans(1).await?.into_iter().next();
    let (since, resumed) = match (since, last) {
        (Some(s), _) => (Some(s), false),
        (None, Some(l)) if l.finished_at.is_none() => (l.since, true),
        (None, _) => (None, false),
    };
    if resumed {
        progress("resuming the interrupted scan");
    }
    let scan_id = store.begin_scan(at, since).await?;
    let (records, seen_at, unreadable) = records_from(store.snapshots().await?);
    let count = |s: System| records.iter().filter(|r| r.record.system() == s).count();
    let (hubspot_records, gorgias_records) = (count(System::Hubspot), count(System::Gorgias));
    progress(&format!(
        "comparing {} records ({hubspot_records} HubSpot, {gorgias_records} Gorgias) by \
         blocking{}",
        records.len(),
        since.map_or(String::new(), |s| format!(
            "; proposing pairs with a record seen since {}",
            s.to_rfc3339()
        ))
    ));
    let fresh: HashMap<&crate::domain::RecordRef, bool> = records
        .iter()
        .zip(&seen_at)
        .map(|(r, t)| (&r.record, since.is_none_or(|s| *t >= s)))
        .collect();
    let keep = |a: &MergeRecord, b: &MergeRecord| {
        fresh.get(&a.record).copied().unwrap_or(false)
            || fresh.get(&b.record).copied().unwrap_or(false)
    };
    let proposals = propose_where(store, &records, settings, at, &keep).await?;
    let proposed = proposals.created.len() + proposals.refreshed.len();
    progress(&format!(
        "proposed {} new and refreshed {} pending pairs ({} rejected before, {} auto-approved)",
        proposals.created.len(),
        proposals.refreshed.len(),
        proposals.previously_rejected,
        proposals.auto_approved.len()
    ));
    store
        .finish_scan(
            scan_id,
            Utc::now(),
            records.len() as i64,
            proposed as i64,
            proposals.created.len() as i64,
        )
        .await?;
    Ok(ScanReport {
        scan_id,
        since,
        resumed,
        hubspot_records,
        gorgias_records,
        unreadable,
        proposals,
    })
}
