//! The plan's "Unsettled records" section, in every format: records tether still owes a
//! write (refused, retried with a backoff) and records left out (quarantined), each with
//! the reason, the attempts and the next retry, and the command that acts on it.
//!
//! Owns the section's rows and their rendering. Pure; every value escaped by the caller's
//! format helpers. Must never hide an item: the section lists every entry of
//! [`Plan::unsettled`].

use super::view;
use crate::engine::{Plan, Unsettled, UnsettledKind};
use chrono::SecondsFormat;
use std::fmt::Write as _;

/// The section's column headings.
pub(crate) const HEADERS: [&str; 7] = [
    "ID",
    "Record",
    "Write",
    "Class",
    "Attempts",
    "Next retry",
    "Reason",
];

/// The section's title with its counts, or `None` when nothing is unsettled.
pub(crate) fn title(plan: &Plan) -> Option<String> {
    if plan.unsettled.is_empty() {
        return None;
    }
    let refused = plan
        .unsettled
        .iter()
        .filter(|u| u.kind == UnsettledKind::Refused)
        .count();
    let quarantined = plan.unsettled.len() - refused;
    Some(format!(
        "Unsettled records: {} still owed (`tether retry ID|--all`, `tether dismiss ID --reason R`), {} quarantined",
        view::plural(refused, "refused write", "refused writes"),
        quarantined
    ))
}

fn row(u: &Unsettled) -> [String; 7] {
    let write = match (&u.kind, u.target, &u.op) {
        (UnsettledKind::Refused, Some(t), Some(op)) => format!("{op} in {}", t.as_str()),
        (UnsettledKind::Quarantined, _, _) => "quarantined".to_owned(),
        _ => "-".to_owned(),
    };
    [
        u.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        format!("{}:{}", u.system.as_str(), u.record_id),
        write,
        u.class.clone().unwrap_or_else(|| "-".into()),
        u.attempts.to_string(),
        match (&u.kind, u.next_retry_at) {
            (UnsettledKind::Quarantined, _) | (_, None) => "every cycle".to_owned(),
            (_, Some(t)) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        },
        u.reason.clone(),
    ]
}

/// The rows, in plan order (newest first).
pub(crate) fn rows(plan: &Plan) -> Vec<[String; 7]> {
    plan.unsettled.iter().map(row).collect()
}

/// The section as plain text (values made visible), empty when nothing is unsettled.
pub(crate) fn text(plan: &Plan) -> String {
    let Some(t) = title(plan) else {
        return String::new();
    };
    let mut out = format!("\n{}\n", view::visible(&t));
    let _ = writeln!(out, "{}", HEADERS.join(" | "));
    for r in rows(plan) {
        let cells: Vec<String> = r.iter().map(|c| view::visible(c)).collect();
        let _ = writeln!(out, "{}", cells.join(" | "));
    }
    out
}

/// The section as Markdown, through the format's `escape`.
pub(crate) fn markdown(plan: &Plan, escape: fn(&str) -> String) -> String {
    let Some(t) = title(plan) else {
        return String::new();
    };
    let mut out = format!("## {}\n\n| {} |\n", escape(&t), HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for r in rows(plan) {
        let cells: Vec<String> = r.iter().map(|c| escape(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    out
}

/// The section as HTML, through the format's `escape`.
pub(crate) fn html(plan: &Plan, escape: fn(&str) -> String) -> String {
    let Some(t) = title(plan) else {
        return String::new();
    };
    let mut out = format!(
        "<section class=\"unsettled\">\n<h2>{}</h2>\n<table>\n<thead><tr>",
        escape(&t)
    );
    for h in HEADERS {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows(plan) {
        out.push_str("<tr class=\"skip\">");
        for c in &r {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::System;
    use crate::report::{Format, RenderOptions, fixture, render};
    use chrono::{DateTime, Utc};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn with_unsettled() -> Plan {
        let mut p = fixture::plan();
        p.unsettled = vec![
            Unsettled {
                kind: UnsettledKind::Refused,
                id: Some(4),
                system: System::Gorgias,
                record_id: "7".into(),
                target: Some(System::Hubspot),
                op: Some("create".into()),
                class: Some("record".into()),
                reason: "HubSpot refused <this> | record: lifecyclestage is required".into(),
                attempts: 2,
                since: at(1_700_000_000),
                next_retry_at: Some(at(1_700_000_600)),
            },
            Unsettled {
                kind: UnsettledKind::Quarantined,
                id: None,
                system: System::Hubspot,
                record_id: "55".into(),
                target: None,
                op: None,
                class: None,
                reason: "the contact has no updatedAt".into(),
                attempts: 0,
                since: at(1_700_000_000),
                next_retry_at: None,
            },
        ];
        p
    }

    #[test]
    fn every_format_lists_each_record_with_reason_attempts_and_retry() {
        let p = with_unsettled();
        let o = RenderOptions::default();
        for f in [Format::Text, Format::Markdown, Format::Html, Format::Json] {
            let out = render(&p, f, &o);
            assert!(out.contains("lifecyclestage is required"), "{f:?}: {out}");
            assert!(out.contains("2023-11-14T22:23:20Z"), "{f:?}");
            assert!(out.contains("the contact has no updatedAt"), "{f:?}");
        }
        assert!(render(&p, Format::Html, &o).contains("refused &lt;this&gt;"));
        assert!(render(&p, Format::Markdown, &o).contains("refused \\<this\\> \\| record"));
        assert!(render(&p, Format::Text, &o).contains("1 refused write still owed"));
    }

    #[test]
    fn an_empty_plan_with_unsettled_records_never_says_nothing_to_do() {
        let mut p = with_unsettled();
        p.links.clear();
        p.hubspot_updates.clear();
        p.gorgias_updates.clear();
        p.hubspot_creates.clear();
        p.gorgias_creates.clear();
        p.base_updates.clear();
        p.conflicts.clear();
        assert!(!p.has_changes());
        assert!(p.owes_writes());
        for f in [Format::Text, Format::Markdown, Format::Html] {
            let out = render(&p, f, &RenderOptions::default());
            assert!(!out.contains("Nothing to do"), "{f:?}: {out}");
            assert!(out.contains("still owed"), "{f:?}");
        }
        p.unsettled.remove(0);
        assert!(!p.owes_writes(), "a quarantined record owes no write");
        let out = render(&p, Format::Text, &RenderOptions::default());
        assert!(!out.contains("Nothing to do"), "{out}");
    }
}
