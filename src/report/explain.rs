//! The `tether explain` view of one customer: the link, each mapped field's HubSpot value,
//! Gorgias value and base, what the engine would do with it and why, and the history of
//! decisions and writes from the audit log; rendered as text or JSON (`tether.explain/1`).
//!
//! Pure: [`build`] takes the records, link and audit entries the command has read and asks
//! the engine ([`crate::engine::plan`]) what it would do with exactly this pair, so the view
//! can never disagree with a real cycle. Must never read the network, the store or the clock.

use super::RenderOptions;
use super::text::{self, BOLD, Painter};
use super::view::{self, Row, RowKind};
use crate::domain::{GorgiasId, HubspotId, System};
use crate::engine::canonical::{gorgias_text, hubspot_text, read_gorgias, read_hubspot};
use crate::engine::{
    self, Excluded, GorgiasRecord, HubspotRecord, Input, Link, MatchKind, Options, Plan,
};
use crate::mappings::{ConflictPolicy, Direction, FieldMapping, MappingSet};
use crate::store::AuditEntry;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The `schema` value of the JSON form.
pub const EXPLAIN_SCHEMA: &str = "tether.explain/1";

/// What the engine would do with one field of the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAction {
    /// Both sides agree (with each other and the base): nothing to do.
    InSync,
    /// The HubSpot contact would be updated with `value`.
    WriteHubspot,
    /// The Gorgias customer would be updated with `value`.
    WriteGorgias,
    /// Both sides changed under the `manual` policy: held for review.
    Hold,
    /// The sides already agree; only the stored base moves.
    RecordBase,
    /// The field is left alone (see the reason).
    Skip,
    /// Nothing can be compared: a side is missing or the pair is not linked.
    NoPair,
}

impl FieldAction {
    fn label(self) -> &'static str {
        match self {
            FieldAction::InSync => "in sync",
            FieldAction::WriteHubspot => "update HubSpot",
            FieldAction::WriteGorgias => "update Gorgias",
            FieldAction::Hold => "hold for review",
            FieldAction::RecordBase => "record base",
            FieldAction::Skip => "skip",
            FieldAction::NoPair => "none",
        }
    }

    fn kind(self) -> RowKind {
        match self {
            FieldAction::InSync | FieldAction::RecordBase => RowKind::Base,
            FieldAction::WriteHubspot | FieldAction::WriteGorgias => RowKind::Write,
            FieldAction::Hold => RowKind::Conflict,
            FieldAction::Skip | FieldAction::NoPair => RowKind::Skip,
        }
    }
}

/// One mapped field of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldView {
    /// Canonical field name.
    pub field: String,
    pub direction: Direction,
    pub conflict_policy: ConflictPolicy,
    /// HubSpot value in canonical form; the raw text when it does not fit the field.
    pub hubspot: Option<String>,
    /// Gorgias value in canonical form; the raw text when it does not fit the field.
    pub gorgias: Option<String>,
    /// The value both sides last agreed on.
    pub base: Option<String>,
    pub action: FieldAction,
    /// The value that would be written, for a write.
    pub value: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// One audit log entry about the customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryItem {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted: `sync`, `review:<name>`, `cli`, ...
    pub actor: String,
    /// What happened, dotted: `link.created`, `write.done`, ...
    pub action: String,
    /// Free-form detail as logged.
    pub detail: Value,
}

impl From<AuditEntry> for HistoryItem {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        }
    }
}

/// Everything `tether explain` shows about one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// What was asked for, as given (an e-mail or an id).
    pub subject: String,
    pub hubspot_id: Option<HubspotId>,
    pub gorgias_id: Option<GorgiasId>,
    /// Whether the store holds a link between the two.
    pub linked: bool,
    /// Whether each record was found in its system.
    pub hubspot_found: bool,
    pub gorgias_found: bool,
    /// Record-level notes: a new link, a create, a record-level skip, a missing side.
    pub notes: Vec<String>,
    /// Mapped fields in canonical-name order (only the asked field with `--field`).
    pub fields: Vec<FieldView>,
    /// Audit entries about either record, oldest first.
    pub history: Vec<HistoryItem>,
}

/// What the command read, for [`build`].
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// What was asked for, as given.
    pub subject: &'a str,
    pub hubspot_id: Option<&'a HubspotId>,
    pub gorgias_id: Option<GorgiasId>,
    pub hubspot: Option<&'a HubspotRecord>,
    pub gorgias: Option<&'a GorgiasRecord>,
    /// The stored link with its bases, when linked.
    pub link: Option<&'a Link>,
    /// Audit entries about either record (any order; duplicates are dropped).
    pub history: &'a [HistoryItem],
    /// Only this field (`--field`).
    pub field: Option<&'a str>,
    /// Resolutions people chose for this pair's held conflicts, not yet applied: the plan
    /// shown is the one the next sync makes with them.
    pub resolutions: &'a [engine::Resolution],
}

fn canon_or_raw(
    read: crate::engine::canonical::Canon<'_>,
    raw: Option<String>,
) -> (Option<String>, Option<String>) {
    match read {
        Ok(v) => (v.map(|v| v.into_owned()), None),
        Err(why) => (raw, Some(why.to_string())),
    }
}

/// Whether a free-form audit detail is about field `f`: it names no field at all, or names
/// `f` as a key or a value somewhere.
fn mentions_field(detail: &Value, f: &str) -> bool {
    fn names_any_field(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| {
                matches!(
                    k.as_str(),
                    "field" | "fields" | "properties" | "bases" | "changes"
                ) || names_any_field(v)
            }),
            Value::Array(a) => a.iter().any(names_any_field),
            _ => false,
        }
    }
    fn names(v: &Value, f: &str) -> bool {
        match v {
            Value::String(s) => s == f,
            Value::Object(m) => m.iter().any(|(k, v)| k == f || names(v, f)),
            Value::Array(a) => a.iter().any(|v| names(v, f)),
            _ => false,
        }
    }
    !names_any_field(detail) || names(detail, f)
}

fn matched_by(m: MatchKind) -> &'static str {
    match m {
        MatchKind::RecordedId => "the ids recorded on the records",
        MatchKind::Email => "e-mail",
        MatchKind::Phone => "phone",
    }
}

/// Record-level notes of a plan made for one customer.
fn notes_of(plan: &Plan, facts: &Facts<'_>) -> Vec<String> {
    let mut notes = Vec::new();
    match (facts.hubspot_id, facts.gorgias_id) {
        (Some(_), _) if facts.hubspot.is_none() => {
            notes.push("the HubSpot contact was not found (deleted, or merged away)".into());
        }
        (None, _) => notes.push("no HubSpot contact is linked".into()),
        _ => {}
    }
    match facts.gorgias_id {
        Some(_) if facts.gorgias.is_none() => {
            notes.push("the Gorgias customer was not found (deleted, or merged away)".into());
        }
        None => notes.push("no Gorgias customer is linked".into()),
        _ => {}
    }
    for l in &plan.links {
        notes.push(format!(
            "would link HubSpot {} and Gorgias {} (matched by {}: {})",
            l.hubspot_id,
            l.gorgias_id,
            matched_by(l.matched_by),
            l.key
        ));
    }
    for c in &plan.hubspot_creates {
        notes.push(format!(
            "would create a HubSpot contact for Gorgias customer {}",
            c.from_gorgias
        ));
    }
    for c in &plan.gorgias_creates {
        notes.push(format!(
            "would create a Gorgias customer for HubSpot contact {}",
            c.from_hubspot
        ));
    }
    for s in plan.skips.iter().filter(|s| s.field.is_none()) {
        notes.push(format!(
            "skipped: {} ({})",
            s.reason,
            view::skip_code(s.code)
        ));
    }
    notes
}

fn field_view(f: &FieldMapping, plan: &Plan, facts: &Facts<'_>, o: &Options) -> FieldView {
    let (hubspot, h_err) = match facts.hubspot {
        Some(r) => canon_or_raw(
            read_hubspot(f, r, o.default_region),
            hubspot_text(f, r).map(|c| c.into_owned()),
        ),
        None => (None, None),
    };
    let (gorgias, g_err) = match facts.gorgias {
        Some(r) => canon_or_raw(
            read_gorgias(f, r, o.default_region),
            gorgias_text(f, r).ok().flatten().map(|c| c.into_owned()),
        ),
        None => (None, None),
    };
    let base = facts.link.and_then(|l| l.base.get(&f.name).cloned());
    let name = f.name.as_str();
    let (action, value, reason) = if let Some(c) = plan.changes.iter().find(|c| c.field == name) {
        let a = match c.target {
            System::Hubspot => FieldAction::WriteHubspot,
            System::Gorgias => FieldAction::WriteGorgias,
        };
        (a, c.value.clone(), c.reason.to_string())
    } else if let Some(c) = plan.conflicts.iter().find(|c| c.field == name) {
        let why = format!(
            "both changed since the base and the policy is manual: held for a person, see `tether conflicts list` (HubSpot {}, Gorgias {})",
            c.hubspot_updated_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            c.gorgias_updated_at
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        (FieldAction::Hold, None, why)
    } else if let Some(s) = plan.skips.iter().find(|s| s.field.as_deref() == Some(name)) {
        let why = format!("{} ({})", s.reason, view::skip_code(s.code));
        (FieldAction::Skip, None, why)
    } else if let Some(b) = plan.base_updates.iter().find(|b| b.field == name) {
        let why = "both sides already agree; only the stored base moves".to_owned();
        (FieldAction::RecordBase, b.value.clone(), why)
    } else if let Some(why) = h_err.or(g_err) {
        (FieldAction::Skip, None, why)
    } else if facts.hubspot.is_none() || facts.gorgias.is_none() {
        let why = "only one side exists, so there is nothing to compare".to_owned();
        (FieldAction::NoPair, None, why)
    } else if facts.link.is_none() && plan.links.is_empty() {
        let why = "the two records are not linked and would not be linked".to_owned();
        (FieldAction::NoPair, None, why)
    } else if hubspot == gorgias {
        (FieldAction::InSync, None, "both sides agree".to_owned())
    } else {
        let why = match f.direction {
            Direction::ToHubspot => "one-way to HubSpot; HubSpot is not written from here",
            Direction::ToGorgias => "one-way to Gorgias; Gorgias is not written from here",
            Direction::Both => "the sides differ but neither changed since the base",
        };
        (FieldAction::InSync, None, why.to_owned())
    };
    FieldView {
        field: f.name.clone(),
        direction: f.direction,
        conflict_policy: f.conflict,
        hubspot,
        gorgias,
        base,
        action,
        value,
        reason,
    }
}

/// Builds the view: runs the engine on exactly this customer's records and link, then
/// reads off, per mapped field, the values, base, action and reason.
pub fn build(facts: &Facts<'_>, mappings: &MappingSet, options: &Options) -> Explanation {
    let hubspot: Vec<HubspotRecord> = facts.hubspot.cloned().into_iter().collect();
    let gorgias: Vec<GorgiasRecord> = facts.gorgias.cloned().into_iter().collect();
    let links: Vec<Link> = facts.link.cloned().into_iter().collect();
    let excluded = Excluded::default();
    let input = Input {
        hubspot: &hubspot,
        gorgias: &gorgias,
        links: &links,
        excluded: &excluded,
        resolutions: facts.resolutions,
    };
    // One customer can never exceed a cap worth reporting here.
    let options = Options {
        allow_large: true,
        ..options.clone()
    };
    let plan = engine::plan(&input, mappings, &options);
    let fields = mappings
        .fields
        .iter()
        .filter(|f| facts.field.is_none_or(|want| f.name == want))
        .map(|f| field_view(f, &plan, facts, &options))
        .collect();
    let mut history: Vec<HistoryItem> = facts
        .history
        .iter()
        .filter(|h| facts.field.is_none_or(|f| mentions_field(&h.detail, f)))
        .cloned()
        .collect();
    history.sort_by_key(|h| h.id);
    history.dedup_by_key(|h| h.id);
    Explanation {
        subject: facts.subject.to_owned(),
        hubspot_id: facts.hubspot_id.cloned(),
        gorgias_id: facts.gorgias_id,
        linked: facts.link.is_some(),
        hubspot_found: facts.hubspot.is_some(),
        gorgias_found: facts.gorgias.is_some(),
        notes: notes_of(&plan, facts),
        fields,
        history,
    }
}

/// The JSON form: `{"schema": "tether.explain/1", ...the Explanation's fields}`, pretty,
/// ending with a newline.
pub fn render_json(e: &Explanation) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), Value::String(EXPLAIN_SCHEMA.into()));
    if let Ok(Value::Object(m)) = serde_json::to_value(e) {
        doc.extend(m);
    }
    let mut s = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// The text form: the link, notes, a table of fields, then the history.
pub fn render_text(e: &Explanation, opts: &RenderOptions) -> String {
    let p = Painter { on: opts.color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.paint(BOLD, &view::visible(&format!("Customer {}", e.subject)))
    );
    let side = |name: &str, id: Option<String>, found: bool| match (id, found) {
        (Some(id), true) => format!("{name} {id}"),
        (Some(id), false) => format!("{name} {id} (not found)"),
        (None, _) => format!("{name}: none"),
    };
    let _ = writeln!(
        out,
        "  {} ⇄ {} · {}",
        side(
            "HubSpot",
            e.hubspot_id.as_ref().map(|h| h.to_string()),
            e.hubspot_found
        ),
        side(
            "Gorgias",
            e.gorgias_id.map(|g| g.to_string()),
            e.gorgias_found
        ),
        if e.linked { "linked" } else { "not linked" }
    );
    for n in &e.notes {
        let _ = writeln!(out, "  note: {}", view::visible(n));
    }
    let _ = writeln!(out);
    let rows: Vec<Row> = e
        .fields
        .iter()
        .map(|f| Row {
            kind: f.action.kind(),
            field: f.field.clone(),
            hubspot: f.hubspot.clone(),
            gorgias: f.gorgias.clone(),
            base: f.base.clone(),
            action: match (&f.value, f.action) {
                (Some(v), FieldAction::WriteHubspot | FieldAction::WriteGorgias) => {
                    format!("{} := {v}", f.action.label())
                }
                (None, FieldAction::WriteHubspot | FieldAction::WriteGorgias) => {
                    format!("{} := (clear)", f.action.label())
                }
                _ => f.action.label().to_owned(),
            },
            reason: f.reason.clone(),
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "Fields: none mapped");
    } else {
        text::table(&mut out, "Fields", &rows, opts);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        p.paint(BOLD, &format!("History ({} entries)", e.history.len()))
    );
    if e.history.is_empty() {
        let _ = writeln!(out, "  nothing recorded yet");
    }
    for h in &e.history {
        let detail = match &h.detail {
            Value::Null => String::new(),
            Value::Object(m) if m.is_empty() => String::new(),
            d => format!("  {}", view::truncate(&view::visible(&d.to_string()), 120)),
        };
        let _ = writeln!(
            out,
            "  {}  {}  {}{}",
            h.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            view::visible(&h.actor),
            view::visible(&h.action),
            detail
        );
    }
    out
}

#[cfg(test)]
mod tests;
