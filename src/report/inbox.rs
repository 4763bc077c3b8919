//! The inbox: one list of everything waiting for a person (refused writes, held conflicts,
//! quarantined records, pending merge proposals), newest first, each with the command that
//! acts on it. `tether inbox` feeds it from the store and prints it as text or JSON
//! (`tether.inbox/1`).
//!
//! Pure: built from plain store rows handed in; no clock, no I/O. Must never hide an item
//! of the input, and never print a value unescaped for the terminal.

use super::view;
use crate::domain::RecordRef;
use crate::store::{HeldConflict, Proposal, QuarantineEntry, Unsettled};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// The schema name of the JSON document.
pub const SCHEMA: &str = "tether.inbox/1";

/// What kind of thing waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxKind {
    /// A write a system refused; tether retries it with a backoff until it succeeds.
    RefusedWrite,
    /// A `manual` field both sides changed.
    HeldConflict,
    /// A record tether cannot read well; left alone until it reads well again.
    Quarantined,
    /// A likely duplicate pair to merge or reject.
    MergeProposal,
}

impl InboxKind {
    fn label(self) -> &'static str {
        match self {
            InboxKind::RefusedWrite => "refused write",
            InboxKind::HeldConflict => "held conflict",
            InboxKind::Quarantined => "quarantined",
            InboxKind::MergeProposal => "merge proposal",
        }
    }
}

/// One thing waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxItem {
    pub kind: InboxKind,
    /// The id the commands take (a record reference for a quarantined record).
    pub id: String,
    /// Since when it waits.
    pub since: DateTime<Utc>,
    /// The records it is about.
    pub records: Vec<RecordRef>,
    /// What it is, for a person.
    pub summary: String,
    /// The commands that act on it.
    pub actions: Vec<String>,
}

/// What the inbox is built from (rows as the store lists them).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// Open (not dismissed) unsettled records.
    pub unsettled: &'a [Unsettled],
    /// Live held conflicts.
    pub conflicts: &'a [HeldConflict],
    pub quarantine: &'a [QuarantineEntry],
    /// Pending proposals.
    pub proposals: &'a [Proposal],
}

fn shown(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{:?}", view::truncate(v, 60)),
        None => "(empty)".into(),
    }
}

fn refused(u: &Unsettled) -> InboxItem {
    InboxItem {
        kind: InboxKind::RefusedWrite,
        id: u.id.to_string(),
        since: u.first_failed_at,
        records: vec![u.record.clone()],
        summary: format!(
            "{} to {} refused ({}, {} attempt{}): {}; next retry {}",
            u.op.as_str(),
            u.target.as_str(),
            u.class.as_str(),
            u.attempts,
            if u.attempts == 1 { "" } else { "s" },
            u.reason,
            u.next_retry_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        actions: vec![
            format!("tether retry {}", u.id),
            format!("tether dismiss {} --reason TEXT", u.id),
        ],
    }
}

fn conflict(c: &HeldConflict) -> InboxItem {
    let mut summary = format!(
        "field {}: HubSpot {} vs Gorgias {} (base {})",
        c.field,
        shown(&c.hubspot_value),
        shown(&c.gorgias_value),
        shown(&c.base)
    );
    if let Some(r) = &c.resolution {
        let _ = write!(summary, "; resolved ({r}), applied by the next sync");
    }
    InboxItem {
        kind: InboxKind::HeldConflict,
        id: c.id.to_string(),
        since: c.first_seen,
        records: vec![
            RecordRef::Hubspot(c.hubspot_id.clone()),
            RecordRef::Gorgias(c.gorgias_id),
        ],
        summary,
        actions: vec![
            format!("tether conflicts show {}", c.id),
            format!(
                "tether conflicts resolve {} --take hubspot|gorgias (or --value V)",
                c.id
            ),
        ],
    }
}

fn quarantined(q: &QuarantineEntry) -> InboxItem {
    InboxItem {
        kind: InboxKind::Quarantined,
        id: q.record.to_string(),
        since: q.since,
        records: vec![q.record.clone()],
        summary: format!(
            "{}; fix the record in {}: each sync reads it again and releases it once it reads well",
            q.reason,
            q.record.system().as_str()
        ),
        actions: vec![format!("tether explain {}", q.record)],
    }
}

fn proposal(p: &Proposal) -> InboxItem {
    InboxItem {
        kind: InboxKind::MergeProposal,
        id: p.id.0.to_string(),
        since: p.created_at,
        records: vec![p.pair.first().clone(), p.pair.second().clone()],
        summary: format!(
            "{} and {} look like one person (score {:.2})",
            p.pair.first(),
            p.pair.second(),
            p.score
        ),
        actions: vec![
            format!("tether merges show {}", p.id.0),
            format!("tether merges approve {}", p.id.0),
            format!("tether merges reject {} --reason TEXT", p.id.0),
        ],
    }
}

/// Every item of the sources, newest first (ties: by kind, then id).
pub fn build(s: &Sources<'_>) -> Vec<InboxItem> {
    let mut items: Vec<InboxItem> = s
        .unsettled
        .iter()
        .map(refused)
        .chain(s.conflicts.iter().map(conflict))
        .chain(s.quarantine.iter().map(quarantined))
        .chain(s.proposals.iter().map(proposal))
        .collect();
    items.sort_by(|a, b| {
        b.since
            .cmp(&a.since)
            .then(a.kind.cmp(&b.kind))
            .then(a.id.cmp(&b.id))
    });
    items
}

/// The items as text, one block per item, with the commands indented under it.
pub fn text(items: &[InboxItem]) -> String {
    if items.is_empty() {
        return "Inbox empty: nothing waits for a person.\n".into();
    }
    let mut out = format!(
        "{} item{} waiting for a person, newest first:\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    for i in items {
        let records: Vec<String> = i.records.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "\n{} {}  {}  [{}]\n  {}",
            i.kind.label(),
            view::visible(&i.id),
            i.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            records.join(", "),
            view::visible(&i.summary)
        );
        for a in &i.actions {
            let _ = writeln!(out, "  → {a}");
        }
    }
    out
}

/// The items as the `tether.inbox/1` JSON document.
pub fn json(items: &[InboxItem]) -> serde_json::Value {
    serde_json::json!({ "schema": SCHEMA, "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use crate::store::{ConflictId, ConflictStatus, Pair, ProposalId, ProposalStatus};
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn held(id: i64, at: i64) -> HeldConflict {
        HeldConflict {
            id: ConflictId(id),
            link_id: None,
            hubspot_id: HubspotId::new("101").unwrap(),
            gorgias_id: GorgiasId::new(7).unwrap(),
            field: "note".into(),
            hubspot_value: Some("a\u{1b}[31m".into()),
            gorgias_value: None,
            base: Some("b".into()),
            first_seen: t(at),
            last_seen: t(at),
            status: ConflictStatus::Open,
            resolution: None,
            resolved_by: None,
            resolved_at: None,
            closed_at: None,
            closed_how: None,
        }
    }

    #[test]
    fn every_kind_is_listed_newest_first_with_its_command() {
        let q = QuarantineEntry {
            record: RecordRef::Gorgias(GorgiasId::new(9).unwrap()),
            reason: "unreadable customer".into(),
            detail: serde_json::json!({}),
            since: t(30),
        };
        let p = Proposal {
            id: ProposalId(4),
            pair: Pair::new(
                RecordRef::Hubspot(HubspotId::new("1").unwrap()),
                RecordRef::Hubspot(HubspotId::new("2").unwrap()),
            )
            .unwrap(),
            score: 0.9,
            explanation: serde_json::json!({}),
            snapshot: serde_json::json!({}),
            status: ProposalStatus::Pending,
            created_at: t(20),
            decided_at: None,
            decided_by: None,
            reason: None,
        };
        let conflicts = [held(1, 10), held(2, 40)];
        let quarantine = [q];
        let proposals = [p];
        let items = build(&Sources {
            unsettled: &[],
            conflicts: &conflicts,
            quarantine: &quarantine,
            proposals: &proposals,
        });
        let order: Vec<(InboxKind, &str)> = items.iter().map(|i| (i.kind, i.id.as_str())).collect();
        assert_eq!(
            order,
            vec![
                (InboxKind::HeldConflict, "2"),
                (InboxKind::Quarantined, "gorgias:9"),
                (InboxKind::MergeProposal, "4"),
                (InboxKind::HeldConflict, "1"),
            ]
        );
        assert!(items[0].actions[1].starts_with("tether conflicts resolve 2 --take"));
        assert_eq!(items[2].actions[0], "tether merges show 4");
        assert_eq!(
            items[1].actions[0], "tether explain gorgias:9",
            "the system is named: a bare id means HubSpot"
        );
        let out = text(&items);
        assert!(
            !out.contains('\u{1b}'),
            "no raw escape reaches a terminal: {out}"
        );
        assert!(out.contains("4 items waiting"));
        assert_eq!(json(&items)["items"][0]["kind"], "held_conflict");
    }

    #[test]
    fn an_empty_inbox_says_so() {
        assert!(build(&Sources::default()).is_empty());
        assert!(text(&[]).starts_with("Inbox empty"));
    }
}
