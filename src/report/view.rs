//! The format-neutral view of a plan that the text, Markdown and HTML reports share: the
//! plan's entries grouped per customer into rows (field, HubSpot value, Gorgias value, base,
//! action, reason), the summary sentence, and the helpers that make a value safe to show
//! (control and bidirectional-override characters made visible, widths by display columns).
//!
//! Pure and deterministic: customers are ordered by (HubSpot id, Gorgias id) and rows keep the
//! plan's sorted order within a kind. Must never escape for a particular format: each
//! renderer does its own escaping on top of [`visible`].

use crate::domain::{GorgiasId, HubspotId};
use crate::engine::{MatchKind, Plan, SkipCode};
use chrono::SecondsFormat;
use serde_json::Value;
use std::collections::BTreeMap;
use unicode_width::UnicodeWidthChar;

/// Which customer rows belong to: a linked pair, or one side alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CustomerKey {
    pub hubspot: Option<HubspotId>,
    pub gorgias: Option<GorgiasId>,
}

impl CustomerKey {
    /// The heading of the customer's table.
    pub fn title(&self) -> String {
        match (&self.hubspot, self.gorgias) {
            (Some(h), Some(g)) => format!("HubSpot {h} ⇄ Gorgias {g}"),
            (Some(h), None) => format!("HubSpot {h} (no Gorgias customer)"),
            (None, Some(g)) => format!("Gorgias {g} (no HubSpot contact)"),
            (None, None) => "Unattributed".into(),
        }
    }
}

/// What a row is about, which fixes its highlight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RowKind {
    Link,
    Create,
    Write,
    Conflict,
    Base,
    Skip,
}

impl RowKind {
    /// A CSS class / style name.
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Link => "link",
            RowKind::Create => "create",
            RowKind::Write => "write",
            RowKind::Conflict => "conflict",
            RowKind::Base => "base",
            RowKind::Skip => "skip",
        }
    }
}

/// One line of a customer's table. Values are canonical (`None` = empty), unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub kind: RowKind,
    pub field: String,
    pub hubspot: Option<String>,
    pub gorgias: Option<String>,
    pub base: Option<String>,
    pub action: String,
    pub reason: String,
}

/// A customer and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Customer {
    pub key: CustomerKey,
    pub rows: Vec<Row>,
}

/// Shown for an empty value.
pub(crate) const EMPTY: &str = "—";

fn key(h: Option<&HubspotId>, g: Option<GorgiasId>) -> CustomerKey {
    CustomerKey {
        hubspot: h.cloned(),
        gorgias: g,
    }
}

/// A JSON value as one line of text: strings as they are, the rest as compact JSON.
pub(crate) fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The snake_case code of a skip, as in the JSON schema.
pub(crate) fn skip_code(c: SkipCode) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn matched_by(m: MatchKind) -> &'static str {
    match m {
        MatchKind::RecordedId => "recorded ids",
        MatchKind::Email => "e-mail",
        MatchKind::Phone => "phone",
    }
}

/// Groups every entry of the plan per customer.
/// Long (about 130 lines): one short loop per section of the plan, all filling the same map,
/// then one sort; split, the sections would lose their shared `push`.
pub(crate) fn customers(plan: &Plan) -> Vec<Customer> {
    let mut map: BTreeMap<CustomerKey, Vec<Row>> = BTreeMap::new();
    let mut push = |k: CustomerKey, row: Row| map.entry(k).or_default().push(row);
    for l in &plan.links {
        push(
            key(Some(&l.hubspot_id), Some(l.gorgias_id)),
            Row {
                kind: RowKind::Link,
                field: "(link)".into(),
                hubspot: Some(l.hubspot_id.to_string()),
                gorgias: Some(l.gorgias_id.to_string()),
                base: None,
                action: "link".into(),
                reason: format!("matched by {}: {}", matched_by(l.matched_by), l.key),
            },
        );
    }
    for c in &plan.hubspot_creates {
        let k = key(None, Some(c.from_gorgias));
        for (prop, v) in &c.properties {
            push(
                k.clone(),
                Row {
                    kind: RowKind::Create,
                    field: prop.clone(),
                    hubspot: Some(v.clone()).filter(|v| !v.is_empty()),
                    gorgias: None,
                    base: None,
                    action: "create in HubSpot".into(),
                    reason: "no HubSpot contact for this customer".into(),
                },
            );
        }
    }
    for c in &plan.gorgias_creates {
        let k = key(Some(&c.from_hubspot), None);
        let data = c.data.as_ref().map(|d| ("data".to_owned(), d.clone()));
        for (name, v) in c
            .fields
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .chain(data)
        {
            push(
                k.clone(),
                Row {
                    kind: RowKind::Create,
                    field: name,
                    hubspot: None,
                    gorgias: json_text(&v),
                    base: None,
                    action: "create in Gorgias".into(),
                    reason: "no Gorgias customer for this contact".into(),
                },
            );
        }
    }
    for c in &plan.changes {
        let side = crate::engine::side_name(c.target);
        let verb = if c.value.is_some() { "update" } else { "clear" };
        push(
            key(Some(&c.hubspot_id), Some(c.gorgias_id)),
            Row {
                kind: RowKind::Write,
                field: c.field.clone(),
                hubspot: c.hubspot.clone(),
                gorgias: c.gorgias.clone(),
                base: c.base.clone(),
                action: format!("{verb} {side}"),
                reason: c.reason.to_string(),
            },
        );
    }
    for c in &plan.conflicts {
        push(
            key(Some(&c.hubspot_id), Some(c.gorgias_id)),
            Row {
                kind: RowKind::Conflict,
                field: c.field.clone(),
                hubspot: c.hubspot.clone(),
                gorgias: c.gorgias.clone(),
                base: c.base.clone(),
                action: "hold for review".into(),
                reason: format!(
                    "both changed; policy is manual (HubSpot {}, Gorgias {})",
                    c.hubspot_updated_at
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                    c.gorgias_updated_at
                        .to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
            },
        );
    }
    for b in &plan.base_updates {
        push(
            key(Some(&b.hubspot_id), Some(b.gorgias_id)),
            Row {
                kind: RowKind::Base,
                field: b.field.clone(),
                hubspot: b.value.clone(),
                gorgias: b.value.clone(),
                base: None,
                action: "record base".into(),
                reason: "both sides already agree".into(),
            },
        );
    }
    for s in &plan.skips {
        push(
            key(s.hubspot_id.as_ref(), s.gorgias_id),
            Row {
                kind: RowKind::Skip,
                field: s.field.clone().unwrap_or_else(|| "(record)".into()),
                hubspot: None,
                gorgias: None,
                base: None,
                action: "skip".into(),
                reason: format!("{}: {}", skip_code(s.code), s.reason),
            },
        );
    }
    let mut out: Vec<Customer> = map
        .into_iter()
        .map(|(key, rows)| Customer { key, rows })
        .collect();
    // Pairs first, then HubSpot-only, then Gorgias-only records; by id within each.
    out.sort_by_key(|c| (c.key.hubspot.is_none(), c.key.gorgias.is_none()));
    out
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary as labelled counts, in a fixed order.
pub(crate) fn summary_items(plan: &Plan) -> Vec<(&'static str, usize)> {
    let s = &plan.summary;
    vec![
        ("pairs compared", s.pairs),
        ("new links", s.links),
        ("HubSpot updates", s.hubspot_updates),
        ("Gorgias updates", s.gorgias_updates),
        ("HubSpot creates", s.hubspot_creates),
        ("Gorgias creates", s.gorgias_creates),
        ("field writes", s.field_writes),
        ("base updates", s.base_updates),
        ("conflicts", s.conflicts),
        ("skips", s.skips),
    ]
}

/// The summary as one sentence.
pub(crate) fn summary_sentence(plan: &Plan) -> String {
    let s = &plan.summary;
    [
        plural(s.pairs, "pair compared", "pairs compared"),
        plural(s.links, "new link", "new links"),
        format!(
            "HubSpot: {}, {}",
            plural(s.hubspot_updates, "update", "updates"),
            plural(s.hubspot_creates, "create", "creates")
        ),
        format!(
            "Gorgias: {}, {}",
            plural(s.gorgias_updates, "update", "updates"),
            plural(s.gorgias_creates, "create", "creates")
        ),
        plural(s.field_writes, "field write", "field writes"),
        plural(s.base_updates, "base update", "base updates"),
        plural(s.conflicts, "conflict", "conflicts"),
        plural(s.skips, "skip", "skips"),
    ]
    .join(" · ")
}

/// The safety caps as one sentence.
pub(crate) fn caps_sentence(plan: &Plan) -> String {
    let c = &plan.caps;
    let state = if c.blocked {
        "BLOCKED"
    } else if c.exceeded {
        "exceeded, allowed by --allow-large"
    } else {
        "within limits"
    };
    format!(
        "{} of at most {} · {} of at most {} · {state}",
        plural(c.creates, "create", "creates"),
        c.max_creates,
        plural(c.overwrites, "overwrite", "overwrites"),
        c.max_overwrites
    )
}

/// The sentence shown when the plan writes, links and moves nothing (what
/// `tether plan --detailed-exitcode` reports as 0).
/// Never "Nothing to do" while a record is unsettled (a refused write still owed, or a
/// record in quarantine): the plan never lies about what is left.
pub(crate) fn nothing_to_do(plan: &Plan) -> Option<String> {
    if plan.has_changes() {
        return None;
    }
    if !plan.unsettled.is_empty() {
        let mut s = format!(
            "Nothing new to write this cycle, but {} unsettled (listed below).",
            plural(plan.unsettled.len(), "record is", "records are")
        );
        if !plan.conflicts.is_empty() {
            s.push_str(&format!(
                " {} held for review.",
                plural(plan.conflicts.len(), "conflict is", "conflicts are")
            ));
        }
        return Some(s);
    }
    Some(match plan.conflicts.len() {
        0 => "Nothing to do: both systems agree.".to_owned(),
        n => format!(
            "Nothing to write; {} held for review.",
            plural(n, "conflict is", "conflicts are")
        ),
    })
}

/// The sentence shown when the plan is blocked by a cap.
pub(crate) fn blocked_sentence(plan: &Plan) -> Option<String> {
    plan.caps.blocked.then(|| {
        format!(
            "Blocked: {}. Nothing will be written; rerun with --allow-large to apply anyway.",
            plan.caps
                .reason
                .as_deref()
                .unwrap_or("a safety cap is exceeded")
                .trim_end_matches('.')
        )
    })
}

/// Whether a character must not reach the output raw: C0/C1 controls and the invisible
/// bidirectional formatting characters that can reorder what a reader sees.
pub(crate) fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `c` written as a visible escape: `\n`, `\t`, `\r`, else `\u{…}`.
pub(crate) fn escape_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\t' => "\\t".into(),
        '\r' => "\\r".into(),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// `s` with every hidden character made visible (see [`is_hidden`]).
pub(crate) fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_hidden(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Display width in terminal columns (wide characters count 2, combining marks 0).
pub(crate) fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `s` cut to at most `max` display columns, ending with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let max = max.max(1);
    if width(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn groups_rows_per_customer_in_id_order() {
        let cs = customers(&fixture::plan());
        let titles: Vec<String> = cs.iter().map(|c| c.key.title()).collect();
        assert_eq!(
            titles,
            [
                "HubSpot 101 ⇄ Gorgias 7",
                "HubSpot 102 ⇄ Gorgias 8",
                "HubSpot 103 (no Gorgias customer)",
                "Gorgias 9 (no HubSpot contact)",
            ]
        );
        let kinds: Vec<RowKind> = cs[0].rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [RowKind::Write, RowKind::Conflict, RowKind::Skip],
            "{:#?}",
            cs[0]
        );
        assert_eq!(cs[0].rows[0].action, "update Gorgias");
        assert_eq!(cs[0].rows[2].reason, "invalid_value: not an e-mail");
    }

    #[test]
    fn truncates_by_display_width() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        // Each CJK character is two columns wide.
        assert_eq!(truncate("日本語テキスト", 7), "日本語…");
        assert_eq!(width(&truncate("日本語テキスト", 7)), 7);
        assert_eq!(width("Zoë"), 3);
    }

    #[test]
    fn hidden_characters_become_visible() {
        assert_eq!(visible("a\nb\tc\u{1b}[31m"), "a\\nb\\tc\\u{1b}[31m");
        assert_eq!(visible("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(visible("Zoë Müller"), "Zoë Müller");
    }
}
